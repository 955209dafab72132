"""sensing: the sensor registry, readings by day, rules as data, alarms with their states

Revision ID: 0037
Revises: 0036
Create Date: 2026-12-04

Regulation arts. 6, 8 and 15 (城市运行感知, found 及时精准 through the Internet of Things). A sensor is
a point with a kind, an owner unit (its chain scopes it like a force) and department, the asset it
watches, and a registry state (active, maintenance, retired). Kinds carry their unit and physical
range: a reading outside it is a fault of the device, never an alarm. Readings are stored once per
device and time in daily partitions (``observation``) and rolled up per minute and hour; the newest
one of each device lives in ``sensor_status`` with what the device looks like now (normal, alarm,
fault, offline). Rules are rows (threshold with a hysteresis band and an optional duration, rate of
change, silence, k of n in an H3 neighbourhood), per kind with per-device overrides. An alarm is
raised, acknowledged, cleared (by the readings, past the band) and closed (by a person, or when its
sensor is retired or moved); one alarm per rule and sensor or area is open at a time.
"""

# ruff: noqa: E501  (the seed rows read best one per line)

from collections.abc import Sequence

from alembic import op

revision: str = "0037"
down_revision: str | None = "0036"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (code, 中文, English, unit shown, SenML unit accepted, physical min, max, case category, readings a minute allowed)
KINDS = [
    ("water_level", "水位", "Water level", "m", "m", -5, 60, "020404", 12),
    ("rain_gauge", "雨量", "Rainfall", "mm/h", "mm/h", 0, 300, "020404", 12),
    ("manhole_tilt", "井盖倾角", "Manhole cover tilt", "°", "deg", 0, 90, "010103", 12),
    ("manhole_open", "井盖开启", "Manhole cover open", "", None, 0, 1, "010102", 12),
    ("gas", "燃气浓度", "Gas concentration", "%LEL", "%", 0, 100, "020403", 60),
    ("smoke", "烟感", "Smoke", "%/m", "%", 0, 100, "020406", 60),
    ("strain", "结构应变", "Structural strain", "με", None, -5000, 5000, "010501", 12),
    ("noise", "噪声", "Noise", "dB(A)", "dB", 20, 140, "020601", 12),
    ("pm25", "PM2.5", "PM2.5", "µg/m³", "ug/m3", 0, 2000, "020302", 12),
    ("traffic_flow", "车流量", "Traffic flow", "辆/时", None, 0, 20000, None, 12),
    ("streetlight_power", "路灯功率", "Street-light power", "W", "W", 0, 2000, "010105", 12),
]
# (kind, rule, 中文, English, severity, raise_at, clear_at, for_seconds, silent_minutes, k, ring):
# a threshold raises at or beyond raise_at and clears back past clear_at (raise_at < clear_at: a falling
# alarm); a rate is per minute; silence after silent_minutes; area: k of the kind's devices within ring
RULES = [
    ("water_level", "threshold", "水位超警戒", "Water above the warning level", "III", 8.5, 8.2, 0, None, None, None),
    ("water_level", "rate", "水位陡涨", "Water rising fast", "III", 0.05, 0.01, 0, None, None, None),
    ("water_level", "area", "片区水位普遍超警", "Water high across an area", "II", None, None, 0, None, 3, 2),
    ("water_level", "silence", "水位计离线", "Water gauge offline", "IV", None, None, 0, 30, None, None),
    ("rain_gauge", "threshold", "短时强降雨", "Intense rainfall", "III", 50, 30, 0, None, None, None),
    ("rain_gauge", "silence", "雨量计离线", "Rain gauge offline", "IV", None, None, 0, 30, None, None),
    ("manhole_tilt", "threshold", "井盖移位", "Manhole cover displaced", "III", 15, 5, 0, None, None, None),
    ("manhole_tilt", "area", "片区井盖冒溢", "Manhole covers lifting across an area", "II", None, None, 0, None, 3, 1),
    ("manhole_tilt", "silence", "井盖监测离线", "Manhole monitor offline", "IV", None, None, 0, 120, None, None),
    ("manhole_open", "threshold", "井盖开启", "Manhole cover open", "III", 1, 0, 0, None, None, None),
    ("gas", "threshold", "燃气浓度超限", "Gas above the alarm level", "II", 20, 10, 0, None, None, None),
    ("gas", "silence", "燃气监测离线", "Gas monitor offline", "IV", None, None, 0, 15, None, None),
    ("smoke", "threshold", "烟雾报警", "Smoke alarm", "II", 10, 4, 0, None, None, None),
    ("strain", "threshold", "结构应变超限", "Strain beyond the design limit", "II", 1500, 1200, 60, None, None, None),
    ("noise", "threshold", "持续噪声超标", "Noise above the limit for 10 minutes", "IV", 70, 65, 600, None, None, None),
    ("pm25", "threshold", "颗粒物持续超标", "PM2.5 high for 30 minutes", "IV", 150, 115, 1800, None, None, None),
    ("streetlight_power", "threshold", "路灯断电", "Street light without power", "IV", 2, 6, 300, None, None, None),
]


def _rows(table: str, columns: str, rows: Sequence[tuple[object, ...]]) -> str:
    def literal(value: object) -> str:
        return "NULL" if value is None else "'" + str(value).replace("'", "''") + "'"

    values = ",\n    ".join("(" + ", ".join(literal(v) for v in row) + ")" for row in rows)
    return f"INSERT INTO {table} ({columns}) VALUES\n    {values};"


def upgrade() -> None:
    op.execute("""
    CREATE TABLE sensor_kind (
        code text PRIMARY KEY CHECK (code ~ '^[a-z][a-z0-9_]{0,31}$'),
        name text NOT NULL,
        name_en text NOT NULL,
        unit text NOT NULL,
        senml_unit text,
        physical_min float8 NOT NULL,
        physical_max float8 NOT NULL CHECK (physical_min < physical_max),
        category_code varchar(16),  -- a category of the loaded taxonomy (loaded after the schema: no foreign key)
        per_minute integer NOT NULL CHECK (per_minute > 0)
    );
    CREATE TYPE sensor_state AS ENUM ('active', 'maintenance', 'retired');
    CREATE TYPE sensor_condition AS ENUM ('unknown', 'normal', 'alarm', 'fault', 'offline');
    CREATE TABLE sensor (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        code text NOT NULL UNIQUE CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
        kind text NOT NULL REFERENCES sensor_kind (code),
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
        geom geometry(Point, 4326) NOT NULL,
        cell bigint NOT NULL,
        unit_id bigint NOT NULL REFERENCES unit (id),
        units bigint[] NOT NULL,
        department text,
        asset text,
        state sensor_state NOT NULL DEFAULT 'active',
        installed_at timestamptz NOT NULL DEFAULT now(),
        synthetic boolean NOT NULL DEFAULT false,
        version integer NOT NULL DEFAULT 1
    );
    CREATE INDEX ix_sensor_geom ON sensor USING gist (geom);
    CREATE INDEX ix_sensor_units ON sensor USING gin (units);
    CREATE INDEX ix_sensor_kind_cell ON sensor (kind, cell) WHERE state = 'active';
    CREATE TABLE sensor_status (
        sensor_id bigint PRIMARY KEY REFERENCES sensor (id) ON DELETE CASCADE,
        observed_at timestamptz,
        value float8,
        previous_at timestamptz,
        previous_value float8,
        condition sensor_condition NOT NULL DEFAULT 'unknown',
        fault_at timestamptz,
        fault_value float8,
        readings bigint NOT NULL DEFAULT 0
    ) WITH (fillfactor = 70);
    CREATE TABLE observation (
        sensor_id bigint NOT NULL,
        observed_at timestamptz NOT NULL,
        value float8 NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (sensor_id, observed_at)
    ) PARTITION BY RANGE (observed_at);
    CREATE INDEX ix_observation_received ON observation USING brin (received_at);
    CREATE TABLE observation_minute (
        sensor_id bigint NOT NULL REFERENCES sensor (id) ON DELETE CASCADE,
        minute timestamptz NOT NULL,
        n integer NOT NULL,
        low float8 NOT NULL,
        high float8 NOT NULL,
        total float8 NOT NULL,
        PRIMARY KEY (sensor_id, minute)
    );
    CREATE TABLE observation_hour (LIKE observation_minute INCLUDING ALL);
    ALTER TABLE observation_hour RENAME COLUMN minute TO hour;
    ALTER TABLE observation_hour ADD FOREIGN KEY (sensor_id) REFERENCES sensor (id) ON DELETE CASCADE;
    CREATE TABLE sensing_rollup (
        name text PRIMARY KEY,
        done_until timestamptz NOT NULL
    );
    INSERT INTO sensing_rollup VALUES ('minute', now()), ('hour', now());
    CREATE TYPE sensor_rule_type AS ENUM ('threshold', 'rate', 'silence', 'area');
    CREATE TABLE sensor_rule (
        id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        kind text NOT NULL REFERENCES sensor_kind (code),
        sensor_id bigint REFERENCES sensor (id) ON DELETE CASCADE,
        rule sensor_rule_type NOT NULL,
        name text NOT NULL,
        name_en text NOT NULL,
        severity severity NOT NULL,
        raise_at float8,
        clear_at float8,
        for_seconds integer NOT NULL DEFAULT 0 CHECK (for_seconds >= 0),
        silent_minutes integer CHECK (silent_minutes > 0),
        k integer CHECK (k > 0),
        ring integer CHECK (ring BETWEEN 0 AND 5),
        enabled boolean NOT NULL DEFAULT true,
        CHECK (CASE rule
            WHEN 'threshold' THEN raise_at IS NOT NULL AND clear_at IS NOT NULL AND raise_at <> clear_at
            WHEN 'rate' THEN raise_at > 0 AND clear_at IS NOT NULL AND clear_at < raise_at
            WHEN 'silence' THEN silent_minutes IS NOT NULL
            WHEN 'area' THEN k IS NOT NULL AND ring IS NOT NULL AND sensor_id IS NULL END)
    );
    -- a device's override replaces its kind's rule of the same type
    CREATE UNIQUE INDEX ux_sensor_rule ON sensor_rule (kind, rule, coalesce(sensor_id, 0));
    CREATE TABLE sensor_rule_pending (
        rule_id integer NOT NULL REFERENCES sensor_rule (id) ON DELETE CASCADE,
        sensor_id bigint NOT NULL REFERENCES sensor (id) ON DELETE CASCADE,
        since timestamptz NOT NULL,
        PRIMARY KEY (rule_id, sensor_id)
    );
    CREATE TYPE alarm_state AS ENUM ('raised', 'acknowledged', 'cleared', 'closed');
    CREATE TABLE sensor_alarm (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        rule_id integer NOT NULL REFERENCES sensor_rule (id),
        sensor_id bigint REFERENCES sensor (id),
        area_cell bigint,
        kind text NOT NULL REFERENCES sensor_kind (code),
        geom geometry(Point, 4326) NOT NULL,
        units bigint[] NOT NULL,
        state alarm_state NOT NULL DEFAULT 'raised',
        value float8,
        peak float8,
        raised_at timestamptz NOT NULL,
        acknowledged_at timestamptz,
        acknowledged_by text,
        cleared_at timestamptz,
        closed_at timestamptz,
        closed_by text,
        close_reason text,
        flaps integer NOT NULL DEFAULT 0,
        case_id bigint REFERENCES case_file (id),
        files_case boolean NOT NULL DEFAULT false,
        charted boolean NOT NULL DEFAULT false,
        proposed_incident boolean NOT NULL DEFAULT false,
        version integer NOT NULL DEFAULT 1,
        CHECK ((sensor_id IS NULL) <> (area_cell IS NULL)),
        CHECK ((state = 'closed') = (closed_at IS NOT NULL))
    );
    CREATE UNIQUE INDEX ux_sensor_alarm_open ON sensor_alarm (rule_id, sensor_id) WHERE state <> 'closed' AND sensor_id IS NOT NULL;
    CREATE UNIQUE INDEX ux_sensor_alarm_open_area ON sensor_alarm (rule_id, area_cell) WHERE state <> 'closed' AND area_cell IS NOT NULL;
    CREATE INDEX ix_sensor_alarm_units ON sensor_alarm USING gin (units) WHERE state <> 'closed';
    CREATE INDEX ix_sensor_alarm_sensor ON sensor_alarm (sensor_id) WHERE state <> 'closed';
    CREATE INDEX ix_sensor_rule_device ON sensor_rule (sensor_id) WHERE sensor_id IS NOT NULL;
    CREATE INDEX ix_sensor_alarm_raised ON sensor_alarm (raised_at);
    CREATE INDEX ix_sensor_alarm_waiting ON sensor_alarm (id) WHERE files_case AND case_id IS NULL AND state = 'raised';
    CREATE INDEX ix_sensor_alarm_uncharted ON sensor_alarm (id) WHERE case_id IS NOT NULL AND NOT charted;
    CREATE TABLE sensing_refusal (
        day date NOT NULL,
        channel text NOT NULL,
        reason text NOT NULL,
        count bigint NOT NULL,
        PRIMARY KEY (day, channel, reason)
    );
    CREATE TABLE sensing_dead_letter (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        received_at timestamptz NOT NULL DEFAULT now(),
        channel text NOT NULL,
        topic text,
        reason text NOT NULL,
        detail text NOT NULL,
        payload text NOT NULL
    );
    CREATE INDEX ix_sensing_dead_letter_received ON sensing_dead_letter (received_at);
    """)
    op.execute(
        _rows(
            "sensor_kind",
            "code, name, name_en, unit, senml_unit, physical_min, physical_max, category_code, per_minute",
            KINDS,
        )
    )
    op.execute(
        _rows(
            "sensor_rule",
            "kind, rule, name, name_en, severity, raise_at, clear_at, for_seconds, silent_minutes, k, ring",
            RULES,
        )
    )
    op.execute("""
    ALTER TABLE sensor ENABLE ROW LEVEL SECURITY;
    CREATE POLICY sensor_in_scope ON sensor TO cityops_api
        USING (units @> ARRAY[cityops_scope_unit()]
               AND (cityops_scope_department() IS NULL OR department = cityops_scope_department()));
    ALTER TABLE sensor_alarm ENABLE ROW LEVEL SECURITY;
    CREATE POLICY sensor_alarm_in_scope ON sensor_alarm TO cityops_api
        USING (units @> ARRAY[cityops_scope_unit()] AND cityops_scope_department() IS NULL);
    GRANT SELECT ON sensor_kind, sensor_rule, sensor_status, observation, observation_minute,
        observation_hour TO cityops_api;
    GRANT SELECT, INSERT, UPDATE ON sensor, sensor_alarm, sensing_refusal TO cityops_api;
    GRANT INSERT ON sensing_dead_letter TO cityops_api;
    INSERT INTO role (name, description, permissions) VALUES ('sensor_gateway', '物联感知网关：上报传感器读数 (a sensor gateway: posts readings)', '{observations:write}');
    UPDATE role SET permissions = permissions || '{sensors:read}'::text[]
        WHERE name IN ('street', 'district', 'city_commander', 'wall', 'planner', 'dispatcher', 'community');
    UPDATE role SET permissions = permissions || '{alarms:handle}'::text[]
        WHERE name IN ('street', 'district', 'city_commander', 'dispatcher');
    UPDATE role SET permissions = permissions || '{sensors:manage}'::text[] WHERE name IN ('district', 'city_commander');
    """)


def downgrade() -> None:
    op.execute("""
    UPDATE role SET permissions = ARRAY(SELECT p FROM unnest(permissions) p
        WHERE p NOT IN ('sensors:read', 'alarms:handle', 'sensors:manage', 'observations:write'));
    DELETE FROM role WHERE name = 'sensor_gateway';
    DROP TABLE sensing_dead_letter, sensing_refusal, sensor_alarm, sensor_rule_pending, sensor_rule,
        sensing_rollup, observation_hour, observation_minute, observation, sensor_status, sensor, sensor_kind;
    DROP TYPE alarm_state, sensor_rule_type, sensor_condition, sensor_state;
    """)
