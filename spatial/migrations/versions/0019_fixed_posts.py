"""a living demo: fixed-post forces keep a home position

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02

Equipment at a depot and a squad at its station do not report positions while they stand by:
they are where their post is. Such a force is marked ``fixed_post`` with its ``home`` (the
directory file's position); without a fresh fix it is at home and not stale, so recommendation,
the passed-over explanation and assignment treat it as available there. Mobile forces (grid
workers, patrol vehicles) go stale as before when their fixes stop. ``force_position`` carries
the flag (copied from ``force`` like status and capabilities) so the ranking reads one table.
The ranking functions of 0013 are replaced with their staleness test widened, nothing else.
When a fixed-post force becomes available again (released from a job) it is back at its post:
its position returns home (the fix time stays the last real fix's).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTIONS = (
    "cityops_rank_forces(geometry, bigint, int, text[], timestamptz, time, bigint[])",
    "cityops_passed_over(geometry, float8, bigint[], text[], timestamptz, time, int)",
)
# (as 0013 wrote it, with fixed posts): the staleness tests of the two functions
FRESH = [
    ("p.fixed_at >= fresh_since", "(p.fixed_post OR p.fixed_at >= fresh_since)"),
    ("p.fixed_at >= $5", "(p.fixed_post OR p.fixed_at >= $5)"),
    ("WHEN p.fixed_at < fresh_since THEN", "WHEN NOT p.fixed_post AND p.fixed_at < fresh_since THEN"),
]


def _rewrite(pairs: list[tuple[str, str]]) -> str:
    """Re-create each function from its own definition with the staleness tests replaced."""
    replaced = "pg_get_functiondef(f::regprocedure)"
    for old, new in pairs:
        replaced = f"replace({replaced}, $r${old}$r$, $r${new}$r$)"
    names = ", ".join(f"'{f}'" for f in FUNCTIONS)
    return f"""
    DO $do$
    DECLARE f text;
    BEGIN
        FOREACH f IN ARRAY ARRAY[{names}] LOOP
            EXECUTE {replaced};
        END LOOP;
    END $do$;
    """


def upgrade() -> None:
    op.execute("""
    ALTER TABLE force ADD COLUMN fixed_post boolean NOT NULL DEFAULT false,
                      ADD COLUMN home geometry(Point, 4326),
                      ADD COLUMN home_cell bigint,
                      ADD CONSTRAINT force_post_has_home
                          CHECK (NOT fixed_post OR (home IS NOT NULL AND home_cell IS NOT NULL));
    ALTER TABLE force_position ADD COLUMN fixed_post boolean NOT NULL DEFAULT false;

    -- a fixed-post force made available again (its job released) is back at its post
    CREATE OR REPLACE FUNCTION cityops_force_position_copy() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        back boolean := NEW.fixed_post AND NEW.status = 'available' AND OLD.status <> 'available';
    BEGIN
        UPDATE force_position p SET status = NEW.status, capabilities = NEW.capabilities, units = NEW.units,
            unit_id = NEW.unit_id, shift_start = NEW.shift_start, shift_end = NEW.shift_end,
            fixed_post = NEW.fixed_post, geom = CASE WHEN back THEN NEW.home ELSE p.geom END,
            cell = CASE WHEN back THEN NEW.home_cell ELSE p.cell END
        WHERE p.force_id = NEW.id;
        RETURN NULL;
    END $$;
    DROP TRIGGER force_position_copy ON force;
    CREATE TRIGGER force_position_copy
        AFTER UPDATE OF status, capabilities, unit_id, units, shift_start, shift_end, fixed_post
        ON force FOR EACH ROW EXECUTE FUNCTION cityops_force_position_copy();

    -- whichever path places a force first (directory load, position ingest), the flag comes along
    CREATE FUNCTION cityops_force_position_post() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = public, pg_temp AS $$
    BEGIN
        SELECT f.fixed_post INTO NEW.fixed_post FROM force f WHERE f.id = NEW.force_id;
        RETURN NEW;
    END $$;
    CREATE TRIGGER force_position_post BEFORE INSERT ON force_position
        FOR EACH ROW EXECUTE FUNCTION cityops_force_position_post();
    """)
    op.execute(_rewrite(FRESH))


def downgrade() -> None:
    op.execute(_rewrite([(new, old) for old, new in FRESH]))
    op.execute("""
    DROP TRIGGER force_position_post ON force_position;
    DROP FUNCTION cityops_force_position_post();
    DROP TRIGGER force_position_copy ON force;
    CREATE OR REPLACE FUNCTION cityops_force_position_copy() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE force_position p SET status = NEW.status, capabilities = NEW.capabilities, units = NEW.units,
            unit_id = NEW.unit_id, shift_start = NEW.shift_start, shift_end = NEW.shift_end
        WHERE p.force_id = NEW.id;
        RETURN NULL;
    END $$;
    CREATE TRIGGER force_position_copy AFTER UPDATE OF status, capabilities, unit_id, units, shift_start, shift_end
        ON force FOR EACH ROW EXECUTE FUNCTION cityops_force_position_copy();
    ALTER TABLE force_position DROP COLUMN fixed_post;
    ALTER TABLE force DROP CONSTRAINT force_post_has_home, DROP COLUMN home_cell, DROP COLUMN home,
                      DROP COLUMN fixed_post;
    """)
