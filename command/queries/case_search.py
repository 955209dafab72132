"""The SQL of the case list's filters (``command/case_search.py``): a case number or unit resolved, the states and
departments to offer.
"""

# one round trip: the category by code or name, the unit by code (its depth, and whether it is the
# caller's or below), whether the state and department exist; the lists for the messages
RESOLVE_SQL = """
SELECT (SELECT c.code FROM category c WHERE c.code = %(category)s OR c.name = %(category)s
            OR lower(c.name_en) = lower(%(category)s::text) ORDER BY c.code = %(category)s DESC LIMIT 1),
       (SELECT ARRAY[u.id, cardinality(u.ancestors) + 1, (%(caller)s = ANY(u.ancestors || u.id))::int,
                     (u.tier = 'building')::int] FROM unit u WHERE u.code = %(unit)s),
       %(state)s::text IS NULL
           OR %(state)s IN (SELECT to_state FROM case_action UNION SELECT from_state FROM case_action),
       %(department)s::text IS NULL
           OR EXISTS (SELECT FROM category c WHERE c.departments @> ARRAY[%(department)s::text])
"""
STATES_SQL = "SELECT from_state FROM case_action UNION SELECT to_state FROM case_action ORDER BY 1"
DEPARTMENTS_SQL = "SELECT DISTINCT unnest(departments) FROM category ORDER BY 1"
