"""The SQL of reporter follow-up (``command/follow_up.py``): claim the due messages, mark them sent or retried, rate."""

CLAIM = """
UPDATE follow_up f SET attempts = attempts + 1, next_attempt_at = now() + %s
FROM (SELECT id FROM follow_up WHERE state = 'pending' AND next_attempt_at <= now()
      ORDER BY next_attempt_at LIMIT %s FOR UPDATE SKIP LOCKED) AS due
WHERE f.id = due.id
RETURNING f.id, f.report_id, f.case_id, f.channel, f.outcome, f.message, f.attempts
"""
SENT = "UPDATE follow_up SET state = 'sent', sent_at = now(), last_error = NULL WHERE id = %s"
RETRY = """
UPDATE follow_up SET last_error = %s, next_attempt_at = now() + %s,
       state = CASE WHEN attempts >= %s THEN 'failed' ELSE 'pending' END
WHERE id = %s
"""
RATE = "SELECT * FROM cityops_rate_report(%s, %s, %s)"
