CREATE TRIGGER unit_outline BEFORE INSERT OR UPDATE OF geom, tier ON public.unit FOR EACH ROW EXECUTE FUNCTION cityops_unit_outline();
