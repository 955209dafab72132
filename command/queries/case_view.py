"""The SQL of one case's page (``command/case_view.py``): the case, its reports and its merges."""

CASE_SQL = """
SELECT e.id, e.category_code, c.name, c.name_en, e.severity::text, e.state, ST_X(e.geom), ST_Y(e.geom),
       to_hex(e.cell), g.code, g.name, u.code, u.name, u.tier::text, e.departments, e.filed_at, e.deadline,
       e.routing_trace, e.description, e.address, e.source::text, e.report_count, e.merged_into,
       e.created_at, e.updated_at, e.closed_at, e.external_id, g.chain
FROM case_file e JOIN category c ON c.code = e.category_code
JOIN unit g ON g.id = e.grid_id JOIN unit u ON u.id = e.responsible_unit_id
WHERE e.id = %s
"""
REPORTS_SQL = """
SELECT r.id, r.case_id, r.source::text, r.description, r.address, ST_X(r.geom), ST_Y(r.geom), r.given,
       r.reporter, r.created_at,
       coalesce((SELECT json_agg(json_build_object('sha256', m.sha256, 'content_type', m.content_type,
                                                   'size_bytes', m.size_bytes, 'filename', rm.filename)
                                 ORDER BY rm.position)
                 FROM report_media rm JOIN media m USING (sha256) WHERE rm.report_id = r.id), '[]')
FROM report r WHERE {where} ORDER BY r.id
"""
MERGES_SQL = """
SELECT kind::text, report_id, from_case_id, to_case_id, distance_m, similarity, actor, reason, at
FROM case_merge WHERE to_case_id = %s OR from_case_id = %s ORDER BY id
"""
