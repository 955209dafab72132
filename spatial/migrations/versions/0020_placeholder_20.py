"""forces in the loop: the person behind a force answers its assignments

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-02

Placeholder reserved so that parallel work keeps one linear chain; filled in by its issue's work.
"""

from collections.abc import Sequence

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
