"""Every case's transition chain checked by the database (``cityops_verify_transitions``).

The audit trail has its own chain (``spatial.audit.verify``); a case's transitions carry another,
and `cityops audit verify` answers for both.
"""

from __future__ import annotations

from sqlalchemy import Connection, text


def first_broken_transition(conn: Connection) -> tuple[int, int, str] | None:
    """The first misfit (case, transition's seq, problem), None when every chain and state is consistent."""
    broken = conn.execute(text("SELECT case_id, seq, problem FROM cityops_verify_transitions() LIMIT 1")).first()
    return (broken[0], broken[1], broken[2]) if broken else None


def transition_count(conn: Connection) -> int:
    """Case transitions stored, across every case."""
    return conn.execute(text("SELECT count(*) FROM case_transition")).scalar_one()
