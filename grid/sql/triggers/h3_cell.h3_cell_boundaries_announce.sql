CREATE TRIGGER h3_cell_boundaries_announce AFTER INSERT OR DELETE OR UPDATE OR TRUNCATE ON public.h3_cell FOR EACH STATEMENT EXECUTE FUNCTION cityops_boundaries_announce();
