"""The closed loop over HTTP: move a case one step, read its transitions, list what is running late.

Who may take which step is data (``case_action``): the route lets anyone who can read cases try,
and the move itself checks the permission the step needs, in the caller's scope.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from api.body import RequestBody
from api.geojson import FastJSONResponse
from command.users import User
from command.workflow import Step, history, transition
from web.access import Access
from web.deps import RowId, scoped_connection
from web.services import RulesDep
from web.words import moves_labels, row_labels, words

router = APIRouter(prefix="/api/v1", tags=["workflow"])
Reader = Annotated[User, Depends(Access("cases:read"))]
LATE = """
SELECT e.id::text AS id, e.state, e.category_code AS category, u.code AS responsible_unit, k.due_at, e.deadline,
       e.escalations, e.supervised, e.handling_department AS department
FROM case_clock k JOIN case_file e ON e.id = k.case_id JOIN unit u ON u.id = e.responsible_unit_id
WHERE k.due_at IS NOT NULL AND k.due_at < now() + %s * interval '1 minute' AND (%s OR k.due_at < now())
ORDER BY k.due_at LIMIT %s
"""


class TransitionIn(RequestBody):
    """One step of the loop, on the case version the caller saw."""

    model_config = ConfigDict(str_strip_whitespace=True)
    action: str = Field(pattern=r"^[a-z][a-z_]{1,39}$", description="accept, file, dispatch, acknowledge, return …")
    version: int = Field(ge=0, description="The case's version as the caller last saw it")
    note: str = Field(default="", max_length=2000)
    evidence: list[str] = Field(default_factory=list, max_length=20, description="SHA-256 of photos/videos")
    lon: float | None = Field(default=None, ge=-180, le=180)
    lat: float | None = Field(default=None, ge=-90, le=90)
    extend_by: float | None = Field(
        default=None, gt=0, le=365, description="request_extension: more time, in the category's kind of limit"
    )
    department: str | None = Field(default=None, min_length=1, max_length=60, description="dispatch: to whom")


class Lateness(StrEnum):
    """Which late cases to list."""

    overdue = "overdue"
    due_soon = "due_soon"


class CaseState(BaseModel):
    """Where a case stands in its workflow, and what the caller may do next."""

    case_id: int
    state: str
    state_label: str
    version: int
    deadline: str
    due_at: str | None
    next: list[str]
    next_labels: list[str]


class Moved(CaseState):
    """A step taken: the case's new state and version, its deadline, and the transition recorded."""

    transition: dict[str, Any] = Field(description="id, seq, action, from, at, hash, with labels")


class History(CaseState):
    """A case's workflow: its state, deadlines, supervision and every transition."""

    review_at: str | None
    supervised: bool
    escalations: int
    transitions: list[dict[str, Any]]
    checkers_on_site: list[Any]


class LateCases(BaseModel):
    """Cases whose stage is overdue (or due soon), soonest first."""

    state: str
    items: list[dict[str, Any]]


@router.post("/cases/{case_id}/transitions", response_class=FastJSONResponse, response_model=Moved)
async def move(request: Request, user: Reader, case_id: RowId, body: TransitionIn, rules: RulesDep) -> FastJSONResponse:
    """Move the case one step; the answer has the new state, version, clocks and the caller's next actions."""
    position = None if body.lon is None or body.lat is None else (body.lon, body.lat)
    step = Step(body.action, body.version, body.note, tuple(body.evidence), position, body.extend_by, body.department)
    async with scoped_connection(request) as conn:
        moved = await transition(conn, case_id, step, user, rules)
    return FastJSONResponse(moves_labels(moved, words(request)))


@router.get("/cases/{case_id}/transitions", response_class=FastJSONResponse, response_model=History)
async def transitions(request: Request, user: Reader, case_id: RowId, rules: RulesDep) -> FastJSONResponse:
    """The case's transitions in order (hash-chained), state, version, clocks, and the caller's next actions."""
    async with scoped_connection(request) as conn:
        steps = await history(conn, case_id, user, rules)
    return FastJSONResponse(moves_labels(steps, words(request)))


@router.get("/deadlines", response_class=FastJSONResponse, response_model=LateCases)
async def late_cases(
    request: Request,
    user: Reader,
    which: Annotated[Lateness, Query(alias="state")] = Lateness.overdue,
    within_minutes: Annotated[int, Query(ge=1, le=7 * 1440)] = 60,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> FastJSONResponse:
    """Cases in the caller's jurisdiction whose stage is overdue, or due within ``within_minutes``, soonest first."""
    async with scoped_connection(request) as conn, conn.cursor() as cur:
        await cur.execute(LATE, (within_minutes, which is Lateness.due_soon, limit))
        names = [c.name for c in cur.description or ()]
        rows = [dict(zip(names, row, strict=True)) for row in await cur.fetchall()]
    said = words(request)
    items = [
        row_labels({**row, "due_at": row["due_at"].isoformat(), "deadline": row["deadline"].isoformat()}, said)
        for row in rows
    ]
    return FastJSONResponse({"state": which.value, "items": items})
