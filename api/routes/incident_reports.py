"""Situation reports (续报) and the after-action report of an incident, as JSON, printable HTML and PDF.

Drafting, editing and issuing need ``incidents:command`` inside the incident; approving needs
``sitreps:approve`` and another hand than the author's. Reading needs ``incidents:read``; row-level
security keeps each caller to the incidents that reach their unit.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import AwareDatetime, Field

from api.body import RequestBody
from api.geojson import FastJSONResponse
from api.incident_schemas import Record, Rows
from command.users import User
from incidents.after_action import after_action
from incidents.command import COMMAND
from incidents.lifecycle import read_incident
from incidents.printable import pdf, render
from incidents.sitreps import Figures, SitrepKind, SitrepSpec, approve, draft, due, edit, issue, listed, read
from web.access import Access
from web.deps import RowId, scoped_connection
from web.words import language, words

router = APIRouter(prefix="/api/v1", tags=["incidents"])
Reader = Annotated[User, Depends(Access("incidents:read"))]
Commander = Annotated[User, Depends(Access(COMMAND))]
Approver = Annotated[User, Depends(Access("sitreps:approve"))]
Printed = Literal["html", "pdf"]
FIGURES = tuple(Figures.__dataclass_fields__)
Count = Annotated[int, Field(ge=0, le=100_000_000)]


class FiguresIn(RequestBody):
    """People affected, evacuated, injured and dead, and the direct loss in CNY."""

    affected: Count = 0
    evacuated: Count = 0
    injured: Count = 0
    dead: Count = 0
    damage_cny: Annotated[int, Field(ge=0, le=10**13)] = 0


class SitrepIn(RequestBody):
    """A situation report's draft: its kind, its text, and the figures with the time they were true."""

    kind: SitrepKind
    body: str = Field(min_length=1, max_length=20000)
    figures: FiguresIn = FiguresIn()
    figures_at: AwareDatetime = Field(description="when the figures were true, with its offset")

    def spec(self) -> SitrepSpec:
        """The report as the incidents package takes it."""
        return SitrepSpec(self.kind, self.body, Figures(**self.figures.model_dump()), self.figures_at)


class SitrepEdit(SitrepIn):
    """A draft changed on the version the editor saw."""

    version: int = Field(ge=1)


class VersionIn(RequestBody):
    """The version the caller saw."""

    version: int = Field(ge=1)


def _printed(request: Request, fmt: Printed, template: str, name: str, **context: object) -> Response:
    page = render(template, words(request), language(request), **context)
    if fmt == "html":
        return HTMLResponse(page)
    return Response(
        pdf(page), media_type="application/pdf", headers={"Content-Disposition": f'inline; filename="{name}.pdf"'}
    )


@router.post(
    "/incidents/{incident_id}/sitreps", status_code=201, response_class=FastJSONResponse, response_model=Record
)
async def post_sitrep(request: Request, user: Commander, incident_id: RowId, body: SitrepIn) -> FastJSONResponse:
    """Draft a situation report."""
    async with scoped_connection(request) as conn:
        return FastJSONResponse(await draft(conn, user, incident_id, body.spec(), datetime.now(UTC)), status_code=201)


@router.get("/incidents/{incident_id}/sitreps", response_class=FastJSONResponse, response_model=Rows)
async def get_sitreps(request: Request, user: Reader, incident_id: RowId) -> FastJSONResponse:
    """The incident's reports and when the next is due (late or not)."""
    async with scoped_connection(request) as conn:
        await read_incident(conn, incident_id)
        return FastJSONResponse({"sitreps": await listed(conn, incident_id), "due": await due(conn, incident_id)})


@router.put("/sitreps/{sitrep_id}", response_class=FastJSONResponse, response_model=Record)
async def put_sitrep(request: Request, user: Commander, sitrep_id: RowId, body: SitrepEdit) -> FastJSONResponse:
    """Edit a draft on the version you saw (409 when someone edited it first)."""
    async with scoped_connection(request) as conn:
        return FastJSONResponse(await edit(conn, user, sitrep_id, body.version, body.spec(), datetime.now(UTC)))


@router.post("/sitreps/{sitrep_id}/approve", response_class=FastJSONResponse, response_model=Record)
async def post_approve(request: Request, user: Approver, sitrep_id: RowId, body: VersionIn) -> FastJSONResponse:
    """Approve a draft someone else wrote."""
    async with scoped_connection(request) as conn:
        return FastJSONResponse(await approve(conn, user, sitrep_id, body.version))


@router.post("/sitreps/{sitrep_id}/issue", response_class=FastJSONResponse, response_model=Record)
async def post_issue(request: Request, user: Commander, sitrep_id: RowId, body: VersionIn) -> FastJSONResponse:
    """Issue an approved report: it takes the incident's next number."""
    async with scoped_connection(request) as conn:
        return FastJSONResponse(await issue(conn, user, sitrep_id, body.version))


@router.get("/sitreps/{sitrep_id}.{fmt}", response_class=Response)
async def get_printed_sitrep(request: Request, user: Reader, sitrep_id: RowId, fmt: Printed) -> Response:
    """The report to print: an HTML page or a PDF, Chinese first, Beijing time."""
    async with scoped_connection(request) as conn:
        report = await read(conn, sitrep_id)
        incident = await read_incident(conn, report["incident_id"])
    name = f"{incident['code']}-sitrep-{report['seq'] or 'draft-' + str(sitrep_id)}"
    return _printed(request, fmt, "sitrep.html", name, report=report, incident=incident, figure_names=FIGURES)


@router.get("/incidents/{incident_id}/after-action.{fmt}", response_class=Response)
async def get_after_action(
    request: Request, user: Reader, incident_id: RowId, fmt: Literal["json", "html", "pdf"]
) -> Response:
    """The after-action report of a closed incident: timeline, first force on scene, report-in times,
    tasks on time, resources used."""
    async with scoped_connection(request) as conn:
        report = await after_action(conn, incident_id)
    if fmt == "json":
        return FastJSONResponse(report)
    return _printed(request, fmt, "after_action.html", f"{report['incident']['code']}-after-action", report=report)
