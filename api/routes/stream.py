"""``/api/v1/stream``: the live change feed as Server-Sent Events, confined to the caller's jurisdiction.

A page opens it once and applies each ``changes`` event (cases and forces in their current
state) without reloading. Every event carries an id, the feed's cursor; a browser reconnecting
after a drop sends it back as ``Last-Event-ID`` (or a page that builds a new connection passes
``last_event_id``), and receives first what changed meanwhile. ``reset`` means the gap was too
long or too full to replay: reload the layers. The stream ends when the access token it was
opened with would expire, so a disabled user or a lapsed login stops seeing changes within
the token's lifetime; the page reconnects with a fresh token.

The people behind a force (``assignments:answer``) receive their force's assignments as they
change, wherever the case lies — and, without ``cases:read``, nothing else.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from command.change_feed import RESET, Batch, Viewer, catch_up, cursor_now
from command.users import User
from spatial.errors import ForbiddenError, InvalidInputError, TooManyRequestsError
from web.access import SIGNED_IN
from web.deps import scoped_connection
from web.services import ChangesDep, TokensDep

router = APIRouter(prefix="/api/v1", tags=["stream"])
MAX_VIEWERS = 1000  # per API process; more would share two cores too thinly to stay live
RETRY_MS = 2000
PING_S = 15


def _resume_from(header: str | None, query: int | None) -> int | None:
    if query is not None:
        return query
    if header is None or header == "":
        return None
    if not header.isdigit() or len(header) > 20:
        raise InvalidInputError(f"Last-Event-ID must be a cursor this stream sent (digits), got {header[:40]!r}")
    return int(header)


def _event(batch: Batch, cursor: int) -> ServerSentEvent:
    if batch is RESET:
        return ServerSentEvent(data='{"reload": true}', event="reset", id=str(cursor), retry=RETRY_MS)
    return ServerSentEvent(data=batch.payload().decode(), event="changes", id=str(batch.cursor), retry=RETRY_MS)


@router.get("/stream", response_class=EventSourceResponse)
async def stream(
    request: Request,
    user: Annotated[User, Depends(SIGNED_IN)],
    hub: ChangesDep,
    tokens: TokensDep,
    last_event_header: Annotated[str | None, Header(alias="Last-Event-ID", include_in_schema=False)] = None,
    last_event_id: Annotated[int | None, Query(ge=0, description="resume after this cursor (an event id)")] = None,
) -> EventSourceResponse:
    """Cases and (with ``forces:read``) forces of the caller's jurisdiction, and the assignments of the force the
    caller answers for, as they change (``cases:read`` or ``assignments:answer``)."""
    answers_for = user.force_id if user.may("assignments:answer") else None
    if not user.may("cases:read") and not user.may("assignments:answer"):
        roles = ", ".join(user.roles) or "(none)"
        raise ForbiddenError(
            f"cases:read or assignments:answer is needed; the roles {roles} of {user.username} grant neither"
        )
    if hub.viewers >= MAX_VIEWERS:
        raise TooManyRequestsError(f"this server already streams to {MAX_VIEWERS} viewers; retry shortly", 5)
    resume = _resume_from(last_event_header, last_event_id)
    viewer = Viewer(user.unit_id, user.department, user.may("forces:read"), user.may("cases:read"), answers_for)
    ends_at = time.monotonic() + tokens.access_minutes * 60

    async def events() -> AsyncIterator[ServerSentEvent]:
        with hub.subscribe(viewer) as subscription:  # subscribed before the catch-up is read: nothing falls between
            async with scoped_connection(request) as conn:
                cursor = await cursor_now(conn)
                missed = None if resume is None else await catch_up(conn, viewer, resume)
            hello = {"cursor": cursor, "forces": viewer.sees_forces, "resumed": resume is not None}
            yield ServerSentEvent(
                data=orjson.dumps(hello).decode(), event="ready", id=str(resume or cursor), retry=RETRY_MS
            )
            if missed is not None and (missed is RESET or missed.items):
                yield _event(missed, cursor)
            while (left := ends_at - time.monotonic()) > 0:
                try:
                    batch = await asyncio.wait_for(subscription.queue.get(), timeout=left)
                except TimeoutError:
                    break
                yield _event(batch, cursor)

    return EventSourceResponse(events(), ping=PING_S, headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
