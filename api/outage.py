"""Database outages: answered at once as 503 with Retry-After, and the pools cleaned of dead connections.

A stopped or restarting database must not hold requests until it returns (they hung for the whole
15 s of a stop) nor answer them with a plain-text 500 (``AdminShutdown`` at the stop, a stale pooled
connection after the restart). Every wait for a connection is bounded (``db_wait_s``), every
connection-level failure is a JSON 503 the client may retry — with its Idempotency-Key nothing is
filed twice — and the first such failure has the pools' idle connections checked, so the dead ones
left by a restart are discarded instead of failing one request each.
"""

from __future__ import annotations

import psycopg
import sqlalchemy.exc
import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout

from spatial.database import Database
from web.deps import shared
from web.errors import refusal

log = structlog.get_logger("cityops.api")

RETRY_AFTER_S = 2
# SQLSTATE classes of a connection gone: 08 connection exception, 57P admin/crash shutdown, cannot connect now
GONE_STATES = ("08", "57P")


def connection_gone(error: BaseException) -> bool:
    """Whether the failure means the connection (or the server) is gone, not that one statement failed."""
    if isinstance(error, PoolTimeout | psycopg.InterfaceError | sqlalchemy.exc.TimeoutError):
        return True
    state = getattr(error, "sqlstate", None)
    return state is None or state.startswith(GONE_STATES)


def _what_failed(error: BaseException) -> str:
    if isinstance(error, PoolTimeout | sqlalchemy.exc.TimeoutError):
        return "the database did not answer in time"
    if isinstance(error, psycopg.errors.QueryCanceled):
        return "the database took too long over this request"
    return "the database connection was lost"


async def database_failure(request: Request, exc: Exception) -> JSONResponse:
    """A failure of the database rather than of the request: 503 to retry shortly, never a 500.

    A conflict between transactions (serialization, deadlock, a lock not granted) is the caller's to
    retry at once: 409.
    """
    if isinstance(exc, psycopg.errors.TransactionRollback | psycopg.errors.LockNotAvailable):
        detail = "a concurrent change to the same records won; send the request again"
        return JSONResponse(refusal(request, detail, "conflict"), status_code=409)
    if connection_gone(exc):
        database: Database | None = getattr(shared(request), "database", None)  # None: failed while starting
        if database is not None:
            database.examine()  # the pools' health is the database's to look after (spatial.database)
    detail = f"{_what_failed(exc)}; try again in {RETRY_AFTER_S} s"
    log.warning("database unavailable", path=request.url.path, error=(str(exc).splitlines() or [""])[0])
    return JSONResponse(
        refusal(request, detail, "database_unavailable"), status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)}
    )


def add_outage_handlers(app: FastAPI) -> None:
    """Answer the driver's failures (and the pools' waits) as outages or conflicts."""
    for kind in (psycopg.OperationalError, psycopg.InterfaceError, sqlalchemy.exc.TimeoutError):
        app.add_exception_handler(kind, database_failure)
