CREATE OR REPLACE FUNCTION public.cityops_force_position_copy()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
    DECLARE
        back boolean := NEW.fixed_post AND NEW.status = 'available' AND OLD.status <> 'available';
    BEGIN
        UPDATE force_position p SET status = NEW.status, capabilities = NEW.capabilities, units = NEW.units,
            unit_id = NEW.unit_id, shift_start = NEW.shift_start, shift_end = NEW.shift_end,
            fixed_post = NEW.fixed_post, geom = CASE WHEN back THEN NEW.home ELSE p.geom END,
            cell = CASE WHEN back THEN NEW.home_cell ELSE p.cell END
        WHERE p.force_id = NEW.id;
        RETURN NULL;
    END $function$;
