"""SQL of an incident's impact: what lies inside its current areas, in one round trip.

The areas are joined and cut into small pieces (``ST_Subdivide``) first: each piece's box is tight,
so the index finds few candidates and each exact test is against a few vertices, not the whole
outline — the difference between a plain ``ST_Intersects`` against a 50 km² polygon and this.
"""

IMPACT = """
WITH area AS (
    SELECT ST_Union(geom) AS geom, sum(area_m2) AS m2
    FROM incident_area WHERE incident_id = %(id)s AND retired_at IS NULL
), piece AS (SELECT ST_Subdivide(geom, 64) AS geom FROM area),
touched AS (
    SELECT DISTINCT u.id, u.tier, u.code, u.name
    FROM unit u JOIN piece p ON u.geom && p.geom AND ST_Intersects(u.geom, p.geom)
    WHERE u.tier IN ('district', 'street', 'community', 'grid', 'building')
),
cases AS (
    SELECT DISTINCT e.id, e.category_code
    FROM case_file e JOIN piece p ON e.geom && p.geom AND ST_Intersects(e.geom, p.geom)
    WHERE e.merged_into IS NULL AND e.state NOT IN ('closed', 'void')
),
forces AS (
    SELECT DISTINCT f.force_id, f.status
    FROM force_position f JOIN piece p ON f.geom && p.geom AND ST_Intersects(f.geom, p.geom)
)
SELECT
    (SELECT m2 FROM area),
    (SELECT coalesce(json_agg(json_build_object('tier', tier, 'code', code, 'name', name) ORDER BY tier, code), '[]')
     FROM touched WHERE tier IN ('district', 'street', 'community')),
    (SELECT count(*) FROM touched WHERE tier = 'grid'),
    (SELECT count(*) FROM touched WHERE tier = 'building'),
    (SELECT count(*) FROM cases),
    (SELECT coalesce(json_object_agg(category_code, n), '{}')
     FROM (SELECT category_code, count(*) AS n FROM cases GROUP BY 1 ORDER BY 2 DESC LIMIT 10) c),
    (SELECT count(*) FROM cases c
     JOIN incident_case k ON k.case_id = c.id AND k.incident_id = %(id)s AND k.state = 'linked'),
    (SELECT coalesce(json_object_agg(status, n), '{}')
     FROM (SELECT status::text, count(*) AS n FROM forces GROUP BY 1) f)
"""
# the baseline the benchmark compares against: the same counts, each a plain ST_Intersects with the union
UNION_OF_AREAS = "SELECT ST_Union(geom) AS geom FROM incident_area WHERE incident_id = %(id)s AND retired_at IS NULL"
PLAIN = {
    "units": "SELECT count(*) FROM unit u, ({area}) a "
    "WHERE u.tier IN ('district', 'street', 'community', 'grid') AND ST_Intersects(u.geom, a.geom)",
    "buildings": "SELECT count(*) FROM unit u, ({area}) a WHERE u.tier = 'building' AND ST_Intersects(u.geom, a.geom)",
    "cases": "SELECT count(*) FROM case_file e, ({area}) a "
    "WHERE e.merged_into IS NULL AND e.state NOT IN ('closed', 'void') AND ST_Intersects(e.geom, a.geom)",
    "forces": "SELECT count(*) FROM force_position f, ({area}) a WHERE ST_Intersects(f.geom, a.geom)",
}
