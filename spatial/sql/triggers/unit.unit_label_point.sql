CREATE TRIGGER unit_label_point BEFORE INSERT OR UPDATE OF geom ON public.unit FOR EACH ROW EXECUTE FUNCTION cityops_unit_label_point();
