"""The case page (``/cases/{id}``): everything the centre knows about one case, on one shareable link.

Its parts are the platform's own views of the case — the case with its reports and merges
(``command.case_view``), its photos and evidence (``command.case_media``), its transitions
(``command.workflow.history``), its assignments (``forces.dispatch.case_assignments``) — read
through the caller's scope, so the link shows a case only to those whose jurisdiction holds it.
What the API gives as codes the page says in words: states, actions, the routing trace as
sentences, every time in Beijing time. The same page prints as the case sheet (处置单).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse

from command.case_media import case_media
from command.case_view import case_view
from command.queues import case_card
from command.users import User
from command.workflow import history
from forces.dispatch import case_assignments
from map_ui.pages import PageAccess, missing, render
from spatial.errors import NotFoundError
from web.access import PUBLIC
from web.deps import scoped_connection
from web.i18n import Catalogue, language_of
from web.services import RulesDep
from web.words import trace_sentences

router = APIRouter(dependencies=[Depends(PUBLIC)], include_in_schema=False)
Reader = Annotated[User, Depends(PageAccess("cases:read"))]
RATINGS = """
SELECT r.id, r.source::text, r.satisfaction::text, r.rated_at, r.rating_note
FROM report r WHERE r.case_id = %s AND r.satisfaction IS NOT NULL ORDER BY r.rated_at
"""


@router.get("/cases/{case_id}", response_class=HTMLResponse)
async def case_page(
    request: Request, user: Reader, case_id: Annotated[int, Path(ge=1, le=2**63 - 1)], rules: RulesDep
) -> HTMLResponse:
    """One case: facts, photos, timeline, trace, assignments, deadlines, map, merges, ratings; prints as 处置单."""
    async with scoped_connection(request) as conn:
        item = await case_card(conn, case_id)
        if item is None:
            return missing(request, user, NotFoundError(f"no case {case_id} in your jurisdiction"))
        case = await case_view(conn, case_id)
        steps = await history(conn, case_id, user, rules)
        media = await case_media(conn, case_id)
        assignments = await case_assignments(conn, case_id)
        ratings = await (await conn.execute(RATINGS, (case_id,))).fetchall()
    words = Catalogue(language_of(request))
    return render(
        request,
        "case.html",
        user,
        item=item,
        actions=rules.open_to(item["state"], user),
        case=case,
        steps=steps,
        media=media,
        assignments=assignments,
        ratings=ratings,
        trace=trace_sentences(case["routing_trace"] or {}, case, words),
    )
