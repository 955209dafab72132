CREATE TRIGGER open_case_cell_insert AFTER INSERT ON public.open_case REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cityops_open_case_cell_count();
