"""Peer cities over HTTP: handovers in, their status back, and the metropolitan list (regulation art. 16).

``POST /api/v1/peers/{city}/handovers`` takes a neighbour's handover, signed with its registered key
(``exchange.peers.check_message``: forged, stale or replayed → 401), and routes it as this city's own
report; the answer names our case and the unit responsible. ``POST …/handovers/{id}/status`` takes a
move of a case this city handed over. Both run in one transaction with the message's id, so a message
either lands whole or not at all and can be sent again. ``GET /api/v1/peers/self`` is what a neighbour
registers this city by; ``GET /api/v1/handovers`` and ``GET /api/v1/peers`` serve the metropolitan view.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field, ValidationError

from api.geojson import FastJSONResponse
from command.intake import submit
from command.users import User
from exchange import handovers, peers
from exchange.changes import source
from exchange.handovers import HandoverIn, StatusIn
from exchange.publication_key import public_pem
from spatial.errors import InvalidInputError, NotFoundError, UnauthenticatedError, problems_text
from web.access import PUBLIC_VIEW, Access
from web.deps import scoped_connection
from web.services import CalendarDep, LocatorDep
from web.uploads import MAX_TEXT_BYTES, declared_length

router = APIRouter(prefix="/api/v1", tags=["peer cities"])
SIGNED: list[str | Enum] = ["peer messages"]  # admitted by the signature alone: 401 when it does not hold (api.openapi)
Reader = Annotated[User, Depends(Access("handovers:read"))]
PeerCity = Annotated[str, Path(pattern=r"^[a-z0-9_]+$", max_length=63, description="The sending city's name")]


M = TypeVar("M", bound=BaseModel)


class CaseAnswer(BaseModel):
    """What a neighbour is told of the case its handover made here."""

    case: int
    state: str
    unit: str = Field(description="Code of the unit responsible here")
    unit_name: str


class Description(BaseModel):
    """A city as a neighbour registers it (``cityops peers add``)."""

    city: str
    name: str
    code: str
    url: str
    public_key: str
    boundary: dict[str, Any] = Field(description="GeoJSON MultiPolygon, WGS84")


class PeerCities(BaseModel):
    """The neighbours this city knows."""

    source: str
    peers: list[Description]


class Handover(BaseModel):
    """A case handed over the city line, either way, with the message still waiting to go."""

    id: int
    direction: str = Field(description="out: handed to the neighbour; in: handed here")
    peer: str
    peer_name: str
    remote_id: int | None = Field(description="out: their case; in: their handover")
    case_id: int | None = Field(description="in: our case")
    category: str
    category_name: str | None
    severity: str
    source: str
    address: str | None
    lon: float
    lat: float
    reported_at: datetime
    state: str
    remote_unit: str | None
    remote_seq: int
    trace: list[dict[str, Any]]
    updated_at: datetime
    attempts: int | None
    last_error: str | None
    next_try_at: datetime | None


class Handovers(BaseModel):
    """Handovers both ways, newest first."""

    handovers: list[Handover]


def _body(model: type[BaseModel]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": model.model_json_schema()}}}}


def _parsed(model: type[M], body: bytes) -> M:
    try:
        return model.model_validate_json(body)
    except ValidationError as error:
        raise InvalidInputError(problems_text(error.errors(include_url=False)[:1], whole="the body")) from error


async def _peer(conn: Any, city: str) -> peers.Peer:
    try:
        return await peers.named(conn, city)
    except NotFoundError:
        raise UnauthenticatedError(f"{city} is not a peer of this city; register it first") from None


async def _signed_body(request: Request) -> bytes:
    declared_length(request, MAX_TEXT_BYTES)
    return await request.body()


@router.post(
    "/peers/{city}/handovers",
    dependencies=[Depends(PUBLIC_VIEW)],
    response_class=FastJSONResponse,
    status_code=201,
    response_model=CaseAnswer,
    responses={200: {"model": CaseAnswer, "description": "Sent before: the case it made then"}},
    tags=SIGNED,
    openapi_extra=_body(HandoverIn),
)
async def receive_handover(
    request: Request, city: PeerCity, locator: LocatorDep, calendar: CalendarDep
) -> FastJSONResponse:
    """A neighbour's handover, signed: routed as this city's own report (201), or the case it made before (200)."""
    body = await _signed_body(request)
    async with scoped_connection(request) as conn:
        peer = await _peer(conn, city)
        async with conn.transaction():
            await peers.check_message(conn, peer, dict(request.headers), body)
            received = _parsed(HandoverIn, body)
            known = await handovers.received_case(conn, peer, received.handover)
            if known is not None:
                return FastJSONResponse(await handovers.case_answer(conn, known), status_code=200)
            actor = f"peer:{peer.city}"
            filed = await submit(conn, handovers.submission_of(received), None, locator, calendar, actor=actor)
            answer = await handovers.keep_received(conn, peer, received, int(str(filed["case_id"])), actor)
    return FastJSONResponse(answer, status_code=201)


@router.post(
    "/peers/{city}/handovers/{handover_id}/status",
    dependencies=[Depends(PUBLIC_VIEW)],
    status_code=204,
    response_class=Response,
    tags=SIGNED,
    openapi_extra=_body(StatusIn),
)
async def receive_status(request: Request, city: PeerCity, handover_id: Annotated[int, Path(ge=1)]) -> Response:
    """A move of a case this city handed over to the neighbour, signed; applied once, never rewinding."""
    body = await _signed_body(request)
    async with scoped_connection(request) as conn:
        peer = await _peer(conn, city)
        async with conn.transaction():
            await peers.check_message(conn, peer, dict(request.headers), body)
            status = _parsed(StatusIn, body)
            if status.handover != handover_id:
                raise InvalidInputError(f"the body's handover {status.handover} is not the path's {handover_id}")
            await handovers.apply_status(conn, peer, status)
    return Response(status_code=204)


@router.get(
    "/peers/self", dependencies=[Depends(PUBLIC_VIEW)], response_class=FastJSONResponse, response_model=Description
)
async def own_description(request: Request) -> FastJSONResponse:
    """What a neighbour registers this city by: name, code, address, public key, boundary."""
    state = request.app.state
    async with scoped_connection(request) as conn:
        described = await peers.own_description(
            conn, state.jurisdiction, str(request.base_url).rstrip("/"), public_pem(state.platform_key)
        )
    return FastJSONResponse(described)


@router.get("/peers", response_class=FastJSONResponse, response_model=PeerCities)
async def peer_cities(request: Request, user: Reader) -> FastJSONResponse:
    """The neighbours this city knows, with their boundaries."""
    async with scoped_connection(request) as conn:
        return FastJSONResponse({"source": source(request.app.state.jurisdiction), "peers": await peers.listed(conn)})


@router.get("/handovers", response_class=FastJSONResponse, response_model=Handovers)
async def handovers_listed(
    request: Request, user: Reader, limit: Annotated[int, Query(ge=1, le=1000)] = 200
) -> FastJSONResponse:
    """Cases handed over both ways, newest first, with the message still waiting to go (tries, last error)."""
    async with scoped_connection(request) as conn:
        return FastJSONResponse({"handovers": await handovers.listed(conn, limit)})
