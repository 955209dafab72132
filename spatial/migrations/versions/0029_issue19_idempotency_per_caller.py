"""idempotency keys belong to their caller: another caller's replay of a key is a new report

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-03

``report.idempotency_key`` was unique across the platform, and a lookup by key alone answered a
replay with the first report's answer — its report token included, which rates the case. A
second caller who guessed or overheard a key got another person's token. The key is now unique
per caller (``idempotency_owner``: the account or API key's user that filed it); reports filed
before are given their filer from the audit log (``report.filed``), or ``''`` when none is found,
so a retry of an old submission still finds its report.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("""
    ALTER TABLE report ADD COLUMN idempotency_owner text;
    UPDATE report r SET idempotency_owner = coalesce(
        (SELECT a.actor FROM audit_log a WHERE a.subject = 'report:' || r.id AND a.action = 'report.filed' LIMIT 1), '')
    WHERE r.idempotency_key IS NOT NULL;
    ALTER TABLE report DROP CONSTRAINT report_idempotency_key_key;
    ALTER TABLE report ADD CONSTRAINT report_idempotency_key UNIQUE (idempotency_owner, idempotency_key);
    ALTER TABLE report ADD CONSTRAINT report_idempotency_owned
        CHECK ((idempotency_key IS NULL) = (idempotency_owner IS NULL));
    """)


def downgrade() -> None:
    op.execute("""
    ALTER TABLE report DROP CONSTRAINT report_idempotency_owned, DROP CONSTRAINT report_idempotency_key;
    ALTER TABLE report ADD CONSTRAINT report_idempotency_key_key UNIQUE (idempotency_key);
    ALTER TABLE report DROP COLUMN idempotency_owner;
    """)
