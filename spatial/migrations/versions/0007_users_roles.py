"""one user system: roles with their permissions (data), users in units, API keys

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27

Regulation article 7 asks for a unified staff user system. A user belongs to one unit of the
hierarchy (their jurisdiction is its subtree) and optionally a department; what they may do is
the union of their roles' permissions, which are rows here, not code. Passwords are stored as
Argon2id hashes; API keys (integrations, sensors, Open311 clients) as SHA-256 of a random
secret — they are long and random, so a slow hash adds nothing — with a short public prefix to
find them. Roles are seeded with the defaults below; changing them is a data change.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FIELD = ["units:read", "locate:use", "cases:read", "cases:report", "cases:handle"]
COMMAND = [*FIELD, "cases:merge", "cases:dispatch", "cases:check", "forces:read", "forces:dispatch", "personal:read"]
ROLES = {
    "grid_worker": ("网格员 grid worker: tags incidents in their grid, handles what is sent to them", FIELD),
    "community": ("社区 community staff", [*FIELD, "cases:merge", "cases:check"]),
    "street": ("街道 street command", COMMAND),
    "district": ("区 district command", [*COMMAND, "analytics:read"]),
    "city_commander": ("市指挥中心 city command centre", [*COMMAND, "analytics:read", "forces:borrow"]),
    "dispatcher": (
        "派遣员 dispatcher",
        [
            "units:read",
            "locate:use",
            "cases:read",
            "cases:report",
            "cases:merge",
            "cases:dispatch",
            "forces:read",
            "forces:dispatch",
            "personal:read",
        ],
    ),
    "department_handler": (
        "处置部门 department handler: cases sent to their department",
        ["units:read", "cases:read", "cases:handle"],
    ),
    "checker": ("核查员 checker: verifies results by another hand", ["units:read", "cases:read", "cases:check"]),
    "planner": ("规划分析 planner", ["units:read", "cases:read", "analytics:read"]),
    "auditor": ("审计 auditor", ["units:read", "cases:read", "audit:read"]),
    "admin": ("系统管理员 administrator", ["units:read", "users:admin", "audit:read"]),
    "integration": ("系统对接 integrations, sensors, Open311 clients", ["locate:use", "cases:report"]),
}


def upgrade() -> None:
    role = op.create_table(
        "role",
        sa.Column("name", sa.Text(), primary_key=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("permissions", postgresql.ARRAY(sa.Text()), nullable=False),
    )
    op.bulk_insert(role, [{"name": n, "description": d, "permissions": p} for n, (d, p) in ROLES.items()])
    op.create_table(
        "app_user",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("username", sa.Text(), nullable=False, unique=True),
        sa.Column("display_name", sa.Text(), nullable=False),
        sa.Column("unit_id", sa.BigInteger(), sa.ForeignKey("unit.id"), nullable=False),
        sa.Column("department", sa.Text()),
        sa.Column("password_hash", sa.Text()),
        sa.Column("disabled_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("username ~ '^[a-z0-9][a-z0-9._-]{1,63}$'", name="username_form"),
    )
    op.create_table(
        "user_role",
        sa.Column("user_id", sa.BigInteger(), sa.ForeignKey("app_user.id"), primary_key=True),
        sa.Column("role", sa.Text(), sa.ForeignKey("role.name"), primary_key=True),
    )
    op.create_index("ix_user_role_role", "user_role", ["role"])
    op.create_table(
        "api_key",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("prefix", sa.String(12), nullable=False, unique=True),
        sa.Column("secret_sha256", sa.String(64), nullable=False),
        sa.Column("user_id", sa.BigInteger(), sa.ForeignKey("app_user.id"), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_api_key_user", "api_key", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_api_key_user", table_name="api_key")
    op.drop_table("api_key")
    op.drop_index("ix_user_role_role", table_name="user_role")
    op.drop_table("user_role")
    op.drop_table("app_user")
    op.drop_table("role")
