"""The SQL of recurrence (``command/recurrence.py``): detecting places where one category keeps coming back, proposing
a root-cause task for each (one open proposal per place and category) and deciding it.
"""

DETECT = """
WITH recent AS (
    SELECT cityops_h3_parent(e.cell, %(resolution)s) AS cell, e.category_code, e.id, e.filed_at
    FROM case_file e
    WHERE e.units @> ARRAY[%(scope)s::bigint] AND e.filed_at >= %(since)s AND e.state <> 'void' {categories}
), decided AS (
    SELECT cell, category_code, max(decided_at) AS at FROM root_cause_proposal WHERE state <> 'proposed'
    GROUP BY 1, 2
), places AS (
    SELECT r.cell, r.category_code, count(*) AS n, min(r.filed_at) AS first_at, max(r.filed_at) AS last_at,
           array_agg(r.id ORDER BY r.filed_at) AS case_ids
    FROM recent r LEFT JOIN decided d ON d.cell = r.cell AND d.category_code = r.category_code
    WHERE d.at IS NULL OR r.filed_at > d.at
    GROUP BY 1, 2 HAVING count(*) >= %(times)s
)
SELECT p.cell, p.category_code, c.name AS category, p.n, p.first_at, p.last_at, p.case_ids, latest.units,
       o.id AS proposal_id
FROM places p
JOIN category c ON c.code = p.category_code
JOIN case_file latest ON latest.id = p.case_ids[array_upper(p.case_ids, 1)]
LEFT JOIN root_cause_proposal o ON o.cell = p.cell AND o.category_code = p.category_code AND o.state = 'proposed'
ORDER BY p.n DESC, p.last_at DESC
LIMIT %(limit)s
"""
PROPOSE = """
INSERT INTO root_cause_proposal (cell, category_code, units, case_ids, case_count, window_days, first_filed_at,
                                 last_filed_at, proposed_by)
VALUES (%(cell)s, %(category_code)s, %(units)s, %(case_ids)s, %(n)s, %(days)s, %(first_at)s, %(last_at)s, %(actor)s)
ON CONFLICT (cell, category_code) WHERE state = 'proposed' DO UPDATE
SET units = EXCLUDED.units, case_ids = EXCLUDED.case_ids, case_count = EXCLUDED.case_count,
    window_days = EXCLUDED.window_days, first_filed_at = EXCLUDED.first_filed_at,
    last_filed_at = EXCLUDED.last_filed_at, updated_at = now()
RETURNING id, (xmax = 0) AS created
"""
COLUMNS = """id, cell, category_code, case_ids, case_count, window_days, first_filed_at, last_filed_at, state,
    proposed_by, proposed_at, updated_at, decided_by, decided_at, note"""
DECIDE = f"""
UPDATE root_cause_proposal SET state = %(decision)s, decided_by = %(actor)s, decided_at = now(), note = %(note)s,
       updated_at = now()
WHERE id = %(id)s AND state = 'proposed'
RETURNING {COLUMNS}
"""
