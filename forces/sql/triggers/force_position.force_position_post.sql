CREATE TRIGGER force_position_post BEFORE INSERT ON public.force_position FOR EACH ROW EXECUTE FUNCTION cityops_force_position_post();
