"""audit log: append at once, chain shortly after (sealing), so writers never queue on the chain

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27

Revision 0009 hashed each entry onto the chain as it was written, under one lock held to the
end of the writer's transaction — every report filed then waited for the commit (and fsync)
of the one before it: intake fell from ~300 to ~90 reports/s once each report was audited.
Now an entry is appended with no lock and no hash; ``cityops_audit_seal()`` chains every
entry that has committed since the last seal, in one pass, numbering them (``seq``) in the
order sealed. The API seals every second; ``cityops audit verify`` seals before it checks.
Entries are never edited: the trigger lets an UPDATE only fill in the chain columns of an
entry not yet sealed, and refuses DELETE and TRUNCATE as before.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("""
    ALTER TABLE audit_log ADD COLUMN seq bigint;
    ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only;
    UPDATE audit_log SET seq = id;  -- the entries so far were chained in id order
    ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only;
    ALTER TABLE audit_log ADD CONSTRAINT audit_log_seq_key UNIQUE (seq);
    ALTER TABLE audit_log ALTER COLUMN prev_hash DROP NOT NULL, ALTER COLUMN hash DROP NOT NULL;
    CREATE INDEX ix_audit_log_unsealed ON audit_log (id) WHERE seq IS NULL;

    CREATE OR REPLACE FUNCTION cityops_audit(actor text, action text, subject text, detail jsonb) RETURNS bigint
    LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
        INSERT INTO audit_log (actor, action, subject, detail) VALUES (actor, action, subject, coalesce(detail, '{}'))
        RETURNING id
    $$;

    CREATE FUNCTION cityops_audit_seal() RETURNS integer
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    DECLARE
        prev char(64);
        position bigint;
        entry record;
        sealed integer := 0;
    BEGIN
        IF NOT pg_try_advisory_xact_lock(hashtext('cityops:audit')) THEN
            RETURN 0;  -- another sealer is at it
        END IF;
        SELECT a.hash, a.seq INTO prev, position FROM audit_log a WHERE a.seq IS NOT NULL ORDER BY a.seq DESC LIMIT 1;
        prev := coalesce(prev, repeat('0', 64));
        position := coalesce(position, 0);
        FOR entry IN SELECT * FROM audit_log a WHERE a.seq IS NULL ORDER BY a.id FOR UPDATE LOOP
            position := position + 1;
            UPDATE audit_log SET seq = position, prev_hash = prev,
                   hash = cityops_audit_hash(prev, entry.at, entry.actor, entry.action, entry.subject, entry.detail)
            WHERE id = entry.id RETURNING hash INTO prev;
            sealed := sealed + 1;
        END LOOP;
        RETURN sealed;
    END $$;

    CREATE OR REPLACE FUNCTION cityops_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'UPDATE' AND OLD.seq IS NULL AND NEW.seq IS NOT NULL
           AND (NEW.id, NEW.at, NEW.actor, NEW.action, NEW.subject, NEW.detail)
               IS NOT DISTINCT FROM (OLD.id, OLD.at, OLD.actor, OLD.action, OLD.subject, OLD.detail) THEN
            RETURN NEW;  -- sealing: the chain columns of an unsealed entry, nothing else
        END IF;
        RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP;
    END $$;
    GRANT EXECUTE ON FUNCTION cityops_audit_seal() TO cityops_api;
    """)


def downgrade() -> None:
    op.execute("""
    SELECT cityops_audit_seal();
    DROP FUNCTION cityops_audit_seal();
    CREATE OR REPLACE FUNCTION cityops_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP;
    END $$;
    CREATE OR REPLACE FUNCTION cityops_audit(actor text, action text, subject text, detail jsonb) RETURNS bigint
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
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
    DROP INDEX ix_audit_log_unsealed;
    ALTER TABLE audit_log ALTER COLUMN prev_hash SET NOT NULL, ALTER COLUMN hash SET NOT NULL;
    ALTER TABLE audit_log DROP CONSTRAINT audit_log_seq_key;
    ALTER TABLE audit_log DROP COLUMN seq;
    """)
