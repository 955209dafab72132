"""The minimal app request benchmarks compare against: the same framework, driver, pool and SQL, nothing else.

No middleware, no authentication, no access rule: each request sets its caller's scope on its
connection as the platform does, so row-level security binds it the same way and the ratio to
the platform's own endpoint is the cost of what the platform adds around the SQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import orjson
import psycopg
from fastapi import FastAPI, Response
from psycopg_pool import AsyncConnectionPool

from command.users import User, get_user
from spatial.db import libpq_url, make_engine, session_options
from spatial.settings import StoreSettings
from web.deps import SESSION_SCOPE


def json_response(body: object) -> Response:
    """JSON as the platform writes it (orjson), without its response class."""
    return Response(orjson.dumps(body), media_type="application/json")


class BareApp:
    """FastAPI with one pool of API-role connections and its callers (``who → username``), read at start.

    A benchmark adds its routes to ``app`` and reads through ``scoped(user)``; ``/healthz/ready``
    answers at once (nothing to compile), which is what ``bench.harness.served`` waits for.
    """

    def __init__(self, usernames: dict[str, str], pool_size: int, *, api: bool = True) -> None:
        """``api=False``: the pool logs in as the owner (a baseline writing where the API role may not)."""
        self.users: dict[str, User] = {}
        self._usernames, self._pool_size, self._api = usernames, pool_size, api
        self._pool: AsyncConnectionPool | None = None
        self.app = FastAPI(lifespan=self._lifespan)
        self.app.get("/healthz/ready")(self._ready)

    @asynccontextmanager
    async def _lifespan(self, _: FastAPI) -> AsyncIterator[None]:
        store = StoreSettings()
        engine = make_engine(store)
        with engine.connect() as conn:
            self.users.update((who, get_user(conn, name)) for who, name in self._usernames.items())
        engine.dispose()
        session = {"autocommit": True, **session_options(store, api=self._api)}
        self._pool = AsyncConnectionPool(
            libpq_url(store, api=self._api), min_size=1, max_size=self._pool_size, open=False, kwargs=session
        )
        await self._pool.open()
        yield
        await self._pool.close()

    async def _ready(self) -> Response:
        return json_response({"analytics": "ready"})

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection]:
        """A pooled connection without a scope (row-level security shows it no case)."""
        assert self._pool is not None, "the app has not started"
        async with self._pool.connection() as conn:
            yield conn

    @asynccontextmanager
    async def scoped(self, user: User) -> AsyncIterator[psycopg.AsyncConnection]:
        """A pooled connection carrying ``user``'s scope."""
        assert self._pool is not None, "the app has not started"
        async with self._pool.connection() as conn:
            await conn.execute(SESSION_SCOPE, (str(user.unit_id), user.department or ""), prepare=True)
            yield conn
