"""The SQL of a case's moves (``command/workflow.py``): lock and read the case, the state machine, the one-statement
move (transition row, case, clocks and change-feed notice), evidence, history and who can check on site.
"""

LOCK = """
SELECT e.state, e.version, now(), e.filed_at, e.deadline, k.due_at, k.review_at, e.parked_remaining_s, e.dispatched_at,
       e.departments, e.handling_department, e.stage_at, c.time_limit, c.limit_kind
FROM case_file e JOIN category c ON c.code = e.category_code LEFT JOIN case_clock k ON k.case_id = e.id
WHERE e.id = %s FOR UPDATE OF e
"""
MACHINE = "SELECT from_state, action, to_state, permission, other_hand, needs_evidence, needs_note FROM case_action"
# the step a check or an approval judges: the move that led into the current state (not a self-loop)
JUDGED = """
SELECT actor, action, detail FROM case_transition WHERE case_id = %s AND from_state <> to_state
ORDER BY seq DESC LIMIT 1
"""
# the transition row, the case's move and the change-feed notice in one statement (one round trip)
MOVE = """
WITH appended AS (
    INSERT INTO case_transition (case_id, seq, action, from_state, to_state, actor, roles, unit_id, geom, note,
                                 evidence, prev_hash, hash, role, department, grid_id, due, deadline, since, detail)
    SELECT %(case)s, 0, %(action)s, %(from)s, %(to)s, %(actor)s, %(roles)s, %(unit)s,
           CASE WHEN %(lon)s::float8 IS NULL THEN NULL ELSE ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326) END,
           %(note)s, %(evidence)s, '', '',
           (SELECT min(r.name) FROM role r WHERE r.name = ANY(%(roles)s) AND %(permission)s = ANY(r.permissions)),
           %(department)s, e.grid_id, %(due)s, %(deadline)s, %(since)s, %(detail)s::jsonb
    FROM case_file e WHERE e.id = %(case)s
    RETURNING id, seq, at, hash
), moved AS (  -- only columns no index holds: a HOT update
    UPDATE case_file SET state = %(to)s, version = version + 1, updated_at = now(), stage_at = now(),
           closed_at = CASE WHEN %(to)s IN ('closed', 'void') THEN now() WHEN %(to)s = 'filed' THEN NULL
                            ELSE closed_at END,
           filed_at = %(filed_at)s, deadline = %(deadline)s, parked_remaining_s = %(parked_remaining_s)s,
           dispatched_at = %(dispatched_at)s, handling_department = %(department)s,
           supervised = supervised OR %(action)s = 'supervise'
    WHERE id = %(case)s RETURNING version, deadline
), clocked AS (
    INSERT INTO case_clock AS k (case_id, due_at, escalate_at, review_at) VALUES (%(case)s, %(due_at)s, %(due_at)s,
                                                                                %(review_at)s)
    ON CONFLICT (case_id) DO UPDATE SET due_at = excluded.due_at, escalate_at = excluded.escalate_at,
                                         review_at = excluded.review_at, due_warned = false
    WHERE (k.due_at, k.review_at) IS DISTINCT FROM (excluded.due_at, excluded.review_at)
)
SELECT a.id, a.seq, a.at, a.hash, m.version, m.deadline, %(due_at)s::timestamptz, pg_notify(%(channel)s, %(notice)s)
FROM appended a, moved m
"""
FOLLOW_UP = "SELECT cityops_queue_follow_up(%s, %s, %s, %s)"
# the named evidence that is no file of this case (its reports' media, or evidence uploaded to it)
UNKNOWN_EVIDENCE = """
SELECT h FROM unnest(%(evidence)s::text[]) WITH ORDINALITY AS named(h, n)
WHERE NOT EXISTS (SELECT FROM case_media cm WHERE cm.case_id = %(case)s AND cm.sha256 = named.h)
  AND NOT EXISTS (SELECT FROM report r JOIN report_media rm ON rm.report_id = r.id
                  WHERE r.case_id = %(case)s AND rm.sha256 = named.h)
ORDER BY n
"""
HISTORY = """
SELECT id, seq, action, from_state, to_state, actor, role, roles, at, ST_X(geom) AS lon, ST_Y(geom) AS lat, note,
       evidence, department, due, deadline, detail, hash
FROM case_transition WHERE case_id = %s ORDER BY seq
"""
# who could check on site: the case grid's grid workers (the handler and the feedback's author excluded at check)
ON_SITE = """
SELECT u.username FROM case_file e JOIN app_user u ON u.unit_id = e.grid_id JOIN user_role r ON r.user_id = u.id
WHERE e.id = %s AND r.role = 'grid_worker' AND u.disabled_at IS NULL ORDER BY u.username LIMIT 10
"""
CLOCKS = """
SELECT e.state, e.version, e.deadline, k.due_at, k.review_at, e.supervised, e.escalations
FROM case_file e LEFT JOIN case_clock k ON k.case_id = e.id WHERE e.id = %s
"""
