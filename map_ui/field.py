"""The field page (``/field``): the person or crew behind a force sees its assignment and answers it.

A phone in a pocket is the usual screen, so the page is the assignment and its four answers —
accept, on scene, done, unable (with a reason) — as large buttons; the accept deadline counts
down and a new assignment arrives live (the stream carries the force's assignments wherever
the case lies) with a beep and a vibration where the device allows. The page shows what
``forces.answers`` returns for the user's own force and nothing else; an answer is a form whose
reply is the page's list again, with the outcome — or the refusal, in words — on top.

The page and the grid worker's map (``/map/worker``) are one installable web app: a manifest per
page, and a service worker (``/sw.js``, served from the root so its scope covers both pages) that
keeps the app's shell for opening offline. What the phone sends offline waits in its outbox
(``static/app/outbox.js``) and is sent later with the Idempotency-Key made when it was pressed; an
answer replayed under a key finds the assignment already where that answer took it and reads as
done (an answer's effect is its stage, so the stage is the record of the key), never as a refusal.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, Form, Header, Path, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from command.users import User
from forces.answers import MAX_REASON, answer, my_assignments
from map_ui.page import EXTENSIONS
from map_ui.pages import PageAccess, refusal, render
from map_ui.routes import STATIC_DIR
from spatial.errors import ConflictError, PlatformError
from web.access import PUBLIC
from web.deps import scoped_connection
from web.errors import classify
from web.i18n import Catalogue, language_of
from web.services import RedispatchDep

router = APIRouter(dependencies=[Depends(PUBLIC)], include_in_schema=False)
Answerer = Annotated[User, Depends(PageAccess("assignments:answer"))]
Reporter = Annotated[User, Depends(PageAccess("cases:report"))]
# what the two pages load, kept by the service worker so they open without a network
SHELL = (
    "vendor/leaflet/leaflet.js",
    "vendor/leaflet/leaflet.css",
    "vendor/leaflet/images/layers.png",
    "vendor/leaflet/images/layers-2x.png",
    "vendor/leaflet/images/marker-icon.png",
    "vendor/leaflet/images/marker-icon-2x.png",
    "vendor/leaflet/images/marker-shadow.png",
    "vendor/leaflet.vectorgrid/Leaflet.VectorGrid.bundled.min.js",
    "vendor/htmx.org/htmx.min.js",
    "ui/ui.js",
    "ui/cityops-ui.css",
    "ui/favicon.svg",
    "map/cityops.js",
    "map/cityops.css",
    "map/worker.js",
    "map/field.js",
    "map/field.css",
    "app/outbox.js",
    "app/install.js",
    "app/app.css",
    "app/worker.webmanifest",
    "app/field.webmanifest",
    "app/icon-192.png",
    "app/icon-512.png",
    *(f"map/{extension}.js" for extension in EXTENSIONS),
)
# where each answer takes an assignment: a replayed answer whose effect is already there is done
ANSWERED = """
SELECT CASE %(answer)s WHEN 'accept' THEN accepted_at IS NOT NULL WHEN 'arrive' THEN arrived_at IS NOT NULL
       ELSE release_reason = (CASE %(answer)s WHEN 'complete' THEN 'completed' ELSE 'unable' END) END
FROM assignment WHERE id = %(id)s AND force_id = %(force)s
"""
CATEGORIES = "SELECT code, name, name_en, major_name, major_name_en FROM category ORDER BY code"


@cache
def service_worker() -> tuple[str, str]:
    """The worker's script with its version (a hash of itself and the shell) and the shell's addresses."""
    script = (STATIC_DIR / "app" / "sw.js").read_text("utf-8")
    digest = hashlib.sha256(script.encode())
    for name in SHELL:
        digest.update((STATIC_DIR / name).read_bytes())
    shell = [f"/static/{name}" for name in SHELL]
    head = f"self.VERSION = {json.dumps(digest.hexdigest()[:16])};\nself.SHELL = {json.dumps(shell)};\n"
    return head + script, digest.hexdigest()[:16]


async def _assignments(request: Request, user: User) -> dict[str, Any]:
    if user.force_id is None:
        return {"force": None, "items": []}
    async with scoped_connection(request) as conn:
        return await my_assignments(conn, user.force_id)


async def _page(request: Request, user: User, template: str, status_code: int = 200, **said: str) -> HTMLResponse:
    mine = await _assignments(request, user)
    active = [item for item in mine["items"] if item["answers"]]
    ended = [item for item in mine["items"] if not item["answers"]]
    return render(
        request,
        template,
        user,
        status_code=status_code,
        force=mine["force"],
        active=active,
        ended=ended,
        max_reason=MAX_REASON,
        script_messages=("worker.outbox.",),
        **said,
    )


@router.get("/sw.js")
async def service_worker_script() -> Response:
    """The field app's service worker, from the root: its scope covers ``/map/worker`` and ``/field``."""
    script, version = service_worker()
    return Response(
        script,
        media_type="text/javascript",
        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/", "ETag": f'"{version}"'},
    )


@router.get("/field/categories")
async def categories(request: Request, user: Reporter) -> JSONResponse:
    """The categories a worker reports under, named in the page's language (kept offline by the service worker)."""
    english = language_of(request) == "en"
    async with scoped_connection(request) as conn:
        rows = await (await conn.execute(CATEGORIES)).fetchall()
    return JSONResponse(
        [
            {"code": code, "name": name_en if english else name, "group": major_en if english else major}
            for code, name, name_en, major, major_en in rows
        ]
    )


async def _already(conn: psycopg.AsyncConnection, assignment_id: int, given: str, force_id: int) -> bool:
    row = await (await conn.execute(ANSWERED, {"answer": given, "id": assignment_id, "force": force_id})).fetchone()
    return bool(row and row[0])


@router.get("/field", response_class=HTMLResponse)
async def field(request: Request, user: Answerer) -> HTMLResponse:
    """The force's assignments: the one to answer now on top, then what ended lately."""
    template = "_field_list.html" if request.headers.get("HX-Request") else "field.html"
    return await _page(request, user, template)


@router.post("/field/assignments/{assignment_id}/answer", response_class=HTMLResponse)
async def answer_form(
    request: Request,
    user: Answerer,
    assignment_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    given: Annotated[str, Form(alias="answer", max_length=20)],
    redispatch: RedispatchDep,
    reason: Annotated[str, Form(max_length=2000)] = "",
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> HTMLResponse:
    """One answer for the user's own force; the list again with what happened (or why not) in words.

    Under an Idempotency-Key (the phone's outbox sends one), an answer already applied — the first
    try arrived, its reply did not — reads as done rather than as "the assignment has moved on".
    """
    words = Catalogue(language_of(request))
    if user.force_id is None:
        return await _page(request, user, "_field_list.html", 403, message=words("field.no_force"))
    try:
        async with scoped_connection(request) as conn:
            await answer(conn, assignment_id, given, reason, user.username, redispatch, user.force_id)
    except ConflictError as error:
        async with scoped_connection(request) as conn:
            replayed = idempotency_key is not None and await _already(conn, assignment_id, given, user.force_id)
        if not replayed:
            return await _page(request, user, "_field_list.html", classify(error)[0], message=refusal(words, error))
    except PlatformError as error:
        return await _page(request, user, "_field_list.html", classify(error)[0], message=refusal(words, error))
    done = words(f"field.done.{given}")
    response = await _page(request, user, "_field_list.html", done=done)
    response.headers["HX-Trigger"] = json.dumps({"cityops:toast": {"text": done, "kind": "ok"}})
    return response
