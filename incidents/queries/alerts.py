"""SQL of CAP alerts: the area and districts they cover, their life, the public's reading of them."""

# what an alert says about its incident: class and its parent (the CAP category), the level's severity and
# colour, the commanding unit (the sender's name), the current perimeter (or every current area joined)
INCIDENT = """
SELECT i.id, i.code, i.title, i.state, i.units, i.class_code, c.parent_code, c.name, l.level, l.cap_severity,
       l.colour, u.name,
       ST_AsBinary(coalesce(
           (SELECT ST_Multi(ST_Union(geom)) FROM incident_area
            WHERE incident_id = i.id AND retired_at IS NULL AND kind = 'perimeter'),
           (SELECT ST_Multi(ST_Union(geom)) FROM incident_area WHERE incident_id = i.id AND retired_at IS NULL)))
FROM incident i JOIN incident_class c ON c.code = i.class_code JOIN incident_level l ON l.level = i.level
JOIN unit u ON u.id = i.commanding_unit_id
WHERE i.id = %s
"""
# a given polygon, kept to the city (NULL when wholly outside it)
CLIPPED = """
SELECT ST_AsBinary(ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_Intersection(ST_GeomFromWKB(%s, 4326), geom)), 3)))
FROM unit WHERE tier = 'city' ORDER BY id LIMIT 1
"""
# GB/T 2260 codes of the administrative districts the area touches (management units such as 江北新区
# carry no such code), and their names for areaDesc
DISTRICTS = """
SELECT code, name FROM unit
WHERE tier = 'district' AND kind = 'administrative' AND code ~ '^[0-9]{6}$'
  AND ST_Intersects(geom, ST_GeomFromWKB(%s, 4326))
ORDER BY code
"""
COLUMNS = """a.id, a.incident_id, a.identifier, a.msg_type, a.references_id, a.status, a.scope, a.state, a.content,
       ST_AsBinary(a.area), a.geocodes, a.expires, a.author, a.written_at, a.approved_by, a.published_at, a.version"""
COMPOSE = f"""
INSERT INTO cap_alert AS a (incident_id, identifier, msg_type, references_id, status, content, area, geocodes,
                            expires, author)
VALUES (%(incident)s, %(identifier)s, %(msg_type)s, %(references)s, %(status)s, %(content)s,
        ST_GeomFromWKB(%(area)s, 4326), %(geocodes)s, %(expires)s, %(author)s)
RETURNING {COLUMNS}
"""
READ = f"SELECT {COLUMNS} FROM cap_alert a WHERE a.id = %s"
LOCK = READ + " FOR UPDATE"
LIST = f"SELECT {COLUMNS} FROM cap_alert a WHERE a.incident_id = %s ORDER BY a.id"
APPROVE = f"""
UPDATE cap_alert a SET state = 'approved', approved_by = %s, version = version + 1 WHERE id = %s RETURNING {COLUMNS}
"""
# sent is whole seconds: CAP's dateTime has none smaller, and a reference must repeat it exactly
SENT = "SELECT date_trunc('second', now())"
PUBLISH = f"""
UPDATE cap_alert a SET state = 'published', published_at = %s, xml = %s, version = version + 1
WHERE id = %s RETURNING {COLUMNS}
"""
# the published alert a reference names: its sender is the platform's, its identifier and sent its own
REFERENCED = "SELECT identifier, published_at FROM cap_alert WHERE id = %s AND state = 'published'"
XML = "SELECT xml FROM cap_alert WHERE identifier = %s AND state = 'published'"
# active: published, an Alert or an Update, not expired, and no published Update or Cancel refers to it
ACTIVE = """
SELECT a.identifier, a.msg_type, a.content, a.published_at, a.expires
FROM cap_alert a
WHERE a.state = 'published' AND a.msg_type IN ('Alert', 'Update') AND a.expires > now()
  AND NOT EXISTS (SELECT 1 FROM cap_alert n WHERE n.references_id = a.id AND n.state = 'published')
ORDER BY a.published_at DESC, a.id DESC LIMIT %s
"""
