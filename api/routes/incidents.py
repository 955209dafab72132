"""``/api/v1/incidents``: major incidents under one command (regulation arts. 10, 11).

Reading needs ``incidents:read`` and row-level security keeps each caller to the incidents that
reach their unit; opening, re-levelling, drawing areas and closing need ``incidents:command`` in the
commanding unit or above (a street commands inside its street through summons and tasks).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from api.body import RequestBody
from api.geojson import FastJSONResponse
from api.incident_schemas import AreaStored, Changed, Impact, IncidentLayer, Rows
from command.users import User
from incidents.areas import AreaSpec, add_area, current_areas, retire_area
from incidents.command import COMMAND
from incidents.impact import impact
from incidents.lifecycle import (
    IncidentSpec,
    active_areas,
    change_command,
    change_level,
    close_incident,
    commanded_incident,
    incident_cases,
    link_cases,
    list_incidents,
    open_incident,
    read_incident,
)
from incidents.timeline import entries
from incidents.vocabulary import AreaKind, CaseLink, IncidentState, Level
from web.access import Access
from web.deps import RowId, scoped_connection

router = APIRouter(prefix="/api/v1", tags=["incidents"])
Reader = Annotated[User, Depends(Access("incidents:read"))]
Commander = Annotated[User, Depends(Access(COMMAND))]
MAX_CASE_LIST = 2000


class AreaIn(RequestBody):
    """An area: a GeoJSON ``geometry`` drawn on the map, a ``buffer_m`` round ``lon``/``lat``, or ``units``
    joined (exactly one)."""

    model_config = ConfigDict(str_strip_whitespace=True)
    kind: AreaKind
    label: str = Field(default="", max_length=200)
    geometry: dict[str, Any] | None = Field(default=None, description="GeoJSON Polygon or MultiPolygon (lon, lat)")
    buffer_m: float | None = Field(default=None, gt=0, le=50_000)
    lon: float | None = Field(default=None, ge=-180, le=180)
    lat: float | None = Field(default=None, ge=-90, le=90)
    units: list[Annotated[str, Field(pattern=r"^[0-9]{6,19}$")]] = Field(default=[], max_length=200)

    def spec(self) -> AreaSpec:
        """The area as the incidents package takes it (the geometry as GeoJSON text)."""
        geometry = None if self.geometry is None else json.dumps(self.geometry)
        return AreaSpec(self.kind, self.label, geometry, self.buffer_m, self.lon, self.lat, tuple(self.units))


class IncidentIn(RequestBody):
    """Open an incident: what, how grave, where the command post stands; cases to elevate and areas."""

    model_config = ConfigDict(str_strip_whitespace=True)
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=4000)
    class_code: str = Field(pattern=r"^[a-z_]+(\.[a-z_]+)?$", examples=["natural_disaster.rainstorm_flood"])
    level: Level
    lon: float = Field(ge=-180, le=180, description="command post")
    lat: float = Field(ge=-90, le=90)
    commander: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9._-]{1,63}$", description="default: you")
    lead_department: str | None = Field(default=None, min_length=1, max_length=100)
    case_ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] = Field(default=[], max_length=10_000)
    areas: list[AreaIn] = Field(default=[], max_length=20, description="default: a 500 m perimeter round the post")


class LevelIn(RequestBody):
    """A new level on the version the caller saw; lower is de-escalation."""

    level: Level
    version: int = Field(ge=1)
    note: str = Field(default="", max_length=2000)


class CommandIn(RequestBody):
    """Hand over command, name the lead department, or move the command post."""

    model_config = ConfigDict(str_strip_whitespace=True)
    version: int = Field(ge=1)
    commander: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9._-]{1,63}$")
    lead_department: str | None = Field(default=None, min_length=1, max_length=100)
    lon: float | None = Field(default=None, ge=-180, le=180)
    lat: float | None = Field(default=None, ge=-90, le=90)
    note: str = Field(default="", max_length=2000)


class CloseIn(RequestBody):
    """Close on the version the caller saw, saying why."""

    version: int = Field(ge=1)
    note: str = Field(min_length=1, max_length=2000)


class CasesIn(RequestBody):
    """Link cases to the incident, or dismiss flagged or proposed ones."""

    case_ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] = Field(min_length=1, max_length=10_000)
    decision: Literal["linked", "dismissed"] = "linked"


class Incident(BaseModel):
    """An incident as the board reads it first."""

    model_config = ConfigDict(extra="allow")
    id: int
    code: str


class Incidents(BaseModel):
    """Incidents the caller sees, newest first."""

    incidents: list[dict[str, Any]]


@router.get("/incidents", response_class=FastJSONResponse, response_model=Incidents)
async def get_incidents(
    request: Request,
    user: Reader,
    state: Annotated[IncidentState | None, Query()] = None,
    before_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> FastJSONResponse:
    """Incidents that reach the caller's unit, newest first."""
    async with scoped_connection(request) as conn:
        return FastJSONResponse({"incidents": await list_incidents(conn, state, before_id, limit)})


@router.get("/incidents/map", response_class=FastJSONResponse, response_model=IncidentLayer)
async def get_incident_map(request: Request, user: Reader) -> FastJSONResponse:
    """Active incidents within reach as GeoJSON (their current areas joined): the command map's and the wall's layer."""
    async with scoped_connection(request) as conn:
        return FastJSONResponse(await active_areas(conn))


@router.post("/incidents", status_code=201, response_class=FastJSONResponse, response_model=Incident)
async def post_incident(request: Request, user: Commander, body: IncidentIn) -> FastJSONResponse:
    """Open an incident (elevating cases into it); the level decides which unit commands it."""
    spec = IncidentSpec(
        body.title,
        body.class_code,
        body.level,
        body.lon,
        body.lat,
        body.description,
        body.commander,
        body.lead_department,
        tuple(body.case_ids),
        tuple(area.spec() for area in body.areas),
    )
    async with scoped_connection(request) as conn:
        opened = await open_incident(conn, user, spec)
        return FastJSONResponse(await read_incident(conn, opened["id"]), status_code=201)


@router.get("/incidents/{incident_id}", response_class=FastJSONResponse, response_model=Incident)
async def get_incident(request: Request, user: Reader, incident_id: RowId) -> FastJSONResponse:
    """The incident with its current areas (GeoJSON)."""
    async with scoped_connection(request) as conn:
        incident = await read_incident(conn, incident_id)
        incident["areas"] = {"type": "FeatureCollection", "features": await current_areas(conn, incident_id)}
    return FastJSONResponse(incident)


@router.post("/incidents/{incident_id}/level", response_class=FastJSONResponse, response_model=Incident)
async def post_level(request: Request, user: Commander, incident_id: RowId, body: LevelIn) -> FastJSONResponse:
    """Escalate or de-escalate; the command moves to the tier the level asks for."""
    async with scoped_connection(request) as conn:
        await change_level(conn, user, incident_id, body.level, body.version, body.note)
        return FastJSONResponse(await read_incident(conn, incident_id))


@router.put("/incidents/{incident_id}/command", response_class=FastJSONResponse, response_model=Incident)
async def put_command(request: Request, user: Commander, incident_id: RowId, body: CommandIn) -> FastJSONResponse:
    """Change the commander, the lead department or the command post."""
    async with scoped_connection(request) as conn:
        await change_command(
            conn,
            user,
            incident_id,
            body.version,
            commander=body.commander,
            lead_department=body.lead_department,
            set_department="lead_department" in body.model_fields_set,
            lon=body.lon,
            lat=body.lat,
            note=body.note,
        )
        return FastJSONResponse(await read_incident(conn, incident_id))


@router.post("/incidents/{incident_id}/close", response_class=FastJSONResponse, response_model=Incident)
async def post_close(request: Request, user: Commander, incident_id: RowId, body: CloseIn) -> FastJSONResponse:
    """Close the incident; its forces go back to their units."""
    async with scoped_connection(request) as conn:
        await close_incident(conn, user, incident_id, body.version, body.note)
        return FastJSONResponse(await read_incident(conn, incident_id))


@router.post(
    "/incidents/{incident_id}/areas", status_code=201, response_class=FastJSONResponse, response_model=AreaStored
)
async def post_area(request: Request, user: Commander, incident_id: RowId, body: AreaIn) -> FastJSONResponse:
    """Draw or derive an area (a new perimeter or zone replaces the current one of its kind)."""
    async with scoped_connection(request) as conn, conn.transaction():
        await commanded_incident(conn, user, incident_id)
        return FastJSONResponse(await add_area(conn, incident_id, body.spec(), user.username), status_code=201)


@router.delete("/incidents/{incident_id}/areas/{area_id}", status_code=204)
async def delete_area(request: Request, user: Commander, incident_id: RowId, area_id: RowId) -> None:
    """Take an area off the map (the history keeps it)."""
    async with scoped_connection(request) as conn, conn.transaction():
        await commanded_incident(conn, user, incident_id)
        await retire_area(conn, incident_id, area_id, user.username)


@router.get("/incidents/{incident_id}/impact", response_class=FastJSONResponse, response_model=Impact)
async def get_impact(request: Request, user: Reader, incident_id: RowId) -> FastJSONResponse:
    """Units, buildings, open cases and forces inside the incident's current areas."""
    async with scoped_connection(request) as conn:
        await read_incident(conn, incident_id)
        return FastJSONResponse(await impact(conn, incident_id))


@router.get("/incidents/{incident_id}/cases", response_class=FastJSONResponse, response_model=Rows)
async def get_cases(request: Request, user: Reader, incident_id: RowId) -> FastJSONResponse:
    """Cases under the incident (linked), flagged to it (reported inside), and proposed (open, of a
    related category, inside an area)."""
    async with scoped_connection(request) as conn:
        await read_incident(conn, incident_id)
        items = await incident_cases(conn, incident_id, MAX_CASE_LIST)
    return FastJSONResponse({"cases": items})


@router.post("/incidents/{incident_id}/cases", response_class=FastJSONResponse, response_model=Changed)
async def post_cases(request: Request, user: Commander, incident_id: RowId, body: CasesIn) -> FastJSONResponse:
    """Link cases to the incident or dismiss flagged and proposed ones."""
    async with scoped_connection(request) as conn, conn.transaction():
        await commanded_incident(conn, user, incident_id)
        changed = await link_cases(conn, user, incident_id, tuple(body.case_ids), CaseLink(body.decision))
    return FastJSONResponse({"changed": [str(c) for c in changed]})


@router.get("/incidents/{incident_id}/timeline", response_class=FastJSONResponse, response_model=Rows)
async def get_timeline(
    request: Request,
    user: Reader,
    incident_id: RowId,
    after: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> FastJSONResponse:
    """The incident's timeline, oldest first, after an entry id."""
    async with scoped_connection(request) as conn:
        await read_incident(conn, incident_id)
        return FastJSONResponse({"entries": await entries(conn, incident_id, after, limit)})
