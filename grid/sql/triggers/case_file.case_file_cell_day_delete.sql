CREATE TRIGGER case_file_cell_day_delete AFTER DELETE ON public.case_file REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION cityops_case_cell_day_count();
