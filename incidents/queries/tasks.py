"""SQL of incident tasks: assigned to a summoned department, a unit or a committed force; moved; updated."""

SUMMONED = "SELECT 1 FROM incident_summons WHERE incident_id = %s AND department = %s"
UNIT = "SELECT id, name FROM unit WHERE code = %s"
HELD = "SELECT 1 FROM incident_force WHERE incident_id = %s AND force_id = %s AND released_at IS NULL"
CREATE = """
INSERT INTO incident_task (incident_id, title, detail, department, unit_id, force_id, priority, due_at, created_by)
VALUES (%(incident)s, %(title)s, %(detail)s, %(department)s, %(unit_id)s, %(force_id)s, %(priority)s, %(due_at)s,
        %(actor)s)
RETURNING id
"""
FIRST_UPDATE = "INSERT INTO incident_task_update (task_id, state, note, actor) VALUES (%s, 'assigned', %s, %s)"
LOCK = """
SELECT t.state, t.version, t.department, t.unit_id, t.force_id, t.title, i.code, i.state, i.units
FROM incident_task t JOIN incident i ON i.id = t.incident_id
WHERE t.id = %s AND t.incident_id = %s FOR UPDATE OF t
"""
MOVE = """
UPDATE incident_task SET state = %(state)s, blocked_reason = %(reason)s, version = version + 1,
    done_at = CASE WHEN %(state)s = 'done' THEN now() END
WHERE id = %(id)s RETURNING version
"""
UPDATE = """
INSERT INTO incident_task_update (task_id, state, note, media, actor) VALUES (%s, %s, %s, %s, %s) RETURNING id, at
"""
# the tasks of an incident, each with its assignee named and its updates (oldest first)
LIST = """
SELECT t.id, t.title, t.detail, t.department, t.unit_id, u.code, u.name, t.force_id, f.code, f.name, t.priority,
       t.due_at, t.state, t.blocked_reason, t.created_by, t.created_at, t.done_at, t.version,
       t.state <> 'done' AND t.due_at < now() OR t.done_at > t.due_at,
       (SELECT coalesce(json_agg(json_build_object('state', p.state, 'note', p.note, 'media', p.media,
                                                   'actor', p.actor, 'at', p.at) ORDER BY p.id), '[]')
        FROM incident_task_update p WHERE p.task_id = t.id)
FROM incident_task t LEFT JOIN unit u ON u.id = t.unit_id LEFT JOIN force f ON f.id = t.force_id
WHERE t.incident_id = %(incident)s AND (%(task)s::bigint IS NULL OR t.id = %(task)s)
ORDER BY t.id
"""
