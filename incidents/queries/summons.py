"""SQL of 吹哨报到: departments summoned to an incident, their report-in, late ones escalated."""

# the incident a summons or task is written against, locked: its state, whom it reaches, whom it summoned
INCIDENT = """
SELECT code, title, state, units, departments FROM incident WHERE id = %s FOR UPDATE
"""
REPORT_IN_MINUTES = "SELECT minutes FROM incident_setting WHERE name = 'report_in'"
ALREADY = """
SELECT department, summoned_at FROM incident_summons WHERE incident_id = %s AND department = ANY(%s) ORDER BY 1
"""
SUMMON = """
INSERT INTO incident_summons (incident_id, department, summoned_by, due_at, note)
SELECT %(incident)s, d, %(actor)s, now() + make_interval(mins => %(minutes)s), %(note)s
FROM unnest(%(departments)s::text[]) AS d
RETURNING id, department, due_at
"""
# the summoned department's liaisons see the incident through row-level security (incident_in_scope)
ADD_DEPARTMENTS = """
UPDATE incident SET departments = ARRAY(SELECT DISTINCT d FROM unnest(departments || %s::text[]) AS d ORDER BY d)
WHERE id = %s
"""
LOCK_ONE = """
SELECT s.incident_id, s.department, s.due_at, s.liaison, s.reported_at, i.code, i.state
FROM incident_summons s JOIN incident i ON i.id = s.incident_id WHERE s.id = %s FOR UPDATE OF s
"""
REPORT_IN = """
UPDATE incident_summons SET liaison = %s, reported_at = now() WHERE id = %s RETURNING reported_at > due_at
"""
# a summons as the board and the liaison's queue show it: late while unanswered past its deadline, or
# answered after it; stationed (进驻) once reported in, with the liaison's name
VIEW = """
SELECT s.id, s.incident_id, i.code, i.title, i.state, s.department, s.summoned_by, s.summoned_at, s.due_at, s.note,
       s.liaison, coalesce(a.display_name, s.liaison), s.reported_at, s.escalated_at, e.code, e.name,
       coalesce(s.reported_at, now()) > s.due_at
FROM incident_summons s JOIN incident i ON i.id = s.incident_id
LEFT JOIN app_user a ON a.username = s.liaison LEFT JOIN unit e ON e.id = s.escalated_to
"""
ONE = VIEW + " WHERE s.id = %s"
OF_INCIDENT = VIEW + " WHERE s.incident_id = %s ORDER BY s.department"
FOR_DEPARTMENT = (
    VIEW + " WHERE s.department = %s AND i.state = 'active' ORDER BY s.reported_at IS NOT NULL, s.due_at LIMIT %s"
)
# late and never escalated: one tier above the unit that blew the whistle (the city stays the city);
# SKIP LOCKED: two processes sweeping at once escalate each summons once
ESCALATE = """
WITH due AS (
    SELECT s.id FROM incident_summons s JOIN incident i ON i.id = s.incident_id AND i.state = 'active'
    WHERE s.reported_at IS NULL AND s.escalated_at IS NULL AND s.due_at < %(now)s
    ORDER BY s.due_at LIMIT %(batch)s FOR UPDATE OF s SKIP LOCKED
)
UPDATE incident_summons s SET escalated_at = %(now)s, escalated_to = coalesce(u.parent_id, u.id)
FROM due, app_user a JOIN unit u ON u.id = a.unit_id
WHERE s.id = due.id AND a.username = s.summoned_by
RETURNING s.id, s.incident_id, s.department, s.due_at, s.summoned_by,
          (SELECT e.name FROM unit e WHERE e.id = s.escalated_to), s.escalated_to
"""
CITY = "SELECT id FROM unit WHERE tier = 'city' ORDER BY id LIMIT 1"
CITY_SCOPE = "SELECT set_config('cityops.scope_unit', %s, true), set_config('cityops.department', '', true)"
