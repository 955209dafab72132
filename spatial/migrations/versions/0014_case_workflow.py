"""case workflow: the closed loop's state machine as data, append-only hash-chained transitions,
row versions on cases

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-27

Regulation article 9's loop — accept, file, dispatch, acknowledge (or return), handle, feed back,
check by another hand, close (or rework), with extension, parking and reopening on the side —
is the table ``case_action``: from which state an action leads where, the permission it takes,
whether it needs evidence or a note, and whether it must be done by someone other than the case's
handler. Every move is a row of ``case_transition``: who (and in which roles and unit), when,
where, why, with which evidence; rows are never changed, and each carries the hash of the case's
previous row, so an edited or removed row breaks its case's chain (``cityops_verify_transitions``).
``event.version`` counts the moves: a writer names the version it saw, and a stale one loses.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (from, action, to, permission, other hand, evidence, note) — GB/T 30428's seven links, mapped
ACTIONS = [
    ("reported", "accept", "accepted", "cases:dispatch", False, False, False),
    ("reported", "void", "void", "cases:dispatch", False, False, True),
    ("accepted", "file", "filed", "cases:dispatch", False, False, False),
    ("accepted", "void", "void", "cases:dispatch", False, False, True),
    ("filed", "dispatch", "dispatched", "cases:dispatch", False, False, False),
    ("returned", "dispatch", "dispatched", "cases:dispatch", False, False, False),
    ("dispatched", "acknowledge", "acknowledged", "cases:handle", False, False, False),
    ("dispatched", "return", "returned", "cases:handle", False, False, True),
    ("acknowledged", "start", "handling", "cases:handle", False, False, False),
    ("handling", "feedback", "checking", "cases:handle", False, True, False),
    ("handling", "request_extension", "extension_requested", "cases:handle", False, False, True),
    ("extension_requested", "approve_extension", "handling", "cases:dispatch", True, False, False),
    ("extension_requested", "deny_extension", "handling", "cases:dispatch", True, False, True),
    ("handling", "request_parking", "parking_requested", "cases:handle", False, False, True),
    ("parking_requested", "approve_parking", "parked", "cases:dispatch", True, False, False),
    ("parking_requested", "deny_parking", "handling", "cases:dispatch", True, False, True),
    ("parked", "resume", "handling", "cases:dispatch", False, False, False),
    ("checking", "close", "closed", "cases:check", True, False, False),
    ("checking", "rework", "rework", "cases:check", True, False, True),
    ("rework", "start", "handling", "cases:handle", False, False, False),
    ("closed", "reopen", "filed", "cases:dispatch", False, False, True),
]


def upgrade() -> None:
    op.execute("""
    CREATE TABLE case_action (
        from_state text NOT NULL,
        action text NOT NULL CHECK (action ~ '^[a-z][a-z_]{1,39}$'),
        to_state text NOT NULL,
        permission text NOT NULL,
        other_hand boolean NOT NULL DEFAULT false,
        needs_evidence boolean NOT NULL DEFAULT false,
        needs_note boolean NOT NULL DEFAULT false,
        PRIMARY KEY (from_state, action)
    );

    ALTER TABLE event ADD COLUMN version integer NOT NULL DEFAULT 0;

    CREATE TABLE case_transition (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        event_id bigint NOT NULL REFERENCES event (id),
        seq integer NOT NULL,
        action text NOT NULL,
        from_state text NOT NULL,
        to_state text NOT NULL,
        actor text NOT NULL,
        roles text[] NOT NULL,
        unit_id bigint REFERENCES unit (id),
        at timestamptz NOT NULL DEFAULT now(),
        geom geometry(Point, 4326),
        note text NOT NULL DEFAULT '',
        evidence text[] NOT NULL DEFAULT '{}',
        prev_hash char(64) NOT NULL,
        hash char(64) NOT NULL,
        UNIQUE (event_id, seq)
    );

    -- one definition of a row's hash, for the writer and the verifier alike
    CREATE FUNCTION cityops_transition_hash(t case_transition) RETURNS char(64)
    LANGUAGE sql IMMUTABLE AS $$
        SELECT encode(sha256(convert_to(concat_ws('|', t.prev_hash, t.event_id, t.seq, t.action, t.from_state,
            t.to_state, t.actor, array_to_string(t.roles, ','), coalesce(t.unit_id::text, ''),
            to_char(t.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), coalesce(ST_AsText(t.geom), ''), t.note,
            array_to_string(t.evidence, ',')), 'UTF8')), 'hex')
    $$;

    -- numbered and chained as written (the case's row lock, taken by the writer, orders them)
    CREATE FUNCTION cityops_transition_chain() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        last case_transition;
    BEGIN
        SELECT * INTO last FROM case_transition c WHERE c.event_id = NEW.event_id ORDER BY c.seq DESC LIMIT 1;
        NEW.seq := coalesce(last.seq, 0) + 1;
        NEW.prev_hash := coalesce(last.hash, repeat('0', 64));
        NEW.at := now();
        NEW.hash := cityops_transition_hash(NEW);
        RETURN NEW;
    END $$;
    CREATE TRIGGER case_transition_chain BEFORE INSERT ON case_transition
        FOR EACH ROW EXECUTE FUNCTION cityops_transition_chain();

    CREATE FUNCTION cityops_transition_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'case_transition is append-only (% refused)', TG_OP;
    END $$;
    CREATE TRIGGER case_transition_append_only BEFORE UPDATE OR DELETE ON case_transition
        FOR EACH ROW EXECUTE FUNCTION cityops_transition_append_only();
    CREATE TRIGGER case_transition_no_truncate BEFORE TRUNCATE ON case_transition
        FOR EACH STATEMENT EXECUTE FUNCTION cityops_transition_append_only();

    -- rows that do not fit their case's chain: content changed, a row removed or inserted, or a case
    -- whose state is not where its last transition left it
    CREATE FUNCTION cityops_verify_transitions()
    RETURNS TABLE (event_id bigint, seq integer, problem text) LANGUAGE sql STABLE AS $$
        WITH chained AS (
            SELECT t AS row, t.event_id, t.seq, t.hash, t.prev_hash, t.to_state,
                   cityops_transition_hash(t) AS recomputed,
                   lag(t.hash) OVER w AS before, lag(t.seq) OVER w AS before_seq,
                   row_number() OVER (PARTITION BY t.event_id ORDER BY t.seq DESC) AS from_end
            FROM case_transition t WINDOW w AS (PARTITION BY t.event_id ORDER BY t.seq)
        ), judged AS (
            SELECT c.event_id, c.seq, CASE
                WHEN c.hash <> c.recomputed THEN 'its content was changed'
                WHEN c.prev_hash <> coalesce(c.before, repeat('0', 64)) OR c.seq <> coalesce(c.before_seq, 0) + 1
                    THEN 'a row before it was changed, removed or inserted'
                WHEN c.from_end = 1 AND c.to_state <> (SELECT e.state FROM event e WHERE e.id = c.event_id)
                    THEN 'the case is not in the state its last transition left it in'
                END AS problem
            FROM chained c
        )
        SELECT * FROM judged WHERE problem IS NOT NULL ORDER BY event_id, seq
    $$;

    ALTER TABLE case_transition ENABLE ROW LEVEL SECURITY;
    CREATE POLICY case_transition_in_scope ON case_transition TO cityops_api
        USING (EXISTS (SELECT FROM event e WHERE e.id = case_transition.event_id));
    GRANT SELECT ON case_action TO cityops_api;
    GRANT SELECT, INSERT ON case_transition TO cityops_api;
    GRANT USAGE ON SEQUENCE case_transition_id_seq TO cityops_api;
    """)
    rows = ", ".join(
        f"('{f}', '{a}', '{t}', '{p}', {str(o).lower()}, {str(e).lower()}, {str(n).lower()})"
        for f, a, t, p, o, e, n in ACTIONS
    )
    op.execute(
        "INSERT INTO case_action (from_state, action, to_state, permission, other_hand, needs_evidence, needs_note) "
        f"VALUES {rows}"
    )


def downgrade() -> None:
    op.execute("""
    DROP FUNCTION cityops_verify_transitions();
    DROP TRIGGER case_transition_chain ON case_transition;
    DROP FUNCTION cityops_transition_hash(case_transition);
    DROP TABLE case_transition;
    DROP FUNCTION cityops_transition_append_only();
    DROP FUNCTION cityops_transition_chain();
    ALTER TABLE event DROP COLUMN version;
    DROP TABLE case_action;
    """)
