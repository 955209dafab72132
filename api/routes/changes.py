"""The change log over HTTP: the pull feed, the event schemas, and webhook subscriptions (regulation art. 12).

``GET /api/v1/changes?cursor=`` serves a system that cannot receive calls: the caller's changes after
the cursor (their jurisdiction only, row-level security), as CloudEvents, with the cursor to ask with
next — paging with it returns every change exactly once. ``GET /api/v1/changes/schemas/{type}`` is the
JSON Schema of each event type. ``/api/v1/subscriptions`` registers a webhook (its signing secret is in
the answer to the POST and nowhere else), lists the caller's, stops one, replays from a cursor, and shows
and retries dead letters.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field

from api.geojson import FastJSONResponse
from command.users import User
from exchange import webhooks
from exchange.changes import FEED_LIMIT, TYPES, feed, schema, source, wanted_types
from exchange.settings import ExchangeSettings
from exchange.webhooks import SubscriptionIn
from web.access import PUBLIC, Access
from web.deps import RowId, scoped_connection

router = APIRouter(prefix="/api/v1", tags=["changes and subscriptions"])
Reader = Annotated[User, Depends(Access("changes:read"))]
Manager = Annotated[User, Depends(Access("subscriptions:manage"))]
TypeName = Annotated[str, Path(pattern=r"^[a-z]+\.[a-z]+$", examples=["case.closed"])]


async def _settings(request: Request) -> ExchangeSettings:
    settings: ExchangeSettings = request.app.state.exchange_settings  # built in the lifespan (api.app)
    return settings


SettingsDep = Annotated[ExchangeSettings, Depends(_settings)]


def _source(request: Request) -> str:
    return source(request.app.state.jurisdiction)


class Page(BaseModel):
    """A page of the feed: CloudEvents in order, and the cursor to ask with next."""

    events: list[dict[str, Any]]
    next_cursor: int = Field(description="Ask again with this cursor; it never skips a change")


@router.get("/changes", response_class=FastJSONResponse, response_model=Page)
async def changes(
    request: Request,
    user: Reader,
    cursor: Annotated[int, Query(ge=0, le=2**63 - 1, description="The last sequence read; 0: from the start")] = 0,
    types: Annotated[str | None, Query(max_length=200, description=f"Comma-separated, of {', '.join(TYPES)}")] = None,
    limit: Annotated[int, Query(ge=1, le=FEED_LIMIT)] = 100,
) -> FastJSONResponse:
    """The caller's changes after ``cursor``, oldest first (their jurisdiction only)."""
    asked = wanted_types(types)
    async with scoped_connection(request) as conn:
        found, next_cursor = await feed(conn, cursor, asked, limit)
    source = _source(request)
    return FastJSONResponse({"events": [orjson.loads(c.event(source)) for c in found], "next_cursor": next_cursor})


@router.get(
    "/changes/schemas/{change_type}",
    dependencies=[Depends(PUBLIC)],
    response_class=Response,
    responses={200: {"content": {"application/schema+json": {"schema": {"type": "object"}}}}},
)
async def change_schema(change_type: TypeName) -> Response:
    """The JSON Schema (2020-12) of one change type's CloudEvent, or of one line of the bulk exchange format
    (``case.record``, ``case.transition``)."""
    return Response(orjson.dumps(schema(change_type)), media_type="application/schema+json")


class Subscription(BaseModel):
    """A webhook subscription as its owner sees it (never its secret, after the POST)."""

    id: int
    name: str
    url: str
    types: list[str]
    active: bool
    cursor: int = Field(description="The last change delivered (or skipped as not the owner's)")
    attempts: int = Field(description="Failed tries of the batch now waiting")
    next_attempt_at: str | None
    last_error: str | None
    last_delivered_at: str | None
    delivered: int
    created_at: str


class Created(Subscription):
    """A new subscription, with its signing secret: shown this once."""

    secret: str = Field(description="Standard Webhooks secret (whsec_…): verify each delivery's signature with it")


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}


@router.post("/subscriptions", response_class=FastJSONResponse, response_model=Created, status_code=201)
async def subscribe(request: Request, user: Manager, draft: SubscriptionIn, settings: SettingsDep) -> FastJSONResponse:
    """Register a webhook for change types within the caller's jurisdiction, from now on (replay for the past).
    A URL on this machine or a private network is refused unless allowed by configuration."""
    async with scoped_connection(request) as conn, conn.transaction():
        row, secret = await webhooks.subscribe(conn, user, draft, settings)
    return FastJSONResponse(_plain(row) | {"secret": secret}, status_code=201)


@router.get("/subscriptions", response_class=FastJSONResponse, response_model=list[Subscription])
async def subscriptions(request: Request, user: Manager) -> FastJSONResponse:
    """The caller's subscriptions, with how far each got and why the last try failed."""
    async with scoped_connection(request) as conn:
        return FastJSONResponse([_plain(row) for row in await webhooks.owned(conn, user)])


@router.get("/subscriptions/{subscription_id}", response_class=FastJSONResponse, response_model=Subscription)
async def subscription(request: Request, user: Manager, subscription_id: RowId) -> FastJSONResponse:
    """One of the caller's subscriptions."""
    async with scoped_connection(request) as conn:
        return FastJSONResponse(_plain(await webhooks.one(conn, user, subscription_id)))


@router.delete("/subscriptions/{subscription_id}", response_class=FastJSONResponse, response_model=Subscription)
async def stop_subscription(request: Request, user: Manager, subscription_id: RowId) -> FastJSONResponse:
    """Stop deliveries; a replay starts them again."""
    async with scoped_connection(request) as conn, conn.transaction():
        return FastJSONResponse(_plain(await webhooks.stop(conn, user, subscription_id)))


class Replay(BaseModel):
    """Where a replay starts: the sequence of the last change the system keeps."""

    cursor: int = Field(ge=0, le=2**63 - 1)


@router.post("/subscriptions/{subscription_id}/replay", response_class=FastJSONResponse, response_model=Subscription)
async def replay(request: Request, user: Manager, subscription_id: RowId, body: Replay) -> FastJSONResponse:
    """Deliver again, in order, every change after ``cursor``."""
    async with scoped_connection(request) as conn, conn.transaction():
        return FastJSONResponse(_plain(await webhooks.replay(conn, user, subscription_id, body.cursor)))


class DeadLetter(BaseModel):
    """A batch that failed every try: its changes, tries and last error."""

    id: int
    first_seq: int
    last_seq: int
    events: int
    attempts: int
    last_error: str
    dead_at: str
    retried_at: str | None


@router.get(
    "/subscriptions/{subscription_id}/dead-letters", response_class=FastJSONResponse, response_model=list[DeadLetter]
)
async def dead_letters(request: Request, user: Manager, subscription_id: RowId) -> FastJSONResponse:
    """The subscription's dead letters, newest first."""
    async with scoped_connection(request) as conn:
        return FastJSONResponse([_plain(row) for row in await webhooks.dead_letters(conn, user, subscription_id)])


@router.post(
    "/subscriptions/{subscription_id}/dead-letters/{letter_id}/retry",
    response_class=FastJSONResponse,
    response_model=Subscription,
)
async def retry_dead_letter(
    request: Request, user: Manager, subscription_id: RowId, letter_id: Annotated[int, Path(ge=1, le=2**63 - 1)]
) -> FastJSONResponse:
    """Deliver a dead letter's changes again (a replay from just before it)."""
    async with scoped_connection(request) as conn, conn.transaction():
        return FastJSONResponse(_plain(await webhooks.retry_dead_letter(conn, user, subscription_id, letter_id)))
