"""Sending forces: assign atomically, release; borrow another unit's force by request (the force's
answers — accept, arrive, complete, unable — are ``forces.answers``).

An assignment is booked in one transaction for all the forces asked for, or for none: the
forces are locked in id order (two commanders asking for overlapping sets cannot deadlock),
each must be available, fresh and on shift, and the partial unique index of migration 0012 is
the last word should anything slip past — so a commander racing another gets 409 naming the
case that holds the force, never a double booking. A force an active incident holds is booked only by
its command (a trigger of the incidents schema refuses anyone else with "object in use": a 409 in
its own words). Everything runs in the caller's scope
(row-level security): a force of another unit is not theirs to assign, it is requested from
its unit (``request_force``) and committed by that unit (``commit_request``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row

from forces.queries.dispatch import (
    ASSIGNED,
    ASSIGNMENT,
    ASSIGNMENT_VIEW,
    BOOK,
    HOLDER,
    LOCK_FORCES,
    OWNER,
    RELEASE,
    STEPS,
)
from forces.vocabulary import BUSY, AssignmentStage, ForceStatus
from spatial.audit import record_async
from spatial.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from spatial.rows import one

MAX_FORCES = 20
CHANGES = "cityops_assignments"
RELEASE_REASONS = ("completed", "cancelled", "reassigned", "unable")


@dataclass(frozen=True)
class Clock:
    """Freshness and shift are judged at one instant, in the city's zone."""

    zone: ZoneInfo
    stale_after: timedelta
    accept_within: timedelta

    def now(self) -> datetime:
        """The instant, in the city's zone."""
        return datetime.now(self.zone)


def on_shift(start: time | None, end: time | None, at: time) -> bool:
    """Whether ``at`` lies in a shift window (which may cross midnight; none: always on duty)."""
    if start is None or end is None:
        return True
    return start <= at < end if start <= end else at >= start or at < end


async def _holder(conn: psycopg.AsyncConnection, force_id: int, code: str) -> ConflictError:
    row = await (await conn.execute(HOLDER, (force_id,))).fetchone()
    if row is None:
        return ConflictError(f"force {code} is not available")
    return ConflictError(f"force {code} is held by case {row[0]} (assigned by {row[1]} at {row[2].isoformat()})")


async def check_forces(
    conn: psycopg.AsyncConnection, force_ids: list[int], clock: Clock, *, for_request: bool = False
) -> list[tuple[Any, ...]]:
    """Lock the forces and refuse, naming the first problem, unless every one can go now."""
    rows = await (await conn.execute(LOCK_FORCES, (sorted(set(force_ids)),))).fetchall()
    found = {row[0] for row in rows}
    for force_id in force_ids:
        if force_id not in found:
            owner = await (await conn.execute(OWNER, (force_id,))).fetchone()
            if owner is None:
                raise NotFoundError(f"no force {force_id}")
            if for_request:
                raise ForbiddenError(f"force {force_id} belongs to {owner[1]} ({owner[0]}), not to your jurisdiction")
            raise ForbiddenError(
                f"force {force_id} belongs to {owner[1]} ({owner[0]}): request it from its unit "
                "with POST /api/v1/force-requests"
            )
    now = clock.now()
    for force_id, code, status, start, end, fixed_at in rows:
        if status != ForceStatus.AVAILABLE:
            if status in BUSY:
                raise await _holder(conn, force_id, code)
            raise ConflictError(f"force {code} is {status}: only an available force can be assigned")
        if fixed_at is None:
            raise ConflictError(f"force {code} has never reported a position: confirm where it is first")
        if fixed_at < now - clock.stale_after:
            minutes = int(clock.stale_after.total_seconds() // 60)
            raise ConflictError(
                f"force {code}'s last position is from {fixed_at.isoformat()}, older than "
                f"{minutes} min (stale): confirm where it is first"
            )
        if not on_shift(start, end, now.time()):
            raise ConflictError(f"force {code} is off shift ({start:%H:%M}–{end:%H:%M})")
    return rows


async def book(
    conn: psycopg.AsyncConnection,
    case_id: int,
    force_ids: list[int],
    actor: str,
    capabilities: list[str],
    clock: Clock,
    request_id: int | None = None,
) -> list[dict[str, Any]]:
    """Insert the assignments and mark the forces assigned (after ``check_forces``, in its transaction)."""
    try:
        async with conn.transaction():  # a savepoint: the unique index refusing must not end the outer one
            booked = await (
                await conn.execute(BOOK, (case_id, actor, capabilities, clock.accept_within, request_id, force_ids))
            ).fetchall()
    except psycopg.errors.UniqueViolation:
        raise ConflictError("another commander took one of these forces a moment ago: reload the candidates") from None
    except psycopg.errors.ObjectInUse as held:  # a force held by an incident, refused in the database's words
        raise ConflictError(held.diag.message_primary or "a force is held elsewhere") from None
    await conn.execute(ASSIGNED, (force_ids,))
    await record_async(
        conn,
        actor,
        "forces.assigned",
        f"case:{case_id}",
        forces=force_ids,
        assignments=[row[0] for row in booked],
        request=request_id,
    )
    await conn.execute("SELECT pg_notify(%s, %s)", (CHANGES, f"assigned:{case_id}"))
    return [
        {"id": row[0], "force_id": row[1], "assigned_at": row[2].isoformat(), "accept_by": row[3].isoformat()}
        for row in booked
    ]


async def assign(
    conn: psycopg.AsyncConnection,
    case_id: int,
    force_ids: list[int],
    capabilities: list[str],
    actor: str,
    clock: Clock,
) -> dict[str, Any]:
    """Book all ``force_ids`` for the case, or none (ConflictError / ForbiddenError naming the first problem)."""
    if not 1 <= len(force_ids) <= MAX_FORCES or len(set(force_ids)) != len(force_ids):
        raise InvalidInputError(f"force_ids must list 1–{MAX_FORCES} different forces")
    async with conn.transaction():
        case = await (await conn.execute("SELECT closed_at FROM case_file WHERE id = %s", (case_id,))).fetchone()
        if case is None:
            raise NotFoundError(f"no case {case_id}")
        if case[0] is not None:
            raise ConflictError(f"case {case_id} is closed")
        await check_forces(conn, force_ids, clock)
        booked = await book(conn, case_id, force_ids, actor, capabilities, clock)
    return {"case_id": case_id, "assignments": booked}


async def _locked_assignment(conn: psycopg.AsyncConnection, assignment_id: int) -> tuple[Any, ...]:
    row = await (await conn.execute(ASSIGNMENT, (assignment_id,))).fetchone()
    if row is None:
        raise NotFoundError(f"no assignment {assignment_id}")
    if row[3] is not None:
        raise ConflictError(f"assignment {assignment_id} was released at {row[3].isoformat()} ({row[4]})")
    return row


async def release(conn: psycopg.AsyncConnection, assignment_id: int, reason: str, actor: str) -> dict[str, Any]:
    """End an assignment (completed, cancelled …): the force is available again, a borrowed one goes home."""
    if reason not in RELEASE_REASONS:
        raise InvalidInputError(f"reason must be one of {', '.join(RELEASE_REASONS)}")
    async with conn.transaction():
        await _locked_assignment(conn, assignment_id)
        await end_assignment(conn, assignment_id, reason, actor)
    return await assignment_view(conn, assignment_id)


async def end_assignment(conn: psycopg.AsyncConnection, assignment_id: int, reason: str, actor: str) -> None:
    """Release an active assignment the caller has locked (in its transaction); audited and announced."""
    case_id, force_id = one(await (await conn.execute(RELEASE, (assignment_id, reason, actor))).fetchone())
    await record_async(
        conn, actor, "forces.released", f"assignment:{assignment_id}", case=case_id, force=force_id, reason=reason
    )
    await conn.execute("SELECT pg_notify(%s, %s)", (CHANGES, f"released:{case_id}"))


def stage_of(accepted_at: object, arrived_at: object, released_at: object) -> AssignmentStage:
    """Where an assignment stands: offered → en_route (accepted) → on_scene, or released."""
    if released_at is not None:
        return AssignmentStage.RELEASED
    if arrived_at is not None:
        return AssignmentStage.ON_SCENE
    return AssignmentStage.EN_ROUTE if accepted_at is not None else AssignmentStage.OFFERED


async def one_row(conn: psycopg.AsyncConnection, sql: str, row_id: int, missing: str) -> dict[str, Any]:
    """The row ``sql`` finds for ``row_id`` (times as ISO strings), or NotFoundError(``missing``)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        row = await (await cur.execute(sql, (row_id,))).fetchone()
    if row is None:
        raise NotFoundError(missing)
    return plain(row)


async def assignment_view(conn: psycopg.AsyncConnection, assignment_id: int) -> dict[str, Any]:
    """One assignment as the API shows it, with its stage."""
    row = await one_row(conn, ASSIGNMENT_VIEW + " WHERE a.id = %s", assignment_id, f"no assignment {assignment_id}")
    return {**row, "stage": stage_of(row["accepted_at"], row["arrived_at"], row["released_at"])}


async def case_assignments(conn: psycopg.AsyncConnection, case_id: int) -> list[dict[str, Any]]:
    """A visible case's assignments, newest first, each with its story (steps, oldest first).

    Forces of other units show by id only; a force the case was re-offered to is named.
    """
    if await (await conn.execute("SELECT FROM case_file WHERE id = %s", (case_id,))).fetchone() is None:
        raise NotFoundError(f"no case {case_id}")
    async with conn.cursor(row_factory=dict_row) as cur:
        rows = await (
            await cur.execute(ASSIGNMENT_VIEW + " WHERE a.case_id = %s ORDER BY a.id DESC", (case_id,))
        ).fetchall()
        steps = await (await cur.execute(STEPS, (case_id,))).fetchall()
    story: dict[int, list[dict[str, Any]]] = {}
    for step in steps:
        story.setdefault(step.pop("assignment_id"), []).append(plain(step))
    return [
        {
            **plain(row),
            "stage": stage_of(row["accepted_at"], row["arrived_at"], row["released_at"]),
            "steps": story.get(row["id"], []),
        }
        for row in rows
    ]


def plain(row: dict[str, Any]) -> dict[str, Any]:
    """A row with its times as ISO strings."""
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}
