"""The SQL of the wall screen's figures (``command/screen_figures.py``): per district and per day, the top categories,
the latest new and escalated cases, open cases and forces on the map.
"""

# the districts a unit's wall shows: its own district (a district or anything below), or every district under it
DISTRICTS = """
SELECT d.id, d.code, d.name, ST_X(p.geom), ST_Y(p.geom)
FROM unit s JOIN unit d ON d.tier = 'district' AND (d.id = (s.ancestors || s.id)[2] OR s.id = ANY(d.ancestors))
CROSS JOIN LATERAL (SELECT ST_PointOnSurface(d.geom) AS geom) p
WHERE s.id = %s ORDER BY d.code
"""
BY_DISTRICT = "SELECT * FROM cityops_screen_districts(%s, %s)"
BY_DAY = "SELECT day, received, closed FROM cityops_screen_days(%s, %s)"
TOP = """
SELECT t.category_code, c.name, c.name_en, t.received FROM cityops_screen_categories(%s, %s) t
JOIN category c ON c.code = t.category_code ORDER BY t.received DESC, t.category_code
"""
# a case as the ticker tells it: when (reported, or its latest escalation), what, where (district, street, community)
TOLD = """
SELECT e.id, e.state, e.version, e.escalations, e.filed_at, x.at, c.name, c.name_en,
       (SELECT string_agg(u.name, ' ' ORDER BY u.tier) FROM unit u
        WHERE u.id = ANY(e.units) AND (u.id = e.units[2] OR u.tier IN ('street', 'community')))
FROM case_file e JOIN category c ON c.code = e.category_code
LEFT JOIN LATERAL (SELECT max(t.at) AS at FROM case_transition t
                   WHERE t.case_id = e.id AND t.action = 'escalate') x ON e.escalations > 0
WHERE e.id = ANY(%s) AND e.state <> 'void'
"""
LATEST_NEW = "SELECT id FROM case_file WHERE filed_at >= %s AND state <> 'void' ORDER BY filed_at DESC LIMIT %s"
LATEST_ESCALATED = """
SELECT t.case_id FROM case_transition t WHERE t.at >= %s AND t.action = 'escalate' ORDER BY t.at DESC LIMIT %s
"""
# newest by filing time (ix_event_filed_at, newest first): the latest deadline stood in for "newest" and was
# not — a case filed now with a short time limit fell behind thousands filed earlier with longer ones
OPEN_CASES = """
SELECT e.id, e.state, e.version, e.category_code, e.severity::text, ST_X(e.geom), ST_Y(e.geom), e.deadline,
       e.escalations
FROM case_file e WHERE e.state NOT IN ('closed', 'void') ORDER BY e.filed_at DESC LIMIT %s
"""
FORCES = """
SELECT f.id, f.status::text, ST_X(p.geom), ST_Y(p.geom), p.fixed_at
FROM force f JOIN force_position p ON p.force_id = f.id ORDER BY p.fixed_at DESC LIMIT %s
"""
