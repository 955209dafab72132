"""the wall display's own role: it reads its unit's cases and forces and can do nothing else

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-03

A wall (大屏) stays signed in for days in a room many people pass through, so its account
should be worth nothing to whoever walks up to it: ``wall`` reads units, cases and forces of
its unit (``/screen`` shows forces only to a caller with ``forces:read``) and holds no
permission to report, dispatch, act on a case, read personal data or analyse. A city
commander's account on the wall, as the README suggested before, could dispatch from any
browser that took its session.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WALL = (
    "wall",
    "大屏 wall display: reads the cases and forces of its unit, acts on nothing",
    "{units:read,cases:read,forces:read}",
)


def upgrade() -> None:
    name, description, permissions = WALL
    op.execute(f"INSERT INTO role (name, description, permissions) VALUES ('{name}', '{description}', '{permissions}')")


def downgrade() -> None:
    op.execute("DELETE FROM role WHERE name = 'wall'")
