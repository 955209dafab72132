"""Serving the app under uvicorn: one process, or ``--workers N`` processes sharing the port.

With N processes each builds its own app from the environment (``app_from_environment``, uvicorn's
factory: an app cannot be handed to another process); the background loops inside each are
guarded by their advisory locks (``command.worker``), so N processes still seal, sweep, watch and
send once — and when the process doing it dies, another one's copy takes over. Their rate-limit
counters are shared in the platform's own Redis (``web.counter_store``) unless a storage is configured.
"""

from __future__ import annotations

import os

import uvicorn
from fastapi import FastAPI

from cityops.app import create_app
from spatial.settings import StoreSettings
from web.counter_store import EmbeddedCounters
from web.settings import MEMORY, ApiSettings


def app_from_environment() -> FastAPI:
    """The app as configured by the environment (``CITYOPS_*``): what each of N worker processes serves."""
    return create_app(StoreSettings(), ApiSettings())


def serve(store: StoreSettings, api: ApiSettings, workers: int = 1) -> None:
    """Serve on ``api.host:api.port`` until stopped: in this process, or in ``workers`` processes.

    N processes read their settings from the environment (as ``cityops serve`` resolved ``store`` and
    ``api``, but for ``host`` and ``port``: those are uvicorn's, the app reads neither).
    """
    if workers == 1:
        uvicorn.run(create_app(store, api), host=api.host, port=api.port, log_level="warning")
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
            log_level="warning",
        )
    finally:
        if counters is not None:
            counters.stop()
