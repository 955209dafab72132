CREATE TRIGGER case_file_open_case_insert AFTER INSERT ON public.case_file REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cityops_open_case_add();
