"""The SQL of merging cases (``command/merging.py``): both cases locked, the merge recorded, reports moved, counted."""

LOCK_CASES = """
SELECT id, merged_into, state, description, report_count, category_code, severity::text
FROM case_file WHERE id = ANY(%s) ORDER BY id FOR UPDATE
"""
RECORD = """
INSERT INTO case_merge (kind, report_id, from_case_id, to_case_id, distance_m, similarity, reason, actor)
SELECT %(kind)s, r, %(from)s, %(to)s,
       (SELECT ST_Distance(a.geom::geography, b.geom::geography) FROM case_file a, case_file b
        WHERE a.id = %(from)s AND b.id = %(to)s),
       %(similarity)s, %(reason)s, %(actor)s
FROM unnest(%(reports)s::bigint[]) AS r
"""
LOCK_REPORT = "SELECT case_id FROM report WHERE id = %s FOR UPDATE"
MOVE_REPORTS = "UPDATE report SET case_id = %s WHERE case_id = %s RETURNING id"
COUNT = "UPDATE case_file SET report_count = report_count + %s, merged_into = %s, updated_at = now() WHERE id = %s"
REPORT_SQL = """
SELECT r.case_id, r.description, r.address, r.source::text, ST_X(r.geom), ST_Y(r.geom),
       (SELECT m.kind::text FROM case_merge m WHERE m.report_id = r.id ORDER BY m.id DESC LIMIT 1),
       (SELECT m.from_case_id FROM case_merge m WHERE m.report_id = r.id ORDER BY m.id DESC LIMIT 1)
FROM report r WHERE r.id = %s
"""
