"""``/api/v1/hexagons``: counts of cases (or forces) on H3 hexagons in the caller's jurisdiction."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Query, Request

from api.geojson import GeoJSONResponse
from api.schemas import FeatureCollection
from command.users import User
from grid.hexagons import MAX_RESOLUTION, MIN_RESOLUTION, HexFilter, hexagons
from spatial.errors import ForbiddenError, InvalidInputError
from web.access import Access
from web.deps import BBoxDep, comma_list, read_connection

router = APIRouter(prefix="/api/v1", tags=["hexagons"])


class HexLayer(StrEnum):
    """What is counted."""

    cases = "cases"
    forces = "forces"


@router.get("/hexagons", response_class=GeoJSONResponse, response_model=FeatureCollection)
async def get_hexagons(
    request: Request,
    user: Annotated[User, Depends(Access("cases:read"))],
    bbox: BBoxDep,
    resolution: Annotated[int, Query(ge=MIN_RESOLUTION, le=MAX_RESOLUTION, description="H3 resolution")] = 7,
    layer: HexLayer = HexLayer.cases,
    category: Annotated[str | None, Query(description="category codes or code prefixes, comma-separated")] = None,
    state: Annotated[str, Query(pattern="^(open|closed|all)$")] = "open",
    since: Annotated[datetime | None, Query(description="filed at or after (with a zone)")] = None,
    until: Annotated[datetime | None, Query(description="filed before (with a zone)")] = None,
) -> GeoJSONResponse:
    """A FeatureCollection of hexagons: count, open, overdue, worst severity and most frequent category
    (cases), or count, available and busy (forces, with ``forces:read``)."""
    if layer is HexLayer.forces and not user.may("forces:read"):
        raise ForbiddenError("forces:read is needed to count forces")
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise InvalidInputError(f"{name} needs a time zone, e.g. 2026-11-27T08:00:00+08:00")
    categories = comma_list(category, "category")
    if any(not c.isdigit() for c in categories):
        raise InvalidInputError("category: codes or prefixes are digits (010101, or 01 for a whole class)")
    filter_ = HexFilter(user.unit_id, resolution, bbox, categories, state, since, until)
    async with read_connection(request) as conn:
        features = await hexagons(conn, layer.value, filter_)
    body = {
        "type": "FeatureCollection",
        "numberReturned": len(features),
        "resolution": resolution,
        "features": features,
    }
    return GeoJSONResponse(orjson.dumps(body), headers={"Cache-Control": "private, max-age=5"})
