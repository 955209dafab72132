"""the change log, webhook subscriptions and their dead letters

Revision ID: 0052
Revises: 0051
Create Date: 2026-12-05

Regulation art. 12: departments' systems take the platform's data through the exchange instead of
asking again. Every change another system may act on — a case created, moved or closed, an assignment,
an incident, an alarm — is written to ``change_event`` in the transaction that made it (triggers,
``exchange/sql``), with the units and departments that may see it (row-level security as the case's).

``seq`` is the feed's cursor. It is not the row's id: ids are taken when a transaction writes, and
transactions commit in another order, so a reader paging by id could pass a row committed late. The
sequencer (one loop of all processes) numbers committed rows in id order after they commit, so every
later number belongs to a later commit and a cursor never skips a change.

``subscription`` holds a system's webhook: its owner (whose jurisdiction it sees), URL, the event
types, its per-subscription secret (Standard Webhooks, shown once), its cursor, its retry state.
``dead_letter`` keeps a batch that failed every attempt, visible and retryable.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0052"
down_revision: str | None = "0051"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE change_event (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        seq bigint UNIQUE,
        type text NOT NULL,
        subject text NOT NULL,
        case_id bigint,
        units bigint[] NOT NULL,
        departments text[] NOT NULL DEFAULT '{}',
        at timestamptz NOT NULL DEFAULT now(),
        data jsonb NOT NULL
    );
    CREATE INDEX ix_change_event_unsequenced ON change_event (id) WHERE seq IS NULL;
    CREATE INDEX ix_change_event_at ON change_event USING brin (at);
    ALTER TABLE change_event ENABLE ROW LEVEL SECURITY;
    GRANT SELECT ON change_event TO cityops_api;

    CREATE TABLE subscription (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        owner text NOT NULL REFERENCES app_user (username),
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
        url text NOT NULL CHECK (url ~ '^https?://' AND length(url) <= 2000),
        secret text NOT NULL,
        types text[] NOT NULL CHECK (cardinality(types) > 0),
        scope_unit bigint NOT NULL REFERENCES unit (id),
        scope_department text,
        active boolean NOT NULL DEFAULT true,
        cursor bigint NOT NULL DEFAULT 0,
        attempts integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz,
        last_error text,
        last_delivered_at timestamptz,
        delivered bigint NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX ix_subscription_owner ON subscription (owner);
    GRANT SELECT, INSERT, UPDATE ON subscription TO cityops_api;

    CREATE TABLE dead_letter (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        subscription_id bigint NOT NULL REFERENCES subscription (id),
        first_seq bigint NOT NULL,
        last_seq bigint NOT NULL,
        events integer NOT NULL,
        attempts integer NOT NULL,
        last_error text NOT NULL,
        dead_at timestamptz NOT NULL DEFAULT now(),
        retried_at timestamptz
    );
    CREATE INDEX ix_dead_letter_subscription ON dead_letter (subscription_id, id);
    GRANT SELECT, INSERT, UPDATE ON dead_letter TO cityops_api;

    UPDATE role SET permissions = permissions || '{changes:read,subscriptions:manage}'::text[]
        WHERE name IN ('integration', 'city_commander', 'district');
    """)


def downgrade() -> None:
    op.execute("""
    UPDATE role SET permissions = ARRAY(SELECT p FROM unnest(permissions) p
        WHERE p NOT IN ('changes:read', 'subscriptions:manage'));
    DROP TABLE dead_letter;
    DROP TABLE subscription;
    DROP TABLE change_event;
    """)
