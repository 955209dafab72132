"""Point → grid → tier chain over HTTP."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import ConnDep, LocatorDep

router = APIRouter(prefix="/api/v1", tags=["locate"])


@router.get("/locate", operation_id="locate")
def locate(
    conn: ConnDep,
    locator: LocatorDep,
    lon: Annotated[float, Query(description="WGS84 longitude (GCJ-02 must be converted first)")],
    lat: Annotated[float, Query(description="WGS84 latitude")],
) -> dict[str, object]:
    """The grid (and building) containing the point and every unit above it.

    ``responsible`` names, per tier, the unit that answers for the point: the management unit
    where one exists (江北新区 for its seven streets), else the administrative one.
    """
    location = locator.locate(conn, lon, lat)
    tiers = dict.fromkeys(unit.tier for unit in location.chain)
    return {
        "lon": location.lon,
        "lat": location.lat,
        "inside": True,
        "unit": asdict(location.leaf),
        "chain": [asdict(unit) for unit in location.chain],
        "responsible": {tier: asdict(location.at(tier)) for tier in tiers},  # type: ignore[arg-type]
        "index": {"cell": location.cell, "resolution": location.resolution,
                  "kind": "interior" if location.interior else "boundary"},
        "boundary_version": location.boundary_version,
    }  # fmt: skip
