"""The field page (``/field``): the person or crew behind a force sees its assignment and answers it.

A phone in a pocket is the usual screen, so the page is the assignment and its four answers —
accept, on scene, done, unable (with a reason) — as large buttons; the accept deadline counts
down and a new assignment arrives live (the stream carries the force's assignments wherever
the case lies) with a beep and a vibration where the device allows. The page shows what
``forces.answers`` returns for the user's own force and nothing else; an answer is a form whose
reply is the page's list again, with the outcome — or the refusal, in words — on top.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse

from api.access import PUBLIC
from api.deps import scoped_connection
from api.errors import classify
from command.users import User
from forces.answers import MAX_REASON, Redispatch, answer, my_assignments
from map_ui.i18n import Catalogue, language_of
from map_ui.pages import PageAccess, refusal, render
from spatial.errors import PlatformError

router = APIRouter(dependencies=[Depends(PUBLIC)], include_in_schema=False)
Answerer = Annotated[User, Depends(PageAccess("assignments:answer"))]


async def _assignments(request: Request, user: User) -> dict[str, Any]:
    if user.force_id is None:
        return {"force": None, "items": []}
    async with scoped_connection(request) as conn:
        return await my_assignments(conn, user.force_id)


async def _page(request: Request, user: User, template: str, status_code: int = 200, **said: str) -> HTMLResponse:
    mine = await _assignments(request, user)
    active = [item for item in mine["items"] if item["answers"]]
    ended = [item for item in mine["items"] if not item["answers"]]
    return render(request, template, user, status_code=status_code, force=mine["force"], active=active, ended=ended,
                  max_reason=MAX_REASON, **said)  # fmt: skip


@router.get("/field", response_class=HTMLResponse)
async def field(request: Request, user: Answerer) -> HTMLResponse:
    """The force's assignments: the one to answer now on top, then what ended lately."""
    template = "_field_list.html" if request.headers.get("HX-Request") else "field.html"
    return await _page(request, user, template)


@router.post("/field/assignments/{assignment_id}/answer", response_class=HTMLResponse)
async def answer_form(
    request: Request, user: Answerer, assignment_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    given: Annotated[str, Form(alias="answer", max_length=20)], reason: Annotated[str, Form(max_length=2000)] = "",
) -> HTMLResponse:  # fmt: skip
    """One answer for the user's own force; the list again with what happened (or why not) in words."""
    words = Catalogue(language_of(request))
    if user.force_id is None:
        return await _page(request, user, "_field_list.html", 403, message=words("field.no_force"))
    redispatch = Redispatch.of(request.app.state.force_settings, request.app.state.calendar.zone)
    try:
        async with scoped_connection(request) as conn:
            await answer(conn, assignment_id, given, reason, user.username, redispatch, user.force_id)
    except PlatformError as error:
        return await _page(request, user, "_field_list.html", classify(error)[0], message=refusal(words, error))
    done = words(f"field.done.{given}")
    response = await _page(request, user, "_field_list.html", done=done)
    response.headers["HX-Trigger"] = json.dumps({"cityops:toast": {"text": done, "kind": "ok"}})
    return response
