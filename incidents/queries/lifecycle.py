"""SQL of an incident's life: opening, reading, level and command changes, closing, cases under it."""

# the unit of ``tier`` over the point (the management unit where one exists: 江北新区 for its streets)
COMMANDING_UNIT = """
SELECT u.id, u.code, u.name, u.tier::text
FROM unit g JOIN unit u ON u.id = ANY(g.ancestors || g.id)
WHERE g.tier = 'grid' AND ST_Covers(g.geom, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)) AND u.tier = %(tier)s
ORDER BY (u.kind = 'management') DESC, u.id LIMIT 1
"""
LEVEL = "SELECT commanding_tier::text FROM incident_level WHERE level = %s"
CLASS = "SELECT code FROM incident_class WHERE code = %s"
CLASSES = "SELECT code FROM incident_class ORDER BY code"
CLASSES_NAMED = "SELECT code, name, name_en, parent_code FROM incident_class ORDER BY code"
CHAIN = "SELECT ancestors || id FROM unit WHERE id = %s"
OPEN = """
INSERT INTO incident (title, description, class_code, level, commanding_unit_id, commander, lead_department,
                      command_post, units, opened_by)
VALUES (%(title)s, %(description)s, %(class_code)s, %(level)s, %(unit_id)s, %(commander)s, %(lead_department)s,
        ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326), %(units)s, %(actor)s)
RETURNING id, code
"""
# the incident as the caller may see it (row-level security decides), with what the board shows first
READ = """
SELECT i.id, i.code, i.title, i.description, i.class_code, c.name, c.name_en, i.level, l.name, l.name_en,
       i.state, u.code, u.name, u.tier::text, i.commander, i.lead_department, ST_X(i.command_post),
       ST_Y(i.command_post), i.departments, i.opened_by, i.opened_at, i.closed_at, i.version, i.commanding_unit_id
FROM incident i JOIN incident_class c ON c.code = i.class_code JOIN incident_level l ON l.level = i.level
JOIN unit u ON u.id = i.commanding_unit_id
WHERE i.id = %s
"""
LOCK = """
SELECT version, state, level, commanding_unit_id, code, ST_X(command_post), ST_Y(command_post)
FROM incident WHERE id = %s FOR UPDATE
"""
LIST = """
SELECT i.id, i.code, i.title, i.class_code, c.name, i.level, i.state, u.name, ST_X(i.command_post),
       ST_Y(i.command_post), i.opened_at, i.closed_at,
       (SELECT count(*) FROM incident_case k WHERE k.incident_id = i.id AND k.state = 'linked')
FROM incident i JOIN incident_class c ON c.code = i.class_code JOIN unit u ON u.id = i.commanding_unit_id
WHERE (%(state)s::text IS NULL OR i.state = %(state)s) AND i.id < %(before)s
ORDER BY i.id DESC LIMIT %(limit)s
"""
SET_LEVEL = """
UPDATE incident SET level = %s, commanding_unit_id = %s, version = version + 1 WHERE id = %s RETURNING version
"""
SET_COMMAND = """
UPDATE incident SET commander = coalesce(%(commander)s, commander),
    lead_department = CASE WHEN %(set_department)s THEN %(lead_department)s ELSE lead_department END,
    command_post = CASE WHEN %(lon)s::float8 IS NULL THEN command_post
                        ELSE ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326) END,
    version = version + 1
WHERE id = %(id)s RETURNING version
"""
CLOSE = "UPDATE incident SET state = 'closed', closed_at = now(), version = version + 1 WHERE id = %s RETURNING version"
RELEASE_FORCES = """
UPDATE incident_force SET released_at = now() WHERE incident_id = %s AND released_at IS NULL RETURNING force_id
"""
ACTIVE_USER = "SELECT 1 FROM app_user WHERE username = %s AND disabled_at IS NULL"
# cases the caller sees (row-level security) among those asked for
VISIBLE_CASES = "SELECT id FROM case_file WHERE id = ANY(%s)"
LINK = """
INSERT INTO incident_case (incident_id, case_id, state, how, decided_by)
SELECT %(incident)s, c, %(state)s, %(how)s, %(actor)s FROM unnest(%(cases)s::bigint[]) c
ON CONFLICT (incident_id, case_id) DO UPDATE SET state = excluded.state, decided_by = excluded.decided_by, at = now()
WHERE incident_case.state IS DISTINCT FROM excluded.state
RETURNING case_id
"""
# open cases under the incident (linked and flagged), and those proposed: open, of a related category,
# inside a current area, not yet decided
CASES = """
WITH area AS (SELECT ST_Union(geom) AS geom FROM incident_area WHERE incident_id = %(id)s AND retired_at IS NULL),
related AS (
    SELECT coalesce(nullif(c.related_categories, '{}'), p.related_categories) AS prefixes
    FROM incident i JOIN incident_class c ON c.code = i.class_code LEFT JOIN incident_class p ON p.code = c.parent_code
    WHERE i.id = %(id)s
)
SELECT k.case_id, k.state, k.how, k.at, e.category_code, e.state, e.severity::text, ST_X(e.geom), ST_Y(e.geom),
       e.address, e.filed_at
FROM incident_case k JOIN case_file e ON e.id = k.case_id
WHERE k.incident_id = %(id)s AND k.state <> 'dismissed'
UNION ALL
(SELECT e.id, 'proposed', 'related_inside', NULL, e.category_code, e.state, e.severity::text, ST_X(e.geom),
        ST_Y(e.geom), e.address, e.filed_at
 FROM case_file e, area a, related r
 WHERE ST_Intersects(e.geom, a.geom) AND e.state NOT IN ('closed', 'void') AND e.merged_into IS NULL
   AND EXISTS (SELECT 1 FROM unnest(r.prefixes) p WHERE e.category_code LIKE p || '%%')
   AND NOT EXISTS (SELECT 1 FROM incident_case k WHERE k.incident_id = %(id)s AND k.case_id = e.id)
 ORDER BY e.filed_at DESC LIMIT %(limit)s)
"""
# the active incidents the caller sees, each its current areas joined, for the command map and the wall
ACTIVE_AREAS = """
SELECT i.id, i.code, i.title, i.level, ST_AsGeoJSON(ST_Union(a.geom), 6)
FROM incident i JOIN incident_area a ON a.incident_id = i.id AND a.retired_at IS NULL
WHERE i.state = 'active' GROUP BY i.id ORDER BY i.id DESC LIMIT 200
"""
