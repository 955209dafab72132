CREATE TRIGGER unit_renamed BEFORE UPDATE OF name ON public.unit FOR EACH ROW WHEN ((old.name IS DISTINCT FROM new.name)) EXECUTE FUNCTION cityops_unit_renamed();
