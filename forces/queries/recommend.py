"""The SQL of recommendation (``forces/recommend.py``): the case, the capabilities its category needs,
the ranked forces.
"""

CASE_SITE = "SELECT geom, responsible_unit_id, closed_at FROM case_file WHERE id = %s"
CAPABILITIES = "SELECT code FROM capability"
RANK = """
WITH ranked AS (
    SELECT * FROM cityops_rank_forces(%(at)s::geometry, %(own)s, %(k)s, %(caps)s, %(fresh)s, %(local)s)
), passed AS (
    SELECT * FROM cityops_passed_over(%(at)s::geometry,
        coalesce((SELECT max(distance_m) FROM ranked), %(look)s),
        coalesce((SELECT array_agg(force_id) FROM ranked), '{}'), %(caps)s, %(fresh)s, %(local)s, %(passed)s)
), listed AS (
    SELECT force_id, tier, distance_m, NULL::text AS reason FROM ranked
    UNION ALL SELECT force_id, NULL, distance_m, reason FROM passed
)
SELECT c.*, x.tier, x.distance_m, x.reason
FROM listed x JOIN cityops_force_cards((SELECT array_agg(force_id) FROM listed)) c ON c.id = x.force_id
ORDER BY x.reason IS NOT NULL, x.tier, x.distance_m, c.id
"""
