"""Tasks under an incident's command: to a summoned department, a unit the incident reaches, or a force
it holds; moved assigned → acknowledged → in_progress → done, or blocked with a reason and back.

A department gets a task only once it was summoned (吹哨 first: its liaisons then see the incident),
a force only once the incident holds it (unified dispatch). Each move is made by the assignee side
(the department's liaison, the unit's users, the force's users) or the command working inside the
incident, on the version the mover saw (a stale one is a 409: two commanders moving a task at once,
one wins). Every move and every photo is an ``incident_task_update`` row and a timeline entry.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO

import psycopg

from command.media import MediaStore
from command.queries.intake import STORE_MEDIA
from command.users import User
from incidents.command import COMMAND, work_inside
from incidents.queries.tasks import CREATE, FIRST_UPDATE, HELD, LIST, LOCK, MOVE, SUMMONED, UNIT, UPDATE
from incidents.timeline import log
from incidents.vocabulary import IncidentState, Priority, TaskState
from spatial.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError, StaleVersionError
from spatial.rows import one

REPORT_IN = "incidents:report_in"
MOVES: dict[TaskState, frozenset[TaskState]] = {
    TaskState.ASSIGNED: frozenset({TaskState.ACKNOWLEDGED, TaskState.BLOCKED}),
    TaskState.ACKNOWLEDGED: frozenset({TaskState.IN_PROGRESS, TaskState.BLOCKED}),
    TaskState.IN_PROGRESS: frozenset({TaskState.DONE, TaskState.BLOCKED}),
    TaskState.BLOCKED: frozenset({TaskState.ACKNOWLEDGED, TaskState.IN_PROGRESS}),
    TaskState.DONE: frozenset(),
}


@dataclass(frozen=True)
class TaskSpec:
    """A task: what, for whom (exactly one of department, unit code, force id), how urgent, by when."""

    title: str
    detail: str = ""
    department: str | None = None
    unit: str | None = None
    force_id: int | None = None
    priority: Priority = Priority.NORMAL
    due_at: datetime | None = None


async def create_task(conn: psycopg.AsyncConnection, user: User, incident_id: int, spec: TaskSpec) -> dict[str, Any]:
    """Assign a task inside the incident; 409 for a department never summoned or a force not held."""
    if sum(x is not None for x in (spec.department, spec.unit, spec.force_id)) != 1:
        raise InvalidInputError("a task goes to exactly one of: department, unit, force_id")
    async with conn.transaction():
        incident = await work_inside(conn, user, incident_id)
        unit_id = None
        if spec.department is not None:
            if await (await conn.execute(SUMMONED, (incident_id, spec.department))).fetchone() is None:
                raise ConflictError(
                    f"summon {spec.department} first: POST /api/v1/incidents/{incident_id}/summons, then give it tasks"
                )
        elif spec.unit is not None:
            row = await (await conn.execute(UNIT, (spec.unit,))).fetchone()
            if row is None:
                raise InvalidInputError(f"unknown unit {spec.unit}")
            unit_id = row[0]
            if unit_id not in incident.units:
                raise ConflictError(
                    f"incident {incident.code} does not reach {row[1]} ({spec.unit}): task units inside it"
                )
        elif await (await conn.execute(HELD, (incident_id, spec.force_id))).fetchone() is None:
            raise ConflictError(
                f"force {spec.force_id} is not committed to incident {incident.code}: commit it first "
                f"(POST /api/v1/incidents/{incident_id}/forces)"
            )
        params = {
            "incident": incident_id,
            "title": spec.title,
            "detail": spec.detail,
            "department": spec.department,
            "unit_id": unit_id,
            "force_id": spec.force_id,
            "priority": spec.priority.value,
            "due_at": spec.due_at,
            "actor": user.username,
        }
        task_id = one(await (await conn.execute(CREATE, params)).fetchone())[0]
        await conn.execute(FIRST_UPDATE, (task_id, spec.detail[:2000], user.username))
        await log(
            conn,
            incident_id,
            "task_assigned",
            user.username,
            "",
            task=task_id,
            title=spec.title,
            department=spec.department,
            unit=spec.unit,
            force=spec.force_id,
            priority=spec.priority.value,
            due_at=spec.due_at.isoformat() if spec.due_at else None,
        )
    return await read_task(conn, incident_id, task_id)


@dataclass(frozen=True)
class LockedTask:
    """A task locked for a move or an update, with what deciding who may touch it takes."""

    state: TaskState
    version: int
    department: str | None
    unit_id: int | None
    force_id: int | None
    title: str
    code: str


def answers_for(user: User, department: str | None, unit_id: int | None, force_id: int | None) -> bool:
    """Whether ``user`` is the assignee's side: the department's liaison, a user of the unit, the force's user."""
    if department is not None:
        return user.department == department
    if unit_id is not None:
        return user.department is None and user.unit_id == unit_id
    return force_id is not None and user.force_id == force_id


def _may_move(user: User, task: LockedTask, units: list[int]) -> bool:
    """The assignee side or the command inside the incident."""
    if answers_for(user, task.department, task.unit_id, task.force_id):
        return True
    return user.department is None and user.may(COMMAND) and user.unit_id in units


async def _lock(conn: psycopg.AsyncConnection, user: User, incident_id: int, task_id: int) -> LockedTask:
    if not (user.may(COMMAND) or user.may(REPORT_IN) or user.force_id is not None):
        raise ForbiddenError("you answer for no force: a task is moved by its assignee or the incident's command")
    row = await (await conn.execute(LOCK, (task_id, incident_id))).fetchone()
    if row is None:
        raise NotFoundError(f"no task {task_id} of incident {incident_id} in your reach")
    state, version, department, unit_id, force_id, title, code, incident_state, units = row
    task = LockedTask(TaskState(state), version, department, unit_id, force_id, title, code)
    if incident_state != IncidentState.ACTIVE:
        raise ConflictError(f"incident {code} is closed")
    if not _may_move(user, task, list(units)):
        raise ForbiddenError(f"task {task_id} is not yours: its assignee or the incident's command moves it")
    return task


async def move_task(
    conn: psycopg.AsyncConnection,
    user: User,
    incident_id: int,
    task_id: int,
    to: TaskState,
    version: int,
    note: str = "",
    reason: str | None = None,
) -> dict[str, Any]:
    """Move the task on the version the mover saw; blocked needs a reason, leaving it clears the reason."""
    if to == TaskState.BLOCKED and not (reason or "").strip():
        raise InvalidInputError("a blocked task needs a reason: say what stops the work")
    async with conn.transaction():
        task = await _lock(conn, user, incident_id, task_id)
        if version != task.version:
            raise StaleVersionError(
                f"task {task_id} changed meanwhile (version {task.version}, you sent {version}): reload it"
            )
        if to not in MOVES[task.state]:
            allowed = ", ".join(sorted(MOVES[task.state])) or "nothing (it is done)"
            raise ConflictError(f"task {task_id} is {task.state}: it moves to {allowed}, not to {to}")
        params = {"state": to.value, "reason": reason.strip() if to == TaskState.BLOCKED and reason else None}
        new_version = one(await (await conn.execute(MOVE, {**params, "id": task_id})).fetchone())[0]
        await conn.execute(UPDATE, (task_id, to.value, note, [], user.username))
        await log(
            conn,
            incident_id,
            "task_moved",
            user.username,
            note,
            task=task_id,
            title=task.title,
            state_from=task.state.value,
            state_to=to.value,
            reason=params["reason"],
            version=new_version,
        )
    return await read_task(conn, incident_id, task_id)


async def add_photos(
    conn: psycopg.AsyncConnection,
    user: User,
    incident_id: int,
    task_id: int,
    uploads: Sequence[tuple[BinaryIO, str | None]],
    note: str,
    store: MediaStore,
) -> dict[str, Any]:
    """Photos (or videos) of the work, checked and kept as case media are, as an update of the task."""
    if not uploads:
        raise InvalidInputError("send at least one photo or video as a 'media' file part")
    async with conn.transaction():
        task = await _lock(conn, user, incident_id, task_id)
        stored = {m.sha256: m for m in await asyncio.to_thread(store.store_all, list(uploads))}
        hashes = list(stored)
        await conn.execute(
            STORE_MEDIA, (hashes, [m.content_type for m in stored.values()], [m.size_bytes for m in stored.values()])
        )
        await conn.execute(UPDATE, (task_id, task.state.value, note, hashes, user.username))
        await log(conn, incident_id, "task_photos", user.username, note, task=task_id, title=task.title, media=hashes)
    return await read_task(conn, incident_id, task_id)


def _view(row: tuple[Any, ...]) -> dict[str, Any]:
    (
        i,
        title,
        detail,
        department,
        unit_id,
        unit_code,
        unit_name,
        force_id,
        force_code,
        force_name,
        priority,
        due_at,
        state,
        reason,
        created_by,
        created_at,
        done_at,
        version,
        late,
        updates,
    ) = row
    if department is not None:
        assignee = {"kind": "department", "name": department}
    elif unit_code is not None:
        assignee = {"kind": "unit", "id": unit_id, "code": unit_code, "name": unit_name}
    else:
        assignee = {"kind": "force", "id": force_id, "code": force_code, "name": force_name}
    return {
        "id": i,
        "title": title,
        "detail": detail,
        "assignee": assignee,
        "priority": priority,
        "due_at": due_at.isoformat() if due_at else None,
        "state": state,
        "blocked_reason": reason,
        "created_by": created_by,
        "created_at": created_at.isoformat(),
        "done_at": done_at.isoformat() if done_at else None,
        "version": version,
        "late": bool(late),
        "updates": [{**u, "media": [{"sha256": h, "url": f"/api/v1/media/{h}"} for h in u["media"]]} for u in updates],
    }


async def tasks_of(conn: psycopg.AsyncConnection, incident_id: int) -> list[dict[str, Any]]:
    """The incident's tasks, oldest first, each with its updates (the board groups them by assignee)."""
    rows = await (await conn.execute(LIST, {"incident": incident_id, "task": None})).fetchall()
    return [_view(row) for row in rows]


async def read_task(conn: psycopg.AsyncConnection, incident_id: int, task_id: int) -> dict[str, Any]:
    """One task of the incident, or 404."""
    row = await (await conn.execute(LIST, {"incident": incident_id, "task": task_id})).fetchone()
    if row is None:
        raise NotFoundError(f"no task {task_id} of incident {incident_id} in your reach")
    return _view(row)
