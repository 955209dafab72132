"""The API's application factory: routes, middleware, refusals and the lifespan's connections and loops.

The pages are not here: ``cityops.app`` puts the map pages (``map_ui``) beside this API, so the API
and the screens never depend on each other (both stand on ``web``)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute
from psycopg_pool import AsyncConnectionPool

from api.logs import RequestContext, configure_logging
from api.ogc.routes import router as ogc_router
from api.open311.routes import router as open311_router
from api.openapi import describe
from api.outage import add_outage_handlers
from api.read_your_writes import ReadYourWrites
from api.routes import (
    admin,
    alerts,
    auth,
    basemap,
    bench,
    cases,
    changes,
    dispatch,
    docs,
    evaluation,
    forces,
    health,
    hexagons,
    hotspots,
    incident_reports,
    incident_resources,
    incident_work,
    incidents,
    locate,
    map_layers,
    peers,
    places,
    proposals,
    queues,
    ratings,
    reports,
    route,
    scenarios,
    screen,
    search,
    sensors,
    stream,
    tiles,
    trends,
    units,
    warnings,
    workflow,
)
from api.security import BodyLimit, SecurityHeaders
from api.signing import signing_secret
from command.change_feed import ChangeHub
from command.loop_settings import LoopSettings
from command.media import MediaLimits, MediaStore
from command.queues import check_queues
from command.tokens import TokenPolicy
from command.worker import singleton_loops, start, stop
from command.workflow import Rules
from command.working_time import WorkingCalendar
from exchange.delivery import exchange_loops
from exchange.publication_key import signing_key
from exchange.settings import ExchangeSettings
from forces.settings import ForceSettings
from grid import on_demand
from grid.locate import Locator
from grid.locate_index import FollowedIndex, load_index
from incidents.summons import summons_loops
from sensing.loops import sensing_loops
from sensing.pipeline import Intake
from sensing.settings import SensingSettings
from spatial.database import Database
from spatial.settings import StoreSettings
from web.access import Scope, UserCache
from web.errors import add_exception_handlers
from web.settings import ApiSettings
from web.throttle import Throttle


def _warm_up_analytics() -> None:
    """Have esda's kernels compiled into numba's cache (apart: this process loads them only when it analyses),
    then take what start-up built out of the collector's way (once per process).

    Start-up leaves a large heap (pandas, shapely, the routes); each of the first full collections after it
    walked all of it and paused every request for 0.4–0.7 s (``cityops bench search``: a 10 s window
    with one had a p99 of 290–460 ms, windows without ≤ 60 ms). Collected once here, before the
    service reports ready, and frozen: later collections walk only what requests allocate.
    """
    on_demand.compile_apart()
    if not gc.get_freeze_count():
        gc.collect()
        gc.freeze()


def _operation_id(route: APIRoute) -> str:
    return f"{route.tags[0]}-{route.name}" if route.tags else route.name


async def _city_unit_id(pool: AsyncConnectionPool) -> int:
    """The root of the hierarchy: the scope of public views (Open311), which show public fields only."""
    async with pool.connection() as conn:
        row = await (await conn.execute("SELECT id FROM unit WHERE tier = 'city' ORDER BY id LIMIT 1")).fetchone()
    return row[0] if row else 0  # an empty database has no cases to show either


def create_app(
    store: StoreSettings | None = None,
    api: ApiSettings | None = None,
    force_settings: ForceSettings | None = None,
    loop_settings: LoopSettings | None = None,
    sensing_settings: SensingSettings | None = None,
    exchange_settings: ExchangeSettings | None = None,
) -> FastAPI:
    """Build the app; the engine is created in the lifespan so tests can pass their own settings."""
    store = store or StoreSettings()
    api = api or ApiSettings()
    configure_logging(api.log_json)
    tokens = TokenPolicy(
        signing_secret(api, store.data_dir), api.access_token_minutes, api.refresh_token_days, api.refresh_reuse_grace_s
    )
    throttle = Throttle(api)  # built here so a malformed limit in the settings stops the start
    force_settings = force_settings or ForceSettings()
    loop_settings = loop_settings or LoopSettings()
    sensing_settings = sensing_settings or SensingSettings()
    exchange_settings = exchange_settings or ExchangeSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # set up once here; routes take each as a typed dependency (web.services), never from app.state
        app.state.calendar = WorkingCalendar.china()
        # every API session reads times in the city's zone: each timestamp it answers carries its offset
        zone = app.state.calendar.zone.key
        # the API acts as cityops_api: it owns nothing, so row-level security binds every query it makes
        database = app.state.database = await Database.open(
            store, zone=zone, size=api.db_concurrency, wait_s=api.db_wait_s
        )
        app.state.pool, app.state.read_engine = database.pool, database.read_engine  # the tests' handles
        locate_index = app.state.locate_index = FollowedIndex()  # per process, reloaded on boundary changes
        app.state.locator = Locator(locate_index)
        app.state.unit_tiles = tiles.unit_tile_cache()
        app.state.media = MediaStore(store.media_dir)
        app.state.basemap = basemap.serving(store)  # the imported tile package (cityops basemap import)
        app.state.api_settings = api
        app.state.jurisdiction = store.city
        app.state.tokens = tokens
        app.state.users = UserCache()
        app.state.force_settings = force_settings
        app.state.throttle = throttle
        app.state.public_scope = Scope(await _city_unit_id(database.pool))
        async with database.pool.connection() as conn:
            app.state.rules = await Rules.load(conn, app.state.calendar)
        check_queues(app.state.rules)
        app.state.loop_settings = loop_settings
        app.state.sensing_settings = sensing_settings
        app.state.sensor_intake = Intake(sensing_settings, "http")  # its devices' budgets are this process's
        app.state.exchange_settings = exchange_settings
        key = app.state.platform_key = signing_key(store.data_dir, store.city)  # publications and messages to peers
        exchange, deliveries = exchange_loops(database.pool, exchange_settings, store.city, key)
        # the singleton loops: guarded by their locks, they work in one process of all (command.worker)
        loops = start(
            [
                *singleton_loops(database, store, force_settings, loop_settings, app.state.rules),
                *summons_loops(database, loop_settings),
                *sensing_loops(database, store, sensing_settings),
                *exchange,
            ],
            database.singleton,
        )
        # per process: this process's user cache follows the users' changes
        user_changes = asyncio.create_task(app.state.users.follow_changes(database.conninfo, **database.options))
        counts_swept = asyncio.create_task(throttle.sweep_every())  # in this process's memory: housekeeping
        index_changes = asyncio.create_task(
            locate_index.follow(database.conninfo, partial(load_index, database.engine), **database.options)
        )
        # the live map's feed reads changes with the city's scope and confines each viewer to theirs
        # its lost connection is the first sign of an outage: the pools are checked then, not by a failed request
        app.state.changes = ChangeHub(
            database.conninfo, database.options, app.state.public_scope.settings(), on_lost=database.examine
        )
        change_feed = asyncio.create_task(app.state.changes.run())
        # esda's kernels compile on first use (~15 s): into numba's cache, now, apart, not in a request
        analytics_warm_up = app.state.analytics_warm_up = asyncio.create_task(asyncio.to_thread(_warm_up_analytics))
        try:
            yield
        finally:
            analytics_warm_up.cancel()
            await stop([*loops, user_changes, counts_swept, index_changes, change_feed])
            for closing in deliveries:
                await closing.close()
            await database.close()

    app = FastAPI(
        title="cityops",
        summary="Spatial command platform for a city operations centre (一网统管)",
        version="0.1.0",
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
        docs_url=None,  # served by api.routes.docs from the platform's own Swagger UI
        redoc_url=None,
    )
    add_exception_handlers(app)
    add_outage_handlers(app)
    app.add_middleware(
        BodyLimit,
        default_bytes=api.max_body_bytes,
        uploads={
            "/api/v1/reports": MediaLimits().request_bytes,
            r"/api/v1/cases/[0-9]+/media": MediaLimits().request_bytes,
            r"/cases/[0-9]+/act": MediaLimits().request_bytes,
        },
        read_timeout_s=api.body_read_timeout_s,
    )
    if api.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=api.cors_origins,
            allow_methods=["GET", "POST", "PUT"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-API-Key"],
            expose_headers=["Idempotency-Key", "Idempotent-Replayed", "Retry-After", "Content-Crs"],
        )
    app.add_middleware(ReadYourWrites)  # with a replica: a caller's reads wait for their own writes
    app.add_middleware(RequestContext)
    # outermost: every answer carries the headers, the middleware's own too (408, 413, a JSON 500)
    app.add_middleware(SecurityHeaders, basemap_url=api.basemap_url)
    routers = [
        health.router,
        units.router,
        locate.router,
        route.router,
        reports.router,
        cases.router,
        open311_router,
        ogc_router,
        auth.router,
        admin.router,
        forces.router,
        dispatch.router,
        workflow.router,
        evaluation.router,
        ratings.router,
        stream.router,
        hexagons.router,
        hotspots.router,
        places.router,
        trends.router,
        proposals.router,
        incidents.router,
        incident_reports.router,
        alerts.router,
        incident_work.router,
        incident_resources.router,
        sensors.router,
        warnings.router,
        queues.router,
        tiles.router,
        search.router,
        screen.router,
        basemap.router,
        map_layers.router,
        scenarios.router,
        changes.router,
        peers.router,
        docs.router,
    ]
    if api.bench_endpoints:  # beside intake, the path it is the floor of: FastAPI tries the routes in order
        routers.insert(routers.index(reports.router) + 1, bench.router)
    for router in routers:
        app.include_router(router)
    describe(app, (reports.ReportIn,))
    return app
