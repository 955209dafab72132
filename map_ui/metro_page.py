"""The metropolitan screen ``/metro`` (都市圈协同): cases handed over the city line, both ways, on one map.

For the city's commanders: every report this city handed to a neighbour — where it lies, to whom, what
the neighbour did with it (accepted by which unit, each move, closed, or refused with why) and, while the
neighbour cannot be reached, how often it was tried and the last error — and every case neighbours handed
here, with a link to our case and whether its moves reached them. The map draws this city, its peers'
boundaries and each handover's point (``static/metro/metro.js``, from ``/api/v1/peers`` and
``/api/v1/handovers``). The tables refresh themselves every 15 s.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from command.users import User
from exchange import handovers, peers
from map_ui.pages import PageAccess, render
from web.access import PUBLIC
from web.deps import scoped_connection

router = APIRouter(dependencies=[Depends(PUBLIC)], include_in_schema=False)
Reader = Annotated[User, Depends(PageAccess("handovers:read"))]
MESSAGES = ("metro.",)


@router.get("/metro", response_class=HTMLResponse)
async def metro_page(request: Request, user: Reader) -> HTMLResponse:
    """Handovers out and in, newest first, with the peers this city knows."""
    async with scoped_connection(request) as conn:
        listed = await handovers.listed(conn)
        known = await peers.listed(conn)
    return render(
        request,
        "metro.html",
        user,
        outgoing=[h for h in listed if h["direction"] == "out"],
        incoming=[h for h in listed if h["direction"] == "in"],
        peers=known,
        script_messages=MESSAGES,
    )
