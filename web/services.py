"""The app's shared objects as typed dependencies: a route names what it uses in its signature.

Each was set up once in the lifespan (``api.app``); a route asks for it by type —
``async def route(zone: ZoneDep, rules: RulesDep)`` — instead of reaching into ``request.app.state``,
so what a route depends on is in its signature, and a test may hand a route another one through
``app.dependency_overrides``. Each is a coroutine: FastAPI runs a plain function in a worker thread,
a hop per dependency per request that on two cores costs more than the route (see ``web.deps.db_call``).
"""

from __future__ import annotations

from asyncio import Task
from typing import Annotated
from zoneinfo import ZoneInfo

from cachetools import TTLCache
from fastapi import Depends, Request

from command.change_feed import ChangeHub
from command.loop_settings import LoopSettings
from command.media import MediaStore
from command.tokens import TokenPolicy
from command.workflow import Rules
from command.working_time import WorkingCalendar
from forces.answers import Redispatch
from forces.settings import ForceSettings
from grid.locate import Locator
from spatial.basemap import Basemap
from spatial.database import Database
from spatial.vector_tiles import Tile
from web.access import Scope, UserCache
from web.deps import database, shared
from web.settings import ApiSettings
from web.throttle import Throttle


async def _database(request: Request) -> Database:
    return database(request)


async def _calendar(request: Request) -> WorkingCalendar:
    return shared(request).calendar


async def _zone(request: Request) -> ZoneInfo:
    return shared(request).calendar.zone


async def _rules(request: Request) -> Rules:
    return shared(request).rules


async def _changes(request: Request) -> ChangeHub:
    return shared(request).changes


async def _tokens(request: Request) -> TokenPolicy:
    return shared(request).tokens


async def _users(request: Request) -> UserCache:
    return shared(request).users


async def _throttle(request: Request) -> Throttle:
    return shared(request).throttle


async def _media(request: Request) -> MediaStore:
    return shared(request).media


async def _locator(request: Request) -> Locator:
    return shared(request).locator


async def _force_settings(request: Request) -> ForceSettings:
    return shared(request).force_settings


async def _loop_settings(request: Request) -> LoopSettings:
    return shared(request).loop_settings


async def _api_settings(request: Request) -> ApiSettings:
    return shared(request).api_settings


async def _basemap(request: Request) -> Basemap:
    return shared(request).basemap


async def _unit_tiles(request: Request) -> TTLCache[object, Tile]:
    return shared(request).unit_tiles


async def _jurisdiction(request: Request) -> str:
    return shared(request).jurisdiction


async def _public_scope(request: Request) -> Scope:
    return shared(request).public_scope


async def _redispatch(request: Request) -> Redispatch:
    """How a released case is offered again (``CITYOPS_REDISPATCH`` …), in the city's zone."""
    return Redispatch.of(shared(request).force_settings, shared(request).calendar.zone)


async def _analytics_warm_up(request: Request) -> Task[None] | None:
    return getattr(shared(request), "analytics_warm_up", None)


DatabaseDep = Annotated[Database, Depends(_database)]
CalendarDep = Annotated[WorkingCalendar, Depends(_calendar)]
ZoneDep = Annotated[ZoneInfo, Depends(_zone)]  # the city's time zone (the calendar's)
RulesDep = Annotated[Rules, Depends(_rules)]
ChangesDep = Annotated[ChangeHub, Depends(_changes)]
TokensDep = Annotated[TokenPolicy, Depends(_tokens)]
UsersDep = Annotated[UserCache, Depends(_users)]
ThrottleDep = Annotated[Throttle, Depends(_throttle)]
MediaDep = Annotated[MediaStore, Depends(_media)]
LocatorDep = Annotated[Locator, Depends(_locator)]
ForceSettingsDep = Annotated[ForceSettings, Depends(_force_settings)]
LoopSettingsDep = Annotated[LoopSettings, Depends(_loop_settings)]
SettingsDep = Annotated[ApiSettings, Depends(_api_settings)]
BasemapDep = Annotated[Basemap, Depends(_basemap)]
UnitTilesDep = Annotated[TTLCache[object, Tile], Depends(_unit_tiles)]
JurisdictionDep = Annotated[str, Depends(_jurisdiction)]  # the city this app serves (Open311's jurisdiction_id)
PublicScopeDep = Annotated[Scope, Depends(_public_scope)]
RedispatchDep = Annotated[Redispatch, Depends(_redispatch)]
WarmUpDep = Annotated[Task[None] | None, Depends(_analytics_warm_up)]
