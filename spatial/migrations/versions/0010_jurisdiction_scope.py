"""jurisdiction scope in the database: the API's own role, row-level security on cases

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27

The API does not act as the schema's owner. It logs in as ``cityops_api``, which may read what
it serves and write only the tables intake, merging, logins and user administration write; it
owns nothing and is no member of the owner, so row-level security binds it and no statement it
runs can lift that. The owner (migrations, the CLI, historic import) is not restricted.

Each request names its caller's scope in session settings (``cityops.scope_unit``: the id of
the caller's unit; ``cityops.department``: their department or empty). A case is visible when the
caller's unit is the case's grid or one of its ancestors (``event.units``, kept by a trigger),
narrowed to cases routed to the caller's department when they have one. A report is visible
with its case, or at its own place for a caller without department (a report joining a case
across a boundary stays visible to whoever filed it). With no scope set nothing is visible, so
an endpoint that forgets to set it shows nothing rather than everything.

Work that must see past the caller's scope does it in SECURITY DEFINER functions that return
only what they must: the duplicate search (nearby open cases of any jurisdiction, so a report at
a street's edge still joins the case across it), counting a joined report on its case, and
appending to the audit chain.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

API_ROLE = "cityops_api"
READS = (
    "unit",
    "boundary_version",
    "h3_coverage",
    "h3_cell",
    "unit_piece",
    "category",
    "event",
    "report",
    "media",
    "report_media",
    "case_merge",
    "role",
    "app_user",
    "user_role",
    "api_key",
    "refresh_token",
    "audit_log",
)
WRITES = {
    "event": "INSERT, UPDATE",
    "report": "INSERT, UPDATE",
    "media": "INSERT",
    "report_media": "INSERT",
    "case_merge": "INSERT",
    "app_user": "INSERT, UPDATE",
    "user_role": "INSERT, DELETE",
    "api_key": "INSERT, UPDATE",
    "refresh_token": "INSERT, UPDATE",
}


def upgrade() -> None:
    op.execute(f"""
    DO $$ BEGIN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{API_ROLE}') THEN
            RAISE EXCEPTION 'role {API_ROLE} is missing: CREATE ROLE {API_ROLE} LOGIN PASSWORD ''…'' (the API logs '
                'in with it: CITYOPS_API_DATABASE_URL)';
        END IF;
    END $$;
    GRANT USAGE ON SCHEMA public TO {API_ROLE};
    GRANT SELECT ON {", ".join(READS)} TO {API_ROLE};
    GRANT SELECT ON spatial_ref_sys TO {API_ROLE};
    """)
    for table, privileges in WRITES.items():
        op.execute(f"GRANT {privileges} ON {table} TO {API_ROLE}")
    op.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {API_ROLE}")
    op.execute("""
    ALTER TABLE event ADD COLUMN units bigint[];
    ALTER TABLE report ADD COLUMN units bigint[];
    UPDATE event e SET units = g.ancestors || g.id FROM unit g WHERE g.id = e.grid_id;
    UPDATE report r SET units = e.units FROM event e WHERE e.id = r.event_id;
    ALTER TABLE event ALTER COLUMN units SET NOT NULL;
    ALTER TABLE report ALTER COLUMN units SET NOT NULL;
    CREATE INDEX ix_event_units ON event USING gin (units);
    -- a district's or a street's newest cases, one index page at a time (command/listing.py)
    CREATE INDEX ix_event_district_id ON event ((units[2]), id);
    CREATE INDEX ix_event_street_id ON event ((units[3]), id);
    CREATE INDEX ix_report_units ON report USING gin (units);
    ANALYZE event;  -- element statistics of units: how many cases each unit holds, for the planner
    ANALYZE report;

    -- the unit ids a case belongs to: its grid and every ancestor (so a street user finds it by its street)
    CREATE FUNCTION cityops_event_units() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.units := (SELECT g.ancestors || g.id FROM unit g WHERE g.id = NEW.grid_id);
        RETURN NEW;
    END $$;
    CREATE TRIGGER event_units BEFORE INSERT ON event FOR EACH ROW WHEN (NEW.units IS NULL)
        EXECUTE FUNCTION cityops_event_units();
    CREATE FUNCTION cityops_report_units() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.units := (SELECT e.units FROM event e WHERE e.id = NEW.event_id);
        RETURN NEW;
    END $$;
    CREATE TRIGGER report_units BEFORE INSERT ON report FOR EACH ROW WHEN (NEW.units IS NULL)
        EXECUTE FUNCTION cityops_report_units();

    -- the caller's scope, from the settings the API sets per request (NULL: nothing is in scope)
    CREATE FUNCTION cityops_scope_unit() RETURNS bigint LANGUAGE sql STABLE PARALLEL SAFE AS $$
        SELECT nullif(current_setting('cityops.scope_unit', true), '')::bigint
    $$;
    CREATE FUNCTION cityops_scope_department() RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
        SELECT nullif(current_setting('cityops.department', true), '')
    $$;

    ALTER TABLE event ENABLE ROW LEVEL SECURITY;
    CREATE POLICY event_in_scope ON event TO cityops_api
        USING (units @> ARRAY[cityops_scope_unit()]
               AND (cityops_scope_department() IS NULL OR departments @> ARRAY[cityops_scope_department()]));

    ALTER TABLE report ENABLE ROW LEVEL SECURITY;
    CREATE POLICY report_in_scope ON report TO cityops_api
        USING ((units @> ARRAY[cityops_scope_unit()] AND cityops_scope_department() IS NULL)
               OR EXISTS (SELECT FROM event e WHERE e.id = report.event_id))
        WITH CHECK (units @> ARRAY[cityops_scope_unit()]);

    ALTER TABLE report_media ENABLE ROW LEVEL SECURITY;
    CREATE POLICY report_media_in_scope ON report_media TO cityops_api
        USING (EXISTS (SELECT FROM report r WHERE r.id = report_media.report_id));

    ALTER TABLE case_merge ENABLE ROW LEVEL SECURITY;
    CREATE POLICY case_merge_in_scope ON case_merge TO cityops_api
        USING (EXISTS (SELECT FROM event e WHERE e.id = case_merge.to_event_id)
               OR EXISTS (SELECT FROM event e WHERE e.id = case_merge.from_event_id))
        WITH CHECK (true);  -- written with the report or merge it records, which RLS checked

    -- a report joining an open case of another jurisdiction counts on that case
    CREATE FUNCTION cityops_count_joined(case_id bigint)
    RETURNS TABLE (id bigint, state text, report_count integer, deadline timestamptz, departments text[],
                   responsible_unit_id bigint)
    LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
        UPDATE event SET report_count = report_count + 1, updated_at = now() WHERE event.id = case_id
        RETURNING event.id, event.state, event.report_count, event.deadline, event.departments,
                  event.responsible_unit_id
    $$;
    ALTER FUNCTION cityops_open_cases_near(text[], bigint[], text, float8, float8, float8, float8)
        SECURITY DEFINER SET search_path = public, pg_temp;
    ALTER FUNCTION cityops_audit(text, text, text, jsonb) SECURITY DEFINER SET search_path = public, pg_temp;
    """)


def downgrade() -> None:
    op.execute(f"""
    ALTER FUNCTION cityops_audit(text, text, text, jsonb) SECURITY INVOKER RESET search_path;
    ALTER FUNCTION cityops_open_cases_near(text[], bigint[], text, float8, float8, float8, float8)
        SECURITY INVOKER RESET search_path;
    DROP FUNCTION cityops_count_joined(bigint);
    DROP POLICY case_merge_in_scope ON case_merge;
    ALTER TABLE case_merge DISABLE ROW LEVEL SECURITY;
    DROP POLICY report_media_in_scope ON report_media;
    ALTER TABLE report_media DISABLE ROW LEVEL SECURITY;
    DROP POLICY report_in_scope ON report;
    ALTER TABLE report DISABLE ROW LEVEL SECURITY;
    DROP POLICY event_in_scope ON event;
    ALTER TABLE event DISABLE ROW LEVEL SECURITY;
    DROP FUNCTION cityops_scope_department();
    DROP FUNCTION cityops_scope_unit();
    DROP TRIGGER report_units ON report;
    DROP FUNCTION cityops_report_units();
    DROP TRIGGER event_units ON event;
    DROP FUNCTION cityops_event_units();
    ALTER TABLE report DROP COLUMN units;
    ALTER TABLE event DROP COLUMN units;
    REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {API_ROLE};
    REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {API_ROLE};
    REVOKE USAGE ON SCHEMA public FROM {API_ROLE};
    """)
