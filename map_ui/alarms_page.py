"""The alarms page ``/alarms``: what the sensors raised in the user's jurisdiction, and the moves on each.

Open alarms newest first — the rule, the device or the area, the value and the worst since, when, the case
it filed — with acknowledge (someone is on it) and close (what was done) for those who handle alarms. A
severe area alarm says it proposes a major incident, with the way to open one. Each form posts here and
gets the page back, a refusal said in words (``map_ui.incident_board.acted_then``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse

from command.users import User
from map_ui.incident_board import acted_then
from map_ui.pages import PageAccess, render
from sensing import alarms
from web.access import PUBLIC
from web.deps import scoped_connection

router = APIRouter(dependencies=[Depends(PUBLIC)], include_in_schema=False)
Reader = Annotated[User, Depends(PageAccess("sensors:read"))]
Handler = Annotated[User, Depends(PageAccess("alarms:handle"))]
AlarmId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Version = Annotated[int, Form(ge=1)]
SHOWN = 200  # the newest open alarms


async def _page(request: Request, user: User) -> HTMLResponse:
    async with scoped_connection(request) as conn:
        found = await alarms.listed(conn, open_only=True, limit=SHOWN)
    return render(request, "alarms.html", user, alarms=found, handles=user.may("alarms:handle"))


@router.get("/alarms", response_class=HTMLResponse)
async def alarm_page(request: Request, user: Reader) -> HTMLResponse:
    """The open alarms of the user's jurisdiction, newest first."""
    return await _page(request, user)


@router.post("/alarms/{alarm_id}/acknowledge", response_class=HTMLResponse)
async def acknowledge_from_form(request: Request, user: Handler, alarm_id: AlarmId, version: Version) -> HTMLResponse:
    """Someone is on it: the alarm stays until its readings clear it."""
    return await acted_then(
        request, lambda conn: alarms.acknowledge(conn, alarm_id, version, user.username), lambda: _page(request, user)
    )


@router.post("/alarms/{alarm_id}/close", response_class=HTMLResponse)
async def close_from_form(
    request: Request,
    user: Handler,
    alarm_id: AlarmId,
    version: Version,
    note: Annotated[str, Form(min_length=1, max_length=2000)],
) -> HTMLResponse:
    """Close the alarm, saying what was done."""
    return await acted_then(
        request,
        lambda conn: alarms.close(conn, alarm_id, version, user.username, note.strip()),
        lambda: _page(request, user),
    )
