CREATE OR REPLACE FUNCTION public.cityops_rank_forces(at geometry, own bigint, k integer, caps text[], fresh_since timestamp with time zone, local_time time without time zone, exclude bigint[] DEFAULT '{}'::bigint[])
 RETURNS TABLE(force_id bigint, tier integer, distance_m double precision)
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
 SET enable_seqscan TO 'off'
 SET enable_sort TO 'off'
AS $function$
    DECLARE
        here geography := at::geography;
        parents bigint[];
        neighbours bigint[];
        bound float8;
        need int := k;
        near constant int := 300;  -- how many nearest fresh forces to look through for a bound (~4 µs each)
        got int;
        t int;
    BEGIN
        SELECT u.ancestors[2:] INTO parents FROM unit u WHERE u.id = own;
        SELECT coalesce(array_agg(n.neighbour_id), '{}') INTO neighbours FROM unit_neighbour n WHERE n.unit_id = own;
        FOR t IN 0..2 LOOP
            -- any `need` eligible forces of the tier bound the answer by their farthest true distance;
            -- the planar-nearest give a tight bound, looked for among the nearest `near` fresh ones
            SELECT max(ST_Distance(q.geom::geography, here)) * (1 + 1e-9) + 0.001, count(*) INTO bound, got FROM (
                SELECT n.geom FROM (
                    SELECT p.* FROM force_position p WHERE p.status = 'available' AND (p.fixed_post OR p.fixed_at >= fresh_since)
                    ORDER BY p.geom <-> at LIMIT near
                ) n
                WHERE n.capabilities @> caps AND cityops_on_shift(n.shift_start, n.shift_end, local_time)
                  AND NOT n.force_id = ANY(exclude)
                  AND cityops_force_tier(n.units, n.unit_id, own, parents, neighbours) = t
                LIMIT need
            ) q;
            IF got < need AND t = 2 AND cityops_capability_share(caps) * 5000 >= need THEN
                -- the rest of the city, and the capability is common enough that walking outwards
                -- finds `need` of them within a few thousand forces: no cap on the walk
                SELECT max(ST_Distance(q.geom::geography, here)) * (1 + 1e-9) + 0.001, count(*) INTO bound, got
                FROM (
                    SELECT p.geom FROM force_position p
                    WHERE p.status = 'available' AND (p.fixed_post OR p.fixed_at >= fresh_since) AND p.capabilities @> caps
                      AND cityops_on_shift(p.shift_start, p.shift_end, local_time) AND NOT p.force_id = ANY(exclude)
                      AND cityops_force_tier(p.units, p.unit_id, own, parents, neighbours) = 2
                    ORDER BY p.geom <-> at LIMIT need
                ) q;
            END IF;
            IF got = need THEN  -- every eligible force of the tier within the bound, by geodesic distance
                RETURN QUERY
                    SELECT p.force_id, t, ST_Distance(p.geom::geography, here) AS d
                    FROM force_position p
                    WHERE p.geom && cityops_metre_box(at, bound)
                      AND ST_DWithin(p.geom::geography, here, bound)
                      AND p.status = 'available' AND p.capabilities @> caps AND (p.fixed_post OR p.fixed_at >= fresh_since)
                      AND cityops_on_shift(p.shift_start, p.shift_end, local_time) AND NOT p.force_id = ANY(exclude)
                      AND cityops_force_tier(p.units, p.unit_id, own, parents, neighbours) = t
                    ORDER BY d, p.force_id LIMIT need;
            ELSE  -- few nearby (a rare capability, a small unit): the tier's eligible forces come from the
                  -- directory's indexes (unit tree, capabilities: the planner picks), the
                  -- planar-nearest of them bound the answer, and the bound is applied exactly; planned
                  -- for these values (EXECUTE), so the planner sees which index applies
                RETURN QUERY EXECUTE format($q$
                    WITH tier AS MATERIALIZED (
                        SELECT p.force_id, p.geom FROM force f JOIN force_position p ON p.force_id = f.id
                        WHERE %s AND f.capabilities @> $4 AND f.status = 'available' AND (p.fixed_post OR p.fixed_at >= $5)
                          AND cityops_on_shift(p.shift_start, p.shift_end, $6) AND NOT p.force_id = ANY($7)
                          AND cityops_force_tier(p.units, p.unit_id, $1, $2, $3) = $9
                    ), bound AS MATERIALIZED (
                        SELECT max(ST_Distance(q.geom::geography, $10)) * (1 + 1e-9) + 0.001 AS metres
                        FROM (SELECT geom FROM tier ORDER BY geom <-> $11 LIMIT $8) q
                    )
                    SELECT tier.force_id, $9, ST_Distance(tier.geom::geography, $10) AS d FROM tier, bound
                    WHERE tier.geom && cityops_metre_box($11, bound.metres)
                      AND ST_DWithin(tier.geom::geography, $10, bound.metres)
                    ORDER BY d, tier.force_id LIMIT $8 $q$,
                    CASE t WHEN 0 THEN '(f.units @> ARRAY[$1] OR f.unit_id = ANY($2))'
                           WHEN 1 THEN 'f.units && $3' ELSE 'true' END)
                USING own, parents, neighbours, caps, fresh_since, local_time, exclude, need, t, here, at;
            END IF;
            GET DIAGNOSTICS got = ROW_COUNT;
            need := need - got;
            EXIT WHEN need <= 0;
        END LOOP;
    END $function$;
