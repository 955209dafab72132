"""``/map`` and the static assets it loads."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text

from api.access import PUBLIC
from map_ui.page import TierLayers, offline_map

STATIC_DIR = Path(__file__).parent / "static"
NANJING_BOUNDS = (118.36, 31.23, 119.24, 32.61)

TIERS: list[dict[str, object]] = [
    {"tier": "city", "label": "市 city", "min_zoom": 0, "limit": 5, "visible": True,
     "style": {"color": "#1f2d3d", "weight": 3, "fill": False}},
    {"tier": "district", "label": "区 district", "min_zoom": 0, "limit": 50, "visible": True,
     "style": {"color": "#c0392b", "weight": 2, "fillOpacity": 0.03}},
    {"tier": "street", "label": "街镇 street", "min_zoom": 10, "limit": 500, "visible": True,
     "style": {"color": "#2e86c1", "weight": 1.5, "fillOpacity": 0.02}},
    {"tier": "community", "label": "社区 community", "min_zoom": 12, "limit": 1000, "visible": True,
     "style": {"color": "#27ae60", "weight": 1, "fillOpacity": 0.02}},
    {"tier": "grid", "label": "网格 grid", "min_zoom": 14, "limit": 2000, "visible": True,
     "style": {"color": "#7f8c8d", "weight": 0.7, "fillOpacity": 0.0}},
    {"tier": "building", "label": "楼宇 building", "min_zoom": 16, "limit": 2000, "visible": False,
     "style": {"color": "#d35400", "weight": 0.5, "fillOpacity": 0.4}},
]  # fmt: skip

router = APIRouter(tags=["map"], dependencies=[Depends(PUBLIC)])


def static_files() -> StaticFiles:
    """The platform's own asset directory (Leaflet, our JS and CSS)."""
    return StaticFiles(directory=STATIC_DIR)


@router.get("/map", response_class=HTMLResponse, include_in_schema=False)
def command_map(request: Request) -> HTMLResponse:
    """The hierarchy on a map: tier layers to toggle, click anywhere for its unit chain."""
    with request.app.state.engine.connect() as conn:
        extent = conn.execute(
            text("SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                 "(SELECT ST_Extent(geom) AS e FROM unit WHERE tier = (SELECT min(tier) FROM unit)) x")
        ).one()  # fmt: skip
    bounds = tuple(extent) if extent[0] is not None else NANJING_BOUNDS
    fmap = offline_map(bounds, request.app.state.api_settings.basemap_url)  # type: ignore[arg-type]
    TierLayers("/api/v1", TIERS).add_to(fmap)
    return HTMLResponse(fmap.get_root().render())
