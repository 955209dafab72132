"""The statements of ``incidents.warnings``: a received CAP alert kept and placed, replaced or cancelled, drawn."""

RETURNED = """id, identifier, sender, sent, msg_type, event, headline, severity, colour, expires,
    (SELECT coalesce(json_agg(json_build_object('code', u.code, 'name', u.name, 'tier', u.tier) ORDER BY u.code), '[]')
     FROM unit u WHERE u.id = ANY(affected) AND u.tier <= 'street') AS affected"""

SAME = f"SELECT {RETURNED} FROM inbound_warning WHERE sender = %s AND identifier = %s"

# the area: the infos' polygons and circles (a circle on the sphere), else the units its geocodes name; the affected
# units: the districts, streets and communities it touches and those its geocodes name; who may read it: those units
# and their chains
INSERT = f"""
WITH area AS (
    SELECT ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_Union(g)), 3)) AS geom FROM (
        SELECT ST_GeomFromWKB(w, 4326) AS g FROM unnest(%(polygons)s::bytea[]) AS w
        UNION ALL
        SELECT ST_Buffer(ST_SetSRID(ST_MakePoint(c.lon, c.lat), 4326)::geography, c.r)::geometry
        FROM unnest(%(clon)s::float8[], %(clat)s::float8[], %(cradius)s::float8[]) AS c(lon, lat, r)
    ) shapes
), touched AS (
    SELECT u.id, u.ancestors FROM unit u, area
    WHERE u.tier IN ('district', 'street', 'community') AND area.geom IS NOT NULL AND ST_Intersects(u.geom, area.geom)
    UNION
    SELECT u.id, u.ancestors FROM unit u WHERE u.code = ANY(%(geocodes)s::text[])
), kept AS (
    INSERT INTO inbound_warning (identifier, sender, sent, msg_type, status, event, headline, description, severity,
                                 urgency, certainty, colour, expires, geom, geocodes, affected, units, cancelled_at,
                                 xml, received_by)
    SELECT %(identifier)s, %(sender)s, %(sent)s, %(msg_type)s, %(status)s, %(event)s, %(headline)s, %(description)s,
           %(severity)s, %(urgency)s, %(certainty)s, %(colour)s, %(expires)s,
           coalesce(area.geom,
                    (SELECT ST_Multi(ST_Union(u.geom)) FROM unit u WHERE u.code = ANY(%(geocodes)s::text[]))),
           %(geocodes)s,
           coalesce((SELECT array_agg(id) FROM touched), '{{}}'),
           coalesce((SELECT array_agg(DISTINCT x) FROM touched, unnest(ancestors || id) AS x), '{{}}'),
           CASE WHEN %(cancelled)s THEN now() END, %(xml)s, %(actor)s
    FROM area
    RETURNING *
)
SELECT {RETURNED} FROM kept
"""

REPLACE = """
UPDATE inbound_warning SET replaced_by = %(id)s
WHERE (sender, identifier) IN (SELECT * FROM unnest(%(senders)s::text[], %(identifiers)s::text[])) AND id <> %(id)s
"""
CANCEL = """
UPDATE inbound_warning SET cancelled_at = now()
WHERE (sender, identifier) IN (SELECT * FROM unnest(%(senders)s::text[], %(identifiers)s::text[]))
  AND cancelled_at IS NULL
"""

IN_FORCE = """w.cancelled_at IS NULL AND w.replaced_by IS NULL AND w.msg_type <> 'Cancel'
  AND (w.expires IS NULL OR w.expires > now())"""

NOTICES = f"""
SELECT w.id, w.event, w.headline, w.colour, w.sender, w.sent, w.expires FROM inbound_warning w
WHERE {IN_FORCE}
ORDER BY w.sent DESC LIMIT 20
"""

LIVE = f"""
SELECT json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(json_build_object(
    'type', 'Feature', 'id', w.id::text,
    'geometry', ST_AsGeoJSON(ST_SimplifyPreserveTopology(w.geom, 0.0005), 6)::json,
    'properties', json_build_object('event', w.event, 'headline', w.headline, 'colour', w.colour,
        'severity', w.severity, 'sender', w.sender, 'sent', w.sent, 'expires', w.expires)
) ORDER BY w.sent DESC), '[]'::json))
FROM inbound_warning w
WHERE {IN_FORCE} AND w.geom IS NOT NULL
"""
