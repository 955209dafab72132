CREATE TRIGGER case_opened AFTER INSERT ON public.case_file FOR EACH ROW WHEN (((new.state = 'reported'::text) AND (new.import_batch_id IS NULL))) EXECUTE FUNCTION cityops_case_opened();
