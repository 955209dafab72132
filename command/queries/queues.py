"""The SQL of the work queues (``command/queues.py``): counts per queue, a page of cards, one card."""

COUNTS = "SELECT state, mine, cases, late FROM cityops_queue_counts(%(states)s, %(department)s)"
# what a card shows of a case; ``due``: the stage's due time, else the case's deadline
CARD = """
SELECT e.id, e.state, e.version, e.severity::text AS severity, e.category_code AS category, c.name AS category_name,
       c.name_en AS category_name_en, e.description, e.address, e.source::text AS source, e.departments,
       e.handling_department AS department,
       e.supervised, e.escalations, e.created_at, coalesce(q.due, e.deadline) AS due, e.deadline,
       coalesce(q.due, e.deadline) < now() AS late, g.name AS grid_name, u.name AS unit_name
FROM {source} JOIN case_file e ON e.id = q.id JOIN category c ON c.code = e.category_code
JOIN unit g ON g.id = e.grid_id JOIN unit u ON u.id = e.responsible_unit_id
ORDER BY q.n
"""
# a page of the queue: the ids in order from the clock index (migration 0021), then the cards of that page
ITEMS = CARD.format(
    source="cityops_queue(%(states)s, %(handled_by)s, %(late_only)s, %(limit)s, %(offset)s) "
    "WITH ORDINALITY AS q (id, due, n)"
)
ONE = CARD.format(
    source="(SELECT k.case_id, k.due_at, 1 FROM case_clock k WHERE k.case_id = %(case)s "
    "UNION ALL SELECT %(case)s, NULL, 2 ORDER BY 3 LIMIT 1) AS q (id, due, n)"
)
