"""Routing preview: where a report at this place would go, without creating anything."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from api.geojson import FastJSONResponse
from api.schemas import UnitRef
from command.routing import parse_severity, route
from command.taxonomy import fetch_category
from spatial.china_coords import parse_source_crs, to_wgs84
from web.access import Access
from web.deps import connection
from web.services import CalendarDep, LocatorDep

router = APIRouter(prefix="/api/v1", tags=["route"], dependencies=[Depends(Access("locate:use"))])


class RoutedResponsible(UnitRef):
    """The unit that would answer for the report, at which tier, and its departments."""

    departments: list[str]


class RoutePreview(BaseModel):
    """Where a report here would go, when it would be due, and every rule that decided it."""

    point: dict[str, Any] = Field(description="The point in WGS84, and as given (lon, lat, crs)")
    category: str
    severity: str
    responsible: RoutedResponsible
    chain: list[UnitRef]
    filed_at: str
    deadline: str
    trace: dict[str, Any]


@router.get("/route", response_class=FastJSONResponse, operation_id="routePreview", response_model=RoutePreview)
async def route_preview(
    request: Request,
    lon: Annotated[float, Query(description="Longitude in the system named by crs", examples=[118.7969])],
    lat: Annotated[float, Query(description="Latitude in the system named by crs", examples=[32.0603])],
    category: Annotated[
        str, Query(max_length=16, description="Category code, e.g. 020102 (暴露垃圾)", examples=["020102"])
    ],
    locator: LocatorDep,
    calendar: CalendarDep,
    severity: Annotated[str, Query(max_length=8, description="IV/III/II/I or 一般/较大/重大/特别重大")] = "IV",
    crs: Annotated[str, Query(max_length=16, description="wgs84, cgcs2000, gcj02 (AMap/WeChat) or bd09")] = "wgs84",
) -> FastJSONResponse:
    """The responsible unit, departments, deadline and the trace of every rule that decided it."""
    level = parse_severity(severity)
    source = parse_source_crs(crs)
    wgs_lon, wgs_lat = (float(v) for v in to_wgs84(lon, lat, source))
    async with connection(request) as conn:
        found = await fetch_category(conn, category)
        location = await locator.locate_async(conn, wgs_lon, wgs_lat)
    decided = route(location, found, level, datetime.now(calendar.zone), calendar)
    return FastJSONResponse(
        {
            "point": {"lon": wgs_lon, "lat": wgs_lat, "crs": "wgs84", "given": {"lon": lon, "lat": lat, "crs": source}},
            "category": category,
            "severity": level.value,
            "responsible": {**decided.unit.as_dict(), "tier": decided.tier, "departments": list(decided.departments)},
            "chain": [unit.as_dict() for unit in location.chain],
            "filed_at": decided.filed_at.isoformat(),
            "deadline": decided.deadline.isoformat(),
            "trace": decided.trace,
        }
    )
