"""The alarms page ``/alarms``: what the sensors raised in the user's jurisdiction, and the moves on each.

Open alarms newest first (narrowed by state, kind of device or severity, with the count in each state) —
the rule, the device or the area, the value and the worst since, when, the case it filed — with
acknowledge (someone is on it) and close (what was done) for those who handle alarms. A severe area alarm
says it proposes a major incident, with the way to open one. Each form posts here and gets the page
back, a refusal said in words (``map_ui.incident_board.acted_then``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse

from command.routing import Severity
from command.users import User
from map_ui.incident_board import acted_then
from map_ui.pages import PageAccess, render
from sensing import alarms
from web.access import PUBLIC
from web.deps import comma_list, scoped_connection

router = APIRouter(dependencies=[Depends(PUBLIC)], include_in_schema=False)
Reader = Annotated[User, Depends(PageAccess("sensors:read"))]
Handler = Annotated[User, Depends(PageAccess("alarms:handle"))]
AlarmId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Version = Annotated[int, Form(ge=1)]
SHOWN = 200  # the newest open alarms


@dataclass(frozen=True)
class Shown:
    """What the page is narrowed to (the filter form's values): a state, a kind of device, a severity."""

    state: alarms.AlarmState | None = None
    kind: str | None = None
    severity: Severity | None = None

    def query(self) -> str:
        """The narrowing as a query string: the moves post with it, so the page comes back as narrowed."""
        asked = {"state": self.state, "kind": self.kind, "severity": self.severity}
        return urlencode({name: str(value) for name, value in asked.items() if value})


def shown(
    state: Annotated[alarms.AlarmState | None, Query()] = None,
    kind: Annotated[str | None, Query(max_length=40)] = None,
    severity: Annotated[Severity | None, Query()] = None,
) -> Shown:
    """The narrowing asked in the query string (a blank choice is none)."""
    return Shown(state, kind or None, severity)


ShownDep = Annotated[Shown, Depends(shown)]


async def _page(request: Request, user: User, shown: Shown) -> HTMLResponse:
    async with scoped_connection(request) as conn:
        kinds = await alarms.kind_names(conn)
        chosen = comma_list(shown.kind, "kind", tuple(kinds))[:1]
        found = await alarms.listed(
            conn, open_only=True, limit=SHOWN, state=shown.state, kinds=chosen, severity=shown.severity
        )
        counts = await alarms.open_counts(conn)
    return render(
        request,
        "alarms.html",
        user,
        alarms=found,
        counts=counts,
        kinds=kinds,
        shown=shown,
        shown_at_most=SHOWN,
        handles=user.may("alarms:handle"),
    )


@router.get("/alarms", response_class=HTMLResponse)
async def alarm_page(request: Request, user: Reader, narrowed: ShownDep) -> HTMLResponse:
    """The open alarms of the user's jurisdiction, newest first, narrowed by state, kind of device or severity."""
    return await _page(request, user, narrowed)


@router.post("/alarms/{alarm_id}/acknowledge", response_class=HTMLResponse)
async def acknowledge_from_form(
    request: Request, user: Handler, alarm_id: AlarmId, version: Version, narrowed: ShownDep
) -> HTMLResponse:
    """Someone is on it: the alarm stays until its readings clear it."""
    return await acted_then(
        request,
        lambda conn: alarms.acknowledge(conn, alarm_id, version, user.username),
        lambda: _page(request, user, narrowed),
    )


@router.post("/alarms/{alarm_id}/close", response_class=HTMLResponse)
async def close_from_form(
    request: Request,
    user: Handler,
    alarm_id: AlarmId,
    version: Version,
    note: Annotated[str, Form(min_length=1, max_length=2000)],
    narrowed: ShownDep,
) -> HTMLResponse:
    """Close the alarm, saying what was done."""
    return await acted_then(
        request,
        lambda conn: alarms.close(conn, alarm_id, version, user.username, note.strip()),
        lambda: _page(request, user, narrowed),
    )
