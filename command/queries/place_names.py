"""The SQL of place names (``command/place_names.py``)."""

NAMES = """
WITH c AS (
    SELECT cell, ST_SetSRID(ST_Point(lon, lat), 4326) AS centre, reach
    FROM unnest(%s::text[], %s::float8[], %s::float8[], %s::float8[]) AS c(cell, lon, lat, reach)
),
hit AS (
    SELECT c.cell, u.ancestors || u.id AS chain
    FROM c CROSS JOIN LATERAL (
        SELECT p.unit_id FROM unit_piece p WHERE ST_DWithin(p.geom, c.centre, c.reach)
        ORDER BY p.geom <-> c.centre, p.unit_id LIMIT 1
    ) nearest JOIN unit u ON u.id = nearest.unit_id
)
SELECT hit.cell, a.tier::text, a.name FROM hit JOIN unit a ON a.id = ANY(hit.chain)
WHERE a.tier IN ('district', 'street', 'community')
"""
