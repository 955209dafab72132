"""The SQL of the historic import (``command/historic_import.py``): bulk rows, open clocks, known ids and units."""

BULK_OBJECTS_SQL = """
SELECT 'index', indexname, indexdef FROM pg_indexes
WHERE tablename = 'case_file' AND schemaname = current_schema()
  AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = 'case_file'::regclass)
UNION ALL
SELECT 'constraint', conname, pg_get_constraintdef(oid) FROM pg_constraint
WHERE conrelid = 'case_file'::regclass AND contype IN ('f', 'u')
"""
# an open case imported without its history waits in the queues at its deadline; its escalations were the
# source system's, so the deadline watch does not escalate a whole import at its next round (escalate_at NULL)
OPEN_CLOCKS = """
INSERT INTO case_clock (case_id, due_at)
SELECT id, deadline FROM case_file WHERE import_batch_id = %s AND state NOT IN ('closed', 'void')
ON CONFLICT (case_id) DO NOTHING
"""
KNOWN_IDS_SQL = "SELECT external_id FROM case_file WHERE external_id = ANY(%s)"
UNITS_SQL = "SELECT id, chain::text, boundary_version_id, (ancestors || id)::text FROM unit WHERE id = ANY(%s)"
