"""Resources for incidents (EDXL-RM): ``/api/v1/incidents/{id}/resources`` and ``/api/v1/resource-requests``.

The incident's command (``incidents:command``, working inside the incident) asks a unit of any
district for a resource; the unit asked sees the request (not the rest of the incident) in its
inbox and answers it; both sides move it through its states on the version they saw. Reading needs
``incidents:read``; row-level security keeps each caller to the requests of incidents they see
and to those asked of their unit.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AwareDatetime, ConfigDict, Field

from api.body import RequestBody
from api.geojson import FastJSONResponse
from api.incident_schemas import Record, Rows
from command.users import User
from forces.recommend import MAX_K, Need
from incidents.command import COMMAND
from incidents.lifecycle import read_incident
from incidents.resources import (
    MAX_FORCES,
    MAX_QUANTITY,
    Answer,
    ResourceAsk,
    list_requests,
    move_request,
    nearest_forces,
    read_request,
    request_resource,
)
from incidents.resources import incident_resources as resources_of
from web.access import Access
from web.deps import RowId, scoped_connection
from web.services import ForceSettingsDep, ZoneDep

router = APIRouter(prefix="/api/v1", tags=["incidents"])
Reader = Annotated[User, Depends(Access("incidents:read"))]
Commander = Annotated[User, Depends(Access(COMMAND))]
Action = Literal["offer", "decline", "accept", "commit", "deploy", "release", "return"]
States = Literal[
    "requested", "offered", "declined", "accepted", "committed", "deployed", "released", "returned", "cancelled"
]


class ResourceIn(RequestBody):
    """Ask a unit (by its code) for a quantity of a resource type, needed by a time at a point."""

    model_config = ConfigDict(str_strip_whitespace=True)
    resource_type: str = Field(min_length=1, max_length=40, examples=["pump"])
    quantity: int = Field(ge=1, le=MAX_QUANTITY)
    to_unit: str = Field(pattern=r"^[0-9]{6,19}$", description="the code of the unit that owns the resource")
    needed_by: AwareDatetime = Field(description="with its offset, e.g. 2026-12-03T20:00:00+08:00")
    lon: float = Field(ge=-180, le=180, description="where it is needed")
    lat: float = Field(ge=-90, le=90)
    note: str = Field(default="", max_length=2000)


class MoveIn(RequestBody):
    """A move on the version the caller saw: ``quantity`` offered or committed (default: all asked or
    offered), ``force_ids`` committed (the owner's forces), ``note`` (a decline's reason)."""

    model_config = ConfigDict(str_strip_whitespace=True)
    version: int = Field(ge=1)
    quantity: int | None = Field(default=None, ge=1, le=MAX_QUANTITY)
    force_ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] = Field(default=[], max_length=MAX_FORCES)
    note: str = Field(default="", max_length=2000)


@router.post(
    "/incidents/{incident_id}/resources", status_code=201, response_class=FastJSONResponse, response_model=Record
)
async def post_resource(request: Request, user: Commander, incident_id: RowId, body: ResourceIn) -> FastJSONResponse:
    """Ask a unit for a resource for the incident (EDXL-RM RequestResource)."""
    ask = ResourceAsk(body.resource_type, body.quantity, body.to_unit, body.needed_by, body.lon, body.lat, body.note)
    async with scoped_connection(request) as conn:
        request_id = await request_resource(conn, user, incident_id, ask)
        return FastJSONResponse(await read_request(conn, request_id), status_code=201)


@router.get("/incidents/{incident_id}/resources", response_class=FastJSONResponse, response_model=Rows)
async def get_resources(request: Request, user: Reader, incident_id: RowId) -> FastJSONResponse:
    """The incident's requests and, per type, requested / offered / committed / deployed / released."""
    async with scoped_connection(request) as conn:
        await read_incident(conn, incident_id)
        return FastJSONResponse(await resources_of(conn, incident_id))


@router.get("/incidents/{incident_id}/resources/nearest", response_class=FastJSONResponse, response_model=Rows)
async def get_nearest(
    request: Request,
    user: Reader,
    incident_id: RowId,
    settings: ForceSettingsDep,
    zone: ZoneDep,
    resource_type: Annotated[str, Query(min_length=1, max_length=40, examples=["rescue_team"])],
    k: Annotated[int, Query(ge=1, le=MAX_K)] = 5,
) -> FastJSONResponse:
    """The k nearest available forces able to serve the resource type, for the incident's whole area,
    with distance and ETA to its edge (the case recommendation, from the area)."""
    need = Need(k, (), settings.stale_after, zone)
    async with scoped_connection(request) as conn:
        return FastJSONResponse(await nearest_forces(conn, user, incident_id, resource_type, need))


@router.get("/resource-requests", response_class=FastJSONResponse, response_model=Rows)
async def get_requests(
    request: Request,
    user: Reader,
    asked: Annotated[bool, Query(description="only the requests asked of your unit (your inbox)")] = False,
    state: Annotated[States | None, Query()] = None,
    before_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> FastJSONResponse:
    """Resource requests the caller sees (of incidents they see, or asked of their unit), newest first."""
    async with scoped_connection(request) as conn:
        items = await list_requests(conn, user, asked=asked, state=state, before=before_id, limit=limit)
    return FastJSONResponse({"items": items})


@router.get("/resource-requests/{request_id}", response_class=FastJSONResponse, response_model=Record)
async def get_request(request: Request, user: Reader, request_id: RowId) -> FastJSONResponse:
    """One request with its EDXL-RM messages and the moves its state allows."""
    async with scoped_connection(request) as conn:
        return FastJSONResponse(await read_request(conn, request_id))


@router.post("/resource-requests/{request_id}/{action}", response_class=FastJSONResponse, response_model=Record)
async def post_request_move(
    request: Request, user: Commander, request_id: RowId, action: Action, body: MoveIn
) -> FastJSONResponse:
    """Move the request: the unit asked offers, declines (with a reason), commits (naming its forces)
    and confirms the return; the incident's command accepts, reports it deployed, or releases it."""
    answer = Answer(action, body.version, body.quantity, tuple(body.force_ids), body.note)
    async with scoped_connection(request) as conn:
        await move_request(conn, user, request_id, answer)
        return FastJSONResponse(await read_request(conn, request_id))
