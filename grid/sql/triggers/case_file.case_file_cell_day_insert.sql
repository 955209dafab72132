CREATE TRIGGER case_file_cell_day_insert AFTER INSERT ON public.case_file REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cityops_case_cell_day_count();
