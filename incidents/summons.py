"""吹哨报到 / 进驻: a commander summons departments to an incident; each department's liaison reports in.

A summons names the department and a report-in deadline (the city's rule, ``incident_setting``
``report_in``, unless the commander gives another). Summoning adds the department to the incident,
so its liaisons see it through row-level security and find the summons in their queue. A liaison
reports in once, for their own department only; a department that has reported in is stationed
(进驻) with its liaison. A department still absent at its deadline is escalated by the
``summons-watch`` loop one tier above the unit that blew the whistle: that tier directs the
departments at its level and is the one who can make them come (a street's whistle goes to its
district, a district's to the city; the city's stays with the city). Every step is on the timeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import psycopg
import structlog
from psycopg_pool import AsyncConnectionPool

from command.loop_settings import LoopSettings
from command.users import User
from command.worker import Loop
from incidents.command import work_inside
from incidents.queries.summons import (
    ADD_DEPARTMENTS,
    ALREADY,
    CITY,
    CITY_SCOPE,
    ESCALATE,
    FOR_DEPARTMENT,
    LOCK_ONE,
    OF_INCIDENT,
    ONE,
    REPORT_IN,
    REPORT_IN_MINUTES,
    SUMMON,
)
from incidents.timeline import log
from incidents.vocabulary import IncidentState
from spatial.database import Database
from spatial.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from spatial.rows import one

MAX_DEPARTMENTS = 30
MAX_QUEUE = 200
BATCH = 200
SYSTEM = "system:summons"
logger = structlog.get_logger("cityops.incidents")


async def summon(
    conn: psycopg.AsyncConnection,
    user: User,
    incident_id: int,
    departments: list[str],
    due_minutes: int | None = None,
    note: str = "",
) -> list[dict[str, Any]]:
    """Summon ``departments`` to report in within ``due_minutes`` (default: the city's rule); a department
    summoned before is a 409 naming it (its summons stands, with its own deadline)."""
    names = sorted({d.strip() for d in departments if d.strip()})
    if not names or len(names) > MAX_DEPARTMENTS:
        raise InvalidInputError(f"name 1–{MAX_DEPARTMENTS} departments to summon")
    async with conn.transaction():
        incident = await work_inside(conn, user, incident_id)
        if again := await (await conn.execute(ALREADY, (incident_id, names))).fetchall():
            named = ", ".join(f"{d} (at {at.isoformat()})" for d, at in again)
            raise ConflictError(f"already summoned to incident {incident.code}: {named}; their summons stand")
        minutes = due_minutes or one(await (await conn.execute(REPORT_IN_MINUTES)).fetchone())[0]
        params = {
            "incident": incident_id,
            "actor": user.username,
            "minutes": minutes,
            "note": note,
            "departments": names,
        }
        rows = await (await conn.execute(SUMMON, params)).fetchall()
        await conn.execute(ADD_DEPARTMENTS, (names, incident_id))
        await log(
            conn,
            incident_id,
            "summoned",
            user.username,
            note,
            departments=names,
            due_minutes=minutes,
            due_at=rows[0][2].isoformat(),
        )
    return await summons_of(conn, incident_id)


async def report_in(conn: psycopg.AsyncConnection, user: User, summons_id: int, note: str = "") -> dict[str, Any]:
    """The liaison of the summoned department reports in (报到), once; late when past the deadline."""
    if user.department is None:
        raise ForbiddenError("only a department's liaison reports in: your account names no department")
    async with conn.transaction():
        row = await (await conn.execute(LOCK_ONE, (summons_id,))).fetchone()
        if row is None:
            raise NotFoundError(f"no summons {summons_id} for your department")
        incident_id, department, due_at, liaison, reported_at, code, state = row
        if department != user.department:
            raise ForbiddenError(f"summons {summons_id} calls {department}, not {user.department}")
        if state != IncidentState.ACTIVE:
            raise ConflictError(f"incident {code} is closed")
        if reported_at is not None:
            raise ConflictError(
                f"{department} reported in to incident {code} already ({liaison}, {reported_at.isoformat()})"
            )
        (late,) = one(await (await conn.execute(REPORT_IN, (user.username, summons_id))).fetchone())
        await log(
            conn,
            incident_id,
            "reported_in",
            user.username,
            note,
            department=department,
            late=bool(late),
            due_at=due_at.isoformat(),
        )
    return _view(one(await (await conn.execute(ONE, (summons_id,))).fetchone()))


def _view(row: tuple[Any, ...]) -> dict[str, Any]:
    (
        i,
        incident_id,
        code,
        title,
        state,
        department,
        summoned_by,
        summoned_at,
        due_at,
        note,
        liaison,
        liaison_name,
        reported_at,
        escalated_at,
        escalated_code,
        escalated_name,
        late,
    ) = row
    return {
        "id": i,
        "incident": {"id": incident_id, "code": code, "title": title, "state": state},
        "department": department,
        "summoned_by": summoned_by,
        "summoned_at": summoned_at.isoformat(),
        "due_at": due_at.isoformat(),
        "note": note,
        "stationed": reported_at is not None,
        "liaison": None if liaison is None else {"username": liaison, "name": liaison_name},
        "reported_at": reported_at.isoformat() if reported_at else None,
        "late": bool(late),
        "escalated_at": escalated_at.isoformat() if escalated_at else None,
        "escalated_to": None if escalated_code is None else {"code": escalated_code, "name": escalated_name},
    }


async def summons_of(conn: psycopg.AsyncConnection, incident_id: int) -> list[dict[str, Any]]:
    """The incident's summons as the board shows them (departments by name): late ones marked, stationed
    ones with their liaison."""
    return [_view(row) for row in await (await conn.execute(OF_INCIDENT, (incident_id,))).fetchall()]


async def department_queue(conn: psycopg.AsyncConnection, user: User) -> list[dict[str, Any]]:
    """The summons addressed to the caller's department in active incidents: unanswered first, soonest due."""
    if user.department is None:
        return []
    rows = await (await conn.execute(FOR_DEPARTMENT, (user.department, MAX_QUEUE))).fetchall()
    return [_view(row) for row in rows]


@dataclass(frozen=True)
class Escalated:
    """A late summons escalated: (summons, incident, department, due, whistle-blower, to unit name, to unit id)."""

    rows: list[tuple[Any, ...]]


async def escalate_once(pool: AsyncConnectionPool, now: datetime | None = None) -> Escalated:
    """One round at ``now`` (the clock by default; tests pass a moment): each summons past its deadline
    and unanswered goes one tier up, once, on the incident's timeline. The loop acts with the city's
    reach (every incident's units hold the city), as the change feed reads."""
    at = now or datetime.now(UTC)
    async with pool.connection() as conn, conn.transaction():
        city = one(await (await conn.execute(CITY)).fetchone())[0]
        await conn.execute(CITY_SCOPE, (str(city),))
        rows = await (await conn.execute(ESCALATE, {"now": at, "batch": BATCH})).fetchall()
        for summons_id, incident_id, department, due_at, summoner, to_name, to_id in rows:
            await log(
                conn,
                incident_id,
                "report_in_late",
                SYSTEM,
                "",
                summons=summons_id,
                department=department,
                due_at=due_at.isoformat(),
                summoned_by=summoner,
                escalated_to=to_name,
                escalated_to_unit=to_id,
            )
    return Escalated(rows)


async def escalate_round(pool: AsyncConnectionPool) -> None:
    """One round of the summons watch, its escalations logged (the ``summons-watch`` loop)."""
    for summons_id, incident_id, department, _, _, to_name, _ in (await escalate_once(pool)).rows:
        logger.info(
            "late department escalated", summons=summons_id, incident=incident_id, department=department, to=to_name
        )


def summons_loops(database: Database, loops: LoopSettings) -> list[Loop]:
    """The incidents' singleton loop for ``command.worker`` (run by ``cityops worker`` and ``cityops serve``):
    late summons checked as often as case deadlines."""
    return [Loop("summons-watch", loops.deadline_sweep_s, partial(escalate_round, database.pool))]
