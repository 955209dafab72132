"""The board's work forms: summoning departments (吹哨), the report-in (报到) a summoned department's liaison
presses on the board, setting a task and moving it (its assignee or the command). Each posts here and gets the
board back (``map_ui.incident_board.acted``), a refusal said in words; the panels they feed are
``map_ui.incident_panels``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse

from command.users import User
from incidents.command import COMMAND
from incidents.summons import report_in, summon
from incidents.tasks import TaskSpec, create_task, move_task
from incidents.vocabulary import Priority, TaskState
from map_ui.incident_board import Commander, IncidentId, acted
from map_ui.pages import PageAccess
from web.access import PUBLIC

router = APIRouter(dependencies=[Depends(PUBLIC)], include_in_schema=False)
Liaison = Annotated[User, Depends(PageAccess("incidents:report_in"))]
# a task is moved by its assignee (a department's liaison, a unit's user, a force's crew) or the command
TaskHand = Annotated[User, Depends(PageAccess(COMMAND, "incidents:report_in", "assignments:answer"))]
RowPath = Annotated[int, Path(ge=1, le=2**63 - 1)]
SEPARATORS = str.maketrans({"，": ",", "、": ",", ";": ",", "；": ","})


def _names(given: str) -> list[str]:
    return [name.strip() for name in given.translate(SEPARATORS).split(",") if name.strip()]


@router.post("/incidents/{incident_id}/summons", response_class=HTMLResponse)
async def summon_from_form(
    request: Request,
    user: Commander,
    incident_id: IncidentId,
    departments: Annotated[str, Form(min_length=1, max_length=1000)],
    due_minutes: Annotated[int | None, Form(ge=1, le=1440)] = None,
    note: Annotated[str, Form(max_length=2000)] = "",
) -> HTMLResponse:
    """吹哨: summon the named departments (separated by commas or 、) to report in."""
    return await acted(
        request, user, incident_id, lambda conn: summon(conn, user, incident_id, _names(departments), due_minutes, note)
    )


@router.post("/incidents/{incident_id}/summons/{summons_id}/report-in", response_class=HTMLResponse)
async def report_in_from_form(
    request: Request,
    user: Liaison,
    incident_id: IncidentId,
    summons_id: RowPath,
) -> HTMLResponse:
    """报到: the summoned department's liaison reports in from the board."""
    return await acted(request, user, incident_id, lambda conn: report_in(conn, user, summons_id))


@router.post("/incidents/{incident_id}/tasks", response_class=HTMLResponse)
async def task_from_form(
    request: Request,
    user: Commander,
    incident_id: IncidentId,
    title: Annotated[str, Form(min_length=1, max_length=200)],
    assignee: Annotated[str, Form(min_length=1, max_length=100)],
    priority: Annotated[Priority, Form()] = Priority.NORMAL,
    due_minutes: Annotated[int | None, Form(ge=1, le=10_080)] = None,
    detail: Annotated[str, Form(max_length=4000)] = "",
) -> HTMLResponse:
    """A task for a summoned department (by name) or a unit (by its code)."""
    who = assignee.strip()
    unit = who if who.isdigit() else None
    due = datetime.now(UTC) + timedelta(minutes=due_minutes) if due_minutes else None
    spec = TaskSpec(title, detail, None if unit else who, unit, None, priority, due)
    return await acted(request, user, incident_id, lambda conn: create_task(conn, user, incident_id, spec))


@router.post("/incidents/{incident_id}/tasks/{task_id}/moves", response_class=HTMLResponse)
async def move_from_form(
    request: Request,
    user: TaskHand,
    incident_id: IncidentId,
    task_id: RowPath,
    to: Annotated[TaskState, Form()],
    version: Annotated[int, Form(ge=1)],
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> HTMLResponse:
    """Acknowledge, start, finish, block (with its reason) or unblock a task, on the version the board showed."""
    return await acted(
        request, user, incident_id, lambda conn: move_task(conn, user, incident_id, task_id, to, version, "", reason)
    )
