"""Serving the app under uvicorn: one process, or ``--workers N`` processes sharing the port.

With N processes each builds its own app from the environment (``app_from_environment``, uvicorn's
factory: an app cannot be handed to another process); the background loops inside each are
guarded by their advisory locks (``command.worker``), so N processes still seal, sweep, watch and
send once — and when the process doing it dies, another one's copy takes over. Their rate-limit
counters are shared in the platform's own Redis (``web.counter_store``) unless a storage is configured.

When the processes' connections would pass half the server's ``max_connections`` (the other half is
for the worker, the loops' locks, migrations, the replica's feed and the people at psql), they go
through PgBouncer: the embedded one, started here (``spatial.embedded_pooler``), or the one
``CITYOPS_POOLER_URL`` names. ``--pooler``/``--direct`` decide it by hand.
"""

from __future__ import annotations

import os

import psycopg
import uvicorn
from fastapi import FastAPI

from cityops.app import create_app
from spatial.db import libpq_url
from spatial.embedded_pooler import EmbeddedPooler
from spatial.errors import ConfigurationError
from spatial.rows import one
from spatial.settings import StoreSettings, sqlalchemy_url
from web.counter_store import EmbeddedCounters
from web.settings import MEMORY, ApiSettings


def app_from_environment() -> FastAPI:
    """The app as configured by the environment (``CITYOPS_*``): what each of N worker processes serves."""
    return create_app(StoreSettings(), ApiSettings())


# a process's connections besides its pools: the listeners of users, the change feed and the locate index
LISTENERS = 3


def connections_per_process(store: StoreSettings, api: ApiSettings) -> int:
    """The most connections one API process opens through its pools and listeners: its two asyncio pools, the
    engine's pool with its overflow, and its listeners. What a pooler takes over is the pools; the listeners, and
    the loops' lock connections (one a loop in every process: ``spatial.loops``), stay direct."""
    return 2 * api.db_concurrency + 2 * store.pool_size + LISTENERS


def needs_pooler(store: StoreSettings, api: ApiSettings, workers: int, max_connections: int) -> bool:
    """Whether ``workers`` processes' connections pass half of ``max_connections``."""
    return workers * connections_per_process(store, api) > max_connections // 2


def through_pooler(store: StoreSettings, api: ApiSettings, workers: int, choice: bool | None) -> StoreSettings:
    """``store`` as ``workers`` processes should connect: through a pooler when ``choice`` says so, or (``None``)
    when they need one. The embedded cluster's PgBouncer is started here; an external database's is
    ``CITYOPS_POOLER_URL``. The processes read the outcome from the environment."""
    if choice is False:
        os.environ.pop("CITYOPS_POOLER_URL", None)
        return store.model_copy(update={"pooler_url": None})
    if store.pooler_url is not None:
        return store
    if choice is None:
        if workers == 1:  # one process's pools are the cap, as they always were
            return store
        if not needs_pooler(store, api, workers, _max_connections(store)):
            return store
    if store.database_url is not None:
        raise ConfigurationError(
            f"{workers} processes need a pooler in front of the external database: set CITYOPS_POOLER_URL to a "
            "PgBouncer in transaction mode (or serve --direct)"
        )
    url = EmbeddedPooler(store).start()
    os.environ["CITYOPS_POOLER_URL"] = url
    return store.model_copy(update={"pooler_url": sqlalchemy_url(url)})


def _max_connections(store: StoreSettings) -> int:
    try:
        with psycopg.connect(libpq_url(store, api=True), connect_timeout=10) as conn:
            return int(one(conn.execute("SHOW max_connections").fetchone())[0])
    except psycopg.OperationalError as error:
        raise ConfigurationError(f"cannot ask the database how many connections it takes: {error}") from None


# uvicorn's own log: its processes' lives (started, a worker died and was replaced, a worker failed to start and
# stopped the rest) are an operator's news; requests are the app's to log (``api.logs``), not uvicorn's access log
UVICORN_LOG_LEVEL = "info"


def serve(store: StoreSettings, api: ApiSettings, workers: int = 1) -> None:
    """Serve on ``api.host:api.port`` until stopped: in this process, or in ``workers`` processes.

    N processes read their settings from the environment (as ``cityops serve`` resolved ``store`` and
    ``api``, but for ``host`` and ``port``: those are uvicorn's, the app reads neither).
    """
    if workers == 1:
        uvicorn.run(create_app(store, api), host=api.host, port=api.port, log_level=UVICORN_LOG_LEVEL, access_log=False)
        return
    counters = EmbeddedCounters(store) if api.rate_limit_storage == MEMORY else None
    if counters is not None:  # N processes counting apart would let N times each limit through
        os.environ["CITYOPS_RATE_LIMIT_STORAGE"] = counters.start()
    try:
        uvicorn.run(
            "cityops.serving:app_from_environment",
            factory=True,
            workers=workers,
            host=api.host,
            port=api.port,
            log_level=UVICORN_LOG_LEVEL,
            access_log=False,
        )
    finally:
        if counters is not None:
            counters.stop()
