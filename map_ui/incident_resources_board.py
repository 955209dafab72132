"""Resources in the browser (EDXL-RM): the board's request form and the command's answers to its requests
(accept an offer, report deployed, release), and the inbox ``/resource-requests`` where the unit asked —
often another district — offers, declines with a reason, commits and confirms the return.

Each form posts here and gets its page back (the board, or the inbox), a refusal said in words; the moves and
who makes each are ``incidents.resources.MOVES``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import psycopg
from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse

from command.users import User
from incidents.lifecycle import read_incident
from incidents.resources import (
    MAX_QUANTITY,
    MOVES,
    Answer,
    ResourceAsk,
    Side,
    list_requests,
    move_request,
    request_resource,
    side_moves,
)
from map_ui.incident_board import Commander, IncidentId, acted, acted_then
from map_ui.pages import render
from web.access import PUBLIC
from web.deps import scoped_connection

router = APIRouter(dependencies=[Depends(PUBLIC)], include_in_schema=False)
RequestId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Action = Annotated[str, Path(pattern=f"^({'|'.join(MOVES)})$")]
Quantity = Annotated[int | None, Form(ge=1, le=MAX_QUANTITY)]
INBOX = 100  # the newest requests asked of the unit


@router.post("/incidents/{incident_id}/resources", response_class=HTMLResponse)
async def request_from_form(
    request: Request,
    user: Commander,
    incident_id: IncidentId,
    resource_type: Annotated[str, Form(min_length=1, max_length=40)],
    quantity: Annotated[int, Form(ge=1, le=MAX_QUANTITY)],
    to_unit: Annotated[str, Form(pattern=r"^\s*[0-9]{6,19}\s*$")],
    needed_minutes: Annotated[int, Form(ge=0, le=10_080)] = 60,
    note: Annotated[str, Form(max_length=2000)] = "",
) -> HTMLResponse:
    """Ask a unit (by its code, any district) for a quantity of a resource type, needed at the command post."""
    needed_by = datetime.now(UTC) + timedelta(minutes=needed_minutes)

    async def ask(conn: psycopg.AsyncConnection) -> None:
        post = (await read_incident(conn, incident_id))["command_post"]
        spec = ResourceAsk(resource_type, quantity, to_unit.strip(), needed_by, post["lon"], post["lat"], note)
        await request_resource(conn, user, incident_id, spec)

    return await acted(request, user, incident_id, ask)


@router.post("/incidents/{incident_id}/resource-requests/{request_id}/{action}", response_class=HTMLResponse)
async def command_move(
    request: Request,
    user: Commander,
    incident_id: IncidentId,
    request_id: RequestId,
    action: Action,
    version: Annotated[int, Form(ge=1)],
    note: Annotated[str, Form(max_length=2000)] = "",
) -> HTMLResponse:
    """The command's answer on the board: accept an offer, report the resource deployed, release it."""
    answer = Answer(action, version, note=note)
    return await acted(request, user, incident_id, lambda conn: move_request(conn, user, request_id, answer))


async def _inbox(request: Request, user: User) -> HTMLResponse:
    async with scoped_connection(request) as conn:
        asked = await list_requests(conn, user, asked=True, state=None, before=None, limit=INBOX)
    for item in asked:
        item["mine"] = side_moves(item["allowed"], Side.OWNER)
    return render(request, "resource_requests.html", user, requests=asked)


@router.get("/resource-requests", response_class=HTMLResponse)
async def inbox(request: Request, user: Commander) -> HTMLResponse:
    """The requests asked of the user's unit (or below it), newest first, with the owner's answers."""
    return await _inbox(request, user)


@router.post("/resource-requests/{request_id}/{action}", response_class=HTMLResponse)
async def owner_move(
    request: Request,
    user: Commander,
    request_id: RequestId,
    action: Action,
    version: Annotated[int, Form(ge=1)],
    quantity: Quantity = None,
    note: Annotated[str, Form(max_length=2000)] = "",
) -> HTMLResponse:
    """The unit asked answers: offer (a quantity, all by default), decline (with the reason), commit, confirm the
    return."""
    answer = Answer(action, version, quantity, (), note)
    return await acted_then(
        request, lambda conn: move_request(conn, user, request_id, answer), lambda: _inbox(request, user)
    )
