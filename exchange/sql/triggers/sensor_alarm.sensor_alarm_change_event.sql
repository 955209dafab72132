CREATE TRIGGER sensor_alarm_change_event AFTER INSERT OR UPDATE OF state, case_id ON public.sensor_alarm FOR EACH ROW EXECUTE FUNCTION cityops_change_from_alarm();
