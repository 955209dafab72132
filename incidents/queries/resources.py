"""SQL of resource requests (EDXL-RM): asking a unit, its answers, forces committed and released, the summary."""

INCIDENT = "SELECT code, state, units FROM incident WHERE id = %s"
RESOURCE_TYPE = "SELECT code, capability, measure FROM resource_type WHERE code = %s"
RESOURCE_TYPES = "SELECT code FROM resource_type ORDER BY code"
TYPES_NAMED = "SELECT code, name, name_en, measure FROM resource_type ORDER BY code"
UNIT = "SELECT id, ancestors || id, name FROM unit WHERE code = %s"
REQUEST = """
INSERT INTO resource_request (incident_id, resource_type, quantity, to_unit_id, to_units, needed_by, needed_at, note,
                              requested_by)
VALUES (%(incident)s, %(type)s, %(quantity)s, %(unit)s, %(units)s, %(needed_by)s,
        ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326), %(note)s, %(actor)s)
RETURNING id
"""
MESSAGE = """
INSERT INTO resource_message (request_id, message_type, quantity, actor, unit_id, note) VALUES (%s, %s, %s, %s, %s, %s)
"""
LOCK = """
SELECT r.version, r.state, r.incident_id, r.to_units, r.quantity, r.offered, t.capability, r.to_unit_id, r.force_ids
FROM resource_request r JOIN resource_type t ON t.code = r.resource_type WHERE r.id = %s FOR UPDATE OF r
"""
MOVE = """
UPDATE resource_request SET state = %(state)s, version = version + 1,
    offered = CASE WHEN %(offered)s::int IS NULL THEN offered ELSE %(offered)s END,
    committed = CASE WHEN %(committed)s::int IS NULL THEN committed ELSE %(committed)s END,
    force_ids = CASE WHEN %(force_ids)s::bigint[] IS NULL THEN force_ids ELSE %(force_ids)s END
WHERE id = %(id)s RETURNING version
"""
# the incident that commands the caller's view of the request: it sees the incident (requester) or not (owner)
INCIDENT_VISIBLE = "SELECT units FROM incident WHERE id = %s"
# forces the owner may send: its own (its unit or below), with the capability the resource type asks for
OWN_FORCES = """
SELECT f.id, f.units @> ARRAY[%(unit)s::bigint] AND f.capabilities @> ARRAY[%(capability)s::text]
FROM force f WHERE f.id = ANY(%(ids)s)
"""
# a force is held by one incident at a time (ux_incident_force_held); the holder the caller can name
HELD = """
SELECT f.force_id, coalesce(i.code, 'incident ' || f.incident_id) FROM incident_force f
LEFT JOIN incident i ON i.id = f.incident_id
WHERE f.force_id = ANY(%s) AND f.released_at IS NULL ORDER BY f.force_id
"""
HOLD = "INSERT INTO incident_force (incident_id, force_id, committed_by) SELECT %s, f, %s FROM unnest(%s::bigint[]) f"
RELEASE = """
UPDATE incident_force SET released_at = now()
WHERE incident_id = %s AND force_id = ANY(%s) AND released_at IS NULL RETURNING force_id
"""
_VIEW = """
SELECT r.id, r.incident_id, r.resource_type, t.name, t.name_en, t.measure, t.capability, r.quantity, r.offered,
       r.committed, u.code, u.name, r.needed_by, ST_X(r.needed_at), ST_Y(r.needed_at), r.state, r.note, r.force_ids,
       r.requested_by, r.requested_at, r.version,
       (SELECT coalesce(json_agg(json_build_object('type', m.message_type, 'quantity', m.quantity, 'actor', m.actor,
                                                   'at', m.at, 'note', m.note) ORDER BY m.id), '[]')
        FROM resource_message m WHERE m.request_id = r.id)
FROM resource_request r JOIN resource_type t ON t.code = r.resource_type JOIN unit u ON u.id = r.to_unit_id
"""
ONE = _VIEW + "WHERE r.id = %s"
OF_INCIDENT = _VIEW + "WHERE r.incident_id = %s ORDER BY r.id"
# the caller's inbox (asked of their unit or below) and outbox (asked by incidents they see), newest first
LISTED = (
    _VIEW
    + """
WHERE (%(state)s::text IS NULL OR r.state = %(state)s) AND r.id < %(before)s
  AND (NOT %(asked)s OR r.to_units @> ARRAY[%(unit)s::bigint])
ORDER BY r.id DESC LIMIT %(limit)s
"""
)
# per type: asked, offered and committed while those answers stand, and where the committed stand now
SUMMARY = """
SELECT r.resource_type, t.name, t.name_en, t.measure,
       sum(r.quantity) FILTER (WHERE r.state NOT IN ('declined', 'cancelled')),
       coalesce(sum(r.offered) FILTER (WHERE r.state IN ('offered', 'accepted')), 0),
       coalesce(sum(r.committed) FILTER (WHERE r.state = 'committed'), 0),
       coalesce(sum(r.committed) FILTER (WHERE r.state = 'deployed'), 0),
       coalesce(sum(r.committed) FILTER (WHERE r.state IN ('released', 'returned')), 0),
       count(*) FILTER (WHERE r.state = 'declined')
FROM resource_request r JOIN resource_type t ON t.code = r.resource_type
WHERE r.incident_id = %s GROUP BY 1, 2, 3, 4 ORDER BY 1
"""
# the whole area the nearest forces are sought for: the current perimeter, else every current area, else the
# post; its centre (where the ranking starts) and the commanding unit (whose forces come first)
AREA = """
WITH i AS (SELECT id, command_post, commanding_unit_id FROM incident WHERE id = %s),
a AS (
    SELECT coalesce(
        (SELECT ST_Union(geom) FROM incident_area
         WHERE incident_id = i.id AND retired_at IS NULL AND kind = 'perimeter'),
        (SELECT ST_Union(geom) FROM incident_area WHERE incident_id = i.id AND retired_at IS NULL),
        i.command_post) AS geom, i.commanding_unit_id
    FROM i
)
SELECT geom, ST_Centroid(geom), commanding_unit_id FROM a
"""
# each chosen force's geodesic distance to the area's edge (0 inside), from the position on its card
EDGE = """
SELECT f.id, ST_Distance(ST_SetSRID(ST_MakePoint(f.lon, f.lat), 4326)::geography, %s::geometry::geography)
FROM unnest(%s::bigint[], %s::float8[], %s::float8[]) AS f(id, lon, lat) WHERE f.lon IS NOT NULL
"""
