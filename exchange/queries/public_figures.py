"""The month's public figures: per scenario and district, per unit and category, and the public points.

Every statement takes the month as ``%(start)s``/``%(end)s`` (half-open, the city's local midnights).
A case counts as received in the month it was created, as closed in the month it was closed (voided
cases are not handled ones); merged duplicates count once, in the case they joined. Ratings count in
the month they were given. Nothing here reads a description, an address, a reporter or a photo.
"""

# cases created or closed in the month, with what a scenario's feed and a figure need
MONTH_CASES = """
month_cases AS (
    SELECT e.category_code, e.source::text AS source, e.units[2] AS district, e.units[3] AS street,
           e.created_at >= %(start)s AND e.created_at < %(end)s AS received,
           e.state = 'closed' AND e.closed_at >= %(start)s AND e.closed_at < %(end)s AS closed,
           e.closed_at <= e.deadline AS on_time,
           extract(epoch FROM e.closed_at - e.created_at) AS handling_s
    FROM case_file e
    WHERE e.merged_into IS NULL
      AND ((e.created_at >= %(start)s AND e.created_at < %(end)s)
           OR (e.closed_at >= %(start)s AND e.closed_at < %(end)s))
)"""

MONTH_RATINGS = """
month_ratings AS (
    SELECT e.category_code, e.source::text AS source, e.units[2] AS district,
           r.satisfaction IN ('satisfied', 'basically_satisfied') AS satisfied
    FROM report r JOIN case_file e ON e.id = r.case_id
    WHERE r.rated_at >= %(start)s AND r.rated_at < %(end)s AND r.satisfaction IS NOT NULL
)"""

FEEDS = """
feeds AS (SELECT code, categories::text[] AS categories, sources::text[] AS sources FROM scenario
          WHERE status = 'live')"""

# scenario x district, and each scenario's city-wide total (district NULL)
SCENARIO_FIGURES = f"""
WITH {MONTH_CASES}, {MONTH_RATINGS}, {FEEDS},
cases_fed AS (
    SELECT f.code AS scenario, d.code AS district, c.received, c.closed, c.on_time, c.handling_s
    FROM feeds f JOIN month_cases c
      ON (cardinality(f.categories) = 0 OR c.category_code = ANY(f.categories))
     AND (cardinality(f.sources) = 0 OR c.source = ANY(f.sources))
    JOIN unit d ON d.id = c.district
),
ratings_fed AS (
    SELECT f.code AS scenario, d.code AS district, count(*) AS rated, count(*) FILTER (WHERE r.satisfied) AS satisfied
    FROM feeds f JOIN month_ratings r
      ON (cardinality(f.categories) = 0 OR r.category_code = ANY(f.categories))
     AND (cardinality(f.sources) = 0 OR r.source = ANY(f.sources))
    JOIN unit d ON d.id = r.district
    GROUP BY GROUPING SETS ((f.code, d.code), (f.code))
),
counted AS (
    SELECT scenario, district,
           count(*) FILTER (WHERE received) AS received,
           count(*) FILTER (WHERE closed) AS closed,
           count(*) FILTER (WHERE closed AND on_time) AS closed_on_time,
           coalesce(sum(handling_s) FILTER (WHERE closed), 0) AS handling_s
    FROM cases_fed GROUP BY GROUPING SETS ((scenario, district), (scenario))
)
SELECT coalesce(c.scenario, r.scenario) AS scenario, coalesce(c.district, r.district) AS district,
       coalesce(c.received, 0) AS received, coalesce(c.closed, 0) AS closed,
       coalesce(c.closed_on_time, 0) AS closed_on_time, coalesce(c.handling_s, 0) AS handling_s,
       coalesce(r.rated, 0) AS rated, coalesce(r.satisfied, 0) AS satisfied
FROM counted c FULL JOIN ratings_fed r ON r.scenario = c.scenario AND r.district IS NOT DISTINCT FROM c.district
ORDER BY 1, 2 NULLS FIRST
"""

# every case of the month by unit (district and street) and category
UNIT_CATEGORY_COUNTS = f"""
WITH {MONTH_CASES}
SELECT u.code AS unit, u.name AS unit_name, u.tier::text AS tier, c.category_code AS category,
       k.name AS category_name, count(*) FILTER (WHERE c.received) AS received,
       count(*) FILTER (WHERE c.closed) AS closed, count(*) FILTER (WHERE c.closed AND c.on_time) AS closed_on_time
FROM month_cases c
JOIN unit u ON u.id IN (c.district, c.street)
JOIN category k ON k.code = c.category_code
GROUP BY u.code, u.name, u.tier, c.category_code, k.name
ORDER BY u.tier, u.code, c.category_code
"""

# the districts' outlines as published: simplified to ~10 m, six decimals (the public map's shapes)
DISTRICTS = """
SELECT d.code, d.name, ST_AsGeoJSON(ST_SimplifyPreserveTopology(d.geom, 0.0001), 6) AS geometry
FROM unit d WHERE d.tier = 'district' ORDER BY d.code
"""

# the month's received cases of non-sensitive categories: only their H3 cell leaves the database
PUBLIC_POINTS = """
SELECT e.cell, e.category_code AS category, k.name AS category_name, d.code AS district,
       to_char(e.created_at AT TIME ZONE %(zone)s, 'YYYY-MM-DD') AS day,
       e.state = 'closed' AND e.closed_at < %(end)s AS closed
FROM case_file e
JOIN category k ON k.code = e.category_code AND NOT k.sensitive
JOIN unit d ON d.id = e.units[2]
WHERE e.merged_into IS NULL AND e.created_at >= %(start)s AND e.created_at < %(end)s
ORDER BY e.created_at, e.id
"""
