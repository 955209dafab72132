"""SQL of situation reports (续报) and the after-action report."""

SETTING = "SELECT minutes FROM incident_setting WHERE name = %s"
# the incident a report belongs to, locked: issuing numbers reports one at a time per incident
INCIDENT = "SELECT id, code, state, units, opened_at FROM incident WHERE id = %s"
LOCK_INCIDENT = INCIDENT + " FOR UPDATE"
COLUMNS = """s.id, s.incident_id, s.seq, s.kind, s.state, s.body, s.figures, s.figures_at, s.author, s.written_at,
       s.approved_by, s.approved_at, s.issued_at, s.version"""
DRAFT = f"""
INSERT INTO sitrep AS s (incident_id, kind, body, figures, figures_at, author)
VALUES (%(incident)s, %(kind)s, %(body)s, %(figures)s, %(figures_at)s, %(author)s)
RETURNING {COLUMNS}
"""
READ = f"SELECT {COLUMNS} FROM sitrep s WHERE s.id = %s"
LOCK = READ + " FOR UPDATE"
LIST = f"SELECT {COLUMNS} FROM sitrep s WHERE s.incident_id = %s ORDER BY s.seq NULLS LAST, s.id"
EDIT = f"""
UPDATE sitrep s SET kind = %(kind)s, body = %(body)s, figures = %(figures)s, figures_at = %(figures_at)s,
    written_at = now(), version = version + 1
WHERE id = %(id)s RETURNING {COLUMNS}
"""
APPROVE = f"""
UPDATE sitrep s SET state = 'approved', approved_by = %s, approved_at = now(), version = version + 1
WHERE id = %s RETURNING {COLUMNS}
"""
ISSUED_KINDS = "SELECT kind FROM sitrep WHERE incident_id = %s AND state = 'issued'"
ISSUE = f"""
UPDATE sitrep s SET state = 'issued', issued_at = now(), version = version + 1,
    seq = (SELECT coalesce(max(seq), 0) + 1 FROM sitrep WHERE incident_id = s.incident_id)
WHERE id = %s RETURNING {COLUMNS}
"""
# when the next report is due: the first within first_sitrep of opening, each next sitrep_every after the last
DUE = """
SELECT i.state, i.opened_at, last.issued_at, last.kind, coalesce(last.seq, 0),
       CASE WHEN last.issued_at IS NULL THEN i.opened_at + make_interval(mins => first.minutes)
            ELSE last.issued_at + make_interval(mins => every.minutes) END,
       now()
FROM incident i
CROSS JOIN (SELECT minutes FROM incident_setting WHERE name = 'first_sitrep') first
CROSS JOIN (SELECT minutes FROM incident_setting WHERE name = 'sitrep_every') every
LEFT JOIN LATERAL (SELECT issued_at, kind, seq FROM sitrep WHERE incident_id = i.id AND state = 'issued'
                   ORDER BY seq DESC LIMIT 1) last ON true
WHERE i.id = %s
"""

# ---- the after-action report: each part from its own table, empty tables giving empty parts ----------
# the first force on scene for a case under the incident, after it opened: the assignment's arrival, or
# the on_scene step of its story
FIRST_ON_SCENE = """
SELECT min(t) FROM (
    SELECT a.arrived_at FROM assignment a JOIN incident_case k ON k.case_id = a.case_id
    WHERE k.incident_id = %(id)s AND k.state = 'linked' AND a.arrived_at >= %(opened)s
    UNION ALL
    SELECT e.at FROM assignment_event e JOIN incident_case k ON k.case_id = e.case_id
    WHERE k.incident_id = %(id)s AND k.state = 'linked' AND e.step = 'on_scene' AND e.at >= %(opened)s
) firsts(t)
"""
FORCES_COMMITTED = """
SELECT count(DISTINCT force_id), min(committed_at) FROM incident_force WHERE incident_id = %s
"""
SUMMONS = """
SELECT department, summoned_at, due_at, liaison, reported_at, escalated_at
FROM incident_summons WHERE incident_id = %s ORDER BY summoned_at, department
"""
TASKS = """
SELECT count(*), count(*) FILTER (WHERE state = 'done'),
       count(*) FILTER (WHERE due_at IS NOT NULL),
       count(*) FILTER (WHERE state = 'done' AND due_at IS NOT NULL AND done_at <= due_at),
       count(*) FILTER (WHERE due_at IS NOT NULL AND coalesce(done_at, now()) > due_at),
       count(*) FILTER (WHERE state = 'blocked')
FROM incident_task WHERE incident_id = %s
"""
RESOURCES = """
SELECT r.resource_type, t.name, t.name_en, t.measure, count(*), sum(r.quantity), coalesce(sum(r.committed), 0),
       count(*) FILTER (WHERE r.state IN ('deployed', 'released', 'returned'))
FROM resource_request r JOIN resource_type t ON t.code = r.resource_type
WHERE r.incident_id = %s GROUP BY r.resource_type, t.name, t.name_en, t.measure ORDER BY r.resource_type
"""
