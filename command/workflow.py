"""The closed loop's moves: one transition of a case, checked against the state machine (data).

A move names the action and the case version the caller saw. An unknown action is 422, one the
caller's roles allow from no state 403, before any case is read. In one transaction the case row is
locked, the version compared (a stale caller loses with 409 — no lost update), the action looked
up from the current state (409 lists what is allowed), the caller's permission checked (403), a
check or approval done by another hand than the step it judges (403), evidence and notes required
where the machine says so (422), every evidence hash a file stored for this case — its reports' media
or evidence uploaded to it (``command.case_media``) — else 422 naming the others; then the
transition row is appended (numbered and hash-chained by the database), the case moves and its
clocks with it (``command.case_clocks``), and a close or a void queues the outcome for every
reporter (``follow_up``). The answer carries the new state, version, deadlines and the actions
open to this caller next.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import psycopg
from psycopg.rows import dict_row

from command.case_clocks import Clocks, StageLimits, advance
from command.case_states import CaseState
from command.intake import CHANNEL
from command.queries.workflow import CLOCKS, FOLLOW_UP, HISTORY, JUDGED, LOCK, MACHINE, MOVE, ON_SITE, UNKNOWN_EVIDENCE
from command.users import User
from command.working_time import LimitKind, TimeLimit, WorkingCalendar
from spatial.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError, StaleVersionError

SHA256 = re.compile(r"^[0-9a-f]{64}$")
# what the reporters hear when their case ends (their channel's sender words it further)
OUTCOMES = {
    "close": "您反映的问题已办结 / your report has been resolved",
    "void": "您反映的问题经核实不予立案 / your report was not taken up",
}


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
    extend_by: float | None = None  # request_extension: how much, in the category's kind of time
    department: str | None = None  # dispatch: which of the case's departments handles it


@dataclass(frozen=True)
class Rules:
    """What moves follow and are measured against: the machine, the working calendar, each stage's limit.

    The machine (``case_action``) and the stage limits are data read when the API starts; a
    changed table takes effect with the next start.
    """

    calendar: WorkingCalendar
    stages: StageLimits
    moves: dict[str, tuple[Move, ...]]  # by from-state

    @classmethod
    async def load(cls, conn: psycopg.AsyncConnection, calendar: WorkingCalendar) -> Rules:
        """The machine and the stage limits as the database holds them now."""
        moves: dict[str, list[Move]] = {}
        for from_state, *row in await (await conn.execute(MACHINE)).fetchall():
            moves.setdefault(from_state, []).append(Move(*row))
        return cls(calendar, await StageLimits.load(conn), {state: tuple(m) for state, m in moves.items()})

    def open_to(self, state: str, user: User) -> list[str]:
        """The actions out of ``state`` this user's permissions allow (other-hand rules are checked when acting)."""
        return sorted(m.action for m in self.moves.get(state, ()) if user.may(m.permission))

    def may_ever(self, action: str, user: User) -> None:
        """Refuse an unknown action (422) or one the caller may take from no state at all (403), before any case."""
        needed = {m.permission for moves in self.moves.values() for m in moves if m.action == action}
        if not needed:
            known = sorted({m.action for moves in self.moves.values() for m in moves})
            raise InvalidInputError(f"unknown action {action!r}; actions: {', '.join(known)}")
        if not any(user.may(p) for p in needed):
            raise ForbiddenError(f"{action} needs permission {' or '.join(sorted(needed))}")


@dataclass(frozen=True)
class Mover:
    """Who moves the case: a user, or the system on someone's behalf (a reporter, the scheduler)."""

    name: str
    roles: tuple[str, ...] = ()
    unit_id: int | None = None

    @classmethod
    def of(cls, user: User) -> Mover:
        """The user as mover."""
        return cls(user.username, user.roles, user.unit_id)


def _check_form(step: Step) -> None:
    bad = [h for h in step.evidence if not SHA256.match(h)]
    if bad:
        raise InvalidInputError(f"evidence items are lower-case hex SHA-256 hashes; not: {', '.join(bad[:3])}")
    if step.extend_by is not None and step.action != "request_extension":
        raise InvalidInputError("extend_by goes with request_extension only")
    if step.department is not None and step.action != "dispatch":
        raise InvalidInputError("department goes with dispatch only")


async def _check(
    conn: psycopg.AsyncConnection, case_id: int, state: str, step: Step, user: User | None, rules: Rules
) -> tuple[Move, dict[str, Any] | None]:
    """The move ``step`` makes from ``state`` and, for a check or an approval, the detail of the step it judges.

    Refused as the module docstring says (no user: the system, which no rule of hands binds).
    """
    moves = rules.moves.get(state, ())
    move = next((m for m in moves if m.action == step.action), None)
    if move is None:
        allowed = ", ".join(sorted(m.action for m in moves)) or "none (final)"
        raise ConflictError(f"case {case_id} is {state}: {step.action!r} is not allowed; allowed: {allowed}")
    if user is not None and not user.may(move.permission):
        raise ForbiddenError(f"{step.action} needs permission {move.permission}")
    judged = await (await conn.execute(JUDGED, (case_id,))).fetchone() if move.other_hand else None
    if user is not None and judged is not None and judged[0] == user.username:  # never by whoever took that step
        raise ForbiddenError(f"{step.action} must be done by another hand than {judged[1]} (done by {user.username})")
    if move.needs_evidence and not step.evidence:
        raise InvalidInputError(f"{step.action} needs evidence: the SHA-256 of at least one photo or video")
    if move.needs_note and not step.note.strip():
        raise InvalidInputError(f"{step.action} needs a note saying why")
    if step.evidence:
        await _evidence_stored(conn, case_id, step.evidence)
    return move, None if judged is None else judged[2]


async def _evidence_stored(conn: psycopg.AsyncConnection, case_id: int, evidence: tuple[str, ...]) -> None:
    named = {"evidence": list(dict.fromkeys(evidence)), "case": case_id}
    unknown = [row[0] for row in await (await conn.execute(UNKNOWN_EVIDENCE, named)).fetchall()]
    if unknown:
        raise InvalidInputError(
            f"evidence not stored for case {case_id}: {', '.join(unknown)}; upload each photo "
            f"or video to the case first (POST /api/v1/cases/{case_id}/media) and name "
            "the hash that answers"
        )


async def _apply(
    conn: psycopg.AsyncConnection, case_id: int, step: Step, mover: Mover, user: User | None, rules: Rules
) -> dict[str, Any]:
    """Inside the caller's transaction: lock, check, then append + move + announce in one statement."""
    row = await (await conn.execute(LOCK, (case_id,), prepare=True)).fetchone()
    if row is None:
        raise NotFoundError(f"no case {case_id}")
    state, version, now, *clock_values, departments, department, stage_at, limit_value, limit_kind = row
    if version != step.version:
        raise StaleVersionError(
            f"case {case_id} changed since version {step.version} (now {version}, {state}): reload it and decide again"
        )
    move, judged_detail = await _check(conn, case_id, state, step, user, rules)
    if step.action == "dispatch":
        if step.department is not None and step.department not in departments:
            raise InvalidInputError(f"case {case_id} is for {', '.join(departments)}; not {step.department!r}")
        department = step.department or next(iter(departments), None)
    before = Clocks(*clock_values)
    extend_by = (judged_detail or {}).get("extend_by") if step.action == "approve_extension" else None
    after = advance(
        before,
        step.action,
        state,
        move.to_state,
        now,
        category_limit=TimeLimit(float(limit_value), LimitKind(limit_kind)),
        stages=rules.stages,
        calendar=rules.calendar,
        extend_by=extend_by,
    )
    since = {"feedback": before.dispatched_at, "close": before.filed_at}.get(step.action, stage_at)
    detail = {"extend_by": step.extend_by} if step.extend_by is not None else None
    notice = {
        "type": "transition",
        "case_id": str(case_id),
        "action": step.action,
        "state": move.to_state,
        "version": version + 1,
    }
    lon, lat = step.position or (None, None)
    moved = await (
        await conn.execute(
            MOVE,
            {
                "case": case_id,
                "action": step.action,
                "from": state,
                "to": move.to_state,
                "actor": mover.name,
                "roles": list(mover.roles),
                "unit": mover.unit_id,
                "lon": lon,
                "lat": lat,
                "note": step.note,
                "evidence": list(step.evidence),
                "permission": move.permission,
                "department": department,
                "due": before.due_at,
                "since": since,
                "detail": None if detail is None else orjson.dumps(detail).decode(),
                "channel": CHANNEL,
                "notice": orjson.dumps(notice).decode(),
                **after.__dict__,
            },
            prepare=True,
        )
    ).fetchone()
    assert moved is not None
    transition_id, seq, at, digest, new_version, deadline, due_at, _ = moved
    if step.action in OUTCOMES:
        await conn.execute(FOLLOW_UP, (case_id, transition_id, move.to_state, OUTCOMES[step.action]))
    return {
        "case_id": case_id,
        "state": move.to_state,
        "version": new_version,
        "deadline": deadline.isoformat(),
        "due_at": None if due_at is None else due_at.isoformat(),
        "transition": {
            "id": transition_id,
            "seq": seq,
            "action": step.action,
            "from": state,
            "at": at.isoformat(),
            "hash": digest,
        },
    }


async def transition(
    conn: psycopg.AsyncConnection, case_id: int, step: Step, user: User, rules: Rules
) -> dict[str, Any]:
    """Move the case one step for ``user`` (see the module docstring for every refusal)."""
    _check_form(step)
    rules.may_ever(step.action, user)
    async with conn.transaction():
        moved = await _apply(conn, case_id, step, Mover.of(user), user, rules)
    return {**moved, "next": rules.open_to(moved["state"], user)}


async def system_move(
    conn: psycopg.AsyncConnection, case_id: int, action: str, mover: Mover, note: str, rules: Rules
) -> dict[str, Any] | None:
    """Move the case for the system (a reporter's reopening, say) if ``action`` is open from its state now.

    No permission applies: the caller decided that the system may. The case is locked and moved
    like any other move; ``None`` when the case is no longer where the action leads from.
    """
    async with conn.transaction():
        current = await (
            await conn.execute("SELECT state, version FROM case_file WHERE id = %s", (case_id,))
        ).fetchone()
        if current is None or not any(m.action == action for m in rules.moves.get(current[0], ())):
            return None
        try:
            return await _apply(conn, case_id, Step(action, current[1], note), mover, None, rules)
        except ConflictError:  # moved meanwhile: the other mover's decision stands
            return None


async def history(conn: psycopg.AsyncConnection, case_id: int, user: User, rules: Rules) -> dict[str, Any]:
    """A visible case's transitions in order, state, version, clocks, and the actions open to the caller.

    A case waiting for its check names the grid workers of its grid: the standard prefers the
    check done on site by the grid's own worker (any other hand than the handler may do it).
    """
    row = await (await conn.execute(CLOCKS, (case_id,))).fetchone()
    if row is None:
        raise NotFoundError(f"no case {case_id}")
    state, version, deadline, due_at, review_at, supervised, escalations = row
    async with conn.cursor(row_factory=dict_row) as cur:
        rows = await (await cur.execute(HISTORY, (case_id,))).fetchall()
    items = [{k: v.isoformat() if isinstance(v, datetime) else v for k, v in r.items()} for r in rows]
    on_site = (
        [r[0] for r in await (await conn.execute(ON_SITE, (case_id,))).fetchall()]
        if state == CaseState.CHECKING
        else []
    )
    return {
        "case_id": case_id,
        "state": state,
        "version": version,
        "deadline": deadline.isoformat(),
        "due_at": due_at and due_at.isoformat(),
        "review_at": review_at and review_at.isoformat(),
        "supervised": supervised,
        "escalations": escalations,
        "transitions": items,
        "checkers_on_site": on_site,
        "next": rules.open_to(state, user),
    }
