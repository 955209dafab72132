"""OGC API - Features endpoints: landing page, conformance, collections, items, single items.

Hierarchy collections are public like the units API; cases and forces need their permission and
show only the caller's jurisdiction (a feature outside it is 404, as if absent). Responses are
GeoJSON or JSON; links are absolute, keep the caller's other query parameters, and page by
offset (``next`` only while features remain, ``prev`` after the first page). Features come in the
CRS ``crs`` names (Part 2, api/ogc/crs.py), CRS84 by default, and say which in ``Content-Crs``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import orjson
from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response

from api.geojson import GEOJSON, FastJSONResponse, GeoJSONResponse
from api.ogc.collections import CASES, COLLECTIONS, FORCES, Collection
from api.ogc.crs import CRS84, OFFERED, STORAGE_CRS, Crs, offered
from api.ogc.models import CollectionInfo, Collections, Conformance, Landing
from api.ogc.params import item_query
from api.ogc.queries import extent, item, items
from api.schemas import Feature, FeatureCollection
from command.users import User
from spatial.errors import BadQueryError, NotFoundError
from web.access import PUBLIC, Access
from web.deps import connection, read_connection
from web.services import ZoneDep

router = APIRouter(prefix="/ogc", tags=["ogc"])
JSON = "application/json"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
]  # not oas30: the API description is OpenAPI 3.1, and Part 1 names no conformance class for it
OPENAPI_VERSION = "3.1"  # what /openapi.json declares (FastAPI's default; tests/test_ogc.py holds them together)
FEATURE_ID = Annotated[str, Path(pattern=r"^[0-9A-Za-z_\-]{1,32}$")]
COLLECTION_ID = Annotated[str, Path(pattern=r"^[a-z\-]{1,32}$")]


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/ogc"


def _no_query(request: Request, allowed: tuple[str, ...] = ("f",)) -> None:
    unknown = sorted(set(request.query_params) - set(allowed))
    if unknown:
        raise BadQueryError(f"unknown query parameter {', '.join(unknown)}; this resource takes {', '.join(allowed)}")
    if request.query_params.get("f", "json") not in ("json", "geojson"):
        raise BadQueryError("f: only json is served")


def _collection_body(base: str, collection: Collection, bbox: list[float]) -> dict[str, Any]:
    here = f"{base}/collections/{collection.id}"
    return {
        "id": collection.id,
        "title": collection.title,
        "description": collection.description,
        "itemType": "feature",
        "crs": list(OFFERED),
        "storageCrs": STORAGE_CRS.uri,
        "extent": {
            "spatial": {"bbox": [bbox], "crs": CRS84.uri},
            **({"temporal": {"interval": [[None, None]]}} if collection.time else {}),
        },
        "links": [
            {"rel": "self", "type": JSON, "href": here},
            {"rel": "items", "type": GEOJSON, "href": f"{here}/items"},
        ],
    }


@router.get("", response_class=FastJSONResponse, dependencies=[Depends(PUBLIC)], response_model=Landing)
@router.get("/", response_class=FastJSONResponse, dependencies=[Depends(PUBLIC)], include_in_schema=False)
async def landing(request: Request) -> FastJSONResponse:
    """The landing page: where the API description, conformance and collections are."""
    _no_query(request)
    base, root = _base(request), str(request.base_url).rstrip("/")
    return FastJSONResponse(
        {
            "title": "cityops features",
            "description": "The city's hierarchy, cases and forces as OGC API Features.",
            "links": [
                {"rel": "self", "type": JSON, "href": base},
                {
                    "rel": "service-desc",
                    "type": f"application/vnd.oai.openapi+json;version={OPENAPI_VERSION}",
                    "href": f"{root}/openapi.json",
                },
                {"rel": "service-doc", "type": "text/html", "href": f"{root}/docs"},
                {"rel": "conformance", "type": JSON, "href": f"{base}/conformance"},
                {"rel": "data", "type": JSON, "href": f"{base}/collections"},
            ],
        }
    )


@router.get("/conformance", response_class=FastJSONResponse, dependencies=[Depends(PUBLIC)], response_model=Conformance)
async def conformance(request: Request) -> FastJSONResponse:
    """The conformance classes implemented."""
    _no_query(request)
    return FastJSONResponse({"conformsTo": CONFORMANCE})


@router.get("/collections", response_class=FastJSONResponse, dependencies=[Depends(PUBLIC)], response_model=Collections)
async def collections(request: Request) -> FastJSONResponse:
    """Every collection (metadata only: cases and forces need their permission to read)."""
    _no_query(request)
    async with connection(request) as conn:
        bbox = await extent(conn)
    base = _base(request)
    return FastJSONResponse(
        {
            "links": [{"rel": "self", "type": JSON, "href": f"{base}/collections"}],
            "crs": list(OFFERED),
            "collections": [_collection_body(base, c, bbox) for c in COLLECTIONS.values()],
        }
    )


@router.get(
    "/collections/{collection_id}",
    response_class=FastJSONResponse,
    dependencies=[Depends(PUBLIC)],
    response_model=CollectionInfo,
)
async def collection(request: Request, collection_id: COLLECTION_ID) -> FastJSONResponse:
    """One collection's metadata."""
    _no_query(request)
    async with connection(request) as conn:
        bbox = await extent(conn)
    return FastJSONResponse(_collection_body(_base(request), _known(collection_id), bbox))


def _known(collection_id: str) -> Collection:
    if collection_id not in COLLECTIONS:
        raise NotFoundError(f"no collection {collection_id!r}; see /ogc/collections")
    return COLLECTIONS[collection_id]


def _link(request: Request, rel: str, offset: int, limit: int) -> dict[str, str]:
    return {"rel": rel, "type": GEOJSON, "href": str(request.url.include_query_params(offset=offset, limit=limit))}


async def _items(request: Request, collection: Collection, user: User | None, zone: ZoneInfo) -> Response:
    query = item_query(request.query_params, collection)
    scope = user.unit_id if user else None
    async with read_connection(request) if collection.scoped else connection(request) as conn:
        matched, features = await items(conn, collection, query, scope)
    links = [
        _link(request, "self", query.offset, query.limit),
        {"rel": "collection", "type": JSON, "href": f"{_base(request)}/collections/{collection.id}"},
    ]
    if query.offset + len(features) < matched:
        links.append(_link(request, "next", query.offset + query.limit, query.limit))
    if query.offset > 0:
        links.append(_link(request, "prev", max(0, query.offset - query.limit), query.limit))
    now = datetime.now(zone)
    head = orjson.dumps(
        {
            "type": "FeatureCollection",
            "timeStamp": now.isoformat(timespec="seconds"),
            "numberMatched": matched,
            "numberReturned": len(features),
            "links": links,
        }
    )
    return GeoJSONResponse(
        head[:-1] + b',"features":[' + ",".join(features).encode() + b"]}", headers=_content_crs(query.crs)
    )


def _content_crs(crs: Crs) -> dict[str, str]:
    """Part 2's header naming the features' CRS, in angle brackets: ``Content-Crs: <uri>``."""
    return {"Content-Crs": f"<{crs.uri}>"}


async def _item(request: Request, collection: Collection, feature_id: str, user: User | None) -> Response:
    _no_query(request, ("crs", "f"))
    crs = offered("crs", request.query_params.get("crs"))
    async with read_connection(request) if collection.scoped else connection(request) as conn:
        feature = await item(conn, collection, feature_id, user.unit_id if user else None, crs)
    if feature is None:
        raise NotFoundError(f"no feature {feature_id!r} in {collection.id}")
    here = f"{_base(request)}/collections/{collection.id}"
    links = [
        {"rel": "self", "type": GEOJSON, "href": f"{here}/items/{feature_id}"},
        {"rel": "collection", "type": JSON, "href": here},
    ]
    return GeoJSONResponse(orjson.dumps({**orjson.loads(feature), "links": links}), headers=_content_crs(crs))


# cases and forces first: their literal paths must win over the public {collection_id}
@router.get("/collections/cases/items", response_class=GeoJSONResponse, response_model=FeatureCollection)
async def case_items(
    request: Request, user: Annotated[User, Depends(Access(CASES.permission))], zone: ZoneDep
) -> Response:
    """Cases of the caller's jurisdiction; queryables state, category, severity; datetime on filing time."""
    return await _items(request, CASES, user, zone)


@router.get("/collections/cases/items/{feature_id}", response_class=GeoJSONResponse, response_model=Feature)
async def case_item(
    request: Request, feature_id: FEATURE_ID, user: Annotated[User, Depends(Access(CASES.permission))]
) -> Response:
    """One case (404 outside the caller's jurisdiction)."""
    return await _item(request, CASES, feature_id, user)


@router.get("/collections/forces/items", response_class=GeoJSONResponse, response_model=FeatureCollection)
async def force_items(
    request: Request, user: Annotated[User, Depends(Access(FORCES.permission))], zone: ZoneDep
) -> Response:
    """Tracked forces of the caller's jurisdiction; queryables status, kind; datetime on the last fix."""
    return await _items(request, FORCES, user, zone)


@router.get("/collections/forces/items/{feature_id}", response_class=GeoJSONResponse, response_model=Feature)
async def force_item(
    request: Request, feature_id: FEATURE_ID, user: Annotated[User, Depends(Access(FORCES.permission))]
) -> Response:
    """One force (404 outside the caller's jurisdiction)."""
    return await _item(request, FORCES, feature_id, user)


@router.get(
    "/collections/{collection_id}/items",
    response_class=GeoJSONResponse,
    dependencies=[Depends(PUBLIC)],
    response_model=FeatureCollection,
)
async def unit_items(request: Request, collection_id: COLLECTION_ID, zone: ZoneDep) -> Response:
    """Units of one tier; queryables code, parent."""
    return await _items(request, _public(collection_id), None, zone)


@router.get(
    "/collections/{collection_id}/items/{feature_id}",
    response_class=GeoJSONResponse,
    dependencies=[Depends(PUBLIC)],
    response_model=Feature,
)
async def unit_item(request: Request, collection_id: COLLECTION_ID, feature_id: FEATURE_ID) -> Response:
    """One unit by code."""
    return await _item(request, _public(collection_id), feature_id, None)


def _public(collection_id: str) -> Collection:
    collection = _known(collection_id)
    if collection.permission is not None:  # the literal routes above serve these; never the public one
        raise NotFoundError(f"no public collection {collection_id!r}")
    return collection
