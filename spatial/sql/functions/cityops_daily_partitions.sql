CREATE OR REPLACE FUNCTION public.cityops_daily_partitions(parent regclass, keep interval, ahead integer DEFAULT 2)
 RETURNS TABLE(created integer, dropped integer)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
    -- a history kept by UTC day (force fixes, sensor readings): the days from retention to `ahead` days on
    -- exist as partitions `<parent>_YYYYMMDD`, older ones are dropped whole (a DROP, not a DELETE: no bloat, no
    -- vacuum). Callable only through each history's own function: it drops tables. Two callers at once (the
    -- maintenance loop, a writer meeting a missing day) take turns on the history's lock: the second finds the days made
    DECLARE
        today date := (now() AT TIME ZONE 'UTC')::date;
        first_day date := ((now() - greatest(keep, interval '1 day')) AT TIME ZONE 'UTC')::date;
        name text := parent::text;
        day date;
        part record;
    BEGIN
        created := 0; dropped := 0;
        PERFORM pg_advisory_xact_lock(hashtext('cityops_daily_partitions'), hashtext(name));
        FOR day IN SELECT generate_series(first_day, today + ahead, interval '1 day')::date LOOP
            IF to_regclass(format('%s_%s', name, to_char(day, 'YYYYMMDD'))) IS NULL THEN
                EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                               format('%s_%s', name, to_char(day, 'YYYYMMDD')), name,
                               day::timestamp AT TIME ZONE 'UTC', (day + 1)::timestamp AT TIME ZONE 'UTC');
                created := created + 1;
            END IF;
        END LOOP;
        FOR part IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                    WHERE i.inhparent = parent  -- (the guard: the planner may test any relname)
                      AND CASE WHEN c.relname ~ ('^' || name || '_[0-9]{8}$')
                               THEN to_date(right(c.relname, 8), 'YYYYMMDD') < first_day ELSE false END LOOP
            EXECUTE format('DROP TABLE %I', part.relname);
            dropped := dropped + 1;
        END LOOP;
        RETURN NEXT;
    END $function$;
REVOKE ALL ON FUNCTION public.cityops_daily_partitions(regclass,interval,integer) FROM PUBLIC;
