"""The statements of ``sensing.alarms``."""

# the city's scope for the system's own filing (row-level security: every unit's chain holds the city)
CITY_SCOPE = """
SELECT set_config('cityops.scope_unit', (SELECT id FROM unit WHERE tier = 'city' ORDER BY id LIMIT 1)::text, true),
       set_config('cityops.department', '', true)
"""

# an alarm with what its case says: the kind, the rule, the device
ALARM_FOR_CASE = """
SELECT a.id, a.case_id, a.sensor_id, a.kind, ST_X(a.geom) AS lon, ST_Y(a.geom) AS lat, a.value, a.peak, a.raised_at,
       k.name AS kind_name, k.unit, k.category_code, r.name AS rule_name, r.severity::text AS severity,
       r.raise_at, r.clear_at, s.code AS sensor_code, s.name AS sensor_name, s.asset
FROM sensor_alarm a
JOIN sensor_kind k ON k.code = a.kind
JOIN sensor_rule r ON r.id = a.rule_id
LEFT JOIN sensor s ON s.id = a.sensor_id
"""
WAITING = f"""{ALARM_FOR_CASE}
WHERE a.files_case AND a.case_id IS NULL AND a.state = 'raised'
ORDER BY a.id
LIMIT 1
FOR UPDATE OF a SKIP LOCKED
"""
# device alarms whose case has no chart yet
UNCHARTED = f"""{ALARM_FOR_CASE}
WHERE a.case_id IS NOT NULL AND NOT a.charted AND a.sensor_id IS NOT NULL
ORDER BY a.id
LIMIT %s
FOR UPDATE OF a SKIP LOCKED
"""
CHARTED = "UPDATE sensor_alarm SET charted = true WHERE id = ANY(%s)"

FILED = "UPDATE sensor_alarm SET case_id = %s WHERE id = %s"


POINTS = """
SELECT observed_at, value FROM observation
WHERE sensor_id = %s AND observed_at >= %s
ORDER BY observed_at
LIMIT 5000
"""

# the area rules of the kinds of the given devices, with the devices' cells
AREA_RULES = """
SELECT r.id, r.kind, r.k, r.ring, array_agg(DISTINCT s.cell)
FROM sensor s JOIN sensor_rule r ON r.kind = s.kind AND r.rule = 'area' AND r.enabled
WHERE s.id = ANY(%s) AND s.state = 'active'
GROUP BY r.id, r.kind, r.k, r.ring
"""

# in a neighbourhood: the devices of the kind in threshold alarm, their centre and their units
AREA_COUNTS = """
WITH alarmed AS (
    SELECT s.geom, s.units FROM sensor s
    WHERE s.kind = %s AND s.cell = ANY(%s) AND s.state = 'active' AND EXISTS (
        SELECT 1 FROM sensor_alarm a JOIN sensor_rule r ON r.id = a.rule_id
        WHERE a.sensor_id = s.id AND r.rule = 'threshold' AND a.state IN ('raised', 'acknowledged'))
)
SELECT count(*), ST_X(ST_Centroid(ST_Collect(geom))), ST_Y(ST_Centroid(ST_Collect(geom))),
       ARRAY(SELECT DISTINCT u FROM alarmed, unnest(units) AS u)
FROM alarmed
"""

AREA_RAISE = """
INSERT INTO sensor_alarm AS a
    (rule_id, area_cell, kind, geom, units, value, peak, raised_at, files_case, proposed_incident)
SELECT r.id, %(cell)s, r.kind, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326), %(units)s, %(alarmed)s, %(alarmed)s,
       now(), k.category_code IS NOT NULL, r.severity IN ('I', 'II')
FROM sensor_rule r JOIN sensor_kind k ON k.code = r.kind WHERE r.id = %(rule)s
ON CONFLICT (rule_id, area_cell) WHERE state <> 'closed' AND area_cell IS NOT NULL
DO UPDATE SET state = CASE WHEN a.state = 'cleared' THEN 'raised' ELSE a.state END,
    flaps = a.flaps + (a.state = 'cleared')::int, cleared_at = NULL, value = excluded.value,
    peak = greatest(a.peak, excluded.value), version = a.version + 1
WHERE a.state = 'cleared' OR a.value IS DISTINCT FROM excluded.value
RETURNING a.id
"""

AREA_CLEAR = """
UPDATE sensor_alarm SET state = 'cleared', cleared_at = now(), version = version + 1
WHERE rule_id = %s AND area_cell = %s AND state IN ('raised', 'acknowledged')
RETURNING id
"""

LOCKED = "SELECT id, state::text AS state, version FROM sensor_alarm WHERE id = %s FOR UPDATE"

ACKNOWLEDGE = """
UPDATE sensor_alarm
SET state = 'acknowledged', acknowledged_at = now(), acknowledged_by = %(actor)s, version = version + 1
WHERE id = %(id)s
"""

CLOSE = """
UPDATE sensor_alarm SET state = 'closed', closed_at = now(), closed_by = %(actor)s, close_reason = %(note)s,
       version = version + 1
WHERE id = %(id)s
"""

LIST = """
SELECT a.id, a.sensor_id, a.kind, k.name AS kind_name, k.name_en AS kind_name_en, k.unit, a.state::text AS state,
       r.rule::text AS rule, r.name AS rule_name, r.name_en AS rule_name_en, r.severity::text AS severity,
       a.value, a.peak, a.flaps, a.case_id, a.proposed_incident, a.version, a.close_reason,
       ST_X(a.geom) AS lon, ST_Y(a.geom) AS lat, s.code AS sensor_code, s.name AS sensor_name, s.asset,
       a.raised_at, a.acknowledged_at, a.acknowledged_by, a.cleared_at, a.closed_at, a.closed_by
FROM sensor_alarm a
JOIN sensor_kind k ON k.code = a.kind
JOIN sensor_rule r ON r.id = a.rule_id
LEFT JOIN sensor s ON s.id = a.sensor_id
WHERE (NOT %(open_only)s OR a.state <> 'closed')
  AND (%(state)s::text IS NULL OR a.state::text = %(state)s)
  AND (%(kinds)s::text[] IS NULL OR a.kind = ANY(%(kinds)s))
  AND (%(severity)s::text IS NULL OR r.severity::text = %(severity)s)
ORDER BY a.raised_at DESC, a.id DESC
LIMIT %(limit)s
"""
OPEN_COUNTS = "SELECT a.state::text, count(*) FROM sensor_alarm a WHERE a.state <> 'closed' GROUP BY a.state"
