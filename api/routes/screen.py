"""The wall display's questions (``/screen``, 大屏): figures, the ticker's words, the map's first picture.

Each is read under the caller's scope, so a district's wall shows its district and the city's
wall every district. Names (categories) come in the language asked for (``lang``: zh-CN unless
``en``); times carry the city's offset (+08:00) like every time the API returns.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from api.geojson import FastJSONResponse
from command.screen_figures import (
    MAX_CASES,
    MAX_DAYS,
    MAX_FORCES,
    MAX_TICKER,
    MAX_TOP,
    Window,
    figures,
    map_items,
    ticker,
)
from command.users import User
from spatial.errors import InvalidInputError
from web.access import Access
from web.deps import scoped_connection
from web.i18n import DEFAULT_LANGUAGE, LANGUAGES
from web.services import ZoneDep

router = APIRouter(prefix="/api/v1/screen", tags=["screen"])
Reader = Annotated[User, Depends(Access("cases:read"))]
Language = Annotated[str, Query(max_length=16, description="zh-CN (default) or en; anything else reads as zh-CN")]


def _language(lang: str) -> str:
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


def _window(zone: ZoneInfo, days: int = 30, top: int = 8) -> Window:
    return Window(datetime.now(UTC), zone, days, top)


def _ids(text: str) -> list[int]:
    """Case ids from ``1,2,3`` (at most MAX_TICKER); anything else is refused in words."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts or len(parts) > MAX_TICKER or not all(part.isdigit() and len(part) <= 18 for part in parts):
        raise InvalidInputError(f"ids must be 1 to {MAX_TICKER} case ids separated by commas, got {text[:60]!r}")
    return [int(part) for part in parts]


class Figures(BaseModel):
    """The wall's figures: per district and in total, the trend, the top categories, and what each figure means."""

    as_of: str
    today: str
    days: int
    districts: list[dict[str, Any]]
    totals: dict[str, Any]
    trend: list[dict[str, Any]]
    categories: list[dict[str, Any]]
    definitions: dict[str, Any]


class TickerLine(BaseModel):
    """A new or escalated case: when, what, where."""

    id: str
    kind: Literal["new", "escalated"]
    state: str
    version: int
    escalations: int
    at: str
    category: str
    place: str


class Ticker(BaseModel):
    """The ticker's lines, newest first."""

    items: list[TickerLine]


class ScreenCase(BaseModel):
    """An open case on the wall's map."""

    id: str
    state: str
    version: int
    category: str
    severity: str
    lon: float
    lat: float
    deadline: str
    escalations: int


class ScreenForce(BaseModel):
    """A force on the wall's map, by its latest fix."""

    id: str
    status: str
    lon: float | None
    lat: float | None
    fixed_at: str | None


class ScreenMap(BaseModel):
    """The wall map's first picture."""

    cases: list[ScreenCase]
    forces: list[ScreenForce]


@router.get("/figures", response_class=FastJSONResponse, response_model=Figures)
async def screen_figures(
    request: Request,
    user: Reader,
    zone: ZoneDep,
    lang: Language = DEFAULT_LANGUAGE,
    days: Annotated[int, Query(ge=7, le=MAX_DAYS, description="days of the trend and the rates")] = 30,
    top: Annotated[int, Query(ge=1, le=MAX_TOP, description="how many categories")] = 8,
) -> FastJSONResponse:
    """Per district: today's intake, open, overdue, closure and on-time rates, available forces; the daily
    intake and closures; the categories reported most — with the definition of each figure."""
    async with scoped_connection(request) as conn:
        return FastJSONResponse(await figures(conn, user.unit_id, _window(zone, days, top), _language(lang)))


@router.get("/ticker", response_class=FastJSONResponse, response_model=Ticker)
async def screen_ticker(
    request: Request,
    user: Reader,
    zone: ZoneDep,
    lang: Language = DEFAULT_LANGUAGE,
    ids: Annotated[
        str | None,
        Query(
            max_length=20 * MAX_TICKER,
            description="case ids, comma-separated; none: the latest new and escalated cases of the last day",
        ),
    ] = None,
) -> FastJSONResponse:
    """The ticker's lines: when (Beijing time), what (category name), where (district, street, community)."""
    wanted = None if ids is None else _ids(ids)
    async with scoped_connection(request) as conn:
        items = await ticker(conn, wanted, _window(zone), _language(lang))
    return FastJSONResponse({"items": items})


@router.get("/map", response_class=FastJSONResponse, response_model=ScreenMap)
async def screen_map(
    request: Request,
    user: Reader,
    zone: ZoneDep,
    cases: Annotated[int, Query(ge=1, le=MAX_CASES, description="newest open cases")] = 2000,
    forces: Annotated[int, Query(ge=0, le=MAX_FORCES, description="forces by latest fix (needs forces:read)")] = 2000,
) -> FastJSONResponse:
    """The map's first picture: open cases and (with ``forces:read``) the forces' positions and status."""
    async with scoped_connection(request) as conn:
        body = await map_items(conn, zone, cases, forces if user.may("forces:read") else 0)
    return FastJSONResponse(body)
