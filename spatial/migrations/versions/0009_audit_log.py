"""audit log: append-only, hash-chained

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27

Each entry's hash covers the previous entry's hash and its own content, so editing or deleting
an entry breaks the chain from there on (``cityops audit verify``). Appends are serialised by an
advisory lock so the chain has one order; a trigger refuses UPDATE, DELETE and TRUNCATE. The
hash is one SQL function used by both the writer and the verifier, so they cannot disagree on
how an entry is serialised.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE audit_log (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at timestamptz NOT NULL DEFAULT clock_timestamp(),
        actor text NOT NULL,
        action text NOT NULL,
        subject text,
        detail jsonb NOT NULL DEFAULT '{}',
        prev_hash char(64) NOT NULL,
        hash char(64) NOT NULL
    );
    CREATE INDEX ix_audit_log_action ON audit_log (action, at);

    CREATE FUNCTION cityops_audit_hash(prev char(64), at timestamptz, actor text, action text, subject text,
                                       detail jsonb) RETURNS char(64)
    LANGUAGE sql IMMUTABLE AS $$
        SELECT encode(sha256(convert_to(concat_ws(E'\\x1f', prev,
            to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), actor, action, coalesce(subject, ''),
            detail::text), 'UTF8')), 'hex')
    $$;

    CREATE FUNCTION cityops_audit(actor text, action text, subject text, detail jsonb) RETURNS bigint
    LANGUAGE plpgsql VOLATILE AS $$
    DECLARE
        prev char(64);
        stamp timestamptz := clock_timestamp();
        new_id bigint;
    BEGIN
        PERFORM pg_advisory_xact_lock(hashtext('cityops:audit'));
        SELECT a.hash INTO prev FROM audit_log a ORDER BY a.id DESC LIMIT 1;
        prev := coalesce(prev, repeat('0', 64));
        INSERT INTO audit_log (at, actor, action, subject, detail, prev_hash, hash)
        VALUES (stamp, actor, action, subject, coalesce(detail, '{}'), prev,
                cityops_audit_hash(prev, stamp, actor, action, subject, coalesce(detail, '{}')))
        RETURNING id INTO new_id;
        RETURN new_id;
    END $$;

    CREATE FUNCTION cityops_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP;
    END $$;
    CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
        FOR EACH ROW EXECUTE FUNCTION cityops_audit_append_only();
    CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
        FOR EACH STATEMENT EXECUTE FUNCTION cityops_audit_append_only();
    """)


def downgrade() -> None:
    op.execute("""
    DROP TABLE audit_log;
    DROP FUNCTION cityops_audit_append_only();
    DROP FUNCTION cityops_audit(text, text, text, jsonb);
    DROP FUNCTION cityops_audit_hash(char, timestamptz, text, text, text, jsonb);
    """)
