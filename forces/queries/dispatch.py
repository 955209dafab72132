"""The SQL of dispatch (``forces/dispatch.py``): forces locked and booked, the assignment and its steps, release."""

LOCK_FORCES = """
SELECT f.id, f.code, f.status::text, f.shift_start, f.shift_end,
       CASE WHEN f.fixed_post THEN greatest(p.fixed_at, now()) ELSE p.fixed_at END  -- a post does not go stale
FROM force f LEFT JOIN force_position p ON p.force_id = f.id
WHERE f.id = ANY(%s) ORDER BY f.id FOR UPDATE OF f
"""
HOLDER = """
SELECT a.case_id, a.assigned_by, a.assigned_at FROM assignment a WHERE a.force_id = %s AND a.released_at IS NULL
"""
BOOK = """
INSERT INTO assignment (case_id, force_id, assigned_by, capabilities, accept_by, request_id)
SELECT %s, f, %s, %s, now() + %s, %s FROM unnest(%s::bigint[]) AS f
RETURNING id, force_id, assigned_at, accept_by
"""
ASSIGNED = "UPDATE force SET status = 'assigned' WHERE id = ANY(%s)"
OWNER = "SELECT unit_code, unit_name FROM cityops_force_cards(ARRAY[%s::bigint])"
ASSIGNMENT = """
SELECT a.id, a.case_id, a.force_id, a.released_at, a.release_reason FROM assignment a WHERE a.id = %s FOR UPDATE
"""
ASSIGNMENT_VIEW = """
SELECT a.id, a.case_id, a.force_id, f.code AS force_code, f.name AS force_name, f.kind::text AS kind,
       a.assigned_by, a.assigned_at, a.accept_by, a.accepted_at, a.arrived_at, a.released_at, a.release_reason,
       a.release_note, a.reoffer_of, a.capabilities, a.request_id, f.status::text AS force_status
FROM assignment a LEFT JOIN force f ON f.id = a.force_id
"""
STEPS = """
SELECT s.assignment_id, s.step, s.at, s.actor, s.note, s.next_assignment_id, s.next_force_id,
       n.code AS next_force_code, n.name AS next_force_name
FROM assignment_event s LEFT JOIN cityops_force_cards(ARRAY[s.next_force_id]) n ON true
WHERE s.case_id = %s ORDER BY s.id
"""
RELEASE = "SELECT case_id, force_id FROM cityops_release_assignment(%s, %s, '', %s)"
