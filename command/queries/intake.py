"""The SQL of intake (``command/intake.py``): a report filed as a new case or joined to one in a statement each
(report row, change-feed notice and audit entry included), its media stored and attached, the answer read back.
"""

CHANNEL = "cityops_events"
INSERT_CASE = """
INSERT INTO case_file (category_code, severity, geom, cell, grid_id, responsible_unit_id, departments,
                   filed_at, deadline, routing_trace, description, address, source)
VALUES (%s, %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326), %s,
        (SELECT id FROM unit WHERE code = %s), (SELECT id FROM unit WHERE code = %s),
        %s, %s, %s, %s, %s, %s, %s)
RETURNING id
"""
REPORT_COLUMNS = (
    "case_id, source, reporter, description, address, geom, given, idempotency_owner, idempotency_key, "
    "request_hash, units"
)
# a report belongs to its own place (its grid and ancestors), even when it joins a case across a boundary
REPORT_VALUES = """%s, %s, %s, %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326), %s, %s, %s, %s,
    (SELECT g.ancestors || g.id FROM unit g WHERE g.code = %s)"""
# announced at commit, by the statement that stores the report (one round trip fewer per report)
ANNOUNCE = f"""pg_notify('{CHANNEL}', jsonb_build_object('type', %s::text, 'case_id', r.case_id::text,
    'report_id', r.id::text, 'category', %s::text, 'severity', %s::text, 'lon', %s::float8, 'lat', %s::float8)::text),
    cityops_audit(%s::text, %s::text, 'report:' || r.id, jsonb_build_object('case_id', r.case_id))"""
NEW_CASE = f"""
WITH e AS ({INSERT_CASE.strip()}),
r AS (INSERT INTO report ({REPORT_COLUMNS}) SELECT e.id, {REPORT_VALUES} FROM e RETURNING id, token, case_id)
SELECT r.case_id, r.id, r.token, {ANNOUNCE} FROM r
"""
JOINED_CASE = f"""
WITH e AS (SELECT * FROM cityops_count_joined(%s)),
r AS (INSERT INTO report ({REPORT_COLUMNS}) SELECT e.id, {REPORT_VALUES} FROM e RETURNING id, token, case_id),
m AS (INSERT INTO case_merge (kind, report_id, to_case_id, distance_m, similarity, reason)
      SELECT 'auto', r.id, r.case_id, %s, %s, 'same category within radius and window' FROM r)
SELECT r.case_id, r.id, r.token, {ANNOUNCE}, e.state, e.report_count, e.deadline, e.departments,
       u.code, u.name, u.tier::text
FROM r JOIN e ON e.id = r.case_id JOIN unit u ON u.id = e.responsible_unit_id
"""
STORE_MEDIA = """
INSERT INTO media (sha256, content_type, size_bytes) SELECT * FROM unnest(%s::text[], %s::text[], %s::bigint[])
ON CONFLICT (sha256) DO NOTHING
"""
ATTACH_MEDIA = """
INSERT INTO report_media (report_id, sha256, position, filename)
SELECT %s, sha256, position, filename FROM unnest(%s::text[], %s::int[], %s::text[]) AS m(sha256, position, filename)
"""
ANSWER_SQL = """
SELECT e.id, r.id, r.request_hash, u.code, u.name, u.tier::text, e.departments, e.deadline, e.state,
       e.report_count, (SELECT min(first.id) FROM report first WHERE first.case_id = e.id) <> r.id, r.token
FROM report r JOIN case_file e ON e.id = r.case_id JOIN unit u ON u.id = e.responsible_unit_id
WHERE {where}
"""
