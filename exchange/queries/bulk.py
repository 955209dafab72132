"""The SQL of the bulk exchange (``exchange/bulk_export.py``, ``exchange/bulk_import.py``).

The export builds each line in the server (``row_to_json`` over one block range of the table, the same
snapshot for every range) and streams it with COPY in CSV form whose quote and delimiter characters
never occur in JSON text (JSON escapes every control character), so each row arrives as exactly its
JSON and a newline.
"""

AS_LINES = "(FORMAT csv, QUOTE e'\\x01', DELIMITER e'\\x02')"
BLOCKS = "SELECT pg_relation_size(%s::regclass) / current_setting('block_size')::bigint"
EXPORT_CASES = f"""
COPY (
SELECT row_to_json(x) FROM (
  SELECT coalesce(e.external_id, %(prefix)s || e.id) AS id, e.id AS number, e.category_code AS category, e.severity,
         e.state, e.source, ST_X(e.geom) AS lon, ST_Y(e.geom) AS lat, e.address, e.description, e.filed_at,
         e.deadline, e.closed_at, e.created_at, ru.code AS responsible_unit, g.code AS grid, e.departments,
         e.handling_department, e.dispatched_at, e.version, e.routing_trace->>'rule' AS rule
  FROM case_file e JOIN unit ru ON ru.id = e.responsible_unit_id JOIN unit g ON g.id = e.grid_id
  WHERE e.ctid >= %(low)s::tid AND (%(high)s::tid IS NULL OR e.ctid < %(high)s::tid)
) x) TO STDOUT {AS_LINES}
"""
EXPORT_TRANSITIONS = f"""
COPY (
SELECT row_to_json(x) FROM (
  SELECT t.case_id AS case, t.seq, t.action, t.from_state, t.to_state, t.actor, t.role, tu.code AS unit,
         t.department, t.at, t.note, ST_X(t.geom) AS lon, ST_Y(t.geom) AS lat, tg.code AS grid, t.due, t.deadline,
         t.since, t.detail, t.hash
  FROM case_transition t LEFT JOIN unit tu ON tu.id = t.unit_id LEFT JOIN unit tg ON tg.id = t.grid_id
  WHERE t.ctid >= %(low)s::tid AND (%(high)s::tid IS NULL OR t.ctid < %(high)s::tid)
) x) TO STDOUT {AS_LINES}
"""

# ---- import: the parts are staged, checked set-wise, then written -------------------------------------
STAGE = """
CREATE TEMP TABLE exchange_case_in (
    part text, line int, id text, number bigint, category text, severity text, state text, source text,
    lon float8, lat float8, address text, description text, filed_at timestamptz, deadline timestamptz,
    closed_at timestamptz, created_at timestamptz, responsible_unit text, grid text, departments text[],
    handling_department text, dispatched_at timestamptz, version int, rule text,
    located_grid bigint, cell bigint, interior boolean,
    reason text, case_id bigint, known boolean NOT NULL DEFAULT false, stored_seq int NOT NULL DEFAULT 0
) ON COMMIT DROP;
CREATE TEMP TABLE exchange_transition_in (
    part text, line int, case_number bigint, seq int, action text, from_state text, to_state text, actor text,
    role text, unit text, department text, at timestamptz, note text, lon float8, lat float8, grid text,
    due timestamptz, deadline timestamptz, since timestamptz, detail jsonb, hash text, reason text
) ON COMMIT DROP
"""
COPY_CASES_IN = """
COPY exchange_case_in (part, line, id, number, category, severity, state, source, lon, lat, address, description,
    filed_at, deadline, closed_at, created_at, responsible_unit, grid, departments, handling_department,
    dispatched_at, version, rule, located_grid, cell, interior) FROM STDIN
"""
COPY_TRANSITIONS_IN = """
COPY exchange_transition_in (part, line, case_number, seq, action, from_state, to_state, actor, role, unit,
    department, at, note, lon, lat, grid, due, deadline, since, detail, hash) FROM STDIN
"""
INDEX_STAGED = """
CREATE INDEX ON exchange_case_in (number);
CREATE INDEX ON exchange_case_in (id);
CREATE INDEX ON exchange_transition_in (case_number, seq);
CREATE INDEX ON exchange_transition_in (seq);
ANALYZE exchange_case_in;
ANALYZE exchange_transition_in
"""
# each check names what to fix; a case keeps the first reason found
CHECKS = (
    """UPDATE exchange_case_in c SET reason = format('id %s repeats %s line %s', c.id, f.first_part, f.first_line)
       FROM (SELECT part, line, first_value(part) OVER w AS first_part, first_value(line) OVER w AS first_line,
                    row_number() OVER w AS n
             FROM exchange_case_in WINDOW w AS (PARTITION BY id ORDER BY part, line)) f
       WHERE f.n > 1 AND c.part = f.part AND c.line = f.line""",
    """UPDATE exchange_case_in c SET reason = 'number ' || c.number || ' is given to more than one case'
       WHERE c.reason IS NULL AND c.number IN (SELECT number FROM exchange_case_in GROUP BY 1 HAVING count(*) > 1)""",
    """UPDATE exchange_case_in c SET reason = 'category ' || c.category || ' is not one of this city''s categories'
       WHERE c.reason IS NULL AND NOT EXISTS (SELECT FROM category WHERE code = c.category)""",
    """UPDATE exchange_case_in c
       SET reason = 'responsible unit ' || c.responsible_unit || ' is not a unit of this city'
       WHERE c.reason IS NULL AND NOT EXISTS (SELECT FROM unit WHERE code = c.responsible_unit)""",
    """UPDATE exchange_case_in c SET reason = format('(%s, %s) lies outside this city''s grids', c.lon, c.lat)
       WHERE c.reason IS NULL AND c.located_grid IS NULL""",
    """UPDATE exchange_transition_in t SET reason = 'names case ' || t.case_number || ', which the export does not hold'
       WHERE NOT EXISTS (SELECT FROM exchange_case_in c WHERE c.number = t.case_number)""",
    """UPDATE exchange_case_in c SET reason = r.reason
       FROM (SELECT DISTINCT ON (t.case_number) t.case_number,
                    format('move %s names unit %s, which is not a unit of this city', t.seq,
                           CASE WHEN t.unit IS NOT NULL AND u.id IS NULL THEN t.unit ELSE t.grid END) AS reason
             FROM exchange_transition_in t
             LEFT JOIN unit u ON u.code = t.unit LEFT JOIN unit g ON g.code = t.grid
             WHERE (t.unit IS NOT NULL AND u.id IS NULL) OR (t.grid IS NOT NULL AND g.id IS NULL)
             ORDER BY t.case_number, t.seq) r
       WHERE c.reason IS NULL AND c.number = r.case_number""",
    """UPDATE exchange_case_in c SET reason = 'has no moves'
       WHERE c.reason IS NULL AND NOT EXISTS (SELECT FROM exchange_transition_in t WHERE t.case_number = c.number)""",
    """UPDATE exchange_case_in c SET reason = CASE
           WHEN m.first <> 1 OR m.last <> m.moves OR m.distinct_seqs <> m.moves
               THEN format('its moves are not one chain from 1 (%s moves, numbered %s to %s)', m.moves, m.first,
                           m.last)
           ELSE format('its last move leaves it %s, the record says %s', m.last_state, c.state) END
       FROM (SELECT case_number, count(*) AS moves, min(seq) AS first, max(seq) AS last,
                    count(DISTINCT seq) AS distinct_seqs, (array_agg(to_state ORDER BY seq DESC))[1] AS last_state
             FROM exchange_transition_in GROUP BY case_number) m
       WHERE c.reason IS NULL AND m.case_number = c.number
         AND (m.first <> 1 OR m.last <> m.moves OR m.distinct_seqs <> m.moves OR m.last_state <> c.state)""",
)
# a case already here (its source id kept): how far its chain goes here, and the source's hash of that move
KNOWN = """
UPDATE exchange_case_in c SET known = true, case_id = e.id,
       stored_seq = coalesce((SELECT max(seq) FROM case_transition t WHERE t.case_id = e.id), 0)
FROM case_file e WHERE e.external_id = c.id AND c.reason IS NULL
"""
DIVERGED = """
UPDATE exchange_case_in c
SET reason = format('its moves here differ from the export''s at move %s (another case with this id, or a history '
                    'rewritten at the source)', c.stored_seq)
FROM exchange_transition_in t, case_transition here
WHERE c.known AND c.reason IS NULL AND c.stored_seq > 0
  AND t.case_number = c.number AND t.seq = c.stored_seq AND here.case_id = c.case_id AND here.seq = c.stored_seq
  AND here.detail #>> '{exchange,hash}' IS DISTINCT FROM t.hash
"""
OUTCOMES = """
SELECT count(*) FILTER (WHERE reason IS NULL AND NOT known),
       count(*) FILTER (WHERE reason IS NULL AND known AND m.last > stored_seq),
       count(*) FILTER (WHERE reason IS NULL AND known AND coalesce(m.last, 0) <= stored_seq)
FROM exchange_case_in c
LEFT JOIN LATERAL (SELECT max(seq) AS last FROM exchange_transition_in t WHERE t.case_number = c.number) m ON true
"""
REJECTED = """
SELECT part, line, reason FROM exchange_case_in WHERE reason IS NOT NULL
UNION ALL
SELECT part, line, reason FROM exchange_transition_in WHERE reason IS NOT NULL
ORDER BY 1, 2
"""
INSERT_CASES = """
WITH last_moves AS (
    SELECT DISTINCT ON (case_number) case_number, at FROM exchange_transition_in ORDER BY case_number, seq DESC
), written AS (
    INSERT INTO case_file (external_id, import_batch_id, category_code, severity, state, geom, cell, grid_id,
        responsible_unit_id, departments, filed_at, deadline, closed_at, routing_trace, description, address, source,
        report_count, created_at, updated_at, version, stage_at, handling_department, dispatched_at)
    SELECT c.id, %(batch)s, c.category, c.severity::severity, c.state, ST_SetSRID(ST_MakePoint(c.lon, c.lat), 4326),
           c.cell, c.located_grid, u.id, c.departments, c.filed_at, c.deadline, c.closed_at,
           jsonb_strip_nulls(jsonb_build_object('cell', to_hex(c.cell), 'resolution', %(resolution)s::int,
               'index', CASE WHEN c.interior THEN 'interior' ELSE 'boundary' END, 'rule', c.rule,
               'received_from', %(source)s::text, 'source_id', c.id, 'import_batch', %(batch)s::int)),
           c.description, c.address, c.source::report_source, 0, c.created_at, now(), c.version, l.at,
           c.handling_department, c.dispatched_at
    FROM exchange_case_in c JOIN unit u ON u.code = c.responsible_unit
    JOIN last_moves l ON l.case_number = c.number
    WHERE c.reason IS NULL AND NOT c.known
    RETURNING id, external_id
)
UPDATE exchange_case_in c SET case_id = w.id FROM written w WHERE w.external_id = c.id
"""
MOVE_LEVELS = """
SELECT min(t.seq), max(t.seq) FROM exchange_transition_in t
JOIN exchange_case_in c ON c.number = t.case_number AND c.reason IS NULL AND t.seq > c.stored_seq
"""
# one level of every chain at a time: move n's prev_hash is move n-1's hash, written by the level before;
# the hash is the database's own formula over the row as it will be stored (the chain trigger is paused,
# because it would stamp the move with the import's time); MATERIALIZED, or each (m).field would build the row again
INSERT_MOVES = """
WITH moves AS MATERIALIZED (
    SELECT jsonb_populate_record(NULL::case_transition, jsonb_build_object(
        'case_id', c.case_id, 'seq', t.seq, 'action', t.action, 'from_state', t.from_state,
        'to_state', t.to_state, 'actor', t.actor,
        'roles', CASE WHEN t.role IS NULL THEN '{}'::text[] ELSE ARRAY[t.role] END, 'unit_id', u.id, 'at', t.at,
        'geom', CASE WHEN t.lon IS NOT NULL AND t.lat IS NOT NULL
                     THEN encode(ST_AsEWKB(ST_SetSRID(ST_MakePoint(t.lon, t.lat), 4326)), 'hex') END,
        'note', t.note, 'evidence', '{}'::text[], 'prev_hash', coalesce(p.hash, repeat('0', 64)),
        'role', t.role, 'department', t.department, 'grid_id', g.id, 'due', t.due, 'deadline', t.deadline,
        'since', t.since,
        'detail', coalesce(t.detail, '{}'::jsonb)
                  || jsonb_build_object('exchange', jsonb_build_object('source', %(source)s::text, 'hash', t.hash))
    )) AS m
    FROM exchange_transition_in t
    JOIN exchange_case_in c ON c.number = t.case_number AND c.reason IS NULL AND t.seq > c.stored_seq
    LEFT JOIN case_transition p ON p.case_id = c.case_id AND p.seq = t.seq - 1
    LEFT JOIN unit u ON u.code = t.unit
    LEFT JOIN unit g ON g.code = t.grid
    WHERE t.seq = %(seq)s
)
INSERT INTO case_transition (case_id, seq, action, from_state, to_state, actor, roles, unit_id, at, geom, note,
    evidence, prev_hash, hash, role, department, grid_id, due, deadline, since, detail)
SELECT (m).case_id, (m).seq, (m).action, (m).from_state, (m).to_state, (m).actor, (m).roles, (m).unit_id, (m).at,
       (m).geom, (m).note, (m).evidence, (m).prev_hash, cityops_transition_hash(m), (m).role, (m).department,
       (m).grid_id, (m).due, (m).deadline, (m).since, (m).detail
FROM moves
"""
# a known case that moved on at the source: it now stands where its last move leaves it
ADVANCE_KNOWN = """
UPDATE case_file e SET state = c.state, version = c.version, deadline = c.deadline, closed_at = c.closed_at,
       handling_department = c.handling_department, dispatched_at = c.dispatched_at, departments = c.departments,
       stage_at = l.at, updated_at = now()
FROM exchange_case_in c
JOIN LATERAL (SELECT at, seq FROM exchange_transition_in t WHERE t.case_number = c.number
              ORDER BY seq DESC LIMIT 1) l ON true
WHERE c.known AND c.reason IS NULL AND l.seq > c.stored_seq AND e.id = c.case_id
"""
# an open case waits in the queues at its last move's due time (the deadline when the move set none)
OPEN_CLOCKS = """
INSERT INTO case_clock (case_id, due_at)
SELECT c.case_id, coalesce(l.due, c.deadline) FROM exchange_case_in c
JOIN LATERAL (SELECT due FROM exchange_transition_in t WHERE t.case_number = c.number
              ORDER BY seq DESC LIMIT 1) l ON true
WHERE c.reason IS NULL AND c.case_id IS NOT NULL AND c.state NOT IN ('closed', 'void')
ON CONFLICT (case_id) DO UPDATE SET due_at = excluded.due_at
"""
COUNT_WRITTEN_MOVES = """
SELECT count(*) FROM exchange_transition_in t
JOIN exchange_case_in c ON c.number = t.case_number AND c.reason IS NULL AND t.seq > c.stored_seq
"""
