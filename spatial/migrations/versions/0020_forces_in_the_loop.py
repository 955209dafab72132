"""forces in the loop: the people behind a force answer its assignments, and every step is told

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-02

A user may stand behind one force (``app_user.force_id``); several users may stand behind the
same force — a vehicle's crew, a squad and its leader, a grid worker's phone and their
deputy's — because a team answers as one: the first of them to accept takes the job for the
force (the assignment row is locked, the second answer finds it accepted). A force user is
placed in their force's unit, so row-level security shows them their own force and its
assignments; the case of a borrowed force lies outside that subtree, and
``cityops_force_assignments`` hands them exactly its summary (category, place, description,
reporter's contact — masked by the API) for the assignments of their own force, nothing more.

An assignment's story is the append-only ``assignment_event``: written by a trigger on
``assignment`` itself, so every statement that offers, accepts, marks arrival, releases or
re-offers — the API's and the sweeper's alike — tells it in the same transaction, and nothing
else can write, change or delete a step (the API role may only read it). Releasing and
re-offering are one function each, shared by the sweeper (accept deadline passed), by a force
answering "unable" and by an accept arriving after the deadline.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STEPS = (
    "offered",
    "accepted",
    "en_route",
    "on_scene",
    "completed",
    "cancelled",
    "reassigned",
    "unable",
    "timed_out",
    "reoffered",
    "not_reoffered",
)
FIELD_FORCE = ("field_force", "外勤力量 force in the field: answers its own assignments", "{assignments:answer}")
RANK_ARGS = "timestamptz, time, interval, boolean"


def upgrade() -> None:
    steps = ", ".join(f"'{step}'" for step in STEPS)
    op.execute(f"""
    ALTER TABLE app_user ADD COLUMN force_id bigint REFERENCES force (id);
    CREATE INDEX ix_app_user_force ON app_user (force_id) WHERE force_id IS NOT NULL;

    ALTER TABLE assignment
        ADD COLUMN arrived_at timestamptz,
        ADD COLUMN release_note text,
        ADD COLUMN changed_by text,
        ADD COLUMN reoffer_of bigint REFERENCES assignment (id);
    CREATE INDEX ix_assignment_reoffer ON assignment (reoffer_of) WHERE reoffer_of IS NOT NULL;

    CREATE TABLE assignment_event (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        assignment_id bigint NOT NULL REFERENCES assignment (id),
        event_id bigint NOT NULL REFERENCES event (id),
        force_id bigint NOT NULL REFERENCES force (id),
        step text NOT NULL CHECK (step IN ({steps})),
        at timestamptz NOT NULL DEFAULT now(),
        actor text NOT NULL,
        note text NOT NULL DEFAULT '',
        next_assignment_id bigint REFERENCES assignment (id),
        next_force_id bigint REFERENCES force (id)
    );
    CREATE INDEX ix_assignment_event_case ON assignment_event (event_id, id);
    CREATE INDEX ix_assignment_event_at ON assignment_event (at);

    CREATE FUNCTION cityops_assignment_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'assignment_event is append-only' USING ERRCODE = 'insufficient_privilege';
    END $$;
    CREATE TRIGGER assignment_event_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON assignment_event
        FOR EACH STATEMENT EXECUTE FUNCTION cityops_assignment_event_append_only();

    -- the story told by the statement that makes the change (owner's rights: the API only reads it)
    CREATE FUNCTION cityops_assignment_story() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        prior record;
        actor text := coalesce(NEW.changed_by, NEW.assigned_by);
    BEGIN
        IF TG_OP = 'INSERT' THEN
            IF NEW.reoffer_of IS NOT NULL THEN
                SELECT a.id, a.event_id, a.force_id, a.release_reason INTO prior FROM assignment a
                WHERE a.id = NEW.reoffer_of;
                INSERT INTO assignment_event (assignment_id, event_id, force_id, step, actor, note,
                                              next_assignment_id, next_force_id)
                VALUES (prior.id, prior.event_id, prior.force_id, 'reoffered', NEW.assigned_by,
                        prior.release_reason, NEW.id, NEW.force_id);
            END IF;
            INSERT INTO assignment_event (assignment_id, event_id, force_id, step, actor, note)
            VALUES (NEW.id, NEW.event_id, NEW.force_id, 'offered', NEW.assigned_by,
                    CASE WHEN NEW.reoffer_of IS NULL THEN '' ELSE 're-offer of assignment ' || NEW.reoffer_of END);
            RETURN NULL;
        END IF;
        IF OLD.accepted_at IS NULL AND NEW.accepted_at IS NOT NULL THEN
            INSERT INTO assignment_event (assignment_id, event_id, force_id, step, actor)
            VALUES (NEW.id, NEW.event_id, NEW.force_id, 'accepted', actor),
                   (NEW.id, NEW.event_id, NEW.force_id, 'en_route', actor);
        END IF;
        IF OLD.arrived_at IS NULL AND NEW.arrived_at IS NOT NULL THEN
            INSERT INTO assignment_event (assignment_id, event_id, force_id, step, actor)
            VALUES (NEW.id, NEW.event_id, NEW.force_id, 'on_scene', actor);
        END IF;
        IF OLD.released_at IS NULL AND NEW.released_at IS NOT NULL THEN
            INSERT INTO assignment_event (assignment_id, event_id, force_id, step, actor, note)
            VALUES (NEW.id, NEW.event_id, NEW.force_id,
                    CASE NEW.release_reason WHEN 'accept_timeout' THEN 'timed_out' ELSE NEW.release_reason END,
                    actor, coalesce(NEW.release_note, ''));
        END IF;
        RETURN NULL;
    END $$;
    ALTER FUNCTION cityops_assignment_story() SECURITY DEFINER SET search_path = public, pg_temp;
    CREATE TRIGGER assignment_story AFTER INSERT OR UPDATE ON assignment
        FOR EACH ROW EXECUTE FUNCTION cityops_assignment_story();
    -- assignments made before this migration start their story at what their row says
    INSERT INTO assignment_event (assignment_id, event_id, force_id, step, at, actor)
    SELECT id, event_id, force_id, 'offered', assigned_at, assigned_by FROM assignment ORDER BY id;

    ALTER TABLE assignment_event ENABLE ROW LEVEL SECURITY;
    CREATE POLICY assignment_event_in_scope ON assignment_event TO cityops_api
        USING (EXISTS (SELECT FROM force f WHERE f.id = assignment_event.force_id)
               OR EXISTS (SELECT FROM event e WHERE e.id = assignment_event.event_id));

    -- the force reached the place: on scene (like en route, whichever side acts on the assignment)
    CREATE FUNCTION cityops_force_on_scene(assignment bigint) RETURNS void LANGUAGE sql AS $$
        UPDATE force f SET status = 'on_scene' FROM assignment a
        WHERE a.id = assignment AND a.arrived_at IS NOT NULL AND a.released_at IS NULL
          AND f.id = a.force_id AND f.status = 'en_route'
    $$;
    ALTER FUNCTION cityops_force_on_scene(bigint) SECURITY DEFINER SET search_path = public, pg_temp;

    -- end an active assignment (the caller locked it in its own scope first): the force is free
    -- again, a borrowed one goes home; returns the case and force, nothing when already released
    CREATE FUNCTION cityops_release_assignment(assignment bigint, reason text, note text, actor text)
    RETURNS TABLE (event_id bigint, force_id bigint) LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE assignment a SET released_at = now(), release_reason = reason, release_note = nullif(note, ''),
                                changed_by = actor
        WHERE a.id = assignment AND a.released_at IS NULL
        RETURNING a.event_id, a.force_id INTO event_id, force_id;
        IF NOT FOUND THEN
            RETURN;
        END IF;
        PERFORM cityops_force_freed(force_id);
        UPDATE force_request r SET state = 'released', released_at = now()
        WHERE r.assignment_id = assignment AND r.state = 'committed';
        RETURN NEXT;
    END $$;

    -- offer a released assignment's case to the responsible unit's nearest eligible force not yet
    -- timed out or unable on it (borrowing stays a person's call); the story says whom, or why no one
    CREATE FUNCTION cityops_reoffer(released bigint, fresh_since timestamptz, local_time time,
                                    accept_within interval)
    RETURNS TABLE (next_id bigint, next_force_id bigint) LANGUAGE plpgsql AS $$
    DECLARE
        x record;
        pick bigint;
        tried bigint[];
    BEGIN
        SELECT a.id, a.event_id, a.force_id, a.capabilities, e.closed_at, e.geom, e.responsible_unit_id INTO x
        FROM assignment a JOIN event e ON e.id = a.event_id WHERE a.id = released;
        SELECT array_agg(a.force_id) INTO tried FROM assignment a
        WHERE a.event_id = x.event_id AND a.release_reason IN ('accept_timeout', 'unable');
        IF x.closed_at IS NULL THEN
            SELECT r.force_id INTO pick
            FROM cityops_rank_forces(x.geom, x.responsible_unit_id, 1, x.capabilities, fresh_since, local_time,
                                     coalesce(tried, '{{}}')) r
            WHERE r.tier = 0;
            PERFORM FROM force f WHERE f.id = pick AND f.status = 'available' FOR UPDATE;
            IF FOUND THEN
                INSERT INTO assignment (event_id, force_id, assigned_by, capabilities, accept_by, reoffer_of)
                VALUES (x.event_id, pick, 'system:redispatch', x.capabilities, now() + accept_within, x.id)
                RETURNING id INTO next_id;
                UPDATE force f SET status = 'assigned' WHERE f.id = pick;
                next_force_id := pick;
                RETURN NEXT;
                RETURN;
            END IF;
        END IF;
        INSERT INTO assignment_event (assignment_id, event_id, force_id, step, actor, note)
        VALUES (x.id, x.event_id, x.force_id, 'not_reoffered', 'system:redispatch',
                CASE WHEN x.closed_at IS NOT NULL THEN 'case_closed' ELSE 'no_candidate' END);
        RETURN NEXT;
    END $$;

    -- accept deadlines passed: release and (with `redispatch`) re-offer; an assignment whose force is
    -- answering right now (row locked) is left to that answer, which checks the deadline itself
    DROP FUNCTION cityops_sweep_assignments({RANK_ARGS});
    CREATE FUNCTION cityops_sweep_assignments(
        fresh_since timestamptz, local_time time, accept_within interval, redispatch boolean
    ) RETURNS TABLE (expired_id bigint, event_id bigint, force_id bigint, next_id bigint, next_force_id bigint)
    LANGUAGE plpgsql AS $$
    DECLARE
        x record;
    BEGIN
        FOR x IN SELECT a.id FROM assignment a
                 WHERE a.released_at IS NULL AND a.accepted_at IS NULL AND a.accept_by < now()
                 ORDER BY a.id FOR UPDATE SKIP LOCKED LOOP
            expired_id := x.id; next_id := NULL; next_force_id := NULL;
            SELECT r.event_id, r.force_id INTO event_id, force_id
            FROM cityops_release_assignment(x.id, 'accept_timeout', '', 'system:dispatch') r;
            IF redispatch THEN
                SELECT r.next_id, r.next_force_id INTO next_id, next_force_id
                FROM cityops_reoffer(x.id, fresh_since, local_time, accept_within) r;
            END IF;
            RETURN NEXT;
        END LOOP;
    END $$;

    -- to whom a released assignment's case was offered next (a force may learn who took over)
    CREATE FUNCTION cityops_reoffered_to(released bigint)
    RETURNS TABLE (next_id bigint, code text, name text) LANGUAGE sql STABLE AS $$
        SELECT a.id, f.code, f.name FROM assignment a JOIN force f ON f.id = a.force_id
        WHERE a.reoffer_of = released
    $$;

    -- a force's assignments with their cases' summaries, for the force's own users only (the
    -- force must lie in the caller's scope); released ones within `recent`, active ones first
    CREATE FUNCTION cityops_force_assignments(force bigint, recent interval) RETURNS TABLE (
        id bigint, case_id bigint, assigned_by text, assigned_at timestamptz, accept_by timestamptz,
        accepted_at timestamptz, arrived_at timestamptz, released_at timestamptz, release_reason text,
        release_note text, capabilities text[], category text, category_name text, category_name_en text,
        severity text, state text, description text, address text, lon float8, lat float8,
        reported_at timestamptz, reporter jsonb, reoffered_to_code text, reoffered_to_name text
    ) LANGUAGE sql STABLE AS $$
        SELECT a.id, e.id, a.assigned_by, a.assigned_at, a.accept_by, a.accepted_at, a.arrived_at, a.released_at,
               a.release_reason, a.release_note, a.capabilities, e.category_code, c.name, c.name_en,
               e.severity::text, e.state, e.description, e.address, ST_X(e.geom), ST_Y(e.geom), e.created_at,
               (SELECT r.reporter FROM report r WHERE r.event_id = e.id ORDER BY r.id LIMIT 1), n.code, n.name
        FROM assignment a JOIN event e ON e.id = a.event_id JOIN category c ON c.code = e.category_code
        LEFT JOIN assignment x ON x.reoffer_of = a.id LEFT JOIN force n ON n.id = x.force_id
        WHERE a.force_id = force AND (a.released_at IS NULL OR a.released_at > now() - recent)
          AND EXISTS (SELECT FROM force f WHERE f.id = force AND f.units @> ARRAY[cityops_scope_unit()]
                      AND (cityops_scope_department() IS NULL OR f.department = cityops_scope_department()))
        ORDER BY a.released_at IS NOT NULL, a.id DESC
        LIMIT 50
    $$;

    ALTER FUNCTION cityops_release_assignment(bigint, text, text, text)
        SECURITY DEFINER SET search_path = public, pg_temp;
    ALTER FUNCTION cityops_reoffer(bigint, timestamptz, time, interval)
        SECURITY DEFINER SET search_path = public, pg_temp;
    ALTER FUNCTION cityops_sweep_assignments({RANK_ARGS}) SECURITY DEFINER SET search_path = public, pg_temp;
    ALTER FUNCTION cityops_reoffered_to(bigint) SECURITY DEFINER SET search_path = public, pg_temp;
    ALTER FUNCTION cityops_force_assignments(bigint, interval) SECURITY DEFINER SET search_path = public, pg_temp;
    REVOKE ALL ON FUNCTION cityops_release_assignment(bigint, text, text, text), cityops_reoffer(bigint, timestamptz,
        time, interval), cityops_sweep_assignments({RANK_ARGS}), cityops_reoffered_to(bigint),
        cityops_force_assignments(bigint, interval), cityops_force_on_scene(bigint) FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION cityops_release_assignment(bigint, text, text, text), cityops_reoffer(bigint,
        timestamptz, time, interval), cityops_sweep_assignments({RANK_ARGS}), cityops_reoffered_to(bigint),
        cityops_force_assignments(bigint, interval), cityops_force_on_scene(bigint) TO cityops_api;
    GRANT SELECT ON assignment_event TO cityops_api;
    UPDATE role SET permissions = permissions || '{{assignments:answer}}'::text[]
        WHERE name = 'grid_worker' AND NOT permissions @> '{{assignments:answer}}';
    """)
    name, description, permissions = FIELD_FORCE
    op.execute(f"INSERT INTO role (name, description, permissions) VALUES ('{name}', '{description}', '{permissions}')")


def downgrade() -> None:
    op.execute(f"""
    DELETE FROM role WHERE name = 'field_force';
    UPDATE role SET permissions = array_remove(permissions, 'assignments:answer') WHERE name = 'grid_worker';
    DROP FUNCTION cityops_force_assignments(bigint, interval);
    DROP FUNCTION cityops_reoffered_to(bigint);
    DROP FUNCTION cityops_sweep_assignments({RANK_ARGS});
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
    ALTER FUNCTION cityops_sweep_assignments({RANK_ARGS}) SECURITY DEFINER SET search_path = public, pg_temp;
    REVOKE ALL ON FUNCTION cityops_sweep_assignments({RANK_ARGS}) FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION cityops_sweep_assignments({RANK_ARGS}) TO cityops_api;
    DROP FUNCTION cityops_reoffer(bigint, timestamptz, time, interval);
    DROP FUNCTION cityops_release_assignment(bigint, text, text, text);
    DROP FUNCTION cityops_force_on_scene(bigint);
    DROP TABLE assignment_event;
    DROP TRIGGER assignment_story ON assignment;
    DROP FUNCTION cityops_assignment_story();
    DROP FUNCTION cityops_assignment_event_append_only();
    DROP INDEX ix_assignment_reoffer;
    ALTER TABLE assignment DROP COLUMN arrived_at, DROP COLUMN release_note, DROP COLUMN changed_by,
        DROP COLUMN reoffer_of;
    DROP INDEX ix_app_user_force;
    ALTER TABLE app_user DROP COLUMN force_id;
    """)
