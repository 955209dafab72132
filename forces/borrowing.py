"""Coordinated allocation across units (regulation article 9): borrow another unit's force.

The requesting unit sees the force as a candidate but cannot command it; it files a request
for its case. The owning unit commits it — which books the force exactly like an assignment
of its own (same locks, same checks, same one-active-assignment index) — or declines; either
side can see the request, and the release of the assignment sends the force home (EDXL-RM's
request → commit → release, without the message envelope).
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from forces.dispatch import CHANGES, Clock, book, check_forces, one_row, plain
from forces.queries.borrowing import DECIDE, FILE, LOCK, REQUEST_VIEW
from spatial.audit import record_async
from spatial.errors import ConflictError, ForbiddenError, NotFoundError


async def request_force(
    conn: psycopg.AsyncConnection, case_id: int, force_id: int, note: str, actor: str, scope_unit: int
) -> dict[str, Any]:
    """File a request for another unit's force for a case the caller can see."""
    async with conn.transaction():
        if await (await conn.execute("SELECT FROM case_file WHERE id = %s", (case_id,))).fetchone() is None:
            raise NotFoundError(f"no case {case_id}")
        card = await (
            await conn.execute("SELECT units, code FROM cityops_force_cards(ARRAY[%s::bigint])", (force_id,))
        ).fetchone()
        if card is None:
            raise NotFoundError(f"no force {force_id}")
        if scope_unit in card[0]:
            raise ConflictError(f"force {card[1]} is in your jurisdiction: assign it directly")
        try:
            async with conn.transaction():
                row = await (await conn.execute(FILE, (case_id, force_id, actor, note))).fetchone()
        except psycopg.errors.UniqueViolation:
            raise ConflictError(f"force {card[1]} is already requested for case {case_id}") from None
        assert row is not None
        await record_async(conn, actor, "forces.requested", f"force_request:{row[0]}", case=case_id, force=force_id)
        await conn.execute("SELECT pg_notify(%s, %s)", (CHANGES, f"requested:{case_id}"))
    return await request_view(conn, row[0])


async def _open_request(conn: psycopg.AsyncConnection, request_id: int) -> tuple[Any, ...]:
    row = await (await conn.execute(LOCK, (request_id,))).fetchone()
    if row is None:
        raise NotFoundError(f"no force request {request_id}")
    if row[3] != "requested":
        raise ConflictError(f"force request {request_id} is {row[3]}, not open")
    return row


async def _own_force(conn: psycopg.AsyncConnection, force_id: int) -> None:
    if await (await conn.execute("SELECT FROM force WHERE id = %s", (force_id,))).fetchone() is None:
        raise ForbiddenError("only the unit that owns the force decides on the request")


async def commit_request(conn: psycopg.AsyncConnection, request_id: int, actor: str, clock: Clock) -> dict[str, Any]:
    """The owner sends its force: booked for the requesting case, or ConflictError why not."""
    async with conn.transaction():
        _, case_id, force_id, _ = await _open_request(conn, request_id)
        await _own_force(conn, force_id)
        await check_forces(conn, [force_id], clock, for_request=True)
        booked = await book(conn, case_id, [force_id], actor, [], clock, request_id=request_id)
        await conn.execute(DECIDE, ("committed", actor, booked[0]["id"], request_id))
        await record_async(
            conn, actor, "forces.request_committed", f"force_request:{request_id}", case=case_id, force=force_id
        )
    return await request_view(conn, request_id)


async def decline_request(conn: psycopg.AsyncConnection, request_id: int, actor: str) -> dict[str, Any]:
    """The owner keeps its force."""
    async with conn.transaction():
        _, case_id, force_id, _ = await _open_request(conn, request_id)
        await _own_force(conn, force_id)
        await conn.execute(DECIDE, ("declined", actor, None, request_id))
        await record_async(conn, actor, "forces.request_declined", f"force_request:{request_id}", case=case_id)
        await conn.execute("SELECT pg_notify(%s, %s)", (CHANGES, f"declined:{case_id}"))
    return await request_view(conn, request_id)


async def cancel_request(conn: psycopg.AsyncConnection, request_id: int, actor: str) -> dict[str, Any]:
    """The requester no longer needs it (before the owner decided)."""
    async with conn.transaction():
        _, case_id, _, _ = await _open_request(conn, request_id)
        if await (await conn.execute("SELECT FROM case_file WHERE id = %s", (case_id,))).fetchone() is None:
            raise ForbiddenError("only the requesting side cancels a request")
        await conn.execute(DECIDE, ("cancelled", actor, None, request_id))
        await record_async(conn, actor, "forces.request_cancelled", f"force_request:{request_id}", case=case_id)
    return await request_view(conn, request_id)


async def request_view(conn: psycopg.AsyncConnection, request_id: int) -> dict[str, Any]:
    """One request as either side sees it."""
    return await one_row(conn, REQUEST_VIEW + " WHERE r.id = %s", request_id, f"no force request {request_id}")


async def list_requests(conn: psycopg.AsyncConnection, state: str | None, limit: int) -> list[dict[str, Any]]:
    """Requests the caller's unit filed or received, newest first."""
    where = " WHERE r.state = %s::force_request_state" if state else ""
    args = (state, limit) if state else (limit,)
    async with conn.cursor(row_factory=dict_row) as cur:
        rows = await (await cur.execute(REQUEST_VIEW + where + " ORDER BY r.id DESC LIMIT %s", args)).fetchall()
    return [plain(row) for row in rows]
