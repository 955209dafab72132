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

    CREATE FUNCTION cityops_h3_parent(cell bigint, resolution int) RETURNS bigint
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
        SELECT (cell & ~(15::bigint << 52)) | (resolution::bigint << 52) | ((1::bigint << (3 * (15 - resolution))) - 1)
    $$;
    """)


def downgrade() -> None:
    op.execute("""
    DROP FUNCTION cityops_h3_parent(bigint, int);
    DROP TRIGGER force_status_announce ON force;
    DROP FUNCTION cityops_force_status_announce();
    """)
