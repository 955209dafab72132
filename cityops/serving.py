"""Serving the app under uvicorn: one process, or ``--workers N`` processes sharing the port.

With N processes each builds its own app from the environment (``app_from_environment``, uvicorn's
factory: an app cannot be handed to another process); the background loops inside each are
guarded by their advisory locks (``command.worker``), so N processes still seal, sweep, watch and
send once — and when the process doing it dies, another one's copy takes over.
"""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from cityops.app import create_app
from spatial.settings import StoreSettings
from web.settings import ApiSettings


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
    uvicorn.run(
        "cityops.serving:app_from_environment",
        factory=True,
        workers=workers,
        host=api.host,
        port=api.port,
        log_level="warning",
    )
