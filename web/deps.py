"""Request-scoped helpers: database calls, parameter parsing at the edge."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, TypeVar

import psycopg
from fastapi import Depends, Path, Query, Request
from psycopg_pool import AsyncConnectionPool
from starlette.concurrency import run_in_threadpool

from spatial.database import Database
from spatial.errors import InvalidInputError

T = TypeVar("T")


# the caller's scope for the session (see web.access and scoped_connection), or for the transaction behind a pooler
SESSION_SCOPE = "SELECT set_config('cityops.scope_unit', %s, false), set_config('cityops.department', %s, false)"
TRANSACTION_SCOPE = "SELECT set_config('cityops.scope_unit', %s, true), set_config('cityops.department', %s, true)"


def shared(request: Request) -> Any:
    """The objects the app set up once in its lifespan (``api.app``); routes take them as the typed
    dependencies of ``web.services``, which read them here and nowhere else."""
    return request.app.state


def database(request: Request) -> Database:
    """The process's database: its pools, its engine, their health."""
    return shared(request).database


def _scope(request: Request) -> tuple[str, str] | None:
    scope = getattr(request.state, "scope", None)
    return None if scope is None else scope.settings()


def _with_connection(request: Request, work: Callable[..., T], *args: object) -> T:
    with database(request).read_engine.connect() as conn:
        return work(conn, *args)


async def db_call(request: Request, work: Callable[..., T], *args: object) -> T:
    """Run ``work(conn, *args)`` on a pooled autocommit connection, in one thread-pool hop.

    The connection carries no scope (row-level security shows it no case): case work goes
    through ``scoped_connection``.

    Routes are async and hand all blocking work to the pool in a single call: a sync route with
    a generator dependency costs three hops, which on two cores is most of a request's time.
    At most ``Database.slots`` calls run at once; the rest wait in the event loop, not as threads
    fighting over the GIL (32 runnable threads on two cores halve the throughput).
    """
    async with database(request).slots:
        return await run_in_threadpool(_with_connection, request, work, *args)


def _in_transaction(request: Request, work: Callable[..., T], *args: object) -> T:
    with database(request).engine.begin() as conn:
        return work(conn, *args)


async def db_write(request: Request, work: Callable[..., T], *args: object) -> T:
    """``db_call`` for work that writes: one transaction, committed when ``work`` returns."""
    async with database(request).slots:
        return await run_in_threadpool(_in_transaction, request, work, *args)


@asynccontextmanager
async def connection(request: Request) -> AsyncIterator[psycopg.AsyncConnection]:
    """A pooled async connection without a scope: row-level security shows it no case at all.

    For work that reads no case data (locate, categories, health); nothing to set, nothing to undo.
    """
    db = database(request)
    async with db.checkout(db.pool) as conn:
        yield conn


@asynccontextmanager
async def scoped_connection(request: Request) -> AsyncIterator[psycopg.AsyncConnection]:
    """A connection of the scoped pool carrying the request's scope (the caller's, or the public view's).

    Every checkout from this pool sets the scope before anything else runs, so a connection
    never serves one caller with another's scope, and none needs resetting on the way back.
    Behind a transaction pooler the whole checkout is one transaction carrying the scope: PgBouncer
    lends its server connection to another client between transactions, never within one.
    """
    db = database(request)
    async with _scoped(request, db.scoped_pool, pooled=db.pooled) as conn:
        yield conn


@asynccontextmanager
async def read_connection(request: Request) -> AsyncIterator[psycopg.AsyncConnection]:
    """``scoped_connection`` for a read-only request: from the replica when it has caught up.

    Caught up means: within the replica's allowed lag, and holding the caller's own last write
    (``spatial.read_replica``); otherwise, and without a replica, the primary's scoped pool.
    """
    db = database(request)
    user = getattr(request.state, "user", None)
    replicated = db.replica is not None and db.replica.usable_for(user.username if user is not None else None)
    pool = db.replica.pool if replicated else db.scoped_pool  # type: ignore[union-attr]
    async with _scoped(request, pool, pooled=db.pooled and not replicated) as conn:
        yield conn


@asynccontextmanager
async def _scoped(
    request: Request, pool: AsyncConnectionPool, *, pooled: bool
) -> AsyncIterator[psycopg.AsyncConnection]:
    scope = _scope(request)
    if scope is None:
        raise RuntimeError(f"{request.url.path} reads cases without an access rule that sets a scope")
    async with database(request).checkout(pool) as conn:
        if not pooled:
            await conn.execute(SESSION_SCOPE, scope, prepare=True)
            yield conn
            return
        async with conn.transaction():
            await conn.execute(TRANSACTION_SCOPE, scope)
            yield conn


def bbox_query(
    bbox: Annotated[
        str | None,
        Query(description="minLon,minLat,maxLon,maxLat in WGS84", examples=["118.7,32.0,118.9,32.1"]),
    ] = None,
) -> tuple[float, float, float, float] | None:
    """Parse and check a bbox string; the message names the part that is wrong."""
    if bbox is None:
        return None
    parts = bbox.split(",")
    if len(parts) != 4:
        raise InvalidInputError(f"bbox needs 4 numbers minLon,minLat,maxLon,maxLat; got {len(parts)}")
    try:
        west, south, east, north = (float(p) for p in parts)
    except ValueError:
        raise InvalidInputError(f"bbox must be numbers, got {bbox!r}") from None
    values = (west, south, east, north)
    if any(v != v or v in (float("inf"), float("-inf")) for v in values):
        raise InvalidInputError("bbox values must be finite numbers")
    if not (-180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= 90 and -90 <= north <= 90):
        raise InvalidInputError(f"bbox {bbox!r} is outside lon -180…180 / lat -90…90 (lon first)")
    if west > east or south > north:
        raise InvalidInputError(f"bbox {bbox!r}: minimum must not exceed maximum (minLon,minLat,maxLon,maxLat)")
    return values


def comma_list(value: str | None, name: str, known: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """``a,b,c`` as a tuple (order kept, blanks dropped); at most 20 values of 40 characters, from ``known``."""
    words = tuple(w.strip() for w in (value or "").split(",") if w.strip())
    unknown = [w for w in words if known is not None and w not in known]
    if unknown:
        raise InvalidInputError(f"unknown {name} {', '.join(unknown)}; one of {', '.join(known or ())}")
    if any(len(w) > 40 for w in words) or len(words) > 20:
        raise InvalidInputError(f"{name}: at most 20 values of at most 40 characters")
    return words


BBoxDep = Annotated[tuple[float, float, float, float] | None, Depends(bbox_query)]
# a record's numeric id in a path (a case, report, assignment, force request); 1 is an example for clients and the
# contract test, whose own city has it
RowId = Annotated[int, Path(ge=1, le=2**63 - 1, description="Numeric id", examples=[1])]
