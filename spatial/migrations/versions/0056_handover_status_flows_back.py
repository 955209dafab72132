"""handover status flows back

Revision ID: 0056
Revises: 0055
Create Date: 2026-12-05

A case a neighbour handed here tells the neighbour of each move: the trigger writes the message into
``peer_outbox`` in the moving transaction, and the handover row follows the case's state.
"""

# ruff: noqa: E501  (the statements are the text PostgreSQL prints, lines as long as it writes them)

from collections.abc import Sequence

from alembic import op

revision: str = "0056"
down_revision: str | None = "0055"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.get_bind().exec_driver_sql(
        "CREATE OR REPLACE FUNCTION public.cityops_handover_status()\n"
        " RETURNS trigger\n"
        " LANGUAGE plpgsql\n"
        "AS $function$\n"
        "    BEGIN\n"
        "        -- a case a neighbour handed here moved: the neighbour is told, in the same transaction (never lost);\n"
        "        -- both statements find the handed-in cases through the handover's case index, so other moves pay one probe\n"
        "        INSERT INTO peer_outbox (peer, handover_id, kind, body)\n"
        "        SELECT h.peer, h.id, 'status', jsonb_build_object(\n"
        "                   'handover', h.remote_id, 'case', t.case_id, 'seq', t.seq, 'action', t.action,\n"
        "                   'state', t.to_state, 'unit', u.code, 'at', t.at)\n"
        "        FROM new_rows t JOIN handover h ON h.case_id = t.case_id AND h.direction = 'in'\n"
        "        LEFT JOIN unit u ON u.id = t.unit_id\n"
        "        ORDER BY t.case_id, t.seq;\n"
        "        UPDATE handover h SET state = l.to_state, updated_at = now()\n"
        "        FROM (SELECT DISTINCT ON (case_id) case_id, to_state FROM new_rows ORDER BY case_id, seq DESC) l\n"
        "        WHERE h.case_id = l.case_id AND h.direction = 'in';\n"
        "        RETURN NULL;\n"
        "    END $function$;\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE TRIGGER case_transition_handover_status AFTER INSERT ON public.case_transition REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cityops_handover_status();\n",
        execution_options={"no_parameters": True},
    )


def downgrade() -> None:
    op.get_bind().exec_driver_sql(
        "DROP TRIGGER case_transition_handover_status ON public.case_transition;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP FUNCTION public.cityops_handover_status;",
        execution_options={"no_parameters": True},
    )
