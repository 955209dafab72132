"""root-cause proposals: a place where the same kind of case keeps coming back

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-27

Recurrence detection (the same H3 cell and category N times in T days) proposes a root-cause
task: fix the drain instead of clearing the flood a fifth time. A proposal stays one row while
open (a partial unique index on cell and category, whatever the resolution — an H3 index carries
its own); detection run again refreshes its cases. Once decided — accepted or dismissed, by a
district or city commander (``proposals:decide``) — it is kept as history, and only cases filed
after the decision can propose the place again. Row-level security scopes proposals like cases:
the unit chain of the place's latest case.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE root_cause_proposal (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        cell bigint NOT NULL,
        category_code varchar(16) NOT NULL REFERENCES category (code),
        units bigint[] NOT NULL,
        case_ids bigint[] NOT NULL,
        case_count integer NOT NULL CHECK (case_count > 0),
        window_days integer NOT NULL CHECK (window_days > 0),
        first_filed_at timestamptz NOT NULL,
        last_filed_at timestamptz NOT NULL,
        state text NOT NULL DEFAULT 'proposed' CHECK (state IN ('proposed', 'accepted', 'dismissed')),
        proposed_by text NOT NULL,
        proposed_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        decided_by text,
        decided_at timestamptz,
        note text CHECK (length(note) <= 2000),
        CHECK ((state = 'proposed') = (decided_at IS NULL))
    );
    CREATE UNIQUE INDEX ux_root_cause_open ON root_cause_proposal (cell, category_code) WHERE state = 'proposed';
    CREATE INDEX ix_root_cause_units ON root_cause_proposal USING gin (units);
    ALTER TABLE root_cause_proposal ENABLE ROW LEVEL SECURITY;
    CREATE POLICY root_cause_in_scope ON root_cause_proposal TO cityops_api
        USING (units @> ARRAY[cityops_scope_unit()] AND cityops_scope_department() IS NULL)
        WITH CHECK (units @> ARRAY[cityops_scope_unit()] AND cityops_scope_department() IS NULL);
    GRANT SELECT, INSERT, UPDATE ON root_cause_proposal TO cityops_api;
    UPDATE role SET permissions = permissions || '{proposals:decide}'::text[]
    WHERE name IN ('district', 'city_commander');
    """)


def downgrade() -> None:
    op.execute("""
    UPDATE role SET permissions = array_remove(permissions, 'proposals:decide');
    DROP TABLE root_cause_proposal;
    """)
