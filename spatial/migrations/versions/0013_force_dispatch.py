"""force dispatch: live positions (latest + time-partitioned history), exact nearest-capable
ranking, assignments with accept deadlines, cross-unit requests

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27

Positions leave the ``force`` row: a fix rewrote a row carrying six indexes (two GIN), so the
latest position per force lives in ``force_position`` (primary key + GiST) and every fix in
``force_fix``, range-partitioned by day so retention drops whole partitions instead of deleting
rows. ``force_position`` also carries a copy of what decides dispatchability (status,
capabilities, units, shift; kept by a trigger on ``force``): the nearest-eligible search is then
one index-ordered scan of one table — across a join the planner cannot estimate the array and
shift filters and scanned every force. ``cityops_ingest_fixes`` stores a batch in one statement: history (a duplicate
fix is ignored), the newest fix per force where it is newer than the stored one, and a NOTIFY
of the forces that moved.

``cityops_rank_forces`` answers "the k nearest available forces that can do this", exactly: per
preference tier (the responsible unit's own forces, then its neighbours', then the rest) it
takes k forces by the planar index order, whose farthest true distance bounds the answer, and
ranks every eligible force inside that bound by geodesic distance — the planar order alone
gets a third of top-5s wrong at Nanjing's latitude. It runs as the owner because a commander
may see (not command) neighbouring units' forces as candidates; it returns no personal data.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# straight-line km/h and the road detour factor, per kind (urban averages; data, editable)
KIND_SPEEDS = [("person", 12, 1.3), ("team", 25, 1.35), ("vehicle", 30, 1.35), ("equipment", 25, 1.35)]
TRACKER = ("tracker", "定位终端/车载网关 AVL gateway: reports positions of the forces in its unit", "{forces:track}")


def upgrade() -> None:
    op.execute("""
    DROP INDEX ix_force_available_geom;
    DROP INDEX ix_force_cell;
    ALTER TABLE force DROP COLUMN geom, DROP COLUMN cell, DROP COLUMN position_at;
    CREATE INDEX ix_force_unit ON force (unit_id);
    REVOKE UPDATE ON force FROM cityops_api;
    GRANT UPDATE (status) ON force TO cityops_api;

    CREATE TABLE force_kind_speed (
        kind force_kind PRIMARY KEY,
        speed_kmh real NOT NULL CHECK (speed_kmh > 0),
        detour real NOT NULL CHECK (detour >= 1)
    );

    CREATE TABLE force_position (
        force_id bigint PRIMARY KEY REFERENCES force (id) ON DELETE CASCADE,
        geom geometry(Point, 4326) NOT NULL,
        cell bigint NOT NULL,
        fixed_at timestamptz NOT NULL,
        speed real,
        heading real,
        accuracy real,
        received_at timestamptz NOT NULL DEFAULT now(),
        -- copied from force (trigger force_position_copy): what decides whether it can be sent
        status force_status NOT NULL,
        capabilities text[] NOT NULL,
        units bigint[] NOT NULL,
        unit_id bigint NOT NULL,
        shift_start time,
        shift_end time
    ) WITH (fillfactor = 70);
    CREATE INDEX ix_force_position_geom ON force_position USING gist (geom);

    CREATE FUNCTION cityops_force_position_copy() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE force_position p SET status = NEW.status, capabilities = NEW.capabilities, units = NEW.units,
            unit_id = NEW.unit_id, shift_start = NEW.shift_start, shift_end = NEW.shift_end
        WHERE p.force_id = NEW.id;
        RETURN NULL;
    END $$;
    CREATE TRIGGER force_position_copy AFTER UPDATE OF status, capabilities, unit_id, units, shift_start, shift_end
        ON force FOR EACH ROW EXECUTE FUNCTION cityops_force_position_copy();

    CREATE TABLE force_fix (
        force_id bigint NOT NULL,
        fixed_at timestamptz NOT NULL,
        geom geometry(Point, 4326) NOT NULL,
        cell bigint NOT NULL,
        speed real,
        heading real,
        accuracy real,
        PRIMARY KEY (force_id, fixed_at)
    ) PARTITION BY RANGE (fixed_at);

    -- one partition per day (Asia/Shanghai days would shift with nothing gained; UTC days), from
    -- `keep` days back to `ahead` days on; partitions wholly older than `keep` are dropped
    CREATE FUNCTION cityops_force_fix_partitions(keep interval, ahead int DEFAULT 2)
    RETURNS TABLE (created int, dropped int) LANGUAGE plpgsql AS $$
    DECLARE
        today date := (now() AT TIME ZONE 'UTC')::date;
        first_day date := ((now() - greatest(keep, interval '1 day')) AT TIME ZONE 'UTC')::date;
        day date;
        part record;
    BEGIN
        created := 0; dropped := 0;
        FOR day IN SELECT generate_series(first_day, today + ahead, interval '1 day')::date LOOP
            IF to_regclass(format('force_fix_%s', to_char(day, 'YYYYMMDD'))) IS NULL THEN
                EXECUTE format('CREATE TABLE %I PARTITION OF force_fix FOR VALUES FROM (%L) TO (%L)',
                               format('force_fix_%s', to_char(day, 'YYYYMMDD')),
                               day::timestamp AT TIME ZONE 'UTC', (day + 1)::timestamp AT TIME ZONE 'UTC');
                created := created + 1;
            END IF;
        END LOOP;
        FOR part IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                    WHERE i.inhparent = 'force_fix'::regclass  -- (the guard: the planner may test any relname)
                      AND CASE WHEN c.relname ~ '^force_fix_[0-9]{8}$'
                               THEN to_date(right(c.relname, 8), 'YYYYMMDD') < first_day ELSE false END LOOP
            EXECUTE format('DROP TABLE %I', part.relname);
            dropped := dropped + 1;
        END LOOP;
        RETURN NEXT;
    END $$;
    ALTER FUNCTION cityops_force_fix_partitions(interval, int) SECURITY DEFINER SET search_path = public, pg_temp;
    SELECT cityops_force_fix_partitions(interval '30 days');

    -- a batch of fixes in one statement; forces outside the caller's scope count as unknown
    CREATE FUNCTION cityops_ingest_fixes(
        codes text[], lons float8[], lats float8[], cells bigint[], times timestamptz[],
        speeds real[], headings real[], accuracies real[]
    ) RETURNS TABLE (unknown text[], stored bigint, moved bigint) LANGUAGE sql AS $$
        WITH fix AS (
            SELECT n.*, f.id AS force_id, f.status, f.capabilities, f.units, f.unit_id, f.shift_start, f.shift_end
            FROM unnest(codes, lons, lats, cells, times, speeds, headings, accuracies)
                 AS n(code, lon, lat, cell, fixed_at, speed, heading, accuracy)
            LEFT JOIN force f ON f.code = n.code AND f.units @> ARRAY[cityops_scope_unit()]
                AND (cityops_scope_department() IS NULL OR f.department = cityops_scope_department())
        ), history AS (
            INSERT INTO force_fix (force_id, fixed_at, geom, cell, speed, heading, accuracy)
            SELECT force_id, fixed_at, ST_SetSRID(ST_MakePoint(lon, lat), 4326), cell, speed, heading, accuracy
            FROM fix WHERE force_id IS NOT NULL
            ON CONFLICT DO NOTHING
            RETURNING 1
        ), latest AS (
            INSERT INTO force_position AS p (force_id, geom, cell, fixed_at, speed, heading, accuracy,
                                             status, capabilities, units, unit_id, shift_start, shift_end)
            SELECT DISTINCT ON (force_id) force_id, ST_SetSRID(ST_MakePoint(lon, lat), 4326), cell, fixed_at,
                   speed, heading, accuracy, status, capabilities, units, unit_id, shift_start, shift_end
            FROM fix WHERE force_id IS NOT NULL ORDER BY force_id, fixed_at DESC
            ON CONFLICT (force_id) DO UPDATE
                SET geom = EXCLUDED.geom, cell = EXCLUDED.cell, fixed_at = EXCLUDED.fixed_at,
                    speed = EXCLUDED.speed, heading = EXCLUDED.heading, accuracy = EXCLUDED.accuracy,
                    received_at = now()
                WHERE p.fixed_at < EXCLUDED.fixed_at
            RETURNING p.force_id
        ), announced AS (  -- NOTIFY payloads stay far below 8000 bytes: 400 ids a message
            SELECT pg_notify('cityops_positions', string_agg(force_id::text, ',')) FROM (
                SELECT force_id, (row_number() OVER ()) / 400 AS chunk FROM latest
            ) c GROUP BY chunk
        )
        SELECT ARRAY(SELECT DISTINCT code FROM fix WHERE force_id IS NULL ORDER BY code),
               (SELECT count(*) FROM history), (SELECT count(*) FROM latest) + 0 * (SELECT count(*) FROM announced)
    $$;
    ALTER FUNCTION cityops_ingest_fixes(text[], float8[], float8[], bigint[], timestamptz[], real[], real[], real[])
        SECURITY DEFINER SET search_path = public, pg_temp;

    -- same-tier units sharing a boundary: "neighbouring units" for coordinated allocation
    CREATE MATERIALIZED VIEW unit_neighbour AS
        SELECT r.id AS unit_id, n.id AS neighbour_id
        FROM unit r JOIN unit n ON n.tier = r.tier AND n.kind = r.kind AND n.id <> r.id
             AND n.geom && r.geom AND ST_Intersects(n.geom, r.geom)
        WHERE r.tier IN ('district', 'street', 'community');
    CREATE UNIQUE INDEX ux_unit_neighbour ON unit_neighbour (unit_id, neighbour_id);

    -- a lon/lat box holding every point within `metres` (geodesic) of `at`: a degree of latitude is
    -- at least 110.57 km and one of longitude at least 110 km × cos(latitude), so 110 km is safe
    CREATE FUNCTION cityops_metre_box(at geometry, metres float8) RETURNS geometry
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT ST_Expand(at, metres / (110000 * cos(radians(least(abs(ST_Y(at)) + metres / 110000, 89)))),
                         metres / 110000)
    $$;

    CREATE FUNCTION cityops_on_shift(shift_start time, shift_end time, at time) RETURNS boolean
    LANGUAGE sql IMMUTABLE AS $$
        SELECT shift_start IS NULL OR CASE WHEN shift_start <= shift_end
            THEN at >= shift_start AND at < shift_end ELSE at >= shift_start OR at < shift_end END
    $$;

    -- preference tier of a force for a case whose responsible unit is `own` (0 best):
    -- 0 the responsible unit, its subtree, or its parents below the city; 1 a neighbouring
    -- unit's subtree; 2 anywhere else
    CREATE FUNCTION cityops_force_tier(units bigint[], unit_id bigint, own bigint, parents bigint[],
                                       neighbours bigint[]) RETURNS int
    LANGUAGE sql IMMUTABLE AS $$
        SELECT CASE WHEN units @> ARRAY[own] OR unit_id = ANY(parents) THEN 0
                    WHEN units && neighbours THEN 1 ELSE 2 END
    $$;

    -- the share of tracked forces having all `caps` (at most the rarest one's), from the planner's
    -- element statistics; a capability too rare to be among them counts as 0, none as 1
    CREATE FUNCTION cityops_capability_share(caps text[]) RETURNS float8 LANGUAGE sql STABLE AS $$
        SELECT coalesce(min(coalesce(s.most_common_elem_freqs[array_position(s.most_common_elems::text::text[], c)],
                                     0)), 1)
        FROM unnest(caps) AS c
        LEFT JOIN pg_stats s
            ON s.schemaname = 'public' AND s.tablename = 'force_position' AND s.attname = 'capabilities'
    $$;

    -- eligible: available, capable, fresh, on shift, not excluded
    CREATE FUNCTION cityops_rank_forces(
        at geometry, own bigint, k int, caps text[], fresh_since timestamptz, local_time time,
        exclude bigint[] DEFAULT '{}'
    ) RETURNS TABLE (force_id bigint, tier int, distance_m float8) LANGUAGE plpgsql STABLE AS $$
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
                    SELECT p.* FROM force_position p WHERE p.status = 'available' AND p.fixed_at >= fresh_since
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
                    WHERE p.status = 'available' AND p.fixed_at >= fresh_since AND p.capabilities @> caps
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
                      AND p.status = 'available' AND p.capabilities @> caps AND p.fixed_at >= fresh_since
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
                        WHERE %s AND f.capabilities @> $4 AND f.status = 'available' AND p.fixed_at >= $5
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
    END $$;
    -- the planner cannot estimate the array and shift filters (it guesses 2 rows and scans the whole
    -- table); without seq scans and sorts the only plan left walks the GiST index nearest first
    ALTER FUNCTION cityops_rank_forces(geometry, bigint, int, text[], timestamptz, time, bigint[])
        SECURITY DEFINER SET search_path = public, pg_temp SET enable_seqscan = off SET enable_sort = off;

    -- the nearest forces within `within_m` that were not chosen, and why
    CREATE FUNCTION cityops_passed_over(
        at geometry, within_m float8, chosen bigint[], caps text[], fresh_since timestamptz,
        local_time time, lim int
    ) RETURNS TABLE (force_id bigint, distance_m float8, reason text) LANGUAGE sql STABLE AS $$
        SELECT p.force_id, ST_Distance(p.geom::geography, at::geography) AS d,
               CASE WHEN p.status <> 'available' THEN p.status::text
                    WHEN p.fixed_at < fresh_since THEN 'stale_position'
                    WHEN NOT cityops_on_shift(p.shift_start, p.shift_end, local_time) THEN 'off_shift'
                    WHEN NOT p.capabilities @> caps THEN 'lacks_capability'
                    ELSE 'less_preferred_unit' END
        FROM (  -- the planar-nearest few: an explanation, so exact distances for a handful only
            SELECT * FROM force_position p WHERE NOT p.force_id = ANY(chosen)
            ORDER BY p.geom <-> at LIMIT lim * 2
        ) p
        WHERE ST_DWithin(p.geom::geography, at::geography, within_m)
        ORDER BY d, p.force_id LIMIT lim
    $$;
    ALTER FUNCTION cityops_passed_over(geometry, float8, bigint[], text[], timestamptz, time, int)
        SECURITY DEFINER SET search_path = public, pg_temp SET enable_seqscan = off SET enable_sort = off;

    -- what a commander may know of any force it is offered: no contact, no history
    CREATE FUNCTION cityops_force_cards(ids bigint[]) RETURNS TABLE (
        id bigint, code text, name text, kind force_kind, unit_code text, unit_name text, department text,
        capabilities text[], status force_status, lon float8, lat float8, fixed_at timestamptz,
        speed_kmh real, detour real, units bigint[]
    ) LANGUAGE sql STABLE AS $$
        SELECT f.id, f.code, f.name, f.kind, u.code, u.name, f.department, f.capabilities, f.status,
               ST_X(p.geom), ST_Y(p.geom), p.fixed_at, s.speed_kmh, s.detour, f.units
        FROM force f JOIN unit u ON u.id = f.unit_id LEFT JOIN force_position p ON p.force_id = f.id
        JOIN force_kind_speed s ON s.kind = f.kind
        WHERE f.id = ANY(ids)
    $$;
    ALTER FUNCTION cityops_force_cards(bigint[]) SECURITY DEFINER SET search_path = public, pg_temp;

    ALTER TABLE assignment
        ADD COLUMN capabilities text[] NOT NULL DEFAULT '{}',
        ADD COLUMN accept_by timestamptz,
        ADD COLUMN accepted_at timestamptz,
        ADD COLUMN request_id bigint;

    -- one unit borrowing another's force: request → commit (an assignment) → release (EDXL-RM)
    CREATE TYPE force_request_state AS ENUM ('requested', 'committed', 'declined', 'released', 'cancelled');
    CREATE TABLE force_request (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        event_id bigint NOT NULL REFERENCES event (id),
        force_id bigint NOT NULL REFERENCES force (id),
        requested_by text NOT NULL,
        requested_at timestamptz NOT NULL DEFAULT now(),
        note text NOT NULL DEFAULT '',
        state force_request_state NOT NULL DEFAULT 'requested',
        decided_by text,
        decided_at timestamptz,
        assignment_id bigint REFERENCES assignment (id),
        released_at timestamptz
    );
    CREATE INDEX ix_force_request_event ON force_request (event_id);
    CREATE INDEX ix_force_request_force ON force_request (force_id);
    CREATE UNIQUE INDEX ux_force_request_open ON force_request (event_id, force_id) WHERE state = 'requested';
    ALTER TABLE assignment ADD FOREIGN KEY (request_id) REFERENCES force_request (id);

    -- the requesting side sees its case's requests, the owning side its forces'
    ALTER TABLE force_request ENABLE ROW LEVEL SECURITY;
    CREATE POLICY force_request_in_scope ON force_request TO cityops_api
        USING (EXISTS (SELECT FROM force f WHERE f.id = force_request.force_id)
               OR EXISTS (SELECT FROM event e WHERE e.id = force_request.event_id));
    ALTER TABLE force_position ENABLE ROW LEVEL SECURITY;
    CREATE POLICY force_position_in_scope ON force_position TO cityops_api
        USING (EXISTS (SELECT FROM force f WHERE f.id = force_position.force_id));
    ALTER TABLE force_fix ENABLE ROW LEVEL SECURITY;
    CREATE POLICY force_fix_in_scope ON force_fix TO cityops_api
        USING (EXISTS (SELECT FROM force f WHERE f.id = force_fix.force_id));

    -- accept deadlines passed: release the assignment and free the force; with `redispatch`, offer
    -- the case to the next own-unit candidate not yet timed out on it (borrowing stays a person's call)
    CREATE FUNCTION cityops_sweep_assignments(
        fresh_since timestamptz, local_time time, accept_within interval, redispatch boolean
    ) RETURNS TABLE (expired_id bigint, event_id bigint, force_id bigint, next_id bigint, next_force_id bigint)
    LANGUAGE plpgsql AS $$
    DECLARE
        x record;
        pick bigint;
        tried bigint[];
    BEGIN
        FOR x IN UPDATE assignment a SET released_at = now(), release_reason = 'accept_timeout'
                 WHERE a.released_at IS NULL AND a.accepted_at IS NULL AND a.accept_by < now()
                 RETURNING a.id, a.event_id, a.force_id, a.capabilities LOOP
            UPDATE force f SET status = 'available' WHERE f.id = x.force_id AND f.status = 'assigned';
            UPDATE force_request r SET state = 'released', released_at = now()
            WHERE r.assignment_id = x.id AND r.state = 'committed';
            expired_id := x.id; event_id := x.event_id; force_id := x.force_id; next_id := NULL; next_force_id := NULL;
            IF redispatch THEN
                SELECT array_agg(a.force_id) INTO tried FROM assignment a
                WHERE a.event_id = x.event_id AND a.release_reason = 'accept_timeout';
                SELECT r.force_id INTO pick
                FROM event e, cityops_rank_forces(e.geom, e.responsible_unit_id, 1, x.capabilities, fresh_since,
                                                  local_time, tried) r
                WHERE e.id = x.event_id AND e.closed_at IS NULL AND r.tier = 0;
                IF pick IS NOT NULL THEN
                    PERFORM FROM force f WHERE f.id = pick AND f.status = 'available' FOR UPDATE;
                    IF FOUND THEN
                        INSERT INTO assignment (event_id, force_id, assigned_by, capabilities, accept_by)
                        VALUES (x.event_id, pick, 'system:redispatch', x.capabilities, now() + accept_within)
                        RETURNING id INTO next_id;
                        UPDATE force f SET status = 'assigned' WHERE f.id = pick;
                        next_force_id := pick;
                    END IF;
                END IF;
            END IF;
            RETURN NEXT;
        END LOOP;
    END $$;
    ALTER FUNCTION cityops_sweep_assignments(timestamptz, time, interval, boolean)
        SECURITY DEFINER SET search_path = public, pg_temp;

    -- a borrowed force's status follows its assignment, whichever side acts on the assignment (the
    -- requester cannot see, let alone update, another unit's force): only these two moves, and only
    -- as the assignment says
    CREATE FUNCTION cityops_force_en_route(assignment bigint) RETURNS void LANGUAGE sql AS $$
        UPDATE force f SET status = 'en_route' FROM assignment a
        WHERE a.id = assignment AND a.accepted_at IS NOT NULL AND a.released_at IS NULL
          AND f.id = a.force_id AND f.status = 'assigned'
    $$;
    CREATE FUNCTION cityops_force_freed(force bigint) RETURNS void LANGUAGE sql AS $$
        UPDATE force f SET status = 'available'
        WHERE f.id = force AND f.status IN ('assigned', 'en_route', 'on_scene')
          AND NOT EXISTS (SELECT FROM assignment a WHERE a.force_id = force AND a.released_at IS NULL)
    $$;
    ALTER FUNCTION cityops_force_en_route(bigint) SECURITY DEFINER SET search_path = public, pg_temp;
    ALTER FUNCTION cityops_force_freed(bigint) SECURITY DEFINER SET search_path = public, pg_temp;

    GRANT SELECT ON force_kind_speed, unit_neighbour TO cityops_api;
    GRANT SELECT, INSERT, UPDATE ON force_position TO cityops_api;
    GRANT SELECT ON force_fix TO cityops_api;
    GRANT SELECT, INSERT, UPDATE ON force_request TO cityops_api;
    GRANT USAGE ON SEQUENCE force_request_id_seq TO cityops_api;
    GRANT UPDATE (accepted_at) ON assignment TO cityops_api;
    REVOKE ALL ON FUNCTION cityops_force_fix_partitions(interval, int) FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION cityops_force_fix_partitions(interval, int) TO cityops_api;
    REVOKE ALL ON FUNCTION cityops_sweep_assignments(timestamptz, time, interval, boolean) FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION cityops_sweep_assignments(timestamptz, time, interval, boolean) TO cityops_api;
    UPDATE role SET permissions = permissions || '{forces:borrow}'::text[]
        WHERE name = 'district' AND NOT permissions @> '{forces:borrow}';
    """)
    values = ", ".join(f"('{kind}', {kmh}, {detour})" for kind, kmh, detour in KIND_SPEEDS)
    op.execute(f"INSERT INTO force_kind_speed (kind, speed_kmh, detour) VALUES {values}")
    name, description, permissions = TRACKER
    op.execute(f"INSERT INTO role (name, description, permissions) VALUES ('{name}', '{description}', '{permissions}')")


def downgrade() -> None:
    op.execute("""
    DELETE FROM role WHERE name = 'tracker';
    UPDATE role SET permissions = array_remove(permissions, 'forces:borrow') WHERE name = 'district';
    DROP FUNCTION cityops_sweep_assignments(timestamptz, time, interval, boolean);
    DROP FUNCTION cityops_force_freed(bigint);
    DROP FUNCTION cityops_force_en_route(bigint);
    ALTER TABLE assignment DROP COLUMN request_id;
    DROP TABLE force_request;
    DROP TYPE force_request_state;
    ALTER TABLE assignment DROP COLUMN capabilities, DROP COLUMN accept_by, DROP COLUMN accepted_at;
    DROP FUNCTION cityops_force_cards(bigint[]);
    DROP FUNCTION cityops_passed_over(geometry, float8, bigint[], text[], timestamptz, time, int);
    DROP FUNCTION cityops_rank_forces(geometry, bigint, int, text[], timestamptz, time, bigint[]);
    DROP FUNCTION cityops_force_tier(bigint[], bigint, bigint, bigint[], bigint[]);
    DROP FUNCTION cityops_capability_share(text[]);
    DROP FUNCTION cityops_on_shift(time, time, time);
    DROP FUNCTION cityops_metre_box(geometry, float8);
    DROP MATERIALIZED VIEW unit_neighbour;
    DROP FUNCTION cityops_ingest_fixes(text[], float8[], float8[], bigint[], timestamptz[], real[], real[], real[]);
    DROP FUNCTION cityops_force_fix_partitions(interval, int);
    DROP TABLE force_fix;
    DROP TRIGGER force_position_copy ON force;
    DROP FUNCTION cityops_force_position_copy();
    DROP TABLE force_position;
    DROP TABLE force_kind_speed;
    DROP INDEX ix_force_unit;
    ALTER TABLE force ADD COLUMN geom geometry(Point, 4326), ADD COLUMN cell bigint, ADD COLUMN position_at timestamptz;
    CREATE INDEX ix_force_available_geom ON force USING gist (geom) WHERE status = 'available';
    CREATE INDEX ix_force_cell ON force (cell);
    GRANT UPDATE (status, geom, cell, position_at) ON force TO cityops_api;
    """)
