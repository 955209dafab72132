"""The SQL of borrowing a force across jurisdictions (``forces/borrowing.py``): the request filed, locked, decided."""

REQUEST_VIEW = """
SELECT r.id, r.case_id, r.force_id, c.code AS force_code, c.name AS force_name, c.unit_code AS owner_code,
       c.unit_name AS owner_name, r.requested_by, r.requested_at, r.note, r.state::text AS state, r.decided_by,
       r.decided_at, r.assignment_id, r.released_at
FROM force_request r, LATERAL cityops_force_cards(ARRAY[r.force_id]) c
"""
FILE = """
INSERT INTO force_request (case_id, force_id, requested_by, note) VALUES (%s, %s, %s, %s) RETURNING id
"""
LOCK = "SELECT id, case_id, force_id, state::text FROM force_request WHERE id = %s FOR UPDATE"
DECIDE = "UPDATE force_request SET state = %s, decided_by = %s, decided_at = now(), assignment_id = %s WHERE id = %s"
