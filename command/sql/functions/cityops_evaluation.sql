CREATE OR REPLACE FUNCTION public.cityops_evaluation(unit_id bigint, since timestamp with time zone, until timestamp with time zone, by text, only_department text)
 RETURNS TABLE(key text, filed bigint, closed bigint, closed_on_time bigint, handled bigint, handled_on_time bigint, handling_s double precision, checked bigint, reworked bigint, dispatched bigint, returned bigint, moves bigint, late_moves bigint, escalated bigint, reopened bigint, supervised bigint)
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
 SET enable_nestloop TO 'on'
AS $function$
    -- A unit's subtree over [since, until) by area (its children), department or role. The span's whole
    -- months and whole days are read from evaluation_rollup (a year of a city: ~10^5 rows, not ~10^7 moves),
    -- its ragged ends from the moves (evaluation_move). A unit below the second tier (a street, a community)
    -- reads the moves alone: its children are finer than the rollup's areas (cityops_rollup_area), and its
    -- moves are found through its grids (ix_case_transition_grid). A city's or district's moves are not:
    -- scanning a day by time beats probing each of ~10^4 grids.
    DECLARE
        depth int := (SELECT cardinality(u.ancestors) + 1 FROM unit u WHERE u.id = unit_id);
        zone text := cityops_rollup_zone();
        grouping text := CASE by
            WHEN 'area' THEN 'coalesce(c.chain[$5 + 1], $1)'
            WHEN 'department' THEN 'coalesce(c.department, '''')'
            ELSE 'c.role' END;
        first_day date := (since AT TIME ZONE zone)::date;  -- the first whole day of the span ...
        end_day date := (until AT TIME ZONE zone)::date;    -- ... and the day after its last
        first_month date;
        end_month date;
    BEGIN
        IF by NOT IN ('area', 'department', 'role') THEN
            RAISE EXCEPTION 'evaluation by area, department or role, not %', by;
        END IF;
        IF first_day::timestamp AT TIME ZONE zone < since THEN
            first_day := first_day + 1;
        END IF;
        IF depth > 2 OR end_day <= first_day THEN  -- no whole day to read from the rollup
            first_day := NULL;
            end_day := NULL;
        END IF;
        -- A street's moves are best found grid by grid; a city's or district's ragged ends by time, where a
        -- probe per grid (~10^4 of them, each re-reading the time index) took 5.9 s for a million cases. Set
        -- here, undone on return (the SET clause above scopes it to this function).
        PERFORM set_config('enable_nestloop', (depth > 2)::text, true);
        first_month := (date_trunc('month', first_day - 1) + interval '1 month')::date;
        end_month := greatest(date_trunc('month', end_day)::date, first_month);
        IF end_month = first_month THEN  -- no whole month: whole days only
            first_month := end_day;
            end_month := end_day;
        END IF;
        RETURN QUERY EXECUTE format($q$
            WITH counted AS (
                SELECT r.area AS chain, r.department, r.role, r.filed, r.closed, r.closed_on_time, r.handled,
                    r.handled_on_time, r.handling_s, r.checked, r.reworked, r.dispatched, r.returned, r.moves,
                    r.late_moves, r.escalated, r.reopened, r.supervised
                FROM evaluation_rollup r
                WHERE (r.month AND r.bucket >= $8 AND r.bucket < $9)
                   OR (NOT r.month AND ((r.bucket >= $6 AND r.bucket < $8) OR (r.bucket >= $9 AND r.bucket < $7)))
                UNION ALL
                SELECT e.chain, e.department, e.role, e.filed, e.closed, e.closed_on_time, e.handled,
                    e.handled_on_time, e.handling_s, e.checked, e.reworked, e.dispatched, e.returned, e.moves,
                    e.late_moves, e.escalated, e.reopened, e.supervised
                FROM evaluation_move e
                WHERE %s((e.at >= $2 AND e.at < coalesce($6::timestamp AT TIME ZONE $10, $3))
                       OR (e.at >= coalesce($7::timestamp AT TIME ZONE $10, $3) AND e.at < $3))
            ), by_place AS MATERIALIZED (  -- summed per place first (an area's chain, a grid's): its scope and child are computed once
                SELECT c.chain, c.department, c.role, sum(c.filed) AS filed, sum(c.closed) AS closed,
                    sum(c.closed_on_time) AS closed_on_time, sum(c.handled) AS handled,
                    sum(c.handled_on_time) AS handled_on_time, sum(c.handling_s) AS handling_s,
                    sum(c.checked) AS checked, sum(c.reworked) AS reworked, sum(c.dispatched) AS dispatched,
                    sum(c.returned) AS returned, sum(c.moves) AS moves, sum(c.late_moves) AS late_moves,
                    sum(c.escalated) AS escalated, sum(c.reopened) AS reopened, sum(c.supervised) AS supervised
                FROM counted c
                WHERE $4::text IS NULL OR c.department = $4
                GROUP BY 1, 2, 3
            )
            SELECT %s::text, sum(c.filed)::bigint, sum(c.closed)::bigint, sum(c.closed_on_time)::bigint,
                sum(c.handled)::bigint, sum(c.handled_on_time)::bigint, coalesce(sum(c.handling_s), 0)::float8,
                sum(c.checked)::bigint, sum(c.reworked)::bigint, sum(c.dispatched)::bigint, sum(c.returned)::bigint,
                sum(c.moves)::bigint, sum(c.late_moves)::bigint, sum(c.escalated)::bigint, sum(c.reopened)::bigint,
                sum(c.supervised)::bigint
            FROM by_place c
            WHERE c.chain @> ARRAY[$1]
            GROUP BY 1
        $q$, CASE WHEN depth > 2 THEN 'e.chain @> ARRAY[$1] AND ' ELSE '' END, grouping) USING unit_id, since, until, only_department, depth, first_day, end_day, first_month,
            end_month, zone;
    END $function$;
REVOKE ALL ON FUNCTION public.cityops_evaluation(bigint,timestamp with time zone,timestamp with time zone,text,text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_evaluation(bigint,timestamp with time zone,timestamp with time zone,text,text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_evaluation(bigint,timestamp with time zone,timestamp with time zone,text,text) TO cityops_api;
