"""The SQL of evidence uploaded to a case (``command/case_media.py``): the case it goes to, the row it is recorded in,
and what the case already holds.
"""

CASE = "SELECT 1 FROM case_file WHERE id = %s"
RECORD = """
INSERT INTO case_media (case_id, sha256, filename, uploaded_by)
SELECT %s, sha256, filename, %s FROM unnest(%s::text[], %s::text[]) AS m(sha256, filename)
ON CONFLICT (case_id, sha256) DO NOTHING
"""
# a separate statement from RECORD: it sees the row a concurrent upload of the same file committed
RECORDED = """
SELECT cm.sha256, m.content_type, m.size_bytes, cm.filename, cm.uploaded_by, cm.uploaded_at
FROM case_media cm JOIN media m USING (sha256) WHERE cm.case_id = %s AND cm.sha256 = ANY(%s::text[])
ORDER BY array_position(%s::text[], cm.sha256::text)
"""
# the reports' media, then the evidence, each with the transitions that named it
HELD = """
SELECT s.sha256, m.content_type, m.size_bytes, s.report_id, s.filename, s.uploaded_by, s.uploaded_at,
       coalesce((SELECT json_agg(json_build_object('seq', t.seq, 'action', t.action, 'actor', t.actor, 'at', t.at)
                                 ORDER BY t.seq)
                 FROM case_transition t WHERE t.case_id = %(case)s AND s.sha256 = ANY(t.evidence)), '[]') AS named_by
FROM (SELECT rm.sha256, r.id AS report_id, rm.filename, NULL::text AS uploaded_by, r.created_at AS uploaded_at,
             rm.position
      FROM report r JOIN report_media rm ON rm.report_id = r.id WHERE r.case_id = %(case)s
      UNION ALL
      SELECT cm.sha256, NULL, cm.filename, cm.uploaded_by, cm.uploaded_at, 0
      FROM case_media cm WHERE cm.case_id = %(case)s) s
JOIN media m USING (sha256)
ORDER BY s.uploaded_at, s.report_id, s.position, s.sha256
"""
