"""case clocks: per-stage deadlines, escalation, supervision, reporter follow-up and satisfaction

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-27

Each open stage of a case has a deadline (``stage_limit``, data: a time limit and its kind, or the
case's handling deadline from its category). The stage's due time, when the scheduler escalates it
next and when a parked case is reviewed live in the narrow ``case_clock`` (one row per live case,
indexed for the scheduler), so that a move updates the wide, much-indexed case row only in columns
no index holds (a HOT update: no new entry in its GiST, GIN and btree indexes; the table keeps 10 %
of each page free for it). Parking stores the handling time left. Transitions gain what evaluation
needs without joining back to the case: the acting role, the handling department, the case's grid,
the due time of the stage the move ends, the handling deadline after it, when the measured clock
began, and a detail object (an extension asked for, the units of an escalation). These enter the
hash only when present, so rows chained before this revision keep their hashes.

A case is opened with its first transition (``report``) by the database, in the statement that
stores it. Closing queues the outcome for every report of the case (outbox ``follow_up``);
reporters rate the outcome on their report.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_STATES = (
    "reported",
    "accepted",
    "filed",
    "dispatched",
    "returned",
    "acknowledged",
    "handling",
    "extension_requested",
    "parking_requested",
    "parked",
    "checking",
    "rework",
)
# (state, limit, kind, what must happen before it runs out); NULL limit: the case's handling deadline
STAGES = [
    ("reported", 1, "urgent_hours", "accept or void (受理): the centre is staffed around the clock"),
    ("accepted", 2, "working_hours", "file (立案)"),
    ("filed", 1, "working_hours", "dispatch (派遣)"),
    ("returned", 1, "working_hours", "dispatch again (回退改派)"),
    ("dispatched", 2, "working_hours", "acknowledge or return (接单)"),
    ("acknowledged", None, None, "handle within the category's limit (处置)"),
    ("handling", None, None, "feed back within the category's limit (反馈)"),
    ("rework", None, None, "handle again within the (extended) limit (返工)"),
    ("extension_requested", 4, "working_hours", "approve or deny the extension (延期审批)"),
    ("parking_requested", 4, "working_hours", "approve or deny parking (挂账审批)"),
    ("parked", 5, "working_days", "review the parked case (挂账复核); the handling clock is paused"),
    ("checking", 4, "working_hours", "check the result on site (核查)"),
]
SUPERVISORS = ("district", "city_commander")
# PL/pgSQL, not SQL: a SQL function called once per transaction (the chain trigger) is parsed and
# planned on every call (~0.4 ms); PL/pgSQL keeps its plans for the session. The chain trigger
# reads only the previous row's number and hash.
HASH_V2 = """
    CREATE OR REPLACE FUNCTION cityops_transition_hash(t case_transition) RETURNS char(64)
    LANGUAGE plpgsql IMMUTABLE AS $$
    BEGIN
        RETURN encode(sha256(convert_to(concat_ws('|', t.prev_hash, t.event_id, t.seq, t.action, t.from_state,
            t.to_state, t.actor, array_to_string(t.roles, ','), coalesce(t.unit_id::text, ''),
            to_char(t.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), coalesce(ST_AsText(t.geom), ''), t.note,
            array_to_string(t.evidence, ','),
            CASE WHEN num_nonnulls(t.role, t.department, t.grid_id, t.due, t.deadline, t.since, t.detail) > 0 THEN
                concat_ws('|', 'v2', coalesce(t.role, ''), coalesce(t.department, ''), coalesce(t.grid_id::text, ''),
                    coalesce(to_char(t.due AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), ''),
                    coalesce(to_char(t.deadline AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), ''),
                    coalesce(to_char(t.since AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), ''),
                    coalesce(t.detail::text, '')) END), 'UTF8')), 'hex');
    END $$;

    CREATE OR REPLACE FUNCTION cityops_transition_chain() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        last_seq integer;
        last_hash char(64);
    BEGIN
        SELECT c.seq, c.hash INTO last_seq, last_hash FROM case_transition c WHERE c.event_id = NEW.event_id
        ORDER BY c.seq DESC LIMIT 1;
        NEW.seq := coalesce(last_seq, 0) + 1;
        NEW.prev_hash := coalesce(last_hash, repeat('0', 64));
        NEW.at := now();
        NEW.hash := cityops_transition_hash(NEW);
        RETURN NEW;
    END $$;
"""


def _values(rows: list[tuple]) -> str:
    def literal(value: object) -> str:
        if value is None:
            return "NULL"
        return str(value) if isinstance(value, int) else "'" + str(value).replace("'", "''") + "'"

    return ", ".join("(" + ", ".join(literal(v) for v in row) + ")" for row in rows)


def upgrade() -> None:
    states = ", ".join(f"'{s}'" for s in OPEN_STATES)
    op.execute(f"""
    CREATE TABLE stage_limit (
        state text PRIMARY KEY,
        time_limit numeric CHECK (time_limit > 0),
        limit_kind text CHECK (limit_kind IN ('urgent_hours', 'working_hours', 'working_days', 'calendar_days')),
        meaning text NOT NULL,
        CHECK ((time_limit IS NULL) = (limit_kind IS NULL)),
        -- reports arrive around the clock and the database opens the case, so acceptance runs on wall time
        CHECK (state <> 'reported' OR limit_kind IN ('urgent_hours', 'calendar_days'))
    );
    INSERT INTO stage_limit VALUES {_values(STAGES)};

    ALTER TABLE event
        ADD COLUMN stage_at timestamptz NOT NULL DEFAULT now(),
        ADD COLUMN escalations integer NOT NULL DEFAULT 0,
        ADD COLUMN parked_remaining_s double precision,
        ADD COLUMN supervised boolean NOT NULL DEFAULT false,
        ADD COLUMN handling_department text,
        ADD COLUMN dispatched_at timestamptz;
    ALTER TABLE event SET (fillfactor = 90);

    CREATE TABLE case_clock (
        event_id bigint PRIMARY KEY REFERENCES event (id),
        due_at timestamptz,
        escalate_at timestamptz,
        due_warned boolean NOT NULL DEFAULT false,
        review_at timestamptz
    );
    CREATE INDEX ix_case_clock_escalate_at ON case_clock (escalate_at) WHERE escalate_at IS NOT NULL;
    CREATE INDEX ix_case_clock_due_at ON case_clock (due_at) WHERE due_at IS NOT NULL;
    CREATE INDEX ix_case_clock_review_at ON case_clock (review_at) WHERE review_at IS NOT NULL;
    ALTER TABLE case_clock ENABLE ROW LEVEL SECURITY;
    CREATE POLICY case_clock_in_scope ON case_clock TO cityops_api
        USING (EXISTS (SELECT FROM event e WHERE e.id = case_clock.event_id));

    ALTER TABLE case_transition
        ADD COLUMN role text,
        ADD COLUMN department text,
        ADD COLUMN grid_id bigint,
        ADD COLUMN due timestamptz,
        ADD COLUMN deadline timestamptz,
        ADD COLUMN since timestamptz,
        ADD COLUMN detail jsonb;
    -- evaluation reads a period's transitions: they are written in time order
    CREATE INDEX ix_case_transition_at ON case_transition USING brin (at);
    {HASH_V2}

    -- a case is opened with its first transition and its acceptance clock, whichever path opened it
    CREATE FUNCTION cityops_event_opened() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = public, pg_temp AS $$
    DECLARE
        s stage_limit;
        due timestamptz;
    BEGIN
        INSERT INTO case_transition (event_id, seq, action, from_state, to_state, actor, roles, unit_id, geom,
                                     prev_hash, hash, grid_id, due, deadline, since)
        VALUES (NEW.id, 0, 'report', '', NEW.state, 'intake:' || coalesce(NEW.source::text, 'unknown'), '{{}}',
                NEW.responsible_unit_id, NEW.geom, '', '', NEW.grid_id, NULL, NEW.deadline, NEW.created_at);
        SELECT * INTO s FROM stage_limit WHERE state = NEW.state;
        IF FOUND AND s.time_limit IS NOT NULL THEN
            due := now() + CASE s.limit_kind WHEN 'urgent_hours' THEN make_interval(secs => s.time_limit * 3600)
                                             ELSE make_interval(days => s.time_limit::int) END;
        END IF;
        INSERT INTO case_clock (event_id, due_at, escalate_at) VALUES (NEW.id, due, due);
        RETURN NULL;
    END $$;
    CREATE TRIGGER event_opened AFTER INSERT ON event FOR EACH ROW
        WHEN (NEW.state = 'reported' AND NEW.import_batch_id IS NULL) EXECUTE FUNCTION cityops_event_opened();

    -- supervision (督办): a flag any open case can get from command, recorded as a move to itself
    INSERT INTO case_action (from_state, action, to_state, permission, other_hand, needs_evidence, needs_note)
    SELECT s, 'supervise', s, 'cases:supervise', false, false, true FROM unnest(ARRAY[{states}]) AS s;
    UPDATE role SET permissions = permissions || '{{cases:supervise}}'::text[]
        WHERE name IN ('district', 'city_commander') AND NOT permissions @> '{{cases:supervise}}';
    -- the check is preferably done on site by the grid's own worker (GB/T 30428's 监督员 核查)
    UPDATE role SET permissions = permissions || '{{cases:check}}'::text[]
        WHERE name = 'grid_worker' AND NOT permissions @> '{{cases:check}}';

    -- overdue cases climb one tier (grid → community → street → district → city) per escalation step;
    -- the move is a transition of the case (same state, new responsible unit), done by the scheduler
    CREATE FUNCTION cityops_escalate_overdue(at timestamptz, step interval, lim int)
    RETURNS TABLE (event_id bigint, state text, from_unit text, to_unit text, due timestamptz)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    DECLARE
        c record;
    BEGIN
        FOR c IN
            SELECT e.id, e.state, k.due_at, e.deadline, e.grid_id, e.handling_department, e.responsible_unit_id,
                   u.code AS from_code, p.id AS parent_id, p.code AS to_code
            FROM case_clock k JOIN event e ON e.id = k.event_id JOIN unit u ON u.id = e.responsible_unit_id
            LEFT JOIN unit p ON p.id = u.parent_id
            WHERE k.escalate_at <= at AND e.state IN ({states})
            ORDER BY k.escalate_at LIMIT lim
            FOR UPDATE OF k, e SKIP LOCKED
        LOOP
            IF c.parent_id IS NULL THEN  -- already at the top: stays overdue, listed, not escalated again
                UPDATE case_clock SET escalate_at = NULL WHERE case_clock.event_id = c.id;
                CONTINUE;
            END IF;
            INSERT INTO case_transition (event_id, seq, action, from_state, to_state, actor, roles, unit_id,
                                         note, prev_hash, hash, department, grid_id, due, deadline, detail)
            VALUES (c.id, 0, 'escalate', c.state, c.state, 'system:scheduler', '{{}}', c.parent_id,
                    'overdue since ' || to_char(c.due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC',
                    '', '', c.handling_department, c.grid_id, c.due_at, c.deadline,
                    jsonb_build_object('from_unit', c.from_code, 'to_unit', c.to_code));
            UPDATE event SET responsible_unit_id = c.parent_id, escalations = escalations + 1,
                             version = version + 1, updated_at = now()
            WHERE id = c.id;
            UPDATE case_clock SET escalate_at = at + step WHERE case_clock.event_id = c.id;
            event_id := c.id; state := c.state; from_unit := c.from_code; to_unit := c.to_code; due := c.due_at;
            RETURN NEXT;
        END LOOP;
    END $$;

    -- cases whose stage runs out within ``ahead`` and were not yet warned: marked and returned once
    CREATE FUNCTION cityops_warn_due(at timestamptz, ahead interval, lim int)
    RETURNS TABLE (event_id bigint, state text, due timestamptz)
    LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
        WITH soon AS (
            UPDATE case_clock k SET due_warned = true
            FROM (SELECT c.event_id FROM case_clock c WHERE c.due_at <= at + ahead AND c.due_at > at
                  AND NOT c.due_warned ORDER BY c.due_at LIMIT lim FOR UPDATE SKIP LOCKED) AS due
            WHERE k.event_id = due.event_id
            RETURNING k.event_id, k.due_at
        )
        SELECT s.event_id, e.state, s.due_at FROM soon s JOIN event e ON e.id = s.event_id
    $$;

    -- parked cases whose periodic review is due: announced, and the next review set
    CREATE FUNCTION cityops_reviews_due(at timestamptz, every interval, lim int)
    RETURNS TABLE (event_id bigint, review_at timestamptz)
    LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
        UPDATE case_clock k SET review_at = at + every
        FROM (SELECT c.event_id, c.review_at FROM case_clock c JOIN event e ON e.id = c.event_id
              WHERE c.review_at <= at AND e.state = 'parked'
              ORDER BY c.review_at LIMIT lim FOR UPDATE OF c SKIP LOCKED) AS due
        WHERE k.event_id = due.event_id
        RETURNING k.event_id, due.review_at
    $$;

    -- reporter follow-up: an outbox the sender drains (one row per report and outcome)
    CREATE TABLE follow_up (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        report_id bigint NOT NULL REFERENCES report (id),
        event_id bigint NOT NULL REFERENCES event (id),
        transition_id bigint NOT NULL REFERENCES case_transition (id),
        channel text NOT NULL,
        outcome text NOT NULL,
        message text NOT NULL,
        state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
        attempts integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        last_error text,
        created_at timestamptz NOT NULL DEFAULT now(),
        sent_at timestamptz,
        UNIQUE (report_id, transition_id)
    );
    CREATE INDEX ix_follow_up_pending ON follow_up (next_attempt_at) WHERE state = 'pending';

    -- every report of the case, merged ones included, wherever its reporter stood (past the caller's scope)
    CREATE FUNCTION cityops_queue_follow_up(case_id bigint, moved bigint, outcome text, message text)
    RETURNS integer LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
        WITH queued AS (
            INSERT INTO follow_up (report_id, event_id, transition_id, channel, outcome, message)
            SELECT r.id, case_id, moved, r.source::text, outcome, message FROM report r WHERE r.event_id = case_id
            ON CONFLICT DO NOTHING RETURNING 1
        )
        SELECT count(*)::int FROM queued
    $$;

    ALTER TABLE report
        ADD COLUMN satisfaction text CHECK (satisfaction IN ('satisfied', 'basically_satisfied', 'unsatisfied')),
        ADD COLUMN rated_at timestamptz,
        ADD COLUMN rating_note text;

    -- a reporter rates the outcome with their report's token (no account): one rating per report,
    -- on a closed case; answers the case, its state, and whether the case was closed when rated
    CREATE FUNCTION cityops_rate_report(report_token uuid, rating text, note text)
    RETURNS TABLE (report_id bigint, event_id bigint, state text, rated boolean, previous text)
    LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
        WITH target AS (
            SELECT r.id, r.event_id, r.satisfaction, e.state FROM report r JOIN event e ON e.id = r.event_id
            WHERE r.token = report_token FOR UPDATE OF r
        ), rated AS (
            UPDATE report r SET satisfaction = rating, rated_at = now(), rating_note = note
            FROM target t WHERE r.id = t.id AND t.satisfaction IS NULL AND t.state = 'closed'
            RETURNING r.id
        )
        SELECT t.id, t.event_id, t.state, EXISTS (SELECT FROM rated), t.satisfaction FROM target t
    $$;

    -- evaluation: one pass over a period's transitions of a unit's subtree, grouped by the unit's
    -- child units (area), the handling department, or the acting role; formulas in command/evaluation.py.
    -- Sorting is off: the planner underestimates the grids of a subtree (array containment) and would
    -- sort millions of joined rows to disk for a dozen groups; hashing them is the plan.
    CREATE FUNCTION cityops_evaluation(unit_id bigint, since timestamptz, until timestamptz, by text,
                                       only_department text)
    RETURNS TABLE (key text, filed bigint, closed bigint, closed_on_time bigint, handled bigint,
                   handled_on_time bigint, handling_s double precision, checked bigint, reworked bigint,
                   dispatched bigint, returned bigint, moves bigint, late_moves bigint, escalated bigint,
                   reopened bigint, supervised bigint)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp SET enable_sort = off AS $$
    DECLARE
        depth int := (SELECT cardinality(u.ancestors) + 1 FROM unit u WHERE u.id = unit_id);
        grouping text := CASE by
            WHEN 'area' THEN 'm.child'
            WHEN 'department' THEN 'coalesce(t.department, '''')'
            ELSE 'coalesce(t.role, split_part(t.actor, '':'', 1))' END;
    BEGIN
        IF by NOT IN ('area', 'department', 'role') THEN
            RAISE EXCEPTION 'evaluation by area, department or role, not %', by;
        END IF;
        RETURN QUERY EXECUTE format($q$
            WITH m AS (
                SELECT g.id AS grid_id, coalesce((g.ancestors || g.id)[$5 + 1], $1) AS child
                FROM unit g WHERE g.tier = 'grid' AND (g.ancestors || g.id) @> ARRAY[$1]
            )
            SELECT %s::text,
                count(*) FILTER (WHERE t.action = 'file'),
                count(*) FILTER (WHERE t.action = 'close'),
                count(*) FILTER (WHERE t.action = 'close' AND t.at <= t.deadline),
                count(*) FILTER (WHERE t.action = 'feedback'),
                count(*) FILTER (WHERE t.action = 'feedback' AND t.at <= t.deadline),
                coalesce(sum(extract(epoch FROM t.at - t.since)) FILTER (WHERE t.action = 'feedback'), 0)::float8,
                count(*) FILTER (WHERE t.action IN ('close', 'rework')),
                count(*) FILTER (WHERE t.action = 'rework'),
                count(*) FILTER (WHERE t.action = 'dispatch'),
                count(*) FILTER (WHERE t.action = 'return'),
                count(*) FILTER (WHERE t.due IS NOT NULL AND t.action <> 'escalate'),
                count(*) FILTER (WHERE t.at > t.due AND t.action <> 'escalate'),
                count(*) FILTER (WHERE t.action = 'escalate'),
                count(*) FILTER (WHERE t.action = 'reopen'),
                count(*) FILTER (WHERE t.action = 'supervise')
            FROM case_transition t JOIN m ON m.grid_id = t.grid_id
            WHERE t.at >= $2 AND t.at < $3 AND ($4::text IS NULL OR t.department = $4)
            GROUP BY %s
        $q$, grouping, grouping) USING unit_id, since, until, only_department, depth;
    END $$;

    -- satisfaction of reports rated in the period, grouped like the evaluation (by role: none)
    CREATE FUNCTION cityops_satisfaction(unit_id bigint, since timestamptz, until timestamptz, by text,
                                         only_department text)
    RETURNS TABLE (key text, satisfied bigint, basically_satisfied bigint, unsatisfied bigint)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
        SELECT CASE by WHEN 'area' THEN coalesce(e.units[(SELECT cardinality(u.ancestors) + 2 FROM unit u
                                                            WHERE u.id = unit_id)], unit_id)::text
                       ELSE coalesce(e.handling_department, '') END,
               count(*) FILTER (WHERE r.satisfaction = 'satisfied'),
               count(*) FILTER (WHERE r.satisfaction = 'basically_satisfied'),
               count(*) FILTER (WHERE r.satisfaction = 'unsatisfied')
        FROM report r JOIN event e ON e.id = r.event_id
        WHERE by IN ('area', 'department') AND r.rated_at >= since AND r.rated_at < until
          AND e.units @> ARRAY[unit_id] AND (only_department IS NULL OR e.handling_department = only_department)
        GROUP BY 1
    $$;

    GRANT EXECUTE ON FUNCTION cityops_evaluation(bigint, timestamptz, timestamptz, text, text) TO cityops_api;
    GRANT EXECUTE ON FUNCTION cityops_satisfaction(bigint, timestamptz, timestamptz, text, text) TO cityops_api;
    GRANT UPDATE (state, attempts, next_attempt_at, last_error, sent_at) ON follow_up TO cityops_api;
    GRANT SELECT ON stage_limit TO cityops_api;
    GRANT SELECT, INSERT, UPDATE ON case_clock TO cityops_api;
    GRANT SELECT ON follow_up TO cityops_api;
    GRANT EXECUTE ON FUNCTION cityops_escalate_overdue(timestamptz, interval, int) TO cityops_api;
    GRANT EXECUTE ON FUNCTION cityops_warn_due(timestamptz, interval, int) TO cityops_api;
    GRANT EXECUTE ON FUNCTION cityops_reviews_due(timestamptz, interval, int) TO cityops_api;
    GRANT EXECUTE ON FUNCTION cityops_queue_follow_up(bigint, bigint, text, text) TO cityops_api;
    GRANT EXECUTE ON FUNCTION cityops_rate_report(uuid, text, text) TO cityops_api;
    """)


def downgrade() -> None:
    op.execute("""
    DROP FUNCTION cityops_satisfaction(bigint, timestamptz, timestamptz, text, text);
    DROP FUNCTION cityops_evaluation(bigint, timestamptz, timestamptz, text, text);
    DROP FUNCTION cityops_rate_report(uuid, text, text);
    ALTER TABLE report DROP COLUMN satisfaction, DROP COLUMN rated_at, DROP COLUMN rating_note;
    DROP FUNCTION cityops_queue_follow_up(bigint, bigint, text, text);
    DROP TABLE follow_up;
    DROP FUNCTION cityops_reviews_due(timestamptz, interval, int);
    DROP FUNCTION cityops_warn_due(timestamptz, interval, int);
    DROP FUNCTION cityops_escalate_overdue(timestamptz, interval, int);
    UPDATE role SET permissions = array_remove(permissions, 'cases:supervise');
    UPDATE role SET permissions = array_remove(permissions, 'cases:check') WHERE name = 'grid_worker';
    DELETE FROM case_action WHERE action = 'supervise';
    DROP TRIGGER event_opened ON event;
    DROP FUNCTION cityops_event_opened();
    DROP TABLE case_clock;
    DROP INDEX ix_case_transition_at;
    """)
    op.execute("""
    CREATE OR REPLACE FUNCTION cityops_transition_hash(t case_transition) RETURNS char(64)
    LANGUAGE sql IMMUTABLE AS $$
        SELECT encode(sha256(convert_to(concat_ws('|', t.prev_hash, t.event_id, t.seq, t.action, t.from_state,
            t.to_state, t.actor, array_to_string(t.roles, ','), coalesce(t.unit_id::text, ''),
            to_char(t.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), coalesce(ST_AsText(t.geom), ''), t.note,
            array_to_string(t.evidence, ',')), 'UTF8')), 'hex')
    $$;
    """)
    op.execute("""
    ALTER TABLE case_transition DROP COLUMN role, DROP COLUMN department, DROP COLUMN grid_id, DROP COLUMN due,
        DROP COLUMN deadline, DROP COLUMN since, DROP COLUMN detail;
    ALTER TABLE event RESET (fillfactor);
    ALTER TABLE event DROP COLUMN stage_at, DROP COLUMN escalations, DROP COLUMN parked_remaining_s,
        DROP COLUMN supervised, DROP COLUMN handling_department, DROP COLUMN dispatched_at;
    DROP TABLE stage_limit;
    """)
