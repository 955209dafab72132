"""Work queues over HTTP: how many cases wait in each of the caller's queues, and a page of one.

The same queues the 待办 page shows (``command.queues``), for clients that build their own screen.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel

from api.geojson import FastJSONResponse
from command.queues import MAX_PAGE, plain, queue_counts, queue_items, queue_named
from command.users import User
from web.access import Access
from web.deps import scoped_connection
from web.services import ZoneDep
from web.words import row_labels, words

router = APIRouter(prefix="/api/v1", tags=["workflow"])
Reader = Annotated[User, Depends(Access("cases:read"))]


class QueueCount(BaseModel):
    """How many cases wait in a queue, and how many of them are late."""

    cases: int
    late: int


class QueueCounts(BaseModel):
    """The caller's queues (those their roles work) with their counts."""

    queues: dict[str, QueueCount]


class QueuePage(BaseModel):
    """A page of one queue, most urgent first."""

    queue: str
    items: list[dict[str, Any]]


@router.get("/queues", response_class=FastJSONResponse, response_model=QueueCounts)
async def counts(request: Request, user: Reader) -> FastJSONResponse:
    """The caller's queues with the cases waiting in each and how many of them are overdue."""
    async with scoped_connection(request) as conn:
        return FastJSONResponse({"queues": await queue_counts(conn, user)})


@router.get("/queues/{name}", response_class=FastJSONResponse, response_model=QueuePage)
async def items(
    request: Request,
    user: Reader,
    name: Annotated[str, Path(max_length=40)],
    zone: ZoneDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> FastJSONResponse:
    """A page of one queue, most urgent first (overdue, then the nearest due time)."""
    queue = queue_named(user, name)
    async with scoped_connection(request) as conn:
        rows = await queue_items(conn, user, queue, limit, offset)
    said = words(request)
    return FastJSONResponse({"queue": queue.name, "items": [row_labels(plain(row, zone), said) for row in rows]})
