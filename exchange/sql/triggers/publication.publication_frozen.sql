CREATE TRIGGER publication_frozen BEFORE DELETE OR UPDATE ON public.publication FOR EACH ROW EXECUTE FUNCTION cityops_publication_frozen();
