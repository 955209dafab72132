"""The closed loop's moves: one transition of a case, checked against the state machine (data).

A move names the action and the case version the caller saw. An unknown action is 422, one the
caller's roles allow from no state 403, before any case is read. In one transaction the case row is
locked, the version compared (a stale caller loses with 409 — no lost update), the action looked
up from the current state (409 lists what is allowed), the caller's permission checked (403), a
check or approval done by another hand than the step it judges (403), evidence and notes required where the
machine says so (422); then the transition row is appended (numbered and hash-chained by the
database) and the case moves. The answer carries the new state, version and the actions open to
this caller next.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from command.users import User
from spatial.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError

SHA256 = re.compile(r"^[0-9a-f]{64}$")
CHANGES = "cityops_events"
LOCK = "SELECT state, version FROM event WHERE id = %s FOR UPDATE"
MOVES = """
SELECT action, to_state, permission, other_hand, needs_evidence, needs_note FROM case_action WHERE from_state = %s
"""
PERMISSIONS = "SELECT DISTINCT permission FROM case_action WHERE action = %s"
ACTIONS = "SELECT DISTINCT action FROM case_action ORDER BY action"
PREVIOUS = "SELECT actor, action FROM case_transition WHERE event_id = %s ORDER BY seq DESC LIMIT 1"
APPEND = """
INSERT INTO case_transition (event_id, seq, action, from_state, to_state, actor, roles, unit_id, geom, note,
                             evidence, prev_hash, hash)
VALUES (%s, 0, %s, %s, %s, %s, %s, %s, CASE WHEN %s::float8 IS NULL THEN NULL
        ELSE ST_SetSRID(ST_MakePoint(%s, %s), 4326) END, %s, %s, '', '')
RETURNING id, seq, at, hash
"""
MOVE = """
UPDATE event SET state = %s, version = version + 1, updated_at = now(),
       closed_at = CASE WHEN %s = 'closed' THEN now() WHEN %s = 'filed' THEN NULL ELSE closed_at END
WHERE id = %s RETURNING version
"""
HISTORY = """
SELECT id, seq, action, from_state, to_state, actor, roles, at, ST_X(geom) AS lon, ST_Y(geom) AS lat, note, evidence,
       hash FROM case_transition WHERE event_id = %s ORDER BY seq
"""


@dataclass(frozen=True)
class Move:
    """One row of the state machine, from the case's current state."""

    action: str
    to_state: str
    permission: str
    other_hand: bool
    needs_evidence: bool
    needs_note: bool


@dataclass(frozen=True)
class Step:
    """What the caller asks: the action, the version they saw, and what they bring."""

    action: str
    version: int
    note: str = ""
    evidence: tuple[str, ...] = ()
    position: tuple[float, float] | None = None


async def moves_from(conn: psycopg.AsyncConnection, state: str) -> list[Move]:
    """The machine's actions out of ``state``."""
    return [Move(*row) for row in await (await conn.execute(MOVES, (state,), prepare=True)).fetchall()]


def open_to(moves: list[Move], user: User) -> list[str]:
    """The actions this user's permissions allow (other-hand rules are checked when acting)."""
    return sorted(m.action for m in moves if user.may(m.permission))


async def _may_ever(conn: psycopg.AsyncConnection, action: str, user: User) -> None:
    """Refuse an unknown action (422) or one the caller may take from no state at all (403), before any case."""
    needed = {row[0] for row in await (await conn.execute(PERMISSIONS, (action,), prepare=True)).fetchall()}
    if not needed:
        known = [row[0] for row in await (await conn.execute(ACTIONS)).fetchall()]
        raise InvalidInputError(f"unknown action {action!r}; actions: {', '.join(known)}")
    if not any(user.may(p) for p in needed):
        raise ForbiddenError(f"{action} needs permission {' or '.join(sorted(needed))}")


async def _check(conn: psycopg.AsyncConnection, case_id: int, state: str, step: Step, user: User) -> Move:
    moves = await moves_from(conn, state)
    move = next((m for m in moves if m.action == step.action), None)
    if move is None:
        allowed = ", ".join(sorted(m.action for m in moves)) or "none (final)"
        raise ConflictError(f"case {case_id} is {state}: {step.action!r} is not allowed; allowed: {allowed}")
    if not user.may(move.permission):
        raise ForbiddenError(f"{step.action} needs permission {move.permission}")
    if move.other_hand:  # a check, an approval: never by whoever took the step being checked or approved
        previous = await (await conn.execute(PREVIOUS, (case_id,))).fetchone()
        if previous is not None and previous[0] == user.username:
            raise ForbiddenError(f"{step.action} must be done by another hand than {previous[1]} "
                                 f"(done by {user.username})")  # fmt: skip
    if move.needs_evidence and not step.evidence:
        raise InvalidInputError(f"{step.action} needs evidence: the SHA-256 of at least one photo or video")
    if move.needs_note and not step.note.strip():
        raise InvalidInputError(f"{step.action} needs a note saying why")
    return move


async def transition(conn: psycopg.AsyncConnection, case_id: int, step: Step, user: User) -> dict[str, Any]:
    """Move the case one step (see the module docstring for every refusal)."""
    bad = [h for h in step.evidence if not SHA256.match(h)]
    if bad:
        raise InvalidInputError(f"evidence items are lower-case hex SHA-256 hashes; not: {', '.join(bad[:3])}")
    await _may_ever(conn, step.action, user)
    async with conn.transaction():
        row = await (await conn.execute(LOCK, (case_id,))).fetchone()
        if row is None:
            raise NotFoundError(f"no case {case_id}")
        state, version = row
        if version != step.version:
            raise ConflictError(f"case {case_id} changed since version {step.version} (now {version}, {state}): "
                                "reload it and decide again")  # fmt: skip
        move = await _check(conn, case_id, state, step, user)
        lon, lat = step.position or (None, None)
        appended = await (await conn.execute(APPEND, (
            case_id, step.action, state, move.to_state, user.username, list(user.roles), user.unit_id, lon, lon, lat,
            step.note, list(step.evidence)))).fetchone()  # fmt: skip
        moved = await (await conn.execute(MOVE, (move.to_state, move.to_state, move.to_state, case_id))).fetchone()
        await conn.execute("SELECT pg_notify(%s, %s)", (CHANGES, f"{move.to_state}:{case_id}"))
    assert appended is not None and moved is not None
    return {"case_id": case_id, "state": move.to_state, "version": moved[0],
            "transition": {"id": appended[0], "seq": appended[1], "action": step.action, "from": state,
                           "at": appended[2].isoformat(), "hash": appended[3]},
            "next": open_to(await moves_from(conn, move.to_state), user)}  # fmt: skip


async def history(conn: psycopg.AsyncConnection, case_id: int, user: User) -> dict[str, Any]:
    """A visible case's transitions in order, its state and version, and the actions open to the caller."""
    row = await (await conn.execute("SELECT state, version FROM event WHERE id = %s", (case_id,))).fetchone()
    if row is None:
        raise NotFoundError(f"no case {case_id}")
    async with conn.cursor(row_factory=dict_row) as cur:
        rows = await (await cur.execute(HISTORY, (case_id,))).fetchall()
    items = [{k: v.isoformat() if isinstance(v, datetime) else v for k, v in r.items()} for r in rows]
    return {"case_id": case_id, "state": row[0], "version": row[1], "transitions": items,
            "next": open_to(await moves_from(conn, row[0]), user)}  # fmt: skip
