"""``/api/v1/analytics/places``: H3 cells named by their street and community (what a planner reads)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from api.geojson import FastJSONResponse
from api.routes.evaluation import Analyst
from command.place_names import MAX_CELLS, checked_cells, place_names
from web.deps import scoped_connection

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"])


class Places(BaseModel):
    """Per H3 cell, the names of the units it lies in and the place to call it by."""

    places: dict[str, dict[str, str | None]]


@router.get("/places", response_class=FastJSONResponse, response_model=Places)
async def get_places(
    request: Request,
    user: Analyst,
    cells: Annotated[str, Query(description=f"H3 cell ids, comma-separated (at most {MAX_CELLS})")],
) -> FastJSONResponse:
    """``{"places": {cell: {district, street, community, place}}}``; unit names are public geography."""
    wanted = checked_cells(cells)
    async with scoped_connection(request) as conn:
        return FastJSONResponse({"places": await place_names(conn, wanted)})
