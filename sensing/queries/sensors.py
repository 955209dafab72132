"""The statements of the sensing API (``api/routes/sensors.py``): sensors on the map, one sensor, its chart."""

CONDITIONS = ("unknown", "normal", "alarm", "fault", "offline")

KINDS = "SELECT code, name, name_en FROM sensor_kind ORDER BY code"

# GeoJSON built by the database: 20,000 points are one string, not 20,000 Python dicts
SENSORS = """
SELECT json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(json_build_object(
    'type', 'Feature', 'id', s.code,
    'geometry', json_build_object('type', 'Point', 'coordinates', json_build_array(
        round(ST_X(s.geom)::numeric, 6), round(ST_Y(s.geom)::numeric, 6))),
    'properties', json_build_object(
        'code', s.code, 'kind', s.kind, 'name', s.name, 'state', s.state, 'condition',
        CASE WHEN s.state <> 'active' THEN s.state::text ELSE st.condition::text END,
        'value', st.value, 'unit', k.unit, 'observed_at', st.observed_at, 'asset', s.asset)
)), '[]'::json))
FROM (
    SELECT * FROM sensor s
    WHERE (%(bbox)s::float8[] IS NULL OR s.geom && ST_MakeEnvelope(
        (%(bbox)s::float8[])[1], (%(bbox)s::float8[])[2], (%(bbox)s::float8[])[3], (%(bbox)s::float8[])[4], 4326))
      AND (%(kinds)s::text[] IS NULL OR s.kind = ANY(%(kinds)s::text[]))
      AND s.state <> 'retired'
) s
JOIN sensor_status st ON st.sensor_id = s.id
JOIN sensor_kind k ON k.code = s.kind
WHERE %(conditions)s::text[] IS NULL OR st.condition::text = ANY(%(conditions)s::text[])
LIMIT %(limit)s
"""

ONE = """
SELECT s.id, s.code, s.kind, k.name AS kind_name, k.name_en AS kind_name_en, k.unit, s.name, s.state::text AS state,
       ST_X(s.geom) AS lon, ST_Y(s.geom) AS lat, u.code AS unit_code, u.name AS unit_name, s.department, s.asset,
       st.condition::text AS condition, st.observed_at, st.value, st.previous_at, st.previous_value, st.fault_at,
       st.fault_value, st.readings, s.version,
       (SELECT count(*) FROM sensor_alarm a WHERE a.sensor_id = s.id AND a.state <> 'closed') AS open_alarms
FROM sensor s
JOIN sensor_kind k ON k.code = s.kind
JOIN sensor_status st ON st.sensor_id = s.id
JOIN unit u ON u.id = s.unit_id
WHERE s.code = %s
"""

# a bucket's average, low, high and count; the buckets are as long as the period over the points wanted
READINGS = """
SELECT date_bin(%(bucket)s, observed_at, %(since)s) AS t, avg(value) AS v, min(value) AS low, max(value) AS high,
       count(*) AS n
FROM observation
WHERE sensor_id = %(id)s AND observed_at >= %(since)s
GROUP BY 1 ORDER BY 1
"""

REFUSALS = """
SELECT day, channel, reason, count FROM sensing_refusal
WHERE day > (now() AT TIME ZONE 'Asia/Shanghai')::date - %s
ORDER BY day DESC, count DESC
"""
