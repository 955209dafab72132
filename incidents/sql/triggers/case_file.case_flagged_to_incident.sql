CREATE TRIGGER case_flagged_to_incident AFTER INSERT ON public.case_file REFERENCING NEW TABLE AS new_cases FOR EACH STATEMENT EXECUTE FUNCTION cityops_incident_flag_case();

