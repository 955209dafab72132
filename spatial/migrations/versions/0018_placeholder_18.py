"""case evidence: media uploaded to a case, named by transitions

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02

Placeholder reserved so that parallel work keeps one linear chain; filled in by its issue's work.
"""

from collections.abc import Sequence

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
