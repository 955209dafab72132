"""``/api/v1/analytics/recurrences`` and ``…/proposals``: places where one kind of case keeps coming back.

Detecting is reading (``analytics:read``); proposing stores what was detected as root-cause
task proposals (``analytics:read`` too — it is the planner's product, a suggestion that changes no
case); deciding is a commander's (``proposals:decide``, district and city command). Everything
is confined to the caller's jurisdiction by row-level security.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from api.body import RequestBody
from api.geojson import FastJSONResponse
from api.routes.evaluation import Analyst, unit_in_reach
from api.routes.hotspots import category_codes
from command.recurrence import DECISIONS, MAX_DAYS, MIN_TIMES, Recurrence, decide, detect, listed, places, propose
from command.users import User
from web.access import Access
from web.deps import scoped_connection

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"])
Decider = Annotated[User, Depends(Access("proposals:decide"))]


class RuleIn(RequestBody):
    """A recurrence: the same cell (H3 resolution) and category ``times`` times within ``days``, in a unit."""

    model_config = ConfigDict(str_strip_whitespace=True)
    unit: str | None = Field(default=None, pattern=r"^[0-9]{6,19}$", description="Default: your unit")
    times: int = Field(default=3, ge=MIN_TIMES, le=1000)
    days: int = Field(default=30, ge=1, le=MAX_DAYS)
    res: int = Field(default=9, ge=6, le=10, description="H3 resolution of a place (9: ~0.1 km²)")
    category: list[Annotated[str, Field(pattern=r"^[0-9]{1,16}$")]] = Field(
        default=[], max_length=20, description="category codes or prefixes"
    )


class DecisionIn(RequestBody):
    """A commander's decision on a proposal."""

    model_config = ConfigDict(str_strip_whitespace=True)
    decision: Literal["accepted", "dismissed"] = Field(description=" or ".join(DECISIONS))
    note: str = Field(default="", max_length=2000)


async def _rule(conn, user: User, body: RuleIn) -> Recurrence:
    reach = await unit_in_reach(conn, user, body.unit)
    return Recurrence(reach.id, body.times, body.days, body.res, tuple(body.category))


class RecurringPlace(BaseModel):
    """An H3 cell (with its centre) where a category came back, and its counts or its proposal's state."""

    model_config = ConfigDict(extra="allow")

    h3: str
    lon: float
    lat: float


class Recurrences(BaseModel):
    """The rule asked for, and the places over it (nothing stored)."""

    rule: dict[str, Any]
    places: list[RecurringPlace]


class Proposed(BaseModel):
    """Recurrences stored as open root-cause proposals; ``created`` counts the new ones."""

    rule: dict[str, Any]
    proposals: list[RecurringPlace]
    created: int


class Proposals(BaseModel):
    """Root-cause proposals, the latest first."""

    proposals: list[RecurringPlace]


@router.get("/recurrences", response_class=FastJSONResponse, response_model=Recurrences)
async def get_recurrences(
    request: Request,
    user: Analyst,
    unit: Annotated[str | None, Query(pattern=r"^[0-9]{6,19}$", description="Default: your unit")] = None,
    times: Annotated[int, Query(ge=MIN_TIMES, le=1000)] = 3,
    days: Annotated[int, Query(ge=1, le=MAX_DAYS)] = 30,
    res: Annotated[int, Query(ge=6, le=10)] = 9,
    category: Annotated[str | None, Query(description="category codes or prefixes, comma-separated")] = None,
) -> FastJSONResponse:
    """Places (H3 cells) where the same category came back ``times`` times in the last ``days`` — nothing stored."""
    body = RuleIn(unit=unit, times=times, days=days, res=res, category=list(category_codes(category)))
    async with scoped_connection(request) as conn:
        found = await detect(conn, await _rule(conn, user, body), datetime.now(UTC))
    return FastJSONResponse({"rule": body.model_dump(), "places": places(found)})


@router.post("/proposals", status_code=201, response_class=FastJSONResponse, response_model=Proposed)
async def post_proposals(request: Request, user: Analyst, body: RuleIn) -> FastJSONResponse:
    """Detect recurrences and store each as an open root-cause proposal (refreshed when already open)."""
    async with scoped_connection(request) as conn:
        stored = await propose(conn, await _rule(conn, user, body), datetime.now(UTC), user.username)
    return FastJSONResponse(
        {"rule": body.model_dump(), "proposals": stored, "created": sum(bool(p["created"]) for p in stored)},
        status_code=201,
    )


@router.get("/proposals", response_class=FastJSONResponse, response_model=Proposals)
async def get_proposals(
    request: Request,
    user: Analyst,
    state: Annotated[Literal["proposed", "accepted", "dismissed"] | None, Query()] = None,
) -> FastJSONResponse:
    """Root-cause proposals in the caller's jurisdiction, the latest first."""
    async with scoped_connection(request) as conn:
        return FastJSONResponse({"proposals": await listed(conn, state)})


@router.post("/proposals/{proposal_id}/decision", response_class=FastJSONResponse, response_model=RecurringPlace)
async def post_decision(request: Request, user: Decider, proposal_id: int, body: DecisionIn) -> FastJSONResponse:
    """Accept or dismiss an open proposal (once: a second decision is a 409)."""
    async with scoped_connection(request) as conn:
        decided = await decide(conn, proposal_id, body.decision, body.note or None, user.username)
    return FastJSONResponse(decided)
