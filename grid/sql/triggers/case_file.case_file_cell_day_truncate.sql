CREATE TRIGGER case_file_cell_day_truncate AFTER TRUNCATE ON public.case_file FOR EACH STATEMENT EXECUTE FUNCTION cityops_rollup_clear('case_cell_day');
