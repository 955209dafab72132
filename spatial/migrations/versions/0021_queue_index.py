"""work queues by index: the case's state and place beside its stage clock, read a page at a time

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-02

A work queue lists the cases of some states, most urgent (nearest stage due time) first. Read from
``event`` it had to fetch every case of those states and sort them — 100,000 open cases made a
city commander's queue cost a second, most of it the clock table's row-level policy run once per
case, and no index could give the order because the scope lay on another table. The clock table
(narrow, never HOT-updated anyway) now also holds the case's ``state`` — kept equal to the
case's by a trigger on ``event`` — and its district and street (a case's place never changes), so
one index per jurisdiction level gives each queue state its cases in due order:
``cityops_queue_walk`` walks it for one state and stops after a page, as the owner, applying the
case policy's own predicate (migration 0010) like ``cityops_cases_in_box`` (migration 0016):
the city by (state, due), a district by (district, state, due), a street and anything smaller by
(street, state, due) plus the exact unit test. ``cityops_queue`` merges the states' pages;
``cityops_queue_counts`` counts by the same indexes.

Open cases imported without their history had no clock at all, so no queue held them; they get one
at their deadline, without an escalation time (their escalations were the source system's: the
deadline watch does not escalate a whole import at once).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# the caller's scope as conditions on the clock (k) and, only where needed, on the case (e): $4 = scope unit,
# $5 = its street, $6 = the department the scope narrows to; the depth decides which index answers
SCOPE = """
    scope bigint := cityops_scope_unit();
    narrowed text := cityops_scope_department();
    depth int;
    street bigint;
    place text;
    needs_case boolean;
"""
PLACE = """
    SELECT cardinality(u.ancestors) + 1, (u.ancestors || u.id)[3] INTO depth, street FROM unit u WHERE u.id = scope;
    IF depth IS NULL THEN
        RETURN;
    END IF;
    place := CASE WHEN depth = 1 THEN '' WHEN depth = 2 THEN 'AND k.district = $4'
                  WHEN depth = 3 THEN 'AND k.street = $5' ELSE 'AND k.street = $5 AND e.units @> ARRAY[$4]' END
             || CASE WHEN narrowed IS NULL THEN '' ELSE ' AND e.departments @> ARRAY[$6]' END;
"""


def upgrade() -> None:
    op.execute(f"""
    ALTER TABLE case_clock ADD COLUMN state text NOT NULL DEFAULT 'reported', ADD COLUMN district bigint,
        ADD COLUMN street bigint;
    UPDATE case_clock k SET state = e.state, district = e.units[2], street = e.units[3]
    FROM event e WHERE e.id = k.event_id;

    -- a clock is born with its case's state and place, whoever writes it
    CREATE FUNCTION cityops_clock_born() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = public, pg_temp AS $$
    BEGIN
        SELECT e.state, e.units[2], e.units[3] INTO NEW.state, NEW.district, NEW.street FROM event e
        WHERE e.id = NEW.event_id;
        RETURN NEW;
    END $$;
    CREATE TRIGGER case_clock_born BEFORE INSERT ON case_clock FOR EACH ROW EXECUTE FUNCTION cityops_clock_born();
    CREATE FUNCTION cityops_clock_follows_state() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = public, pg_temp AS $$
    BEGIN
        UPDATE case_clock SET state = NEW.state WHERE event_id = NEW.id AND state <> NEW.state;
        RETURN NULL;
    END $$;
    CREATE TRIGGER event_state_to_clock AFTER UPDATE OF state ON event FOR EACH ROW
        WHEN (OLD.state IS DISTINCT FROM NEW.state) EXECUTE FUNCTION cityops_clock_follows_state();

    INSERT INTO case_clock (event_id, due_at)
    SELECT id, deadline FROM event e
    WHERE state NOT IN ('closed', 'void') AND NOT EXISTS (SELECT FROM case_clock k WHERE k.event_id = e.id);
    CREATE INDEX ix_case_clock_queue ON case_clock (state, due_at, event_id);
    CREATE INDEX ix_case_clock_queue_district ON case_clock (district, state, due_at, event_id);
    CREATE INDEX ix_case_clock_queue_street ON case_clock (street, state, due_at, event_id);

    CREATE FUNCTION cityops_queue_walk(one_state text, handled_by text, late_only boolean, n int)
    RETURNS TABLE (id bigint, due timestamptz)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    DECLARE {SCOPE}
    BEGIN {PLACE}
        needs_case := depth > 3 OR narrowed IS NOT NULL OR handled_by IS NOT NULL;
        RETURN QUERY EXECUTE format(
            'SELECT k.event_id, k.due_at FROM case_clock k %s WHERE k.state = $1 %s %s %s
             ORDER BY k.due_at, k.event_id LIMIT $7',
            CASE WHEN needs_case THEN 'JOIN event e ON e.id = k.event_id' ELSE '' END, place,
            CASE WHEN handled_by IS NULL THEN '' ELSE 'AND e.handling_department = $2' END,
            CASE WHEN late_only THEN 'AND k.due_at < now()' ELSE '' END)
        USING one_state, handled_by, late_only, scope, street, narrowed, n;
    END $$;

    CREATE FUNCTION cityops_queue(states text[], handled_by text, late_only boolean, lim int, skip int)
    RETURNS TABLE (id bigint, due timestamptz)
    LANGUAGE sql STABLE AS $$
        SELECT w.id, w.due FROM unnest(states) AS s (state)
        CROSS JOIN LATERAL cityops_queue_walk(s.state, handled_by, late_only, lim + skip) w
        ORDER BY w.due, w.id LIMIT lim OFFSET skip
    $$;

    CREATE FUNCTION cityops_queue_counts(states text[], handled_by text)
    RETURNS TABLE (state text, mine boolean, cases bigint, late bigint)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    DECLARE {SCOPE}
    BEGIN {PLACE}
        needs_case := depth > 3 OR narrowed IS NOT NULL OR handled_by IS NOT NULL;
        RETURN QUERY EXECUTE format(
            'SELECT k.state, %s, count(*), count(*) FILTER (WHERE k.due_at < now())
             FROM case_clock k %s WHERE k.state = ANY($1) %s GROUP BY 1, 2',
            CASE WHEN handled_by IS NULL THEN 'NULL::boolean' ELSE 'e.handling_department = $2' END,
            CASE WHEN needs_case THEN 'JOIN event e ON e.id = k.event_id' ELSE '' END, place)
        USING states, handled_by, NULL::boolean, scope, street, narrowed;
    END $$;
    REVOKE EXECUTE ON FUNCTION cityops_queue_walk(text, text, boolean, int), cityops_queue_counts(text[], text)
        FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION cityops_queue_walk(text, text, boolean, int), cityops_queue_counts(text[], text)
        TO cityops_api;
    """)


def downgrade() -> None:
    op.execute("""
    DROP FUNCTION cityops_queue_counts(text[], text);
    DROP FUNCTION cityops_queue(text[], text, boolean, int, int);
    DROP FUNCTION cityops_queue_walk(text, text, boolean, int);
    DROP TRIGGER event_state_to_clock ON event;
    DROP FUNCTION cityops_clock_follows_state();
    DROP TRIGGER case_clock_born ON case_clock;
    DROP FUNCTION cityops_clock_born();
    DROP INDEX ix_case_clock_queue_street, ix_case_clock_queue_district, ix_case_clock_queue;
    ALTER TABLE case_clock DROP COLUMN street, DROP COLUMN district, DROP COLUMN state;
    """)
