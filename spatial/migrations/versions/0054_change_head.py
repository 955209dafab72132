"""the change log's head

Revision ID: 0054
Revises: 0053
Create Date: 2026-12-05

The pull feed's next cursor for a caller with no change of its own to read: the highest number given, read in
the same snapshot as the caller's rows.
"""

# ruff: noqa: E501  (the statements are the text PostgreSQL prints, lines as long as it writes them)

from collections.abc import Sequence

from alembic import op

revision: str = "0054"
down_revision: str | None = "0053"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.get_bind().exec_driver_sql(
        "CREATE OR REPLACE FUNCTION public.cityops_change_head()\n"
        " RETURNS bigint\n"
        " LANGUAGE sql\n"
        " STABLE SECURITY DEFINER\n"
        "AS $function$\n"
        "        -- the highest number given, whoever's change it is: a feed reader with none of its own to read\n"
        "        -- moves its cursor past the others' (a number reveals nothing; the rows stay under row-level security)\n"
        "        SELECT coalesce(max(seq), 0) FROM change_event\n"
        "    $function$;\n",
        execution_options={"no_parameters": True},
    )


def downgrade() -> None:
    op.get_bind().exec_driver_sql(
        "DROP FUNCTION public.cityops_change_head;",
        execution_options={"no_parameters": True},
    )
