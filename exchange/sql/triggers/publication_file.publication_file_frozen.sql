CREATE TRIGGER publication_file_frozen BEFORE DELETE OR UPDATE ON public.publication_file FOR EACH ROW EXECUTE FUNCTION cityops_publication_frozen();
