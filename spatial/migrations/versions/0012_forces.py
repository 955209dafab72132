"""forces: a unified directory of people, teams, vehicles and equipment; their status machine;
assignments with at most one active per force

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27

Regulation article 9 asks for a unified directory of disposal personnel and equipment and their
coordinated allocation. A force belongs to a unit (any tier) and optionally a department; what
it can do is a list of capabilities (rows of ``capability``, checked on write). Its status moves
only along the transitions listed in ``force_transition`` (data, enforced by a trigger, so no
writer can skip one); an assignment links a force to a case, and a partial unique index makes
"one active assignment per force" a fact of the database, not of application code. Forces are
scoped like cases: ``force.units`` (its unit and that unit's ancestors, kept by a trigger)
under the same row-level security as ``event``.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CAPABILITIES = [
    ("drainage", "排水抢险", "drainage and flood pumping"),
    ("water_supply", "供水抢修", "water-main repair"),
    ("electrical", "电力抢修", "electrical repair"),
    ("gas", "燃气抢险", "gas leak response"),
    ("first_aid", "急救", "first aid"),
    ("firefighting", "消防灭火", "firefighting"),
    ("rescue", "应急救援", "rescue"),
    ("traffic_control", "交通疏导", "traffic control"),
    ("law_enforcement", "城管执法", "city-management law enforcement"),
    ("sanitation", "环卫保洁", "street cleaning and waste"),
    ("greening", "园林绿化", "trees and green space"),
    ("road_repair", "道路养护", "road and pavement repair"),
    ("inspection", "巡查核查", "patrol and verification"),
    ("aerial_survey", "无人机巡查", "drone survey"),
    ("power_supply", "应急供电", "mobile power supply"),
]
TRANSITIONS = [  # (from, to): a dispatch cycle, shifts, and repairs
    ("available", "assigned"),
    ("assigned", "en_route"),
    ("assigned", "available"),
    ("en_route", "on_scene"),
    ("en_route", "available"),
    ("on_scene", "available"),
    ("available", "off_duty"),
    ("off_duty", "available"),
    ("available", "out_of_service"),
    ("off_duty", "out_of_service"),
    ("out_of_service", "available"),
]
STATUSES = ("available", "assigned", "en_route", "on_scene", "off_duty", "out_of_service")


def upgrade() -> None:
    op.execute(f"""
    CREATE TYPE force_kind AS ENUM ('person', 'team', 'vehicle', 'equipment');
    CREATE TYPE force_status AS ENUM ({", ".join(f"'{s}'" for s in STATUSES)});

    CREATE TABLE capability (
        code text PRIMARY KEY CHECK (code ~ '^[a-z][a-z0-9_]{{1,39}}$'),
        name text NOT NULL,
        name_en text NOT NULL
    );
    CREATE TABLE force_transition (
        from_status force_status NOT NULL,
        to_status force_status NOT NULL,
        PRIMARY KEY (from_status, to_status)
    );

    CREATE TABLE force (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        code text NOT NULL UNIQUE,
        name text NOT NULL,
        kind force_kind NOT NULL,
        unit_id bigint NOT NULL REFERENCES unit (id),
        department text,
        capabilities text[] NOT NULL DEFAULT '{{}}',
        shift_start time,
        shift_end time,
        contact jsonb,
        status force_status NOT NULL DEFAULT 'available',
        status_at timestamptz NOT NULL DEFAULT now(),
        geom geometry(Point, 4326),
        cell bigint,
        position_at timestamptz,
        units bigint[] NOT NULL,
        synthetic boolean NOT NULL DEFAULT false,
        CHECK ((shift_start IS NULL) = (shift_end IS NULL))
    );
    CREATE INDEX ix_force_units ON force USING gin (units);
    CREATE INDEX ix_force_capabilities ON force USING gin (capabilities);
    CREATE INDEX ix_force_available_geom ON force USING gist (geom) WHERE status = 'available';
    CREATE INDEX ix_force_cell ON force (cell);
    CREATE TABLE team_member (
        team_id bigint NOT NULL REFERENCES force (id),
        member_id bigint NOT NULL REFERENCES force (id),
        PRIMARY KEY (team_id, member_id),
        CHECK (team_id <> member_id)
    );
    CREATE INDEX ix_team_member_member ON team_member (member_id);

    CREATE TABLE assignment (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        event_id bigint NOT NULL REFERENCES event (id),
        force_id bigint NOT NULL REFERENCES force (id),
        assigned_at timestamptz NOT NULL DEFAULT now(),
        assigned_by text NOT NULL,
        released_at timestamptz,
        release_reason text,
        CHECK ((released_at IS NULL) = (release_reason IS NULL))
    );
    -- at most one active assignment per force: two commanders racing for one force, one wins
    CREATE UNIQUE INDEX ux_assignment_active_force ON assignment (force_id) WHERE released_at IS NULL;
    CREATE INDEX ix_assignment_event ON assignment (event_id);

    -- what a force may do must be a known capability; where it belongs follows its unit
    CREATE FUNCTION cityops_force_checks() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        unknown text[];
    BEGIN
        SELECT array_agg(c ORDER BY c) INTO unknown FROM unnest(NEW.capabilities) AS c
        WHERE NOT EXISTS (SELECT FROM capability k WHERE k.code = c);
        IF unknown IS NOT NULL THEN
            RAISE EXCEPTION 'unknown capabilities %', unknown USING ERRCODE = 'foreign_key_violation',
                HINT = 'capabilities are rows of table capability';
        END IF;
        IF TG_OP = 'INSERT' OR NEW.unit_id IS DISTINCT FROM OLD.unit_id THEN
            NEW.units := (SELECT u.ancestors || u.id FROM unit u WHERE u.id = NEW.unit_id);
        END IF;
        RETURN NEW;
    END $$;
    CREATE TRIGGER force_checks BEFORE INSERT OR UPDATE OF capabilities, unit_id ON force
        FOR EACH ROW EXECUTE FUNCTION cityops_force_checks();

    -- a status moves only along force_transition; the refusal names the moves allowed from here
    CREATE FUNCTION cityops_force_transition() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        allowed text;
    BEGIN
        IF NEW.status IS DISTINCT FROM OLD.status THEN
            IF NOT EXISTS (SELECT FROM force_transition t
                           WHERE t.from_status = OLD.status AND t.to_status = NEW.status) THEN
                SELECT string_agg(t.to_status::text, ', ' ORDER BY t.to_status) INTO allowed
                FROM force_transition t WHERE t.from_status = OLD.status;
                RAISE EXCEPTION 'force % cannot go from % to %', OLD.code, OLD.status, NEW.status
                    USING ERRCODE = 'check_violation', DETAIL = 'allowed from ' || OLD.status || ': ' || allowed;
            END IF;
            NEW.status_at := now();
        END IF;
        RETURN NEW;
    END $$;
    CREATE TRIGGER force_transition BEFORE UPDATE OF status ON force
        FOR EACH ROW EXECUTE FUNCTION cityops_force_transition();

    ALTER TABLE force ENABLE ROW LEVEL SECURITY;
    CREATE POLICY force_in_scope ON force TO cityops_api
        USING (units @> ARRAY[cityops_scope_unit()]
               AND (cityops_scope_department() IS NULL OR department = cityops_scope_department()));
    ALTER TABLE assignment ENABLE ROW LEVEL SECURITY;
    CREATE POLICY assignment_in_scope ON assignment TO cityops_api
        USING (EXISTS (SELECT FROM force f WHERE f.id = assignment.force_id)
               OR EXISTS (SELECT FROM event e WHERE e.id = assignment.event_id));
    ALTER TABLE team_member ENABLE ROW LEVEL SECURITY;
    CREATE POLICY team_member_in_scope ON team_member TO cityops_api
        USING (EXISTS (SELECT FROM force f WHERE f.id = team_member.team_id));

    GRANT SELECT ON capability, force_transition, force, team_member, assignment TO cityops_api;
    GRANT UPDATE (status, geom, cell, position_at) ON force TO cityops_api;
    GRANT INSERT, UPDATE ON assignment TO cityops_api;
    GRANT USAGE ON SEQUENCE assignment_id_seq TO cityops_api;
    """)
    values = ", ".join(f"('{code}', '{name}', '{name_en}')" for code, name, name_en in CAPABILITIES)
    op.execute(f"INSERT INTO capability (code, name, name_en) VALUES {values}")
    moves = ", ".join(f"('{a}', '{b}')" for a, b in TRANSITIONS)
    op.execute(f"INSERT INTO force_transition (from_status, to_status) VALUES {moves}")


def downgrade() -> None:
    op.execute("""
    DROP TABLE assignment;
    DROP TABLE team_member;
    DROP TABLE force;
    DROP FUNCTION cityops_force_transition();
    DROP FUNCTION cityops_force_checks();
    DROP TABLE force_transition;
    DROP TABLE capability;
    DROP TYPE force_status;
    DROP TYPE force_kind;
    """)
