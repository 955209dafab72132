"""``/api/v1/map/…``: what the command map draws besides cases and forces (issue 18, a legible map).

Unit names by view and zoom (public geography, like the unit tiles), open and overdue cases per
district or street of the view (the caller's scope), and the caller's cases reported and closed
per Beijing day for the KPI panel's trend.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from api.geojson import FastJSONResponse
from command.map_layers import MAX_ZOOM, daily_flow, unit_case_counts, unit_labels
from command.users import User
from spatial.errors import InvalidInputError
from web.access import PUBLIC, Access
from web.deps import BBoxDep, connection, scoped_connection
from web.services import ZoneDep

router = APIRouter(prefix="/api/v1/map", tags=["map"])
Zoom = Annotated[int, Query(ge=0, le=MAX_ZOOM, description="the map's zoom level (0…22)")]
Reader = Annotated[User, Depends(Access("cases:read"))]
Days = Annotated[int, Query(ge=7, le=90, description="days back, today included")]


class Label(BaseModel):
    """A unit's name and where to write it."""

    code: str
    name: str
    tier: str
    lon: float
    lat: float


class Labels(BaseModel):
    """Unit names to write in the view at this zoom; ``truncated``: more were there than are sent."""

    zoom: int
    tiers: list[str]
    labels: list[Label]
    truncated: bool


class CaseCount(BaseModel):
    """Open and overdue cases."""

    open: int
    overdue: int


class UnitCount(Label, CaseCount):
    """A unit of the view with its open and overdue cases."""


class UnitCounts(BaseModel):
    """Open and overdue cases per unit of the zoom's tier in the view, and their total."""

    zoom: int
    tier: str
    units: list[UnitCount]
    total: CaseCount


class FlowDay(BaseModel):
    """One Beijing day: cases reported and closed."""

    date: str
    reported: int
    closed: int


class Flow(BaseModel):
    """The jurisdiction's cases reported and closed per day."""

    unit: str
    days: list[FlowDay]


def _view(bbox: tuple[float, float, float, float] | None) -> tuple[float, float, float, float]:
    if bbox is None:
        raise InvalidInputError("bbox is required: the view as minLon,minLat,maxLon,maxLat")
    return bbox


@router.get("/labels", response_class=FastJSONResponse, response_model=Labels, dependencies=[Depends(PUBLIC)])
async def labels(request: Request, bbox: BBoxDep, zoom: Zoom) -> FastJSONResponse:
    """Unit names to write in the view at this zoom: districts at city zoom, then streets, communities, grids."""
    async with connection(request) as conn:
        body = await unit_labels(conn, _view(bbox), zoom)
    return FastJSONResponse(body, headers={"Cache-Control": "public, max-age=300"})


@router.get("/unit-counts", response_class=FastJSONResponse, response_model=UnitCounts)
async def unit_counts(request: Request, user: Reader, bbox: BBoxDep, zoom: Zoom) -> FastJSONResponse:
    """Open and overdue cases per unit of the view (districts below zoom 11, streets below 13 …), in your scope."""
    async with scoped_connection(request) as conn:
        body = await unit_case_counts(conn, user, _view(bbox), zoom)
    return FastJSONResponse(body, headers={"Cache-Control": "private, max-age=5"})


@router.get("/trend", response_class=FastJSONResponse, response_model=Flow)
async def trend(request: Request, user: Reader, zone: ZoneDep, days: Days = 30) -> FastJSONResponse:
    """Your jurisdiction's cases reported and closed per Beijing day over the last ``days`` days."""
    async with scoped_connection(request) as conn:
        flow = await daily_flow(conn, days, zone, datetime.now(zone))
    return FastJSONResponse(
        {
            "unit": user.unit_code,
            "days": [{"date": d.day.isoformat(), "reported": d.reported, "closed": d.closed} for d in flow],
        },
        headers={"Cache-Control": "private, max-age=60"},
    )
