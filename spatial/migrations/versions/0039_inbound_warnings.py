"""inbound warnings: CAP 1.2 alerts received from the meteorological and other warning services

Revision ID: 0039
Revises: 0038
Create Date: 2026-12-04

Regulation art. 6 (监测、分析和预警). An official warning (heavy rain, typhoon, heat …) arrives as CAP 1.2
XML, posted by the warning service's feed (role ``warning_feed``) or by a commander. It is kept whole
(the XML as received) with what the platform reads from it: its identifier and sender (unique together:
the same alert twice is one), its event, severity and the Chinese warning colour, when it expires, its
area (the polygons and circles of its infos, and the units its GB/T 2260 geocodes name), and the units
that area touches (``units``: each affected unit with its chain, for row-level security — a unit's
queue shows the warnings over it). An Update replaces the alert it references; a Cancel ends it.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0039"
down_revision: str | None = "0038"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE inbound_warning (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        identifier text NOT NULL,
        sender text NOT NULL,
        sent timestamptz NOT NULL,
        msg_type text NOT NULL CHECK (msg_type IN ('Alert', 'Update', 'Cancel')),
        status text NOT NULL,
        event text NOT NULL,
        headline text,
        description text,
        severity text NOT NULL,
        urgency text NOT NULL,
        certainty text NOT NULL,
        colour text CHECK (colour IN ('blue', 'yellow', 'orange', 'red')),
        expires timestamptz,
        geom geometry(MultiPolygon, 4326),
        geocodes text[] NOT NULL DEFAULT '{}',
        affected bigint[] NOT NULL DEFAULT '{}',
        units bigint[] NOT NULL DEFAULT '{}',
        replaced_by bigint REFERENCES inbound_warning (id),
        cancelled_at timestamptz,
        xml text NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now(),
        received_by text NOT NULL,
        UNIQUE (sender, identifier)
    );
    CREATE INDEX ix_inbound_warning_units ON inbound_warning USING gin (units);
    CREATE INDEX ix_inbound_warning_live ON inbound_warning (expires)
        WHERE cancelled_at IS NULL AND replaced_by IS NULL;
    ALTER TABLE inbound_warning ENABLE ROW LEVEL SECURITY;
    CREATE POLICY inbound_warning_in_scope ON inbound_warning TO cityops_api
        USING (units @> ARRAY[cityops_scope_unit()]);
    GRANT SELECT, INSERT, UPDATE ON inbound_warning TO cityops_api;
    INSERT INTO role (name, description, permissions) VALUES
        ('warning_feed', '预警信息接入：气象等部门的 CAP 预警 (a warning service feed)', '{alerts:receive}');
    UPDATE role SET permissions = permissions || '{alerts:receive}'::text[] WHERE name = 'city_commander';
    UPDATE role SET permissions = permissions || '{warnings:read}'::text[]
        WHERE name IN ('community', 'dispatcher', 'grid_worker', 'street', 'district', 'city_commander', 'wall',
                       'planner', 'department_handler');
    """)


def downgrade() -> None:
    op.execute("""
    UPDATE role SET permissions = ARRAY(SELECT p FROM unnest(permissions) p
        WHERE p NOT IN ('alerts:receive', 'warnings:read'));
    DELETE FROM role WHERE name = 'warning_feed';
    DROP TABLE inbound_warning;
    """)
