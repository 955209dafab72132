CREATE TRIGGER h3_coverage_boundaries_announce AFTER INSERT OR DELETE OR UPDATE OR TRUNCATE ON public.h3_coverage FOR EACH STATEMENT EXECUTE FUNCTION cityops_boundaries_announce();
