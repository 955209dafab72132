CREATE TRIGGER unit_evaluation_rollup_delete AFTER DELETE ON public.unit REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION cityops_evaluation_rollup_regroup();
