"""The forces directory over HTTP: list and filter, counts for the command screen, one force,
status changes, and the AVL feed of positions.

Reads and writes go through the caller's scope: a district sees its own forces (other units'
appear only as candidates, see ``api.routes.dispatch``). Contact is masked without
personal-data clearance, and every unmasked read is audited before the answer leaves.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import shapely
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from api.body import RequestBody
from api.geojson import FastJSONResponse
from api.schemas import listed
from api.tabular import ListFormat, render_list
from command.users import User
from forces.listing import (
    FORCE_FIELDS,
    ForceFilter,
    change_status,
    count_forces,
    get_force,
    list_forces,
)
from forces.positions import check_fixes, ingest
from forces.recommend import check_capabilities
from forces.vocabulary import KINDS, STATUSES
from spatial.errors import InvalidInputError
from spatial.polygons import checked_polygon
from spatial.privacy import audit_disclosure
from web.access import Access
from web.deps import BBoxDep, comma_list, scoped_connection
from web.services import ForceSettingsDep, ZoneDep
from web.words import force_labels, words

router = APIRouter(prefix="/api/v1", tags=["forces"])
Reader = Annotated[User, Depends(Access("forces:read"))]
Dispatcher = Annotated[User, Depends(Access("forces:dispatch"))]
Tracker = Annotated[User, Depends(Access("forces:track"))]
ForceId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The force's numeric id", examples=[1])]
PERSONAL = "personal:read"
# a query string must fit the server's request line (64 KiB): percent-encoded, a character takes up to 3 bytes
MAX_WITHIN_CHARS = 20_000
MAX_RADIUS_M = 100_000


class PositionsIn(RequestBody):
    """A batch of fixes from a tracker or gateway; each fix is checked on its own."""

    fixes: list[Any] = Field(description="Fixes {id, lon, lat, time, speed (m/s), heading (°), accuracy (m)}")


class StatusIn(RequestBody):
    """The status a force moves to."""

    status: str = Field(description=", ".join(STATUSES))


class ForceRow(BaseModel):
    """A force in the directory, with its position and state; contact masked without personal-data clearance."""

    model_config = ConfigDict(extra="allow")  # one force's view adds its team members or teams

    id: int
    code: str
    name: str
    kind: str
    unit_code: str
    unit_name: str
    department: str | None
    capabilities: list[str]
    status: str
    status_label: str
    status_at: str
    shift: str | None = Field(description="HH:MM-HH:MM, or null for round the clock")
    contact_name: str | None
    contact_phone: str | None
    lon: float | None
    lat: float | None
    fixed_at: str | None
    stale: bool
    case_id: int | None


class ForceRef(BaseModel):
    """A force named in another's view (a team member, a team)."""

    id: int
    code: str
    name: str


class ForceView(ForceRow):
    """One force with its team members (a team) or teams (a member)."""

    members: list[ForceRef]
    teams: list[ForceRef]


class UnitForceCounts(BaseModel):
    """Forces of one child unit by status (``available``, ``assigned`` … each a count), and how many are stale."""

    model_config = ConfigDict(extra="allow")

    code: str
    name: str
    stale: int


class ForceCounts(BaseModel):
    """Forces under a unit by child unit and status (the command screen's table)."""

    unit: str
    rows: list[UnitForceCounts]
    total: dict[str, int]
    at: str


class Rejected(BaseModel):
    """A fix refused, by its place in the batch."""

    index: int
    id: str | None
    error: str


class PositionsStored(BaseModel):
    """What became of a batch of fixes."""

    received: int
    accepted: int
    stored: int
    latest_updated: int
    rejected: list[Rejected]


def _near(near: str | None, radius_m: float | None) -> tuple[float, float, float] | None:
    if near is None and radius_m is None:
        return None
    if near is None or radius_m is None:
        raise InvalidInputError("near=lon,lat and radius_m go together")
    try:
        lon, lat = (float(v) for v in near.split(","))
    except ValueError:
        raise InvalidInputError(f"near must be lon,lat (two numbers), got {near!r}") from None
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidInputError(f"near {near!r} is outside lon -180…180 / lat -90…90 (lon first)")
    return lon, lat, radius_m


def _polygon(within: str | None) -> bytes | None:
    """A GeoJSON Polygon/MultiPolygon in WGS84, valid and of bounded size, as WKB."""
    return None if within is None else shapely.to_wkb(checked_polygon(within, "within"))


def force_filter(
    user: Reader,
    bbox: BBoxDep,
    settings: ForceSettingsDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_id: Annotated[int | None, Query(ge=1, le=2**63 - 1, description="Page: forces with smaller ids")] = None,
    unit: Annotated[str | None, Query(pattern=r"^[0-9]{6,19}$", description="A unit's subtree")] = None,
    capability: Annotated[str | None, Query(description="Comma-separated; all of them", max_length=400)] = None,
    status: Annotated[str | None, Query(description="Comma-separated; any of them", max_length=200)] = None,
    kind: Annotated[str | None, Query(description="Comma-separated: person, team, vehicle, equipment")] = None,
    near: Annotated[str | None, Query(description="lon,lat of a circle's centre")] = None,
    radius_m: Annotated[float | None, Query(gt=0, le=MAX_RADIUS_M, description="The circle's radius")] = None,
    within: Annotated[
        str | None, Query(description="A GeoJSON Polygon (larger areas: simplify it)", max_length=MAX_WITHIN_CHARS)
    ] = None,
) -> ForceFilter:
    """Filters of the directory list (values are checked here, bound as parameters later)."""
    return ForceFilter(
        limit=limit,
        before_id=before_id,
        unit=unit,
        capabilities=comma_list(capability, "capability"),
        statuses=comma_list(status, "status", STATUSES),
        kinds=comma_list(kind, "kind", KINDS),
        bbox=bbox,
        near=_near(near, radius_m),
        within_wkb=_polygon(within),
        stale_after=settings.stale_after,
    )


Filter = Annotated[ForceFilter, Depends(force_filter)]
Format = Annotated[ListFormat, Query(alias="format", description="json, geojson or csv")]


@router.get("/forces", response_model=None, responses=listed(ForceRow, "forces"))
async def forces_list(request: Request, user: Reader, filter_: Filter, fmt: Format = ListFormat.json) -> Response:
    """Forces in the caller's jurisdiction with position and state (JSON, GeoJSON or CSV), newest id first."""
    reveal = user.may(PERSONAL)
    async with scoped_connection(request) as conn:
        await check_capabilities(conn, filter_.capabilities)
        rows = await list_forces(conn, filter_, reveal=reveal)
        if reveal:
            await audit_disclosure(
                conn,
                user.username,
                [r["id"] for r in rows if r["contact_phone"]],
                via=f"forces list ({fmt})",
                of="forces",
            )
    said = words(request)
    return render_list(request, [force_labels(r, said) for r in rows], FORCE_FIELDS, fmt, filter_.limit, "forces")


@router.get("/forces/counts", response_class=FastJSONResponse, response_model=ForceCounts)
async def forces_counts(
    request: Request,
    user: Reader,
    settings: ForceSettingsDep,
    zone: ZoneDep,
    unit: Annotated[str | None, Query(pattern=r"^[0-9]{6,19}$", description="Default: your unit")] = None,
) -> FastJSONResponse:
    """Forces under a unit by its child units and status, with how many have a stale position."""
    async with scoped_connection(request) as conn:
        counts = await count_forces(conn, unit or user.unit_code, settings.stale_after)
    return FastJSONResponse({**counts, "at": datetime.now(zone).isoformat()})


@router.post("/forces/positions", response_class=FastJSONResponse, response_model=PositionsStored)
async def positions(request: Request, user: Tracker, body: PositionsIn, settings: ForceSettingsDep) -> FastJSONResponse:
    """Store a batch of fixes: bad ones are refused one by one (index, reason), the rest are kept."""
    good, outcome = check_fixes(body.fixes, settings, datetime.now().astimezone())
    async with scoped_connection(request) as conn:
        await ingest(conn, good, outcome, settings)
    return FastJSONResponse(outcome.as_dict())


@router.get("/forces/{force_id}", response_class=FastJSONResponse, response_model=ForceView)
async def force(request: Request, user: Reader, force_id: ForceId, settings: ForceSettingsDep) -> FastJSONResponse:
    """One force: directory entry, position, state, active case, team members or teams."""
    reveal = user.may(PERSONAL)
    async with scoped_connection(request) as conn:
        view = await get_force(conn, force_id, settings.stale_after, reveal=reveal)
        if reveal and view["contact_phone"]:
            await audit_disclosure(conn, user.username, [force_id], via=f"force {force_id}", of="forces")
    return FastJSONResponse(force_labels(view, words(request)))


@router.put("/forces/{force_id}/status", response_class=FastJSONResponse, response_model=ForceView)
async def force_status(
    request: Request, user: Dispatcher, force_id: ForceId, body: StatusIn, settings: ForceSettingsDep
) -> FastJSONResponse:
    """Move a force along its status machine (409 names the moves allowed from where it is)."""
    async with scoped_connection(request) as conn:
        await change_status(conn, force_id, body.status, user.username)
        view = await get_force(conn, force_id, settings.stale_after, reveal=False)
    return FastJSONResponse(force_labels(view, words(request)))
