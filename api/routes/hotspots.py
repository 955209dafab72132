"""``/api/v1/analytics``: hot spots, their patterns over time and case bins, in a unit of the caller's jurisdiction.

Counting is the database's (under the caller's scope); the statistics run in a worker thread
(CPU-bound: ~1–2 s for a city at resolution 8 with 999 permutations, that again per step),
never on the event loop. By default only significant cells (or cells with a pattern) come back;
``every_cell=true`` returns the whole study area with z-scores and p-values.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.geojson import FastJSONResponse, GeoJSONResponse
from api.routes.evaluation import Analyst, analysis_period, unit_in_reach
from api.schemas import FeatureCollection, or_csv
from api.tabular import csv_response
from command.hotspot_analysis import RATES, HotspotQuery, name_places, read_counts, study
from grid.binning import BIN_TIERS, GROUPS, Steps, bins
from grid.hexagons import HexFilter
from grid.hotspots import MAX_RESOLUTION, MIN_RESOLUTION
from spatial.errors import InvalidInputError
from spatial.sources import SOURCES
from web.deps import comma_list, read_connection
from web.services import ZoneDep

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"])
MAX_API_STEPS = 24  # each step is a Gi* of its own: longer series belong to `cityops hotspots`
UnitCode = Annotated[str | None, Query(pattern=r"^[0-9]{6,19}$", description="Default: your unit")]
Category = Annotated[str | None, Query(description="category codes or prefixes, comma-separated")]
Source = Annotated[str | None, Query(description=f"report sources, comma-separated: {', '.join(SOURCES)}")]
Start = Annotated[datetime | None, Query(alias="from", description="With zone (default: 30 days ago)")]
End = Annotated[datetime | None, Query(alias="to", description="End, exclusive, with zone (default: now)")]
Resolution = Annotated[int, Query(ge=MIN_RESOLUTION, le=MAX_RESOLUTION, description="H3 resolution")]
StepCount = Annotated[int, Query(ge=1, le=MAX_API_STEPS, description="equal time steps the period is cut into")]


class Format(StrEnum):
    """The answer's formats."""

    geojson = "geojson"
    csv = "csv"


class HotSpots(FeatureCollection):
    """Hot and cold H3 cells (Getis-Ord Gi*, permutation p under an FDR cut), and a summary of the study."""

    summary: dict[str, Any] = Field(description="unit, period, resolution, cells, cases, hot, cold, top …")


class Bin(BaseModel):
    """Cases of one cell or unit in one time step (and group)."""

    key: str
    name: str | None
    step: str
    group: str | None
    count: int
    per_km2: float | None


class Bins(BaseModel):
    """Cases per H3 cell or unit, per time step."""

    unit: str
    by: str
    group: str
    from_: str = Field(alias="from")
    to: str
    steps: list[str]
    rows: list[Bin]


def category_codes(value: str | None) -> tuple[str, ...]:
    """``?category=`` as codes or prefixes (digits), checked."""
    categories = comma_list(value, "category")
    if any(not c.isdigit() for c in categories):
        raise InvalidInputError("category: codes or prefixes are digits (010101, or 01 for a whole class)")
    return categories


@router.get("/hotspots", response_class=GeoJSONResponse, response_model=None, responses=or_csv(HotSpots))
async def get_hotspots(
    request: Request,
    user: Analyst,
    zone: ZoneDep,
    unit: UnitCode = None,
    category: Category = None,
    source: Source = None,
    start: Start = None,
    end: End = None,
    res: Resolution = 8,
    steps: StepCount = 1,
    permutations: Annotated[int, Query(ge=0, le=9999)] = 999,
    alpha: Annotated[float, Query(gt=0, le=0.2, description="false-discovery rate")] = 0.05,
    min_count: Annotated[int, Query(ge=1, le=10_000, description="cases a cell needs to be called hot")] = 3,
    rate: Annotated[str, Query(description=f"{' or '.join(RATES)} (cases per building: a population proxy)")] = "count",
    every_cell: bool = False,
    fmt: Annotated[Format, Query(alias="format")] = Format.geojson,
) -> Response:
    """Getis-Ord Gi* hot and cold spots on H3 cells (permutation p under an FDR cut); with steps, emerging patterns."""
    since, until = analysis_period(start, end, zone)
    async with read_connection(request) as conn:
        reach = await unit_in_reach(conn, user, unit)
        query = HotspotQuery(
            reach.id,
            unit or user.unit_code,
            reach.boundary,
            since,
            until,
            res,
            category_codes(category),
            comma_list(source, "source", SOURCES),
            steps,
            permutations,
            alpha,
            min_count,
            rate,
        )
        counted, exposure = await read_counts(conn, query)
        result = await run_in_threadpool(study, query, counted, exposure)
        await name_places(conn, result)
    if fmt is Format.csv:
        rows = result.rows()
        return csv_response(rows, list(rows[0]) if rows else ["h3"], f"hotspots-{query.unit_code}")
    body = {"type": "FeatureCollection", "summary": result.summary(), "features": result.features(every_cell)}
    return GeoJSONResponse(orjson.dumps(body))


@router.get("/bins", response_model=None, responses=or_csv(Bins))
async def get_bins(
    request: Request,
    user: Analyst,
    zone: ZoneDep,
    unit: UnitCode = None,
    category: Category = None,
    source: Source = None,
    start: Start = None,
    end: End = None,
    res: Resolution = 8,
    steps: StepCount = 1,
    by: Annotated[str, Query(description=f"cell or a tier: {', '.join(BIN_TIERS)}")] = "cell",
    group: Annotated[str, Query(description=f"split each bin by: {', '.join(GROUPS)}")] = "none",
    fmt: Annotated[str, Query(alias="format", pattern="^(json|csv)$")] = "json",
) -> Response:
    """Cases per H3 cell or per unit of a tier, per time step, optionally per category or source, with per-km² rates."""
    since, until = analysis_period(start, end, zone)
    async with read_connection(request) as conn:
        reach = await unit_in_reach(conn, user, unit)
        filter_ = HexFilter(
            reach.id,
            res,
            None,
            category_codes(category),
            "reported",
            since,
            until,
            comma_list(source, "source", SOURCES),
        )
        period = Steps(since, until, steps)
        rows = await bins(conn, filter_, period, by=by, group=group, scope_tier=reach.tier)
    name = f"bins-{unit or user.unit_code}-{by}"
    if fmt == "csv":
        return csv_response(rows, ["key", "name", "step", "group", "count", "per_km2"], name)
    return FastJSONResponse(
        {
            "unit": unit or user.unit_code,
            "by": by,
            "group": group,
            "from": since.isoformat(),
            "to": until.isoformat(),
            "steps": [s.isoformat() for s in period.starts],
            "rows": rows,
        }
    )
