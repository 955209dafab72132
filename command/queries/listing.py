"""The SQL of the case list (``command/listing.py``): the filters, a page of cases, their count and their reports."""

# the stage's due time (else the handling deadline) has passed while open, or the case closed late
STAGE_DUE = "coalesce((SELECT k.due_at FROM case_clock k WHERE k.case_id = e.id), e.deadline)"
OVERDUE = f"""coalesce(CASE e.state WHEN 'void' THEN false WHEN 'closed' THEN e.closed_at > e.deadline
                   ELSE {STAGE_DUE} < now() END, false)"""
# a number (id, or an imported case's own id), an address, or a place: a unit of the case's chain by name
# a number is a case number (not "第 7 网格" in a generated address); other words search addresses and places
MATCHES = """(e.id = %(q_id)s OR e.external_id = %(q)s OR (%(q_id)s::bigint IS NULL AND (e.address ILIKE %(q_like)s
  OR e.units && ARRAY(SELECT u.id FROM unit u WHERE u.name LIKE %(q_like)s AND u.tier <> 'building'))))"""
# the page first (newest-first on the table itself), the joined names only for that page
CASES_SQL = f"""
SELECT e.id, e.category_code, c.name, c.name_en, e.severity::text, e.state, u.code, u.name, e.departments,
       e.handling_department, e.filed_at, e.deadline, CASE WHEN e.state NOT IN ('closed', 'void') THEN {STAGE_DUE} END,
       {OVERDUE}, e.supervised, e.external_id, e.report_count, e.description, e.address, ST_X(e.geom), ST_Y(e.geom)
FROM (SELECT * FROM case_file e WHERE {{where}} ORDER BY e.id DESC LIMIT %(limit)s) e
JOIN unit u ON u.id = e.responsible_unit_id
JOIN category c ON c.code = e.category_code
ORDER BY e.id DESC
"""
COUNT_SQL = "SELECT count(*) FROM (SELECT FROM case_file e WHERE {where} LIMIT %(limit)s) e"
REPORTS_SQL = """
SELECT r.id, r.case_id, e.category_code, e.state, r.source::text, r.description, r.address, r.created_at,
       ST_X(r.geom), ST_Y(r.geom), r.reporter
FROM (SELECT * FROM report r WHERE {where} ORDER BY r.id DESC LIMIT %(limit)s) r
LEFT JOIN LATERAL (SELECT category_code, state FROM case_file WHERE case_file.id = r.case_id) e ON true
ORDER BY r.id DESC
"""
ON_CASE = "EXISTS (SELECT FROM case_file e WHERE e.id = r.case_id AND {condition})"
