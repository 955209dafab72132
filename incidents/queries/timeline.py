"""SQL of an incident's timeline."""

LOG = "INSERT INTO incident_log (incident_id, action, actor, note, detail) VALUES (%s, %s, %s, %s, %s) RETURNING id"
READ = """
SELECT id, action, actor, at, note, detail FROM incident_log
WHERE incident_id = %s AND id > %s ORDER BY id LIMIT %s
"""
