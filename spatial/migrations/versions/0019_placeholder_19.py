"""a living demo: fixed-post forces keep a home position

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02

Placeholder reserved so that parallel work keeps one linear chain; filled in by its issue's work.
"""

from collections.abc import Sequence

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
