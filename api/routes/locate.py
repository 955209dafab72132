"""Point → grid → tier chain over HTTP."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from api.geojson import FastJSONResponse
from api.schemas import UnitRef
from web.access import Access
from web.deps import connection
from web.services import LocatorDep

router = APIRouter(prefix="/api/v1", tags=["locate"], dependencies=[Depends(Access("locate:use"))])


class CellIndex(BaseModel):
    """The H3 cell that found the point, and whether its grid covers it whole."""

    cell: str
    resolution: int
    kind: Literal["interior", "boundary"]


class Located(BaseModel):
    """The point, the finest unit holding it, every unit above, and who answers for it per tier."""

    lon: float
    lat: float
    inside: Literal[True]
    unit: UnitRef
    chain: list[UnitRef]
    responsible: dict[str, UnitRef] = Field(description="Per tier, the unit that answers for the point")
    index: CellIndex
    boundary_version: int | None


@router.get("/locate", response_class=FastJSONResponse, operation_id="locate", response_model=Located)
async def locate(
    request: Request,
    lon: Annotated[float, Query(description="WGS84 longitude (GCJ-02 must be converted first)", examples=[118.7969])],
    lat: Annotated[float, Query(description="WGS84 latitude", examples=[32.0603])],
    locator: LocatorDep,
) -> FastJSONResponse:
    """The grid (and building) containing the point and every unit above it.

    ``responsible`` names, per tier, the unit that answers for the point: the management unit
    where one exists (江北新区 for its seven streets), else the administrative one.
    """
    location = locator.locate_here(lon, lat)  # the process's index answers nearly every point
    if location is None:
        async with connection(request) as conn:
            location = await locator.locate_async(conn, lon, lat)
    tiers = dict.fromkeys(unit.tier for unit in location.chain)
    return FastJSONResponse(
        {
            "lon": location.lon,
            "lat": location.lat,
            "inside": True,
            "unit": location.leaf.as_dict(),
            "chain": [unit.as_dict() for unit in location.chain],
            "responsible": {tier: location.at(tier).as_dict() for tier in tiers},  # type: ignore[union-attr]
            "index": {
                "cell": location.cell,
                "resolution": location.resolution,
                "kind": "interior" if location.interior else "boundary",
            },
            "boundary_version": location.boundary_version,
        }
    )
