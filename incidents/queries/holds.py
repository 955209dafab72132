"""SQL of forces held by an incident (unified dispatch): committed, released, listed."""

VISIBLE_FORCES = "SELECT id FROM force WHERE id = ANY(%s)"
# who holds these forces now, whatever the caller may see (cityops_incident_holding: definer's rights)
HOLDING = "SELECT force_code, incident_id, code, title FROM cityops_incident_holding(%s)"
COMMIT = """
INSERT INTO incident_force (incident_id, force_id, committed_by)
SELECT %s, f, %s FROM unnest(%s::bigint[]) AS f RETURNING force_id
"""
RELEASE = """
UPDATE incident_force SET released_at = now()
WHERE incident_id = %s AND force_id = ANY(%s) AND released_at IS NULL RETURNING force_id
"""
LIST = """
SELECT h.force_id, f.code, f.name, f.kind::text, f.status::text, h.committed_by, h.committed_at, h.released_at
FROM incident_force h LEFT JOIN force f ON f.id = h.force_id
WHERE h.incident_id = %s AND (%s OR h.released_at IS NULL)
ORDER BY h.committed_at, h.force_id
"""
