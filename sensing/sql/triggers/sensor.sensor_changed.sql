CREATE TRIGGER sensor_changed AFTER INSERT OR UPDATE OF state, geom ON public.sensor FOR EACH ROW EXECUTE FUNCTION cityops_sensor_changed();
