"""The map pages (command, grid worker, planner), the login page, and the static assets they load.

Pages are behind the browser session (``map_ui.pages.PageAccess``): without one, a page sends the
browser to ``/login`` and back; a user whose roles do not grant the page's permission gets a 403
page in words. The page itself carries no case data — everything comes through the API under the user's scope.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from command.users import User
from grid.hotspots import prepare
from map_ui.page import View, map_parts, offline_map
from map_ui.pages import PageAccess, render
from spatial.tiers import Tier
from web.access import PUBLIC
from web.deps import connection
from web.i18n import Catalogue, language_of
from web.services import SettingsDep

STATIC_DIR = Path(__file__).parent / "static"
NANJING_BOUNDS = (118.36, 31.23, 119.24, 32.61)
EXTENT = "SELECT ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), ST_YMax(geom), name FROM unit WHERE id = %s"
CATEGORIES = "SELECT code, name, coalesce(name_en, name) FROM category"

# boundaries in muted hues beneath the cases' colours (their pane is under every marker); buildings only faintly
# filled, so no footprint hides what lies in it; each tier's label is its name in the page's language
TIERS: list[dict[str, object]] = [
    {"tier": Tier.CITY, "min_zoom": 0, "visible": True, "style": {"color": "#333333", "weight": 3, "fill": False}},
    {
        "tier": Tier.DISTRICT,
        "min_zoom": 0,
        "visible": True,
        "style": {"color": "#56496e", "weight": 2.2, "fill": False},
    },
    {"tier": Tier.STREET, "min_zoom": 8, "visible": True, "style": {"color": "#4a7a96", "weight": 1.5, "fill": False}},
    {
        "tier": Tier.COMMUNITY,
        "min_zoom": 10,
        "visible": True,
        "style": {"color": "#7a9a6a", "weight": 1, "fill": False},
    },
    {"tier": Tier.GRID, "min_zoom": 11, "visible": True, "style": {"color": "#a39e93", "weight": 0.6, "fill": False}},
    {
        "tier": Tier.BUILDING,
        "min_zoom": 14,
        "visible": False,
        "style": {"color": "#9c8f78", "weight": 0.5, "fill": True, "fillColor": "#d8cfbd", "fillOpacity": 0.25},
    },
]


@dataclass(frozen=True)
class Page:
    """One map page: the permission it needs, its script and its function, which tiers show first,
    its title (a catalogue key) and the catalogue prefixes its script reads."""

    permission: str
    script: str
    function: str
    tiers: tuple[Tier, ...]
    title: str
    messages: tuple[str, ...]
    mobile: bool = False


# what every map script reads: the shared map words and the codes it turns into words
MAP_MESSAGES = (
    "map.",
    "state.",
    "action.",
    "tier.",
    "source.",
    "force.",
    "assignment.",
    "severity.",
    "trace.",
    "basemap.",
    "search.",
)
PAGES = {
    "/map": Page(
        "cases:read",
        "command",
        "cityopsCommand",
        (Tier.CITY, Tier.DISTRICT, Tier.STREET, Tier.COMMUNITY, Tier.GRID),
        "nav.map",
        (*MAP_MESSAGES, "command.", "error.", "time.", "sensors.", "warnings."),
    ),
    "/map/worker": Page(
        "cases:report",
        "worker",
        "cityopsWorker",
        (Tier.GRID, Tier.BUILDING),
        "nav.worker",
        (*MAP_MESSAGES, "worker."),
        mobile=True,
    ),
    "/map/planner": Page(
        "analytics:read",
        "planner",
        "cityopsPlanner",
        (Tier.CITY, Tier.DISTRICT, Tier.STREET),
        "nav.planner",
        (*MAP_MESSAGES, "planner.", "error."),
    ),
}
router = APIRouter(tags=["map"], dependencies=[Depends(PUBLIC)], include_in_schema=False)


def static_files() -> StaticFiles:
    """The platform's own asset directory (Leaflet and its plugins, our JS and CSS)."""
    return StaticFiles(directory=STATIC_DIR)


def _options(
    page: Page, user: User, unit_name: str, bounds: tuple[float, ...], words: Catalogue, categories: dict[str, str]
) -> dict[str, object]:
    west, south, east, north = bounds
    return {
        "bounds": [[south, west], [north, east]],
        "tiers": [
            {**tier, "label": words.label("tier", str(tier["tier"])), "visible": tier["tier"] in page.tiers}
            for tier in TIERS
        ],
        "categories": categories,
        "user": {
            "username": user.username,
            "display_name": user.display_name,
            "unit": user.unit_code,
            "unit_name": unit_name,
            "roles": list(user.roles),
        },
        "forces": user.may("forces:read"),
        "dispatch": user.may("forces:dispatch"),
        "analytics": user.may("analytics:read"),
        "locate": user.may("locate:use"),
        "decide": user.may("proposals:decide"),
        "sensors": page.script == "command" and user.may("sensors:read"),
        "warnings": page.script == "command" and user.may("warnings:read"),
    }


async def _page(request: Request, path: str, basemap_url: str | None) -> Response:
    page = PAGES[path]
    user = await PageAccess(page.permission)(request)
    lang = language_of(request)
    async with connection(request) as conn:
        row = await (await conn.execute(EXTENT, (user.unit_id,))).fetchone()
        names = await (await conn.execute(CATEGORIES)).fetchall()
    # category names in the page's language, so no marker or popup ever shows a category's code
    categories = {code: english if lang == "en" else chinese for code, chinese, english in names}
    bounds = tuple(row[:4]) if row and row[0] is not None else NANJING_BOUNDS
    fmap = offline_map(bounds, basemap_url, page.script, mobile=page.mobile)
    words = Catalogue(lang)
    options = _options(page, user, row[4] if row else user.unit_code, bounds, words, categories)
    View(page.function, {**options, "lang": lang}).add_to(fmap)
    parts = map_parts(fmap)
    return render(
        request,
        "map.html",
        user,
        title=words(page.title),
        mobile=page.mobile,
        script_messages=page.messages,
        map_header=parts.header,
        map_html=parts.html,
        map_script=parts.script,
    )


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request) -> HTMLResponse:
    """Sign in (then back to the page that sent the browser here)."""
    return render(request, "login.html", None, script_messages=("login.",))


@router.get("/map", response_class=HTMLResponse)
async def command_map(request: Request, settings: SettingsDep) -> Response:
    """The command view: the hierarchy, cases and forces live, dispatch."""
    return await _page(request, "/map", settings.basemap_url)


@router.get("/map/worker", response_class=HTMLResponse)
async def worker_map(request: Request, settings: SettingsDep) -> Response:
    """The grid worker's view (phones): tag incidents, their tasks."""
    return await _page(request, "/map/worker", settings.basemap_url)


@router.get("/map/planner", response_class=HTMLResponse)
async def planner_map(request: Request, settings: SettingsDep) -> Response:
    """The planner's view: case counts on hexagons by category and time window."""
    prepare()  # the hot-spot analysis loads while the planner chooses what to ask
    return await _page(request, "/map/planner", settings.basemap_url)
