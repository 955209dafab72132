"""The SQL of the change feed (``command/change_feed.py``): the cursor, and cases, assignments, forces and
incidents as they are and as they changed since a cursor.
"""

CURSOR = "SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint"
CASES = """
SELECT e.id, e.state, e.version, e.category_code, e.severity::text, ST_X(e.geom), ST_Y(e.geom), u.code,
       e.deadline, k.due_at, e.supervised, e.escalations, e.report_count, e.merged_into, e.units, e.departments
FROM case_file e JOIN unit u ON u.id = e.responsible_unit_id LEFT JOIN case_clock k ON k.case_id = e.id
WHERE e.id = ANY(%s)
"""
FORCES = """
SELECT f.id, f.code, f.name, f.kind::text, f.status::text, ST_X(p.geom), ST_Y(p.geom), p.fixed_at, u.code,
       (SELECT a.case_id FROM assignment a WHERE a.force_id = f.id AND a.released_at IS NULL), f.units, f.department
FROM force f JOIN unit u ON u.id = f.unit_id LEFT JOIN force_position p ON p.force_id = f.id
WHERE f.id = ANY(%s)
"""
CASES_SINCE = """
SELECT case_id FROM case_transition WHERE at > %(since)s
UNION SELECT case_id FROM assignment WHERE assigned_at > %(since)s OR released_at > %(since)s
LIMIT %(limit)s
"""
ASSIGNMENTS = """
SELECT a.id, a.case_id, a.force_id, f.code, f.name, a.accept_by,
       CASE WHEN a.released_at IS NOT NULL THEN 'released' WHEN a.arrived_at IS NOT NULL THEN 'on_scene'
            WHEN a.accepted_at IS NOT NULL THEN 'en_route' ELSE 'offered' END,
       a.release_reason, e.units, e.departments
FROM assignment a LEFT JOIN case_file e ON e.id = a.case_id LEFT JOIN force f ON f.id = a.force_id
WHERE a.case_id = ANY(%s)
"""
ASSIGNED_SINCE = "SELECT DISTINCT case_id FROM assignment_event WHERE at > %(since)s LIMIT %(limit)s"
FORCES_SINCE = """
SELECT force_id FROM force_position WHERE received_at > %(since)s
UNION SELECT id FROM force WHERE status_at > %(since)s
LIMIT %(limit)s
"""
# an incident as maps and boards show it, with its last timeline entry (a board reloads when it grows)
INCIDENTS = """
SELECT i.id, i.code, i.title, i.level, i.state, i.version, ST_X(i.command_post), ST_Y(i.command_post),
       (SELECT max(g.id) FROM incident_log g WHERE g.incident_id = i.id), i.units, i.departments
FROM incident i WHERE i.id = ANY(%s)
"""
INCIDENTS_SINCE = "SELECT DISTINCT incident_id FROM incident_log WHERE at > %(since)s LIMIT %(limit)s"
