"""The 待办 page and the case actions: each role's queues, and the form every next step asks for.

The buttons on a case are exactly the state machine's next actions for this user
(``Rules.open_to``), and each opens a form that asks what that action needs: a note where the
machine requires one, a department for a dispatch, the time for an extension, photos for a
feedback or a check. The form's answer is the case card as it is now. Photos are stored as the
case's evidence and named by the move in one transaction, so a refused move leaves no
half-attached file behind and a photo cut short in transit refuses the move. A stale version (someone else acted
first) answers with the case reloaded and says so; every refusal reads as a sentence.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Annotated, Any, BinaryIO

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse

from command.case_media import store_case_media
from command.media import MediaStore
from command.queues import MAX_PAGE, case_card, queue_counts, queue_items, queues_of
from command.users import User
from command.workflow import Rules, Step, transition
from incidents.warnings import in_force
from map_ui.pages import PageAccess, refusal, render
from spatial.errors import InvalidInputError, NotFoundError, PlatformError, StaleVersionError
from web.access import PUBLIC
from web.deps import scoped_connection
from web.errors import classify
from web.i18n import Catalogue, language_of
from web.services import MediaDep, RulesDep
from web.uploads import multipart_upload

router = APIRouter(dependencies=[Depends(PUBLIC)], include_in_schema=False)
Worker = Annotated[User, Depends(PageAccess("cases:read"))]
CaseId = Annotated[int, Path(ge=1, le=2**63 - 1)]
PHOTO_ACTIONS = frozenset({"feedback", "close", "rework"})  # a check or a result is shown, not told
FIELDS = frozenset({"action", "version", "note", "department", "extend_by"})
LIMIT_KIND = "SELECT c.limit_kind FROM case_file e JOIN category c ON c.code = e.category_code WHERE e.id = %s"


async def _card(request: Request, user: User, rules: Rules, case_id: int, **context: Any) -> HTMLResponse:
    async with scoped_connection(request) as conn:
        item = await case_card(conn, case_id)
    if item is None:
        raise NotFoundError(f"no case {case_id}")
    return render(request, "_case_card.html", user, item=item, actions=rules.open_to(item["state"], user), **context)


@router.get("/queue", response_class=HTMLResponse)
async def queue_page(
    request: Request,
    user: Worker,
    rules: RulesDep,
    q: Annotated[str | None, Query(max_length=40)] = None,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> HTMLResponse:
    """The user's queues with their counts, and the chosen one's cases, most urgent first."""
    queues = queues_of(user)
    chosen = next((queue for queue in queues if queue.name == q), None)
    async with scoped_connection(request) as conn:
        counts = await queue_counts(conn, user)
        if chosen is None and queues:  # the first queue with work in it, else the first
            chosen = next((queue for queue in queues if counts[queue.name]["cases"]), queues[0])
        items = await queue_items(conn, user, chosen, MAX_PAGE // 4, offset) if chosen else []
        notices = await in_force(conn) if user.may("warnings:read") else []
    cards = [(item, rules.open_to(item["state"], user)) for item in items]
    return render(
        request,
        "queue.html",
        user,
        queues=queues,
        counts=counts,
        chosen=chosen,
        cards=cards,
        offset=offset,
        page=MAX_PAGE // 4,
        warnings=notices,
    )


async def _reloaded(
    request: Request, user: User, rules: Rules, case_id: int, words: Catalogue, status: int
) -> HTMLResponse:
    """The case card as it is now, replacing the one the user saw, with the stale-version message kept on screen."""
    response = await _card(request, user, rules, case_id)
    response.status_code = status
    response.headers.update(
        {
            "HX-Retarget": f"#case-{case_id}",
            "HX-Reswap": "outerHTML",
            "HX-Trigger": json.dumps(
                {
                    "cityops:toast": {
                        "text": refusal(words, StaleVersionError(f"case {case_id} changed")),
                        "kind": "error",
                    }
                }
            ),
        }
    )
    return response


@router.get("/cases/{case_id}/form/{action}", response_class=HTMLResponse)
async def action_form(
    request: Request,
    user: Worker,
    case_id: CaseId,
    action: Annotated[str, Path(pattern=r"^[a-z_]{2,40}$")],
    version: Annotated[int, Query(ge=0, description="The case's version on the user's screen")],
    rules: RulesDep,
) -> HTMLResponse:
    """The form of one next step, asking exactly what it needs; a case moved meanwhile is reloaded instead."""
    async with scoped_connection(request) as conn:
        item = await case_card(conn, case_id)
        kind = await (await conn.execute(LIMIT_KIND, (case_id,))).fetchone() if item else None
    if item is None or kind is None:
        raise NotFoundError(f"no case {case_id}")
    move = next((m for m in rules.moves.get(item["state"], ()) if m.action == action), None)
    if item["version"] != version or move is None:
        return await _reloaded(request, user, rules, case_id, Catalogue(language_of(request)), 409)
    photos = move.needs_evidence or action in PHOTO_ACTIONS
    return render(request, "_action_form.html", user, item=item, move=move, photos=photos, limit_kind=kind[0])


@asynccontextmanager
async def _form(request: Request, media: MediaStore) -> AsyncIterator[tuple[Any, list[tuple[BinaryIO, str | None]]]]:
    """The form's fields and photos: multipart read like every upload (size, types, a body cut short), else plain."""
    if request.headers.get("content-type", "").startswith("multipart/"):
        async with multipart_upload(request, media.limits, FIELDS) as (form, files):
            yield form, [(file, name) for file, name in files if name]  # an empty file input sends a nameless part
    else:
        async with request.form(max_files=0, max_fields=len(FIELDS)) as form:
            yield form, []


def _step(form: Any) -> Step:
    def number(name: str) -> float | None:
        text = str(form.get(name) or "").strip()
        try:
            return float(text) if text else None
        except ValueError:
            raise InvalidInputError(f"{name} must be a number, not {text!r}") from None

    version = number("version")
    if version is None:
        raise InvalidInputError("the form lost the case's version: reload the case")
    department = str(form.get("department") or "").strip() or None
    return Step(
        str(form.get("action") or ""),
        int(version),
        str(form.get("note") or "").strip(),
        extend_by=number("extend_by"),
        department=department,
    )


@router.post("/cases/{case_id}/act", response_class=HTMLResponse)
async def act(request: Request, user: Worker, case_id: CaseId, rules: RulesDep, media: MediaDep) -> HTMLResponse:
    """Take the step the form names: store its photos as evidence and move the case, all or nothing."""
    words = Catalogue(language_of(request))
    try:
        async with _form(request, media) as (form, uploads), scoped_connection(request) as conn, conn.transaction():
            step = _step(form)
            if uploads:
                stored = await store_case_media(conn, case_id, uploads, user.username, media)
                step = replace(step, evidence=tuple(m["sha256"] for m in stored))
            moved = await transition(conn, case_id, step, user, rules)
    except PlatformError as error:
        status = classify(error)[0]
        if isinstance(error, StaleVersionError):
            return await _reloaded(request, user, rules, case_id, words, status)
        if isinstance(error, NotFoundError):
            return HTMLResponse(refusal(words, error), status_code=status)
        response = await _card(request, user, rules, case_id, message=refusal(words, error))
        response.status_code = status
        return response
    done = words(
        "action.done", action=words.label("action", step.action), id=case_id, state=words.label("state", moved["state"])
    )
    response = await _card(request, user, rules, case_id, done=done)
    response.headers["HX-Trigger"] = json.dumps({"cityops:toast": {"text": done, "kind": "ok"}})
    return response
