CREATE TRIGGER open_case_cell_truncate AFTER TRUNCATE ON public.open_case FOR EACH STATEMENT EXECUTE FUNCTION cityops_rollup_clear('open_case_cell');
