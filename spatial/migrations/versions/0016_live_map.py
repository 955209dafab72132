"""live map: force status changes on the change feed, H3 parents in SQL

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-27

The live stream learns of a force's move from ``cityops_positions`` (migration 0013, written by
the fix ingest). A change of status — dispatched, accepted, released, off duty — happens on many
paths (dispatch, the accept sweeper, borrowing, the status endpoint); a trigger announces it on
the same channel, so no path can forget to.

``cityops_h3_parent`` is H3's parent by bit arithmetic: an index keeps its resolution in bits
52–55 and one 3-bit digit per finer resolution below, a parent is the same index with its
resolution lowered and the digits past it set to 7. Cases keep their cell at the locate
resolution; hexagon layers at any coarser resolution group by this without the h3 extension.

Under row-level security a query's own conditions run after the policy's, unless their
operators are leakproof; PostGIS's ``&&`` is not (it can raise on mixed SRIDs), so a bbox on
cases or forces could not use the GiST index and scanned every row the policy let through:
100 ms instead of 3 ms for a street's view of 100k cases. ``cityops_cases_in_box`` and
``cityops_forces_in_box`` take the index as the owner and apply the very predicate of the
policies (migrations 0010, 0012) themselves, returning ids only; queries join on the id
(``=`` on bigint is leakproof), and the policies still apply to every row they read.
``cityops_case_points`` does the same for the map's open cases in a box (case tiles, hexagons),
returning the few columns they draw, so a zoomed-out view of 30k cases reads them by the index,
not by a join per case.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("""
    CREATE FUNCTION cityops_force_status_announce() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify('cityops_positions', NEW.id::text);
        RETURN NULL;
    END $$;
    CREATE TRIGGER force_status_announce AFTER UPDATE OF status ON force
        FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION cityops_force_status_announce();

    CREATE FUNCTION cityops_cases_in_box(box geometry) RETURNS SETOF bigint
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
        SELECT id FROM event
        WHERE geom && box AND units @> ARRAY[cityops_scope_unit()]
          AND (cityops_scope_department() IS NULL OR departments @> ARRAY[cityops_scope_department()])
    $$;
    CREATE FUNCTION cityops_forces_in_box(box geometry) RETURNS SETOF bigint
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
        SELECT p.force_id FROM force_position p JOIN force f ON f.id = p.force_id
        WHERE p.geom && box AND f.units @> ARRAY[cityops_scope_unit()]
          AND (cityops_scope_department() IS NULL OR f.department = cityops_scope_department())
    $$;
    CREATE FUNCTION cityops_case_points(box geometry)
    RETURNS TABLE (id bigint, geom geometry, cell bigint, state text, severity severity, category_code text,
                   filed_at timestamptz, deadline timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
        SELECT id, geom, cell, state, severity, category_code, filed_at, deadline FROM event
        WHERE geom && box AND state NOT IN ('closed', 'void') AND units @> ARRAY[cityops_scope_unit()]
          AND (cityops_scope_department() IS NULL OR departments @> ARRAY[cityops_scope_department()])
    $$;
    REVOKE EXECUTE ON FUNCTION cityops_cases_in_box(geometry), cityops_forces_in_box(geometry),
        cityops_case_points(geometry) FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION cityops_cases_in_box(geometry), cityops_forces_in_box(geometry),
        cityops_case_points(geometry) TO cityops_api;

    CREATE FUNCTION cityops_h3_parent(cell bigint, resolution int) RETURNS bigint
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
        SELECT (cell & ~(15::bigint << 52)) | (resolution::bigint << 52) | ((1::bigint << (3 * (15 - resolution))) - 1)
    $$;
    """)


def downgrade() -> None:
    op.execute("""
    DROP FUNCTION cityops_h3_parent(bigint, int);
    DROP FUNCTION cityops_case_points(geometry);
    DROP FUNCTION cityops_forces_in_box(geometry);
    DROP FUNCTION cityops_cases_in_box(geometry);
    DROP TRIGGER force_status_announce ON force;
    DROP FUNCTION cityops_force_status_announce();
    """)
