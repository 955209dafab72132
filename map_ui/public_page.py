"""The public page ``/public`` (no login): the scenarios, their published indicators, the city's map by month.

Regulation art. 13 asks districts and departments to publish their scenarios' status regularly, under
social supervision. Everything this page and its downloads show comes from a publication — a month frozen
and signed by ``cityops publish`` — except the registry's current list of scenarios. Nothing is computed
per visit, so the page is cheap, cacheable (a published month never changes: its files are served
``immutable``) and identical for every visitor; it prints on A4 without the map's controls.

``/public/{month}/{name}`` serves a month's files (``summary.json``, ``counts.csv``, ``counts.geojson``,
``points.csv``, ``points.geojson``), its signed ``manifest.json``, the signature ``manifest.sig`` (base64)
and the ``key.pem`` that checks it.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, Response

from exchange import publications, scenarios
from exchange.public_figures import Month
from map_ui.pages import render
from spatial.errors import NotFoundError
from web.access import PUBLIC_VIEW
from web.deps import scoped_connection
from web.i18n import Catalogue, language_of

router = APIRouter(dependencies=[Depends(PUBLIC_VIEW)], include_in_schema=False)
MonthText = Annotated[str, Path(pattern=r"^\d{4}-\d{2}$")]
FileName = Annotated[str, Path(pattern=r"^[a-z_]+\.(json|csv|geojson|sig|pem)$")]
PAGE_CACHE = "public, max-age=300"  # the registry's statuses may change; a month's figures never do
FILE_CACHE = "public, max-age=31536000, immutable"
MESSAGES = ("public.",)


async def _page(request: Request, month: Month | None) -> HTMLResponse:
    async with scoped_connection(request) as conn:
        months = await publications.published_months(conn)
        if month is None and months:
            month = Month.parse(months[0])
        summary = await publications.summary(conn, month) if month is not None else None
        held = await publications.publication(conn, month) if month is not None else None
        registry = await scenarios.listed(conn)
    response = render(
        request,
        "public.html",
        None,
        month=month.label if month else None,
        months=months,
        summary=summary,
        published=held,
        files=orjson.loads(held.manifest)["files"] if held else [],
        registry=[s for s in registry if s["status"] != "planned"],
        script_messages=MESSAGES,
    )
    response.headers["Cache-Control"] = PAGE_CACHE
    response.headers["Vary"] = "Cookie"  # the language is remembered in a cookie
    return response


@router.get("/public", response_class=HTMLResponse)
async def public_page(request: Request) -> HTMLResponse:
    """The newest published month (or the registry alone, before the first publication)."""
    return await _page(request, None)


@router.get("/public/{month}", response_class=HTMLResponse)
async def public_month(request: Request, month: MonthText) -> HTMLResponse:
    """One published month; 404 in words for a month not published."""
    try:
        return await _page(request, Month.parse(month))
    except NotFoundError as error:
        words = Catalogue(language_of(request))
        return render(request, "refused.html", None, 404, heading=words("public.missing"), message=str(error))


@router.get("/public/{month}/{name}")
async def public_file(request: Request, month: MonthText, name: FileName) -> Response:
    """A published file, its manifest, the manifest's signature or the key; the same bytes for ever."""
    asked = Month.parse(month)
    async with scoped_connection(request) as conn:
        if name in ("manifest.json", "manifest.sig", "key.pem"):
            held = await publications.publication(conn, asked)
            media_type, body = {
                "manifest.json": ("application/json", held.manifest),
                "manifest.sig": ("text/plain; charset=us-ascii", base64.b64encode(held.signature) + b"\n"),
                "key.pem": ("application/x-pem-file", held.public_key_pem.encode()),
            }[name]
        else:
            media_type, body = await publications.published_file(conn, asked, name)
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    headers = {"Cache-Control": FILE_CACHE, "ETag": etag}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    if not name.endswith((".json", ".sig", ".pem")):
        headers["Content-Disposition"] = f'attachment; filename="cityops-{asked.label}-{name}"'
    return Response(body, media_type=media_type, headers=headers)
