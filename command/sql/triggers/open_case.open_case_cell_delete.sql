CREATE TRIGGER open_case_cell_delete AFTER DELETE ON public.open_case REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION cityops_open_case_cell_count();
