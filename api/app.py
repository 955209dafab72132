"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel

from api.errors import add_exception_handlers
from api.logs import RequestContext, configure_logging
from api.open311.routes import router as open311_router
from api.routes import auth, bench, events, health, locate, reports, route, units
from api.security import SecurityHeaders
from api.settings import ApiSettings
from api.signing import signing_secret
from command.media import MediaStore
from command.tokens import TokenPolicy
from command.working_time import WorkingCalendar
from grid.locate import Locator
from map_ui.routes import router as map_router
from map_ui.routes import static_files
from spatial.db import libpq_url, make_engine
from spatial.settings import StoreSettings


def _operation_id(route: APIRoute) -> str:
    return f"{route.tags[0]}-{route.name}" if route.tags else route.name


def _with_schemas(app: FastAPI, models: tuple[type[BaseModel], ...]) -> None:
    """Publish models that endpoints read by hand (multipart or JSON) in the OpenAPI components."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = FastAPI.openapi(app)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in models:
                full = model.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(full.pop("$defs", {}))
                components[model.__name__] = full
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(store: StoreSettings | None = None, api: ApiSettings | None = None) -> FastAPI:
    """Build the app; the engine is created in the lifespan so tests can pass their own settings."""
    store = store or StoreSettings()
    api = api or ApiSettings()
    configure_logging(api.log_json)
    tokens = TokenPolicy(signing_secret(api, store.data_dir), api.access_token_minutes, api.refresh_token_days)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.engine = make_engine(store)
        # reads need no transaction: autocommit spares a BEGIN and a ROLLBACK round trip each
        app.state.read_engine = app.state.engine.execution_options(isolation_level="AUTOCOMMIT")
        app.state.db_slots = asyncio.Semaphore(api.db_concurrency)
        # the hot paths (locate, readiness) run on asyncio connections: no thread hop at all
        app.state.pool = AsyncConnectionPool(
            libpq_url(store), min_size=1, max_size=api.db_concurrency, open=False,
            kwargs={"autocommit": True},
        )  # fmt: skip
        await app.state.pool.open()
        app.state.locator = Locator()
        app.state.calendar = WorkingCalendar.china()
        app.state.media = MediaStore(store.media_dir)
        app.state.api_settings = api
        app.state.jurisdiction = store.city
        app.state.tokens = tokens
        try:
            yield
        finally:
            await app.state.pool.close()
            app.state.engine.dispose()

    app = FastAPI(
        title="cityops",
        summary="Spatial command platform for a city operations centre (一网统管)",
        version="0.1.0",
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
    )
    add_exception_handlers(app)
    app.add_middleware(SecurityHeaders, basemap_url=api.basemap_url)
    app.add_middleware(RequestContext)
    for router in (health.router, units.router, locate.router, route.router, reports.router, events.router,
                   open311_router, auth.router, map_router):  # fmt: skip
        app.include_router(router)
    if api.bench_endpoints:
        app.include_router(bench.router)
    app.mount("/static", static_files(), name="static")
    _with_schemas(app, (reports.ReportIn,))
    return app
