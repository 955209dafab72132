"""application scenarios and monthly public publications

Revision ID: 0050
Revises: 0049
Create Date: 2026-12-05

Regulation art. 13: districts and departments build application scenarios (应用场景) and publish their
status to the public regularly. ``scenario`` is the registry city command keeps: a scenario's field,
owner, status, and the categories and report sources that feed it (empty: all). Its rows are public by
nature (no row-level security on reading); writing needs a city-wide scope (policies in
``exchange/sql/policies``) besides the ``scenarios:manage`` permission.

``publication`` freezes one month: the manifest (each file's name, size and SHA-256) signed with the
platform's Ed25519 publication key, and ``publication_file`` the files themselves. Both are written by
``cityops publish`` as the owner and are append-only (triggers): a month stays as published. The API
role may only read them.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0050"
down_revision: str | None = "0049"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE scenario (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        code varchar(40) NOT NULL UNIQUE CHECK (code ~ '^[a-z0-9][a-z0-9-]{1,39}$'),
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 80),
        name_en text NOT NULL CHECK (length(name_en) BETWEEN 1 AND 120),
        field text NOT NULL CHECK (field IN ('emergency', 'daily', 'economy', 'civilisation')),
        status text NOT NULL DEFAULT 'planned' CHECK (status IN ('planned', 'building', 'live', 'retired')),
        owner_unit_id bigint NOT NULL REFERENCES unit (id),
        owner_department text CHECK (length(owner_department) BETWEEN 1 AND 80),
        description text NOT NULL DEFAULT '' CHECK (length(description) <= 2000),
        description_en text NOT NULL DEFAULT '' CHECK (length(description_en) <= 2000),
        categories varchar(16)[] NOT NULL DEFAULT '{}',
        sources report_source[] NOT NULL DEFAULT '{}',
        version integer NOT NULL DEFAULT 1,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        updated_by text NOT NULL
    );
    ALTER TABLE scenario ENABLE ROW LEVEL SECURITY;
    GRANT SELECT, INSERT, UPDATE ON scenario TO cityops_api;

    CREATE TABLE publication (
        month date PRIMARY KEY CHECK (extract(day FROM month) = 1),
        published_at timestamptz NOT NULL DEFAULT now(),
        published_by text NOT NULL,
        manifest bytea NOT NULL,
        signature bytea NOT NULL,
        key_id text NOT NULL,
        public_key text NOT NULL
    );
    CREATE TABLE publication_file (
        month date NOT NULL REFERENCES publication (month),
        name text NOT NULL CHECK (name ~ '^[a-z0-9_]+\\.(json|csv|geojson)$'),
        media_type text NOT NULL,
        body bytea NOT NULL,
        sha256 char(64) NOT NULL,
        PRIMARY KEY (month, name)
    );
    GRANT SELECT ON publication, publication_file TO cityops_api;

    UPDATE role SET permissions = permissions || '{scenarios:manage}'::text[] WHERE name = 'city_commander';
    """)


def downgrade() -> None:
    op.execute("""
    UPDATE role SET permissions = array_remove(permissions, 'scenarios:manage');
    DROP TABLE publication_file;
    DROP TABLE publication;
    DROP TABLE scenario;
    """)
