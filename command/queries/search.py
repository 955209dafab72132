"""The SQL of the search box (``command/search.py``): each finder yields (kind, ref, rank, tier, size, tie) — a case
by number, units by code, initials or name, cases by address — and one statement ranks them and reads the best hits.
"""

CANDIDATES = 100  # per finder: enough to rank the best of a broad query, few enough to stay fast
AREAS = 1_500  # city … community units: Nanjing has 1,474, all ranked
# each finder yields (kind, ref, rank, tier, size, tie): ref the case or unit id; ordered by the last four
BY_CASE_NUMBER = """
SELECT 'case', e.id, 0, 9, 0, -e.id
FROM case_file e WHERE e.id = %(number)s
"""
BY_CODE = f"""
SELECT CASE WHEN u.tier = 'building' THEN 'building' ELSE 'unit' END, u.id,
       CASE WHEN u.code = %(code)s THEN 0 ELSE 2 END, array_position(enum_range(NULL::tier), u.tier),
       char_length(u.code), u.id
FROM (SELECT id, code, tier FROM unit WHERE code >= %(code)s AND code < %(code_end)s  -- starts with the digits
      ORDER BY code LIMIT {CANDIDATES}) AS u
"""
BY_INITIALS = f"""
SELECT 'unit', u.id,
       CASE WHEN (' ' || u.initials || ' ') LIKE %(reading)s THEN 1 ELSE 2 END,
       array_position(enum_range(NULL::tier), u.tier), char_length(u.name), u.id
FROM (SELECT id, name, tier, initials FROM unit WHERE initials LIKE %(initials)s OR initials LIKE %(later_initials)s
      LIMIT {CANDIDATES}) AS u
"""
# names by tier group, each from its own index: the 1,500 areas (city … community) all ranked, the
# 10,000 grids and 25,000 buildings a bounded number each, so a word in every grid's name (社区)
# still lists the communities first
BY_NAME = """
SELECT CASE WHEN u.tier = 'building' THEN 'building' ELSE 'unit' END, u.id,
       CASE WHEN u.squeezed = cityops_squeeze(%(q)s) THEN 1 WHEN u.squeezed LIKE cityops_squeeze(%(starts)s) THEN 2
            ELSE 3 END,
       array_position(enum_range(NULL::tier), u.tier), char_length(u.name), u.id
FROM cityops_units_by_name(%(q)s, %(contains)s, '{group}', {candidates}) AS u
"""
NAME_GROUPS = (("areas", AREAS), ("grids", CANDIDATES), ("buildings", CANDIDATES))
BY_NAMES = tuple(BY_NAME.format(group=group, candidates=count) for group, count in NAME_GROUPS)
# cases by address, ranked after everything else: read only while the other finders have found fewer
# than ``limit`` (a one-time filter: the function is not called at all otherwise)
BY_ADDRESS = f"""
SELECT 'case', e.id, 4, 9, strpos(e.squeezed, cityops_squeeze(%(q)s)), -e.id
FROM cityops_cases_by_address(%(q)s, %(contains)s, {CANDIDATES}) AS e
WHERE (SELECT count(DISTINCT (kind, ref)) FROM ranked) < %(limit)s
"""
# the best hits, then what the map and the list need of them (names of a unit's chain, not of a
# management unit above an administrative one: 「南京市 浦口区 泰山街道」)
FOUND = f"""
WITH ranked (kind, ref, rank, tier, size, tie) AS MATERIALIZED ({{finders}}),
hits AS (SELECT * FROM ranked UNION ALL {BY_ADDRESS.strip()}),
top AS MATERIALIZED (
    SELECT kind, ref, min(rank) AS rank, min(tier) AS tier, min(size) AS size, min(tie) AS tie
    FROM hits GROUP BY kind, ref ORDER BY 3, 4, 5, 6 LIMIT %(limit)s
)
SELECT top.kind, coalesce(u.code, e.id::text) AS id, u.name, u.tier::text AS tier,
       CASE WHEN u.id IS NOT NULL THEN (
           SELECT string_agg(a->>'name', ' ' ORDER BY n) FROM json_array_elements(u.chain) WITH ORDINALITY AS c(a, n)
           WHERE a->>'kind' = 'administrative' OR a->>'code' = u.code) END AS place,
       e.state, e.category_code AS category, c.name AS category_name, e.address,
       ST_AsGeoJSON(coalesce(u.outline, u.geom, e.geom), 6)::json AS geometry,
       ST_XMin(coalesce(u.geom, e.geom)) AS west, ST_YMin(coalesce(u.geom, e.geom)) AS south,
       ST_XMax(coalesce(u.geom, e.geom)) AS east, ST_YMax(coalesce(u.geom, e.geom)) AS north,
       ST_X(e.geom) AS lon, ST_Y(e.geom) AS lat
FROM top
LEFT JOIN unit u ON top.kind <> 'case' AND u.id = top.ref
LEFT JOIN case_file e ON top.kind = 'case' AND e.id = top.ref
LEFT JOIN category c ON c.code = e.category_code
ORDER BY top.rank, top.tier, top.size, top.tie
"""
