"""peer cities, handovers across the city line, their outbox and inbox

Revision ID: 0055
Revises: 0054
Create Date: 2026-12-05

Regulation art. 16 (and the metropolitan coordination it serves): a report that lands just over the
city line belongs to the neighbour. ``peer`` holds each neighbour this city knows: its city name (its
``urn:cityops:<city>``), its city unit code (whose prefix every unit code it answers with must carry),
its address, the Ed25519 public key its messages are signed with, and its boundary (which reports are
its). ``handover`` is a case crossing the line, kept on both sides: ``out`` here while the neighbour
handles it (their case id, their unit, its state as they report it), ``in`` for a case a neighbour
handed here (our case — several when their reports joined one case here — and their handover id, unique,
so a handover sent twice opens one case); ``remote_seq`` is the last of the neighbour's moves applied, so a
status sent twice or late never rewinds the state.
``peer_outbox`` holds every message to a peer until the peer took it (written in the transaction that
made it: never lost; retried with backoff; the last error kept for the screen). ``peer_inbox`` keeps the
ids of the messages received, so a replayed message is refused.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0055"
down_revision: str | None = "0054"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE peer (
        city text PRIMARY KEY CHECK (city ~ '^[a-z0-9_]+$'),
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
        code varchar(12) NOT NULL CHECK (code ~ '^[0-9]{6}$'),
        url text NOT NULL CHECK (url ~ '^https?://' AND length(url) <= 2000),
        public_key text NOT NULL,
        boundary geometry(MultiPolygon, 4326) NOT NULL CHECK (ST_IsValid(boundary)),
        added_by text NOT NULL,
        added_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX ix_peer_boundary ON peer USING gist (boundary);
    GRANT SELECT ON peer TO cityops_api;

    CREATE TABLE handover (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        direction text NOT NULL CHECK (direction IN ('out', 'in')),
        peer text NOT NULL REFERENCES peer (city),
        remote_id bigint,
        case_id bigint REFERENCES case_file (id),
        category varchar(16) NOT NULL,
        severity severity NOT NULL,
        source report_source NOT NULL,
        description text NOT NULL,
        address text,
        geom geometry(Point, 4326) NOT NULL,
        reported_at timestamptz NOT NULL,
        reported_by text NOT NULL,
        idempotency_key text CHECK (length(idempotency_key) <= 200),
        state text NOT NULL,
        remote_unit text,
        remote_seq integer NOT NULL DEFAULT 0,
        trace jsonb NOT NULL DEFAULT '[]',
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (direction, peer, remote_id),
        CHECK (direction = 'out' OR (case_id IS NOT NULL AND remote_id IS NOT NULL))
    );
    CREATE INDEX ix_handover_case ON handover (case_id) WHERE case_id IS NOT NULL;
    CREATE INDEX ix_handover_created ON handover (created_at);
    CREATE UNIQUE INDEX ix_handover_idempotency ON handover (reported_by, idempotency_key)
        WHERE idempotency_key IS NOT NULL;
    GRANT SELECT, INSERT, UPDATE ON handover TO cityops_api;

    CREATE TABLE peer_outbox (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        peer text NOT NULL REFERENCES peer (city),
        handover_id bigint NOT NULL REFERENCES handover (id),
        kind text NOT NULL CHECK (kind IN ('handover', 'status')),
        body jsonb NOT NULL,
        attempts integer NOT NULL DEFAULT 0,
        next_try_at timestamptz NOT NULL DEFAULT now(),
        last_error text,
        delivered_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX ix_peer_outbox_waiting ON peer_outbox (peer, id) WHERE delivered_at IS NULL;
    CREATE INDEX ix_peer_outbox_handover ON peer_outbox (handover_id);
    GRANT SELECT, INSERT, UPDATE ON peer_outbox TO cityops_api;

    CREATE TABLE peer_inbox (
        peer text NOT NULL REFERENCES peer (city),
        message_id text NOT NULL CHECK (length(message_id) BETWEEN 1 AND 200),
        received_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (peer, message_id)
    );
    GRANT SELECT, INSERT ON peer_inbox TO cityops_api;

    UPDATE role SET permissions = permissions || '{handovers:read}'::text[] WHERE name = 'city_commander';
    """)


def downgrade() -> None:
    op.execute("""
    UPDATE role SET permissions = array_remove(permissions, 'handovers:read');
    DROP TABLE peer_inbox;
    DROP TABLE peer_outbox;
    DROP TABLE handover;
    DROP TABLE peer;
    """)
