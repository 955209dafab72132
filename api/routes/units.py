"""The hierarchy over HTTP: list units by tier, parent and bbox; one unit with its chain."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request
from sqlalchemy import Connection, text

from api.geojson import GeoJSONResponse, feature_collection, page_links
from api.schemas import Feature, FeatureCollection
from spatial.errors import NotFoundError
from spatial.tiers import Tier
from web.access import PUBLIC
from web.deps import BBoxDep, db_call

# boundaries are public geography (published by the civil-affairs bureau); what happens inside them is not
router = APIRouter(prefix="/api/v1", tags=["units"], dependencies=[Depends(PUBLIC)])
MAX_LIMIT = 2000
CODE = r"^[0-9A-Za-z_\-]{1,32}$"

FEATURE = """
json_build_object(
  'type', 'Feature', 'id', u.code,
  'geometry', ST_AsGeoJSON(CASE WHEN :simplify > 0
                                THEN ST_SimplifyPreserveTopology(u.geom, :simplify)
                                ELSE u.geom END, 6)::json,
  'properties', json_build_object(
     'code', u.code, 'name', u.name, 'tier', u.tier, 'kind', u.kind,
     'parent', p.code, 'admin_parent', ap.code, 'synthetic', u.synthetic,
     'area_km2', round((u.area_m2 / 1e6)::numeric, 4), 'boundary_version', u.boundary_version_id))::text
"""
FILTERS = """
FROM unit u LEFT JOIN unit p ON p.id = u.parent_id LEFT JOIN unit ap ON ap.id = u.admin_parent_id
WHERE (CAST(:tier AS tier) IS NULL OR u.tier = CAST(:tier AS tier))
  AND (CAST(:parent AS text) IS NULL OR p.code = :parent OR ap.code = :parent)
  AND (CAST(:west AS float8) IS NULL OR (
       u.geom && ST_MakeEnvelope(:west, :south, :east, :north, 4326)
       AND ST_Intersects(u.geom, ST_MakeEnvelope(:west, :south, :east, :north, 4326))))
"""


@router.get("/units", response_class=GeoJSONResponse, operation_id="listUnits", response_model=FeatureCollection)
async def list_units(
    request: Request,
    bbox: BBoxDep,
    tier: Annotated[Tier | None, Query(description="Only units of this tier")] = None,
    parent: Annotated[str | None, Query(pattern=CODE, description="Children of this unit code")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    simplify: Annotated[float, Query(ge=0, le=0.01, description="Simplify tolerance (degrees)")] = 0.0,
) -> GeoJSONResponse:
    """Units as a GeoJSON FeatureCollection, ordered by code, with paging links."""
    west, south, east, north = bbox or (None, None, None, None)
    params = {
        "tier": tier.value if tier else None,
        "parent": parent,
        "west": west,
        "south": south,
        "east": east,
        "north": north,
        "simplify": simplify,
        "limit": limit,
        "offset": offset,
    }
    matched, features = await db_call(request, _page, params)
    links = page_links(request, offset, limit, len(features), matched)
    return GeoJSONResponse(feature_collection(features, matched, links))


def _page(conn: Connection, params: dict[str, object]) -> tuple[int, list[str]]:
    matched = conn.execute(text(f"SELECT count(*) {FILTERS}"), params).scalar_one()
    features = (
        conn.execute(text(f"SELECT {FEATURE} {FILTERS} ORDER BY u.code LIMIT :limit OFFSET :offset"), params)
        .scalars()
        .all()
    )
    return matched, list(features)


def _unit(conn: Connection, code: str):
    return conn.execute(
        text(f"""
        SELECT {FEATURE} AS feature,
          (SELECT json_agg(json_build_object('code', a.code, 'name', a.name, 'tier', a.tier,
                                             'kind', a.kind) ORDER BY x.n)
           FROM unnest(u.ancestors) WITH ORDINALITY x(id, n) JOIN unit a ON a.id = x.id) AS chain,
          (SELECT json_object_agg(tier, n) FROM (SELECT c.tier, count(*) AS n FROM unit c
           WHERE c.parent_id = u.id OR c.admin_parent_id = u.id GROUP BY c.tier) k) AS children
        FROM unit u LEFT JOIN unit p ON p.id = u.parent_id LEFT JOIN unit ap ON ap.id = u.admin_parent_id
        WHERE u.code = :code
        """),
        {"code": code, "simplify": 0.0},
    ).first()


@router.get("/units/{code}", response_class=GeoJSONResponse, operation_id="getUnit", response_model=Feature)
async def get_unit(
    request: Request, code: Annotated[str, Path(pattern=CODE, description="Unit code")]
) -> GeoJSONResponse:
    """One unit as a Feature, with its chain of ancestors and how many children it has."""
    row = await db_call(request, _unit, code)
    if row is None:
        raise NotFoundError(f"no unit with code {code!r}")
    feature = orjson.loads(row.feature)
    feature["properties"]["chain"] = row.chain or []
    feature["properties"]["children"] = row.children or {}
    return GeoJSONResponse(feature)
