CREATE OR REPLACE FUNCTION public.cityops_observation_partitions(keep interval, ahead integer DEFAULT 2)
 RETURNS TABLE(created integer, dropped integer)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
    -- readings are kept by UTC day: the days from retention to `ahead` days on exist, older ones are dropped
    -- whole (a DROP, not a DELETE: no bloat, no vacuum); minute rollups go with them, hour rollups stay
    DECLARE
        today date := (now() AT TIME ZONE 'UTC')::date;
        first_day date := ((now() - greatest(keep, interval '1 day')) AT TIME ZONE 'UTC')::date;
        day date;
        part record;
    BEGIN
        created := 0; dropped := 0;
        FOR day IN SELECT generate_series(first_day, today + ahead, interval '1 day')::date LOOP
            IF to_regclass(format('observation_%s', to_char(day, 'YYYYMMDD'))) IS NULL THEN
                EXECUTE format('CREATE TABLE %I PARTITION OF observation FOR VALUES FROM (%L) TO (%L)',
                               format('observation_%s', to_char(day, 'YYYYMMDD')),
                               day::timestamp AT TIME ZONE 'UTC', (day + 1)::timestamp AT TIME ZONE 'UTC');
                created := created + 1;
            END IF;
        END LOOP;
        FOR part IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                    WHERE i.inhparent = 'observation'::regclass  -- (the guard: the planner may test any relname)
                      AND CASE WHEN c.relname ~ '^observation_[0-9]{8}$'
                               THEN to_date(right(c.relname, 8), 'YYYYMMDD') < first_day ELSE false END LOOP
            EXECUTE format('DROP TABLE %I', part.relname);
            dropped := dropped + 1;
        END LOOP;
        DELETE FROM observation_minute WHERE minute < first_day::timestamp AT TIME ZONE 'UTC';
        RETURN NEXT;
    END $function$;
REVOKE ALL ON FUNCTION public.cityops_observation_partitions(interval,integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_observation_partitions(interval,integer) TO cityops_api;
