CREATE TRIGGER assignment_event_append_only BEFORE DELETE OR UPDATE OR TRUNCATE ON public.assignment_event FOR EACH STATEMENT EXECUTE FUNCTION cityops_assignment_event_append_only();
