"""follow-ups and sensor alarms indexed by their case

Revision ID: 0049
Revises: 0048
Create Date: 2026-12-05

Deleting a case asks every table that references it whether a row still does. ``follow_up`` and
``sensor_alarm`` answered with a sequential scan each time: removing an imported batch of a million
cases (the intake benchmark's clean-up) scanned ``sensor_alarm``'s 11,000 rows a million times and
ran for over 25 minutes. A case's page reads both by case too.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0049"
down_revision: str | None = "0048"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE INDEX ix_follow_up_case ON follow_up (case_id)")
    op.execute("CREATE INDEX ix_sensor_alarm_case ON sensor_alarm (case_id) WHERE case_id IS NOT NULL")


def downgrade() -> None:
    op.execute("DROP INDEX ix_sensor_alarm_case")
    op.execute("DROP INDEX ix_follow_up_case")
