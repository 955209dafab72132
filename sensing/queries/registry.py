"""The SQL of the registry load (``sensing/registry.py``): where each point lies, and the upsert by code."""

from __future__ import annotations

from sqlalchemy import text

ROWS = """json_to_recordset(CAST(:rows AS json)) AS x(number int, code text, kind text, name text, lon float8,
     lat float8, cell bigint, unit text, department text, asset text, state text)"""

# the grid each point lies in (the owner when the row names none); a point in no grid is outside the city
PLACED = f"""
SELECT x.*, ST_SetSRID(ST_MakePoint(x.lon, x.lat), 4326) AS geom, g.id AS grid_id
FROM {ROWS}
LEFT JOIN LATERAL (
    SELECT u.id FROM unit u
    WHERE u.tier = 'grid' AND ST_Covers(u.geom, ST_SetSRID(ST_MakePoint(x.lon, x.lat), 4326))
    ORDER BY u.id LIMIT 1
) g ON true
"""

OUTSIDE = text(f"SELECT number, code FROM ({PLACED}) p WHERE grid_id IS NULL ORDER BY number")

UPSERT = text(f"""
INSERT INTO sensor (code, kind, name, geom, cell, unit_id, units, department, asset, state, synthetic)
SELECT p.code, p.kind, p.name, p.geom, p.cell, o.id, o.ancestors || o.id, p.department, p.asset,
       p.state::sensor_state, :synthetic
FROM ({PLACED}) p
JOIN unit o ON o.id = coalesce((SELECT u.id FROM unit u WHERE u.code = p.unit), p.grid_id)
ON CONFLICT (code) DO UPDATE
SET kind = excluded.kind, name = excluded.name, geom = excluded.geom, cell = excluded.cell, unit_id = excluded.unit_id,
    units = excluded.units, department = excluded.department, asset = excluded.asset, state = excluded.state,
    version = sensor.version + 1
WHERE (sensor.kind, sensor.name, sensor.geom, sensor.unit_id, sensor.department, sensor.asset, sensor.state)
      IS DISTINCT FROM (excluded.kind, excluded.name, excluded.geom, excluded.unit_id, excluded.department,
                        excluded.asset, excluded.state)
RETURNING (xmax = 0) AS inserted
""")

KINDS = text("""
SELECT code, name, name_en, unit, physical_min, physical_max, category_code FROM sensor_kind ORDER BY code
""")
RULES = text("""
SELECT r.kind, r.rule::text, r.name, r.severity::text, r.raise_at, r.clear_at, r.for_seconds, r.silent_minutes, r.k,
       r.ring, s.code
FROM sensor_rule r LEFT JOIN sensor s ON s.id = r.sensor_id
WHERE r.enabled ORDER BY r.kind, r.rule, s.code NULLS FIRST
""")
