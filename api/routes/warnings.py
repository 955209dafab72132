"""Warnings received over HTTP: a warning service posts CAP 1.2 alerts; the map draws those in force.

``POST /api/v1/alerts/inbound`` takes the alert as XML (``application/cap+xml``, ``application/xml`` or
``text/xml``) from the warning service's feed (role ``warning_feed``) or a city commander, and answers
which units it affects (201; 200 for an alert already received). ``GET /api/v1/warnings`` answers the
warnings in force over the caller's jurisdiction as GeoJSON, each in its warning colour.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from api.geojson import FastJSONResponse
from api.schemas import FeatureCollection
from command.users import User
from incidents.warnings import live, receive
from spatial.errors import UnsupportedFormatError
from web.access import Access
from web.deps import scoped_connection

router = APIRouter(prefix="/api/v1", tags=["warnings"])
Feed = Annotated[User, Depends(Access("alerts:receive"))]
Reader = Annotated[User, Depends(Access("warnings:read"))]
XML_TYPES = {"application/cap+xml", "application/xml", "text/xml"}


class Received(BaseModel):
    """A warning as kept: what it is, its colour, when it expires, the units it affects."""

    id: str
    identifier: str
    sender: str
    sent: str
    msg_type: str
    event: str
    headline: str | None
    severity: str
    colour: str | None
    expires: str | None
    affected: list[dict[str, Any]]


@router.post(
    "/alerts/inbound",
    response_class=FastJSONResponse,
    response_model=Received,
    status_code=201,
    responses={200: {"description": "An alert received before (same sender and identifier): kept once, as it was"}},
)
async def inbound(request: Request, user: Feed) -> FastJSONResponse:
    """Receive an official CAP 1.2 warning: checked against the schema, its areas placed on the hierarchy; an
    Update replaces the alerts it references, a Cancel ends them. 422 says where the alert is wrong."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    if content_type not in XML_TYPES:
        given = content_type or "no content type"
        raise UnsupportedFormatError(f"send the alert as {', '.join(sorted(XML_TYPES))}, not {given}")
    async with scoped_connection(request) as conn:
        warning, new = await receive(conn, await request.body(), user.username)
    return FastJSONResponse(warning, status_code=201 if new else 200)


@router.get("/warnings", response_class=FastJSONResponse, response_model=FeatureCollection)
async def warnings(request: Request, user: Reader) -> FastJSONResponse:
    """The warnings in force over the caller's jurisdiction (GeoJSON, newest first; colour: blue … red)."""
    async with scoped_connection(request) as conn:
        return FastJSONResponse(await live(conn))
