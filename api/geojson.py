"""GeoJSON (RFC 7946) responses assembled from features PostGIS already serialised."""

from __future__ import annotations

from collections.abc import Sequence

import orjson
from fastapi import Request
from fastapi.responses import JSONResponse

GEOJSON = "application/geo+json"


class FastJSONResponse(JSONResponse):
    """JSON through orjson, skipping FastAPI's encoder pass (hot endpoints build plain dicts).

    A JSONResponse, so the OpenAPI document shows the route's ``response_model`` as its answer's schema.
    """

    media_type = "application/json"

    def render(self, content: object) -> bytes:
        """Bytes pass through (pre-assembled collections); anything else goes through orjson."""
        return content if isinstance(content, bytes) else orjson.dumps(content)


class GeoJSONResponse(FastJSONResponse):
    """``application/geo+json`` (RFC 7946 §12)."""

    media_type = GEOJSON


def page_links(request: Request, offset: int, limit: int, returned: int, matched: int) -> list[dict[str, str]]:
    """self/next/prev links that keep every other query parameter."""

    def link(rel: str, new_offset: int) -> dict[str, str]:
        url = request.url.include_query_params(offset=new_offset, limit=limit)
        return {"rel": rel, "type": GEOJSON, "href": str(url)}

    links = [link("self", offset)]
    if offset + returned < matched:
        links.append(link("next", offset + limit))
    if offset > 0:
        links.append(link("prev", max(0, offset - limit)))
    return links


def feature_collection(features_json: Sequence[str], matched: int, links: list[dict[str, str]]) -> bytes:
    """Splice pre-serialised features into a collection without parsing them again."""
    head = orjson.dumps(
        {"type": "FeatureCollection", "numberMatched": matched, "numberReturned": len(features_json), "links": links}
    )
    return head[:-1] + b',"features":[' + ",".join(features_json).encode() + b"]}"
