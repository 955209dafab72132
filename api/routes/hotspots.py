"""``/api/v1/analytics/hotspots``: where cases concentrate beyond chance, in a unit of the caller's jurisdiction.

Counting is the database's (cases per H3 cell, under the caller's scope); the statistics run in a
worker thread (CPU-bound: ~1–2 s for a city at resolution 8 with 999 permutations), never on the
event loop. By default only significant cells come back; ``every_cell=true`` returns the whole
study area with z-scores and p-values.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import h3
import numpy as np
import orjson
import shapely
from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from api.deps import comma_list, scoped_connection
from api.geojson import GeoJSONResponse
from api.routes.evaluation import Analyst, analysis_period, unit_in_reach
from command.hexagons import HexFilter, case_counts
from grid.hotspots import HOT, MAX_RESOLUTION, MIN_RESOLUTION, NOT_SIGNIFICANT, Spot, hotspots, study_area
from spatial.errors import InvalidInputError

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"])
MAX_CELLS = 50_000  # a study area larger than this wants a coarser resolution
TOP = 5


def _analyse(boundary: bytes, resolution: int, counted: dict[int, int], permutations: int, alpha: float,
             min_count: int) -> tuple[list[Spot], int]:  # fmt: skip
    cells = study_area(shapely.from_wkb(boundary), resolution)
    if len(cells) > MAX_CELLS:
        raise InvalidInputError(
            f"{len(cells):,} cells at resolution {resolution}: choose a coarser one (≤ {MAX_CELLS:,})"
        )
    counts = np.array([counted.get(int(c), 0) for c in cells])
    try:
        spots = hotspots(cells, counts, permutations=permutations, alpha=alpha, min_count=min_count, seed=12345)
    except ValueError as error:
        raise InvalidInputError(str(error)) from None
    return spots, int(counts.sum())


@router.get("/hotspots", response_class=GeoJSONResponse)
async def get_hotspots(
    request: Request, user: Analyst,
    unit: Annotated[str | None, Query(pattern=r"^[0-9]{6,19}$", description="Default: your unit")] = None,
    category: Annotated[str | None, Query(description="category codes or prefixes, comma-separated")] = None,
    start: Annotated[datetime | None, Query(alias="from", description="With zone (default: 30 days ago)")] = None,
    end: Annotated[datetime | None, Query(alias="to", description="End, exclusive, with zone (default: now)")] = None,
    res: Annotated[int, Query(ge=MIN_RESOLUTION, le=MAX_RESOLUTION, description="H3 resolution")] = 8,
    permutations: Annotated[int, Query(ge=0, le=9999)] = 999,
    alpha: Annotated[float, Query(gt=0, le=0.2, description="false-discovery rate")] = 0.05,
    min_count: Annotated[int, Query(ge=1, le=10_000, description="cases a cell needs to be called hot")] = 3,
    every_cell: bool = False,
) -> GeoJSONResponse:  # fmt: skip
    """Getis-Ord Gi* hot and cold spots on H3 cells with permutation p-values under an FDR cut."""
    since, until = analysis_period(start, end, request.app.state.calendar.zone)
    categories = comma_list(category, "category")
    if any(not c.isdigit() for c in categories):
        raise InvalidInputError("category: codes or prefixes are digits (010101, or 01 for a whole class)")
    async with scoped_connection(request) as conn:
        unit_id, boundary = await unit_in_reach(conn, user, unit)
        counted = await case_counts(conn, HexFilter(unit_id, res, None, categories, "all", since, until))
    spots, cases = await run_in_threadpool(_analyse, boundary, res, counted, permutations, alpha, min_count)
    hot = sorted((s for s in spots if s.kind == HOT), key=lambda s: (-s.z, -s.count))
    shown = spots if every_cell else [s for s in spots if s.kind != NOT_SIGNIFICANT]
    summary = {
        "unit": unit or user.unit_code, "from": since.isoformat(), "to": until.isoformat(), "resolution": res,
        "cells": len(spots), "cases": cases, "hot": len(hot), "cold": sum(s.kind == "cold" for s in spots),
        "permutations": permutations, "alpha": alpha, "min_count": min_count,
        "top": [{"h3": h3.int_to_str(s.cell), "count": s.count, "z": round(s.z, 2)} for s in hot[:TOP]],
    }  # fmt: skip
    body = {"type": "FeatureCollection", "summary": summary, "features": [s.as_feature() for s in shown]}
    return GeoJSONResponse(orjson.dumps(body))
