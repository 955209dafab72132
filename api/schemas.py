"""Answer models shared by many routes: the one refusal every error is, and GeoJSON.

They describe what the routes send (``response_model=`` or ``responses=``); the hot routes build
plain dicts and send them through orjson, so these models document and are checked by the contract
test (``tests/test_contract.py``, schemathesis against the live app), not re-validated per request.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model


class Answer(BaseModel):
    """An answer object: the fields listed are always there; a route may add more in a later version."""

    model_config = ConfigDict(extra="allow")


class FieldProblem(BaseModel):
    """One field a request validation refused, and why."""

    field: str = Field(description="Where the value is: query.limit, body.category …")
    message: str


class TopologyProblem(BaseModel):
    """One check an import failed (``code: topology``)."""

    check: str
    message: str
    codes: list[str]
    area_m2: float | None


class Refusal(BaseModel):
    """Every 4xx and 5xx the API answers (``web.errors``): a stable ``code``, the English ``detail``
    (stable for logs and scripts) and ``message``, the same refusal for a person in the request's language."""

    detail: str = Field(description="What was refused and what to fix, in English")
    code: str = Field(description="Stable for programs: invalid_input, not_found, forbidden, unauthenticated …")
    message: str = Field(description="The refusal for a person, zh-CN unless the request asks for English")
    errors: list[FieldProblem] = Field(default=[], description="Request validation (422): each refused field")
    problems: list[TopologyProblem] = Field(default=[], description="An import's failed checks (code: topology)")
    request_id: str = Field(default="", description="An internal error (500): the request's id in the logs")


class Link(BaseModel):
    """A link to a related resource (paging: self, next, prev)."""

    rel: str
    type: str
    href: str


Coordinates = list[Any]  # a position, or nested lists of positions (RFC 7946 §3.1)


class Geometry(BaseModel):
    """A GeoJSON geometry (RFC 7946 §3.1): Point, LineString, Polygon, their Multi- forms."""

    type: Literal["Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon"]
    coordinates: Coordinates


class Feature(BaseModel):
    """A GeoJSON Feature; ``properties`` are the resource's fields."""

    type: Literal["Feature"]
    id: str | int | None = None
    geometry: Geometry | None
    properties: dict[str, Any] | None


class FeatureCollection(BaseModel):
    """A GeoJSON FeatureCollection, with paging figures and links where the route pages."""

    model_config = ConfigDict(extra="allow")

    type: Literal["FeatureCollection"]
    features: list[Feature]
    numberMatched: int | None = None
    numberReturned: int | None = None
    links: list[Link] | None = None


GEOJSON_FEATURE = {"application/geo+json": {"schema": {"$ref": "#/components/schemas/Feature"}}}
CSV = {"text/csv": {"schema": {"type": "string"}}}  # UTF-8 with a byte-order mark, a header row first
GEOJSON_COLLECTION = {"application/geo+json": {"schema": {"$ref": "#/components/schemas/FeatureCollection"}}}


def binary(*media_types: str, description: str) -> dict[int | str, dict[str, Any]]:
    """The 200 of a route answering bytes (tiles, images): its media types, no JSON schema."""
    content = {media_type: {"schema": {"type": "string", "format": "binary"}} for media_type in media_types}
    return {200: {"description": description, "content": content}}


class UnitRef(BaseModel):
    """A unit of the hierarchy as located answers name it."""

    code: str
    name: str
    tier: str
    kind: str | None
    synthetic: bool


class UnitOfUser(BaseModel):
    """The unit a user acts for (their jurisdiction)."""

    code: str
    tier: str


class Responsible(BaseModel):
    """The unit that answers for a case, and the departments it goes to."""

    model_config = ConfigDict(extra="allow")  # a case's view adds the tier in words

    code: str
    name: str
    tier: str
    departments: list[str]


class ListPage(BaseModel):
    """One page of a list (``?format=json``): its rows, newest first, and the next (older) page's URL."""

    items: list[dict[str, Any]]
    next: str | None


def listed(row: type[BaseModel], description: str) -> dict[int | str, dict[str, Any]]:
    """The 200 of a list endpoint (``api.tabular.render_list``): JSON rows, a GeoJSON collection, or CSV."""
    items = list[row]  # type: ignore[valid-type]  # a model given at run time
    page = create_model(
        f"{row.__name__}Page", __base__=ListPage, __doc__=f"A page of {description}.", items=(items, ...)
    )
    return {200: {"model": page, "description": description, "content": {**GEOJSON_COLLECTION, **CSV}}}


def or_csv(model: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    """The 200 of a route answering ``model`` in its own media type, or a CSV table (``?format=csv``)."""
    return {200: {"model": model, "content": CSV}}
