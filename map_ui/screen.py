"""The wall display ``/screen`` (大屏): the user's unit at a glance on the centre's big screen, no interaction.

A wall account is a user like any other (``cases:read``): the wall shows that user's jurisdiction
— the city's wall every district, a district's wall its own. The page carries no case data:
its module (``static/screen/screen.js``) asks the figures, the ticker's words and the map's first
picture of the API (``api.routes.screen``), then listens to the live stream and refreshes the
figures every minute, for days, renewing the session as it goes.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from map_ui.pages import PageAccess, render
from map_ui.routes import EXTENT, NANJING_BOUNDS
from web.access import PUBLIC
from web.deps import connection
from web.i18n import Catalogue, language_of

router = APIRouter(dependencies=[Depends(PUBLIC)], include_in_schema=False)  # the page's guard is inside
# the words the wall's module reads: its own, the codes it names, and the stream's reconnecting notice
MESSAGES = ("screen.", "severity.", "force.", "state.", "map.reconnecting")
DAYS = 30  # the trend's and the rates' days


@router.get("/screen", response_class=HTMLResponse)
async def wall(request: Request) -> Response:
    """The wall display for 1920×1080 and 3840×2160 screens: map, district table, trends, categories, ticker."""
    user = await PageAccess("cases:read")(request)
    async with connection(request) as conn:
        row = await (await conn.execute(EXTENT, (user.unit_id,))).fetchone()
    west, south, east, north = tuple(row[:4]) if row and row[0] is not None else NANJING_BOUNDS
    unit_name = row[4] if row else user.unit_code
    words = Catalogue(language_of(request))
    options = {
        "bounds": [[south, west], [north, east]],
        "forces": user.may("forces:read"),
        "sensors": user.may("sensors:read"),
        "days": DAYS,
    }
    return render(
        request,
        "screen.html",
        user,
        title=words("screen.title", unit=unit_name),
        days=DAYS,
        options=options,
        script_messages=MESSAGES,
    )
