"""Work under an incident's command: 吹哨报到 (summons and report-in), tasks, forces held (unified dispatch).

Summoning, tasking and committing forces need ``incidents:command`` in a unit the incident reaches
(a street works only inside its street); a department's liaison (``incidents:report_in``) finds the
summons addressed to their department in ``/api/v1/me/summons`` and reports in; a task is moved by
its assignee side or the command. Everything reads through the caller's scope (row-level security).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AwareDatetime, Field

from api.body import RequestBody
from api.geojson import FastJSONResponse
from api.incident_schemas import Record, Rows
from command.users import User
from incidents.command import COMMAND
from incidents.holds import commit_forces, forces_of, release_forces
from incidents.lifecycle import read_incident
from incidents.summons import department_queue, report_in, summon, summons_of
from incidents.tasks import TaskSpec, add_photos, create_task, move_task, tasks_of
from incidents.vocabulary import Priority, TaskState
from web.access import Access
from web.deps import RowId, scoped_connection
from web.services import MediaDep
from web.uploads import multipart_upload

router = APIRouter(prefix="/api/v1", tags=["incidents"])
Reader = Annotated[User, Depends(Access("incidents:read"))]
Commander = Annotated[User, Depends(Access(COMMAND))]
Liaison = Annotated[User, Depends(Access("incidents:report_in"))]
# a task's assignee side: a department's liaison, a unit's commander, a force's own users; or the command
TaskHand = Annotated[User, Depends(Access(COMMAND, "incidents:report_in", "assignments:answer"))]
Department = Annotated[str, Field(min_length=1, max_length=100)]
ForceIds = Field(min_length=1, max_length=200)
PHOTOS_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["media"],
                "properties": {
                    "media": {"type": "array", "items": {"type": "string", "format": "binary"}},
                    "note": {"type": "string", "maxLength": 2000},
                },
            }
        }
    },
}


class SummonsIn(RequestBody):
    """Departments summoned to report in, within ``due_minutes`` (default: the city's rule, 30 min)."""

    departments: list[Department] = Field(min_length=1, max_length=30, examples=[["水务局", "城管局"]])
    due_minutes: int | None = Field(default=None, ge=1, le=1440)
    note: str = Field(default="", max_length=2000)


class ReportInIn(RequestBody):
    """The liaison's word on arriving (who came, where they sit)."""

    note: str = Field(default="", max_length=2000)


class TaskIn(RequestBody):
    """A task for exactly one of: a summoned department, a unit (code) the incident reaches, a force it holds."""

    title: str = Field(min_length=1, max_length=200)
    detail: str = Field(default="", max_length=4000)
    department: Department | None = None
    unit: str | None = Field(default=None, pattern=r"^[0-9]{6,19}$")
    force_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    priority: Priority = Priority.NORMAL
    due_at: AwareDatetime | None = None


class MoveIn(RequestBody):
    """A task's next state on the version the mover saw; ``reason`` says what blocks it."""

    state: TaskState
    version: int = Field(ge=1)
    note: str = Field(default="", max_length=2000)
    reason: str | None = Field(default=None, max_length=2000)


class ForcesIn(RequestBody):
    """Forces to commit to the incident, or to release from it."""

    force_ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] = ForceIds
    note: str = Field(default="", max_length=2000)


@router.post("/incidents/{incident_id}/summons", status_code=201, response_class=FastJSONResponse, response_model=Rows)
async def post_summons(request: Request, user: Commander, incident_id: RowId, body: SummonsIn) -> FastJSONResponse:
    """吹哨: summon departments to report in by a deadline; their liaisons see the incident from now on."""
    async with scoped_connection(request) as conn:
        summoned = await summon(conn, user, incident_id, body.departments, body.due_minutes, body.note)
    return FastJSONResponse({"summons": summoned}, status_code=201)


@router.get("/incidents/{incident_id}/summons", response_class=FastJSONResponse, response_model=Rows)
async def get_summons(request: Request, user: Reader, incident_id: RowId) -> FastJSONResponse:
    """The departments summoned: stationed with their liaison, or awaited (late ones marked and escalated)."""
    async with scoped_connection(request) as conn:
        await read_incident(conn, incident_id)
        return FastJSONResponse({"summons": await summons_of(conn, incident_id)})


@router.get("/me/summons", response_class=FastJSONResponse, response_model=Rows)
async def get_my_summons(request: Request, user: Liaison) -> FastJSONResponse:
    """The summons addressed to the caller's department in active incidents, unanswered first."""
    async with scoped_connection(request) as conn:
        return FastJSONResponse({"summons": await department_queue(conn, user)})


@router.post("/summons/{summons_id}/report-in", response_class=FastJSONResponse, response_model=Record)
async def post_report_in(request: Request, user: Liaison, summons_id: RowId, body: ReportInIn) -> FastJSONResponse:
    """报到: the department's liaison reports in, once."""
    async with scoped_connection(request) as conn:
        return FastJSONResponse(await report_in(conn, user, summons_id, body.note))


@router.post("/incidents/{incident_id}/tasks", status_code=201, response_class=FastJSONResponse, response_model=Record)
async def post_task(request: Request, user: Commander, incident_id: RowId, body: TaskIn) -> FastJSONResponse:
    """Assign a task to a summoned department, a unit the incident reaches, or a force it holds."""
    spec = TaskSpec(body.title, body.detail, body.department, body.unit, body.force_id, body.priority, body.due_at)
    async with scoped_connection(request) as conn:
        return FastJSONResponse(await create_task(conn, user, incident_id, spec), status_code=201)


@router.get("/incidents/{incident_id}/tasks", response_class=FastJSONResponse, response_model=Rows)
async def get_tasks(request: Request, user: Reader, incident_id: RowId) -> FastJSONResponse:
    """The incident's tasks with their updates (photos by URL)."""
    async with scoped_connection(request) as conn:
        await read_incident(conn, incident_id)
        return FastJSONResponse({"tasks": await tasks_of(conn, incident_id)})


@router.post("/incidents/{incident_id}/tasks/{task_id}/moves", response_class=FastJSONResponse, response_model=Record)
async def post_move(
    request: Request, user: TaskHand, incident_id: RowId, task_id: RowId, body: MoveIn
) -> FastJSONResponse:
    """Move a task (acknowledge, start, finish, block, unblock) on the version the mover saw."""
    async with scoped_connection(request) as conn:
        moved = await move_task(conn, user, incident_id, task_id, body.state, body.version, body.note, body.reason)
    return FastJSONResponse(moved)


@router.post(
    "/incidents/{incident_id}/tasks/{task_id}/photos",
    status_code=201,
    response_class=FastJSONResponse,
    openapi_extra={"requestBody": PHOTOS_BODY},
    response_model=Record,
)
async def post_photos(
    request: Request, user: TaskHand, incident_id: RowId, task_id: RowId, store: MediaDep
) -> FastJSONResponse:
    """Photos of the work (multipart ``media`` parts, an optional ``note``), kept as an update of the task."""
    async with (
        multipart_upload(request, store.limits, frozenset({"note"})) as (form, files),
        scoped_connection(request) as conn,
    ):
        note = str(form.get("note") or "")[:2000]
        updated = await add_photos(conn, user, incident_id, task_id, files, note, store)
    return FastJSONResponse(updated, status_code=201)


@router.post("/incidents/{incident_id}/forces", status_code=201, response_class=FastJSONResponse, response_model=Rows)
async def post_forces(request: Request, user: Commander, incident_id: RowId, body: ForcesIn) -> FastJSONResponse:
    """Commit forces to the incident: held by it, assigned to cases only by its command (统一调度)."""
    async with scoped_connection(request) as conn:
        return FastJSONResponse({"forces": await commit_forces(conn, user, incident_id, body.force_ids)}, 201)


@router.get("/incidents/{incident_id}/forces", response_class=FastJSONResponse, response_model=Rows)
async def get_forces(
    request: Request, user: Reader, incident_id: RowId, history: Annotated[bool, Query()] = False
) -> FastJSONResponse:
    """The forces the incident holds (``history``: released ones too)."""
    async with scoped_connection(request) as conn:
        await read_incident(conn, incident_id)
        held: list[dict[str, Any]] = await forces_of(conn, incident_id, history)
    return FastJSONResponse({"forces": held})


@router.post("/incidents/{incident_id}/forces/release", response_class=FastJSONResponse, response_model=Rows)
async def post_release(request: Request, user: Commander, incident_id: RowId, body: ForcesIn) -> FastJSONResponse:
    """Give held forces back to their units before the incident closes."""
    async with scoped_connection(request) as conn:
        return FastJSONResponse({"forces": await release_forces(conn, user, incident_id, body.force_ids, body.note)})
