"""The incident pages: ``/incidents`` (the incidents that reach the user, and opening one) and the
command board ``/incidents/{id}`` (regulation art. 10: one screen for one command).

The board is a server-rendered page like the case page: what the incidents package answers —
the incident, its impact, its cases, its timeline — rendered in the user's words, with forms that
post here and get the board back (htmx swaps ``#main``); the map is a small script drawing the
areas, the command post, the cases and the forces near it. A refusal comes back as the board with
the refusal said in words, nothing changed.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse, Response

from command.users import User
from incidents.areas import AreaSpec, add_area, current_areas
from incidents.command import COMMAND, chain_of
from incidents.impact import impact
from incidents.lifecycle import (
    IncidentSpec,
    change_level,
    close_incident,
    commanded_incident,
    incident_cases,
    link_cases,
    list_incidents,
    open_incident,
    read_incident,
)
from incidents.queries.lifecycle import CLASSES_NAMED
from incidents.timeline import entries
from incidents.vocabulary import AreaKind, CaseLink, Level
from map_ui.incident_panels import resources_panel, summons_panel, tasks_panel
from map_ui.incident_report_panels import alert_panel, sitrep_panel
from map_ui.pages import PageAccess, missing, refusal, render
from spatial.errors import InvalidInputError, NotFoundError, PlatformError, StaleVersionError
from web.access import PUBLIC
from web.deps import scoped_connection
from web.errors import classify
from web.i18n import Catalogue, language_of

router = APIRouter(dependencies=[Depends(PUBLIC)], include_in_schema=False)
Reader = Annotated[User, Depends(PageAccess("incidents:read"))]
Commander = Annotated[User, Depends(PageAccess(COMMAND))]
IncidentId = Annotated[int, Path(ge=1, le=2**63 - 1)]
BOARD_CASES = 500  # the board lists the newest; the map and the counts cover every one


@router.get("/incidents", response_class=HTMLResponse)
async def incidents_page(request: Request, user: Reader) -> HTMLResponse:
    """Active and recent incidents within reach, newest first; commanders also see the form to open one."""
    async with scoped_connection(request) as conn:
        listed = await list_incidents(conn, None, None, 100)
        classes = await (await conn.execute(CLASSES_NAMED)).fetchall()
    return render(request, "incidents.html", user, incidents=listed, classes=classes, levels=list(Level))


@router.post("/incidents", response_class=HTMLResponse)
async def open_from_form(
    request: Request,
    user: Commander,
    title: Annotated[str, Form(min_length=1, max_length=200)],
    class_code: Annotated[str, Form(max_length=64)],
    level: Annotated[Level, Form()],
    lon: Annotated[float, Form(ge=-180, le=180)],
    lat: Annotated[float, Form(ge=-90, le=90)],
    radius_m: Annotated[float, Form(gt=0, le=50_000)] = 500,
    description: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """Open an incident with a perimeter round the post, then go to its board."""
    perimeter = AreaSpec(AreaKind.PERIMETER, buffer_m=radius_m, lon=lon, lat=lat)
    spec = IncidentSpec(title, class_code, level, lon, lat, description, areas=(perimeter,))
    try:
        async with scoped_connection(request) as conn:
            opened = await open_incident(conn, user, spec)
    except PlatformError as error:
        words = Catalogue(language_of(request))
        return _refused(words, error)
    return Response(status_code=204, headers={"HX-Redirect": f"/incidents/{opened['id']}"})


@router.get("/incidents/{incident_id}", response_class=HTMLResponse)
async def board(request: Request, user: Reader, incident_id: IncidentId) -> HTMLResponse:
    """The command board: the incident, its map, impact, cases and timeline, and the commander's forms."""
    try:
        return await _board(request, user, incident_id)
    except NotFoundError as error:
        return missing(request, user, error)


# the board's further panels: (template, loader); a loader reads what its panel shows, in the caller's scope
Loader = Callable[[psycopg.AsyncConnection, dict[str, Any], User], Awaitable[dict[str, Any]]]
PANELS: tuple[tuple[str, Loader], ...] = (
    ("_incident_summons.html", summons_panel),
    ("_incident_tasks.html", tasks_panel),
    ("_incident_resources.html", resources_panel),
    ("_incident_sitreps.html", sitrep_panel),
    ("_incident_alerts.html", alert_panel),
)


async def _board(request: Request, user: User, incident_id: int, **extra: Any) -> HTMLResponse:
    async with scoped_connection(request) as conn:
        incident = await read_incident(conn, incident_id)
        areas = await current_areas(conn, incident_id)
        effect = await impact(conn, incident_id)
        cases = await incident_cases(conn, incident_id, BOARD_CASES)
        timeline = await entries(conn, incident_id)
        panels = [(template, await load(conn, incident, user)) for template, load in PANELS]
        commands = user.may(COMMAND) and user.department is None
        commands = commands and user.unit_id in await chain_of(conn, incident["commanding_unit"]["id"])
    return render(
        request,
        "incident.html",
        user,
        incident=incident,
        areas={"type": "FeatureCollection", "features": areas},
        area_kinds=list(AreaKind),
        impact=effect,
        cases=cases,
        timeline=list(reversed(timeline)),
        commands=commands,
        panels=panels,
        levels=list(Level),
        script_messages=("incident.",),
        **extra,
    )


def _refused(words: Catalogue, error: PlatformError) -> HTMLResponse:
    """A refusal as a toast (the form stays as the user filled it)."""
    text = refusal(words, error)
    headers = {"HX-Trigger": json.dumps({"cityops:toast": {"text": text, "kind": "error"}}), "HX-Reswap": "none"}
    return HTMLResponse("", status_code=classify(error)[0], headers=headers)


async def acted(request: Request, user: User, incident_id: int, action: Any) -> HTMLResponse:
    """Run ``action(conn)`` in one transaction and answer the board again, or the refusal in words."""
    return await acted_then(request, action, lambda: _board(request, user, incident_id))


async def acted_then(request: Request, action: Any, again: Callable[[], Awaitable[HTMLResponse]]) -> HTMLResponse:
    """Run ``action(conn)`` in one transaction and answer the page ``again`` renders, or the refusal in words;
    a stale version answers the page as it is now (409), said so."""
    words = Catalogue(language_of(request))
    try:
        async with scoped_connection(request) as conn, conn.transaction():
            await action(conn)
    except StaleVersionError:  # someone else moved first: the page as it is now, said so
        response = await again()
        response.status_code = 409
        response.headers["HX-Trigger"] = json.dumps(
            {"cityops:toast": {"text": words("incident.stale"), "kind": "error"}}
        )
        return response
    except PlatformError as error:
        return _refused(words, error)
    response = await again()
    response.headers["HX-Trigger"] = json.dumps({"cityops:toast": {"text": words("incident.done"), "kind": "ok"}})
    return response


@router.post("/incidents/{incident_id}/level", response_class=HTMLResponse)
async def level_from_form(
    request: Request,
    user: Commander,
    incident_id: IncidentId,
    level: Annotated[Level, Form()],
    version: Annotated[int, Form(ge=1)],
    note: Annotated[str, Form(max_length=2000)] = "",
) -> HTMLResponse:
    """Escalate or de-escalate from the board."""
    return await acted(
        request, user, incident_id, lambda conn: change_level(conn, user, incident_id, level, version, note)
    )


@router.post("/incidents/{incident_id}/close", response_class=HTMLResponse)
async def close_from_form(
    request: Request,
    user: Commander,
    incident_id: IncidentId,
    version: Annotated[int, Form(ge=1)],
    note: Annotated[str, Form(max_length=2000)] = "",
) -> HTMLResponse:
    """Close the incident from the board (a note says why)."""
    return await acted(request, user, incident_id, lambda conn: close_incident(conn, user, incident_id, version, note))


@router.post("/incidents/{incident_id}/areas", response_class=HTMLResponse)
async def area_from_form(
    request: Request,
    user: Commander,
    incident_id: IncidentId,
    kind: Annotated[AreaKind, Form()],
    label: Annotated[str, Form(max_length=200)] = "",
    lon: Annotated[float | None, Form(ge=-180, le=180)] = None,
    lat: Annotated[float | None, Form(ge=-90, le=90)] = None,
    radius_m: Annotated[float | None, Form(gt=0, le=50_000)] = None,
    geometry: Annotated[str | None, Form(max_length=200_000)] = None,
    units: Annotated[str, Form(max_length=4000)] = "",
) -> HTMLResponse:
    """An area from the board: drawn on its map, a circle round a clicked point, or units by code."""
    codes = tuple(c.strip() for c in units.replace("，", ",").split(",") if c.strip())
    spec = AreaSpec(kind, label, geometry or None, radius_m, lon, lat, codes)

    async def add(conn: Any) -> None:
        await commanded_incident(conn, user, incident_id)
        await add_area(conn, incident_id, spec, user.username)

    return await acted(request, user, incident_id, add)


@router.post("/incidents/{incident_id}/cases", response_class=HTMLResponse)
async def cases_from_form(
    request: Request,
    user: Commander,
    incident_id: IncidentId,
    case_id: Annotated[list[int], Form()],
    decision: Annotated[CaseLink, Form()],
) -> HTMLResponse:
    """Link or dismiss flagged and proposed cases from the board."""
    if decision is CaseLink.FLAGGED:
        raise InvalidInputError("decision must be linked or dismissed")

    async def decide(conn: Any) -> None:
        await commanded_incident(conn, user, incident_id)
        await link_cases(conn, user, incident_id, tuple(case_id), decision)

    return await acted(request, user, incident_id, decide)
