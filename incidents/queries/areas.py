"""SQL of incident areas: building one from what was given, clipping it to the city, the units it touches."""

# the given shape (drawn WKB, a buffer round a point, or the union of units), clipped to the city;
# the share outside says whether anything was clipped; a shape wholly outside the city is NULL
SHAPE = """
WITH given AS (
    SELECT CASE %(derived)s
        WHEN 'drawn' THEN ST_SetSRID(ST_GeomFromWKB(%(wkb)s), 4326)
        WHEN 'buffer' THEN
            ST_Buffer(ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)::geography, %(radius_m)s, 32)::geometry
        ELSE (SELECT ST_Union(u.geom) FROM unit u WHERE u.code = ANY(%(units)s))
    END AS geom
), city AS (SELECT geom FROM unit WHERE tier = 'city' ORDER BY id LIMIT 1)
SELECT ST_AsBinary(ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_Intersection(g.geom, c.geom)), 3))),
       ST_Area(g.geom::geography), ST_Area(ST_Intersection(g.geom, c.geom)::geography)
FROM given g, city c
"""
UNKNOWN_UNITS = """
SELECT given.code FROM unnest(%s::text[]) AS given(code)
WHERE NOT EXISTS (SELECT 1 FROM unit u WHERE u.code = given.code)
"""
RETIRE_KIND = """
UPDATE incident_area SET retired_at = now()
WHERE incident_id = %s AND kind = %s AND retired_at IS NULL RETURNING id
"""
RETIRE_ONE = """
UPDATE incident_area SET retired_at = now()
WHERE incident_id = %s AND id = %s AND retired_at IS NULL RETURNING kind, label
"""
INSERT = """
INSERT INTO incident_area (incident_id, kind, label, geom, derived, area_m2, created_by)
VALUES (%s, %s, %s, ST_GeomFromWKB(%s, 4326), %s, %s, %s) RETURNING id, created_at
"""
# who sees the incident: the commanding unit's chain, and every unit its current areas touch with theirs
REFRESH_UNITS = """
UPDATE incident i SET units = ARRAY(
    SELECT DISTINCT x FROM (
        SELECT unnest(c.ancestors || c.id) FROM unit c WHERE c.id = i.commanding_unit_id
        UNION ALL
        SELECT unnest(u.ancestors || u.id)
        FROM incident_area a JOIN unit u ON u.tier IN ('district', 'street', 'community')
             AND ST_Intersects(u.geom, a.geom)
        WHERE a.incident_id = i.id AND a.retired_at IS NULL
    ) t(x) ORDER BY x)
WHERE i.id = %s
"""
CURRENT = """
SELECT a.id, a.kind, a.label, a.derived, a.area_m2, a.created_by, a.created_at, ST_AsGeoJSON(a.geom, 7)
FROM incident_area a WHERE a.incident_id = %s AND a.retired_at IS NULL ORDER BY a.id
"""
