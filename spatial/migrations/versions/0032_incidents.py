"""major incidents: unified command, departments reporting in, tasks, resources, sitreps and CAP alerts

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-03

Regulation arts. 6, 10 and 11. An incident groups cases under one command: its class (the four of
《突发事件应对法》 with subtypes, as data), its level I–IV (特别重大 … 一般; the tier that commands
each level is data, ``incident_level``), its commanding unit, commander, lead department, command
post, and areas (perimeter, zones, closures, staging) kept as rows that are retired, never
overwritten, so the map of any moment can be drawn again. Every change is a row of the append-only
``incident_log`` (the timeline). Departments are summoned (吹哨) with a deadline and report in
(报到); tasks go to departments, units or forces; forces committed to an incident are held by it
(unified dispatch); resources are requested, offered, committed, deployed, released and returned
in EDXL-RM's words; situation reports and CAP 1.2 alerts are drafted, approved by another hand and
issued. Each row that carries state carries ``version`` (no lost update).

Row-level security scopes incidents like cases: ``units`` is the commanding unit's chain plus the
units its areas touch; a department liaison (``cityops_scope_department``) sees the incidents that
summoned its department.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (code, parent, 中文, English, related case categories by code prefix): the four classes of 《突发事件应对法》
# and the subtypes a city meets; open cases of related categories inside an incident's area are proposed for linking
CLASSES = [
    ("natural_disaster", None, "自然灾害", "Natural disaster", "{0204}"),
    (
        "natural_disaster.rainstorm_flood",
        "natural_disaster",
        "暴雨洪涝",
        "Rainstorm and flooding",
        "{020404,020401,010103,010102,020405}",
    ),
    ("natural_disaster.typhoon", "natural_disaster", "台风", "Typhoon", "{020405,020404,010105,010202,010303}"),
    ("natural_disaster.geological", "natural_disaster", "地质灾害", "Landslide or subsidence", "{020401,010501}"),
    ("natural_disaster.snow_ice", "natural_disaster", "低温雨雪冰冻", "Snow and ice", "{020405,010105,020404}"),
    ("natural_disaster.heat", "natural_disaster", "高温", "Heat wave", "{020402,010104}"),
    ("natural_disaster.earthquake", "natural_disaster", "地震", "Earthquake", "{010501,020401,020402,020403}"),
    ("accident", None, "事故灾难", "Accident", "{0204}"),
    ("accident.fire", "accident", "火灾", "Fire", "{020406,010106}"),
    ("accident.gas", "accident", "燃气泄漏爆炸", "Gas leak or explosion", "{020403}"),
    ("accident.hazardous_chemicals", "accident", "危险化学品", "Hazardous chemicals", "{020602,020403}"),
    ("accident.traffic", "accident", "交通事故", "Traffic accident", "{010201,010202,010203,010205}"),
    ("accident.structure", "accident", "建筑物坍塌", "Structural collapse", "{010501,010502,020401}"),
    ("accident.utility", "accident", "供水供电中断", "Water or power outage", "{020402,010104,010105,010101}"),
    ("public_health", None, "公共卫生事件", "Public health", "{020102,020602}"),
    ("public_health.epidemic", "public_health", "传染病疫情", "Epidemic", "{020102,010301}"),
    ("public_health.food_poisoning", "public_health", "群体性食物中毒", "Mass food poisoning", "{020506,020501}"),
    ("social_security", None, "社会安全事件", "Social security", "{0205}"),
    (
        "social_security.mass_gathering",
        "social_security",
        "大型活动与人员聚集",
        "Crowding at a mass gathering",
        "{0205,020504,020505}",
    ),
    ("social_security.public_order", "social_security", "群体性事件", "Public order", "{0205}"),
]
# level, 中文, English, the tier that commands it, CAP severity derived for its alerts, warning colour
LEVELS = [
    ("I", "特别重大", "Extremely serious", "city", "Extreme", "red"),
    ("II", "重大", "Serious", "city", "Severe", "orange"),
    ("III", "较大", "Relatively serious", "district", "Moderate", "yellow"),
    ("IV", "一般", "Ordinary", "district", "Minor", "blue"),
]
# resource types a command asks for (EDXL-RM's ResourceType); capability: the force capability that
# meets it, when forces are the resource; unit of measure for counted goods
RESOURCE_TYPES = [
    ("pump", "移动泵车", "Mobile pump", "drainage", "台"),
    ("drainage_truck", "排水抢险车", "Drainage truck", "drainage", "辆"),
    ("rescue_team", "救援队", "Rescue team", "rescue", "支"),
    ("ambulance", "救护车", "Ambulance", "first_aid", "辆"),
    ("fire_engine", "消防车", "Fire engine", "firefighting", "辆"),
    ("generator", "应急发电机", "Generator", "power_supply", "台"),
    ("traffic_police", "交警", "Traffic police", "traffic_control", "组"),
    ("sandbags", "沙袋", "Sandbags", None, "袋"),
    ("tents", "帐篷", "Tents", None, "顶"),
    ("drinking_water", "饮用水", "Drinking water", None, "箱"),
]
# tables under an incident: each row visible when its incident is (the incident's policy decides)
CHILDREN = [
    "incident_area",
    "incident_case",
    "incident_log",
    "incident_summons",
    "incident_task",
    "incident_force",
    "sitrep",
    "cap_alert",
]
GRANDCHILDREN = [
    ("incident_task_update", "incident_task", "task_id"),
    ("resource_message", "resource_request", "request_id"),
]
COMMAND = ["incidents:read", "incidents:command", "alerts:approve", "sitreps:approve"]


def _rows(table: str, columns: str, rows: Sequence[tuple[object, ...]]) -> str:
    def literal(value: object) -> str:
        return "NULL" if value is None else "'" + str(value).replace("'", "''") + "'"

    values = ",\n    ".join("(" + ", ".join(literal(v) for v in row) + ")" for row in rows)
    return f"INSERT INTO {table} ({columns}) VALUES\n    {values};"


def upgrade() -> None:
    op.execute("""
    CREATE TABLE incident_class (
        code text PRIMARY KEY CHECK (code ~ '^[a-z_]+(\\.[a-z_]+)?$'),
        parent_code text REFERENCES incident_class (code),
        name text NOT NULL,
        name_en text NOT NULL,
        related_categories text[] NOT NULL,
        CHECK ((parent_code IS NULL) = (position('.' in code) = 0))
    );
    CREATE TABLE incident_level (
        level text PRIMARY KEY CHECK (level IN ('I', 'II', 'III', 'IV')),
        name text NOT NULL,
        name_en text NOT NULL,
        commanding_tier tier NOT NULL,
        cap_severity text NOT NULL CHECK (cap_severity IN ('Extreme', 'Severe', 'Moderate', 'Minor')),
        colour text NOT NULL CHECK (colour IN ('red', 'orange', 'yellow', 'blue'))
    );
    -- a city's own rules as data: how soon the first sitrep is due, how often after, report-in time
    CREATE TABLE incident_setting (
        name text PRIMARY KEY,
        minutes integer NOT NULL CHECK (minutes > 0),
        description text NOT NULL
    );
    INSERT INTO incident_setting VALUES
        ('first_sitrep', 60, '首报时限 first situation report due after the incident opens'),
        ('sitrep_every', 240, '续报间隔 a further report due this long after the last issued'),
        ('report_in', 30, '报到时限 a summoned department reports in within (吹哨报到, a local rule)');

    -- 突发事件 numbers read like the centre's own: INC-20261203-0007 (the day in Beijing time)
    CREATE SEQUENCE incident_number;
    CREATE TABLE incident (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        code text NOT NULL UNIQUE DEFAULT 'INC-' || to_char(now() AT TIME ZONE 'Asia/Shanghai', 'YYYYMMDD')
            || '-' || lpad(nextval('incident_number')::text, 4, '0'),
        title text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
        description text NOT NULL DEFAULT '' CHECK (length(description) <= 4000),
        class_code text NOT NULL REFERENCES incident_class (code),
        level text NOT NULL REFERENCES incident_level (level),
        state text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'closed')),
        commanding_unit_id bigint NOT NULL REFERENCES unit (id),
        commander text NOT NULL,
        lead_department text,
        command_post geometry(Point, 4326) NOT NULL,
        units bigint[] NOT NULL,
        departments text[] NOT NULL DEFAULT '{}',
        opened_by text NOT NULL,
        opened_at timestamptz NOT NULL DEFAULT now(),
        closed_at timestamptz,
        version integer NOT NULL DEFAULT 1,
        CHECK ((state = 'closed') = (closed_at IS NOT NULL))
    );
    CREATE INDEX ix_incident_units ON incident USING gin (units);
    CREATE INDEX ix_incident_active ON incident (opened_at) WHERE state = 'active';

    CREATE TABLE incident_area (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        incident_id bigint NOT NULL REFERENCES incident (id),
        kind text NOT NULL CHECK (kind IN ('perimeter', 'hot_zone', 'warm_zone', 'evacuation', 'closure', 'staging')),
        label text NOT NULL DEFAULT '' CHECK (length(label) <= 200),
        geom geometry(MultiPolygon, 4326) NOT NULL CHECK (ST_IsValid(geom) AND NOT ST_IsEmpty(geom)),
        derived text NOT NULL CHECK (derived IN ('drawn', 'buffer', 'units')),
        area_m2 double precision NOT NULL CHECK (area_m2 > 0),
        created_by text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        retired_at timestamptz
    );
    CREATE INDEX ix_incident_area_geom ON incident_area USING gist (geom) WHERE retired_at IS NULL;
    CREATE INDEX ix_incident_area_incident ON incident_area (incident_id);

    -- linked: under the incident's command; proposed: inside an area and of a related category, or
    -- reported inside after the incident opened (flagged), waiting for the commander; dismissed: not it
    CREATE TABLE incident_case (
        incident_id bigint NOT NULL REFERENCES incident (id),
        case_id bigint NOT NULL REFERENCES case_file (id),
        state text NOT NULL CHECK (state IN ('linked', 'flagged', 'dismissed')),
        how text NOT NULL CHECK (how IN ('elevated', 'linked', 'reported_inside')),
        decided_by text,
        at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (incident_id, case_id)
    );
    CREATE INDEX ix_incident_case_case ON incident_case (case_id);

    -- the timeline: every change of the incident, append-only
    CREATE TABLE incident_log (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        incident_id bigint NOT NULL REFERENCES incident (id),
        action text NOT NULL,
        actor text NOT NULL,
        at timestamptz NOT NULL DEFAULT now(),
        note text NOT NULL DEFAULT '' CHECK (length(note) <= 2000),
        detail jsonb NOT NULL DEFAULT '{}'
    );
    CREATE INDEX ix_incident_log ON incident_log (incident_id, id);

    -- 吹哨报到: a department summoned with a deadline; its liaison reports in
    CREATE TABLE incident_summons (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        incident_id bigint NOT NULL REFERENCES incident (id),
        department text NOT NULL CHECK (length(department) BETWEEN 1 AND 100),
        summoned_by text NOT NULL,
        summoned_at timestamptz NOT NULL DEFAULT now(),
        due_at timestamptz NOT NULL,
        note text NOT NULL DEFAULT '' CHECK (length(note) <= 2000),
        liaison text,
        reported_at timestamptz,
        escalated_at timestamptz,
        escalated_to bigint REFERENCES unit (id),
        UNIQUE (incident_id, department),
        CHECK ((liaison IS NULL) = (reported_at IS NULL))
    );
    CREATE INDEX ix_summons_due ON incident_summons (due_at) WHERE reported_at IS NULL AND escalated_at IS NULL;

    CREATE TABLE incident_task (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        incident_id bigint NOT NULL REFERENCES incident (id),
        title text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
        detail text NOT NULL DEFAULT '' CHECK (length(detail) <= 4000),
        department text,
        unit_id bigint REFERENCES unit (id),
        force_id bigint REFERENCES force (id),
        priority text NOT NULL DEFAULT 'normal' CHECK (priority IN ('urgent', 'high', 'normal', 'low')),
        due_at timestamptz,
        state text NOT NULL DEFAULT 'assigned'
            CHECK (state IN ('assigned', 'acknowledged', 'in_progress', 'done', 'blocked')),
        blocked_reason text,
        created_by text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        done_at timestamptz,
        version integer NOT NULL DEFAULT 1,
        CHECK (num_nonnulls(department, unit_id, force_id) = 1),
        CHECK ((state = 'blocked') = (blocked_reason IS NOT NULL))
    );
    CREATE INDEX ix_task_incident ON incident_task (incident_id);
    CREATE TABLE incident_task_update (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        task_id bigint NOT NULL REFERENCES incident_task (id),
        state text NOT NULL,
        note text NOT NULL DEFAULT '' CHECK (length(note) <= 2000),
        media text[] NOT NULL DEFAULT '{}',
        actor text NOT NULL,
        at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX ix_task_update ON incident_task_update (task_id, id);

    -- forces committed to an incident: held by it until it releases them (unified dispatch)
    CREATE TABLE incident_force (
        incident_id bigint NOT NULL REFERENCES incident (id),
        force_id bigint NOT NULL REFERENCES force (id),
        committed_by text NOT NULL,
        committed_at timestamptz NOT NULL DEFAULT now(),
        released_at timestamptz,
        PRIMARY KEY (incident_id, force_id, committed_at)
    );
    CREATE UNIQUE INDEX ux_incident_force_held ON incident_force (force_id) WHERE released_at IS NULL;

    CREATE TABLE resource_type (
        code text PRIMARY KEY,
        name text NOT NULL,
        name_en text NOT NULL,
        capability text,
        measure text NOT NULL
    );
    -- EDXL-RM: RequestResource → ResponseToRequestResource (offer/decline) → RequisitionResource (the
    -- requester accepts the offer) → CommitResource (the owner names what it sends) →
    -- deployed (ReportResourceDeploymentStatus) → ReleaseResource → returned (RequestReturn answered)
    CREATE TABLE resource_request (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        incident_id bigint NOT NULL REFERENCES incident (id),
        resource_type text NOT NULL REFERENCES resource_type (code),
        quantity integer NOT NULL CHECK (quantity BETWEEN 1 AND 100000),
        offered integer CHECK (offered BETWEEN 0 AND 100000),
        committed integer CHECK (committed BETWEEN 0 AND 100000),
        to_unit_id bigint NOT NULL REFERENCES unit (id),
        to_units bigint[] NOT NULL,
        needed_by timestamptz NOT NULL,
        needed_at geometry(Point, 4326) NOT NULL,
        state text NOT NULL DEFAULT 'requested' CHECK (state IN
            ('requested', 'offered', 'declined', 'accepted', 'committed', 'deployed', 'released', 'returned',
             'cancelled')),
        note text NOT NULL DEFAULT '' CHECK (length(note) <= 2000),
        force_ids bigint[] NOT NULL DEFAULT '{}',
        requested_by text NOT NULL,
        requested_at timestamptz NOT NULL DEFAULT now(),
        version integer NOT NULL DEFAULT 1
    );
    CREATE INDEX ix_resource_request_incident ON resource_request (incident_id);
    CREATE INDEX ix_resource_request_to ON resource_request (to_unit_id) WHERE state IN ('requested', 'offered');
    CREATE TABLE resource_message (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        request_id bigint NOT NULL REFERENCES resource_request (id),
        message_type text NOT NULL,
        quantity integer,
        actor text NOT NULL,
        unit_id bigint REFERENCES unit (id),
        at timestamptz NOT NULL DEFAULT now(),
        note text NOT NULL DEFAULT ''
    );
    CREATE INDEX ix_resource_message ON resource_message (request_id, id);

    CREATE TABLE sitrep (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        incident_id bigint NOT NULL REFERENCES incident (id),
        seq integer,
        kind text NOT NULL CHECK (kind IN ('first', 'update', 'final')),
        state text NOT NULL DEFAULT 'draft' CHECK (state IN ('draft', 'approved', 'issued')),
        body text NOT NULL DEFAULT '' CHECK (length(body) <= 20000),
        figures jsonb NOT NULL DEFAULT '{}',
        figures_at timestamptz NOT NULL,
        author text NOT NULL,
        written_at timestamptz NOT NULL DEFAULT now(),
        approved_by text,
        approved_at timestamptz,
        issued_at timestamptz,
        version integer NOT NULL DEFAULT 1,
        UNIQUE (incident_id, seq),
        CHECK ((state = 'draft') = (approved_by IS NULL)),
        CHECK ((state = 'issued') = (issued_at IS NOT NULL AND seq IS NOT NULL))
    );

    CREATE TABLE cap_alert (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        incident_id bigint NOT NULL REFERENCES incident (id),
        identifier text NOT NULL UNIQUE,
        msg_type text NOT NULL CHECK (msg_type IN ('Alert', 'Update', 'Cancel')),
        references_id bigint REFERENCES cap_alert (id),
        status text NOT NULL DEFAULT 'Actual' CHECK (status IN ('Actual', 'Exercise', 'System', 'Test', 'Draft')),
        scope text NOT NULL DEFAULT 'Public' CHECK (scope IN ('Public', 'Restricted', 'Private')),
        state text NOT NULL DEFAULT 'draft' CHECK (state IN ('draft', 'approved', 'published')),
        content jsonb NOT NULL,
        area geometry(MultiPolygon, 4326) NOT NULL,
        geocodes text[] NOT NULL DEFAULT '{}',
        expires timestamptz NOT NULL,
        author text NOT NULL,
        written_at timestamptz NOT NULL DEFAULT now(),
        approved_by text,
        published_at timestamptz,
        xml text,
        version integer NOT NULL DEFAULT 1,
        CHECK ((msg_type = 'Alert') = (references_id IS NULL)),
        CHECK ((state = 'published') = (published_at IS NOT NULL AND xml IS NOT NULL))
    );
    -- one update or cancel in flight per published alert: a chain never forks
    CREATE UNIQUE INDEX ux_cap_alert_reference ON cap_alert (references_id) WHERE references_id IS NOT NULL;
    CREATE INDEX ix_cap_alert_incident ON cap_alert (incident_id);
    """)
    op.execute(_rows("incident_class", "code, parent_code, name, name_en, related_categories", CLASSES))
    op.execute(_rows("incident_level", "level, name, name_en, commanding_tier, cap_severity, colour", LEVELS))
    op.execute(_rows("resource_type", "code, name, name_en, capability, measure", RESOURCE_TYPES))
    op.execute("""
    ALTER TABLE incident ENABLE ROW LEVEL SECURITY;
    CREATE POLICY incident_in_scope ON incident TO cityops_api
        USING (CASE WHEN cityops_scope_department() IS NULL THEN units @> ARRAY[cityops_scope_unit()]
                    ELSE departments @> ARRAY[cityops_scope_department()] END)
        WITH CHECK (units @> ARRAY[cityops_scope_unit()] AND cityops_scope_department() IS NULL);
    """)
    for table in CHILDREN:
        op.execute(f"""
        ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
        CREATE POLICY {table}_in_scope ON {table} TO cityops_api
            USING (EXISTS (SELECT 1 FROM incident i WHERE i.id = incident_id));
        """)
    # the unit asked for resources sees the request, wherever the incident is (cross-district help)
    op.execute("""
    ALTER TABLE resource_request ENABLE ROW LEVEL SECURITY;
    CREATE POLICY resource_request_in_scope ON resource_request TO cityops_api
        USING (EXISTS (SELECT 1 FROM incident i WHERE i.id = incident_id)
               OR (to_units @> ARRAY[cityops_scope_unit()] AND cityops_scope_department() IS NULL));
    -- and answers it on the incident's timeline and commits its own forces to the incident, seeing of
    -- the incident only the entries and forces of the requests it was asked
    ALTER POLICY incident_log_in_scope ON incident_log
        USING (EXISTS (SELECT 1 FROM incident i WHERE i.id = incident_id)
               OR EXISTS (SELECT 1 FROM resource_request r WHERE r.incident_id = incident_log.incident_id
                          AND r.id::text = incident_log.detail ->> 'request_id'));
    ALTER POLICY incident_force_in_scope ON incident_force
        USING (EXISTS (SELECT 1 FROM incident i WHERE i.id = incident_id)
               OR EXISTS (SELECT 1 FROM resource_request r WHERE r.incident_id = incident_force.incident_id
                          AND r.force_ids @> ARRAY[incident_force.force_id]));
    """)
    for table, parent, key in GRANDCHILDREN:
        op.execute(f"""
        ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
        CREATE POLICY {table}_in_scope ON {table} TO cityops_api
            USING (EXISTS (SELECT 1 FROM {parent} p WHERE p.id = {key}));
        """)
    op.execute("""
    GRANT SELECT ON incident_class, incident_level, incident_setting, resource_type TO cityops_api;
    GRANT SELECT, INSERT, UPDATE ON incident, incident_area, incident_case, incident_summons, incident_task,
        incident_force, resource_request, sitrep, cap_alert TO cityops_api;
    GRANT SELECT, INSERT ON incident_log, incident_task_update, resource_message TO cityops_api;
    GRANT USAGE ON SEQUENCE incident_number TO cityops_api;
    UPDATE role SET permissions = permissions || '{incidents:read}'::text[]
        WHERE name IN ('street', 'department_handler', 'wall', 'planner', 'auditor');
    UPDATE role SET permissions = permissions || '{incidents:report_in}'::text[] WHERE name = 'department_handler';
    UPDATE role SET permissions = permissions || '{incidents:command}'::text[] WHERE name = 'street';
    """)
    op.execute(
        "UPDATE role SET permissions = permissions || '{" + ",".join(COMMAND) + "}'::text[] "
        "WHERE name IN ('district', 'city_commander')"
    )


def downgrade() -> None:
    op.execute("""
    UPDATE role SET permissions = ARRAY(SELECT p FROM unnest(permissions) p WHERE p NOT LIKE 'incidents:%'
        AND p NOT IN ('alerts:approve', 'sitreps:approve'));
    DROP TABLE cap_alert, sitrep, resource_message, resource_request, resource_type, incident_force,
        incident_task_update, incident_task, incident_summons, incident_log, incident_case, incident_area,
        incident, incident_setting, incident_level, incident_class;
    DROP SEQUENCE incident_number;
    """)
