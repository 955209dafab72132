"""The web application: the API (``api.app``) with the pages beside it (``map_ui``) and their static files.

Neither knows the other: both stand on ``web`` (access rules, sessions, scoped connections), so they
are put together here, above both.
"""

from __future__ import annotations

from fastapi import FastAPI

from api.app import create_app as create_api
from command.loop_settings import LoopSettings
from exchange.settings import ExchangeSettings
from forces.settings import ForceSettings
from map_ui.alarms_page import router as alarms_router
from map_ui.case_list import router as list_router
from map_ui.case_page import router as case_router
from map_ui.field import router as field_router
from map_ui.incident_board import router as incident_router
from map_ui.incident_reports_board import router as incident_reports_router
from map_ui.incident_resources_board import router as incident_resources_router
from map_ui.incident_work_board import router as incident_work_router
from map_ui.metro_page import router as metro_router
from map_ui.pages import add_page_handlers
from map_ui.public_page import router as public_router
from map_ui.routes import router as map_router
from map_ui.routes import static_files
from map_ui.scenarios_page import router as scenarios_router
from map_ui.screen import router as screen_page_router
from map_ui.subscriptions_page import router as subscriptions_router
from map_ui.work import router as work_router
from spatial.settings import StoreSettings
from web.settings import ApiSettings


def create_app(
    store: StoreSettings | None = None,
    api: ApiSettings | None = None,
    force_settings: ForceSettings | None = None,
    loop_settings: LoopSettings | None = None,
    exchange_settings: ExchangeSettings | None = None,
) -> FastAPI:
    """The API and the map pages in one application (what `cityops serve` runs)."""
    app = create_api(store, api, force_settings, loop_settings, exchange_settings=exchange_settings)
    add_page_handlers(app)
    for router in (
        list_router,
        map_router,
        work_router,
        case_router,
        incident_router,
        incident_work_router,
        incident_reports_router,
        incident_resources_router,
        alarms_router,
        field_router,
        screen_page_router,
        public_router,
        scenarios_router,
        subscriptions_router,
        metro_router,
    ):
        app.include_router(router)
    app.mount("/static", static_files(), name="static")
    return app
