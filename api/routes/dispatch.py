"""Dispatch over HTTP: recommend forces for a case, assign them, accept and release, and borrow
another unit's force by request → commit → release; the force's own people list and answer its
assignments (``/me/assignments``).

The case must be visible to the caller (else "not found"); candidates may include other units'
forces (coordinated allocation), marked as needing a request to their owner. A force's user sees
the summary of its assignments' cases wherever they lie (a borrowed force), and nothing else.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from api.body import RequestBody
from api.geojson import FastJSONResponse
from command.users import User
from forces.answers import ANSWERS, MAX_REASON, answer, my_assignments
from forces.borrowing import cancel_request, commit_request, decline_request, list_requests, request_force
from forces.dispatch import MAX_FORCES, RELEASE_REASONS, Clock, assign, case_assignments, release
from forces.recommend import MAX_K, Need, candidates, check_capabilities
from spatial.errors import ForbiddenError
from web.access import Access
from web.deps import RowId, comma_list, scoped_connection
from web.services import ForceSettingsDep, RedispatchDep, ZoneDep

router = APIRouter(prefix="/api/v1", tags=["dispatch"])
Reader = Annotated[User, Depends(Access("forces:read"))]
Dispatcher = Annotated[User, Depends(Access("forces:dispatch"))]
Borrower = Annotated[User, Depends(Access("forces:borrow"))]
Answerer = Annotated[User, Depends(Access("assignments:answer"))]
Capability = Annotated[str | None, Query(description="Comma-separated capabilities, all needed", max_length=400)]


class AssignIn(RequestBody):
    """Forces to send to the case, all or none."""

    force_ids: list[int] = Field(min_length=1, max_length=MAX_FORCES)
    capabilities: list[str] = Field(default_factory=list, max_length=20, description="What they are sent to do")


class ReleaseIn(RequestBody):
    """Why an assignment ends."""

    reason: Literal["completed", "cancelled", "reassigned", "unable"] = Field(description=", ".join(RELEASE_REASONS))


class AnswerIn(RequestBody):
    """The force's answer to its assignment."""

    model_config = ConfigDict(str_strip_whitespace=True)
    answer: Literal["accept", "arrive", "complete", "unable"] = Field(description=", ".join(ANSWERS))
    reason: str = Field(default="", max_length=MAX_REASON, description="Why the force is unable (required then)")


class RequestIn(RequestBody):
    """A request for another unit's force, for one of the caller's cases."""

    model_config = ConfigDict(str_strip_whitespace=True)
    case_id: int = Field(ge=1, le=2**63 - 1)
    force_id: int = Field(ge=1, le=2**63 - 1)
    note: str = Field(default="", max_length=500)


class Shortfall(BaseModel):
    """Fewer forces than asked for could be found, and why."""

    missing: int
    reason: str


class Candidates(BaseModel):
    """The nearest available forces for a case, and those passed over with the reason."""

    case_id: int
    k: int
    capabilities: list[str]
    candidates: list[dict[str, Any]] = Field(description="Force cards, nearest first, each with its reasons")
    passed_over: list[dict[str, Any]] = Field(description="Force cards not offered, each with its reason")
    shortfall: Shortfall | None = None
    warning: str | None = None


class Booked(BaseModel):
    """An assignment made: the force must accept by ``accept_by``."""

    id: int
    force_id: int
    assigned_at: str
    accept_by: str


class Assigned(BaseModel):
    """The forces sent to a case."""

    case_id: int
    assignments: list[Booked]


class AssignmentStage(BaseModel):
    """An assignment's stage (offered, en_route, on_scene, released) and its times."""

    model_config = ConfigDict(extra="allow")  # each view adds what its reader needs (the force, the case, answers)

    id: int
    case_id: int
    stage: str
    assigned_at: str | None
    accept_by: str | None
    accepted_at: str | None
    arrived_at: str | None
    released_at: str | None


class AssignmentView(AssignmentStage):
    """An assignment with its force; a force's own answer adds the answers it may give next."""

    force_id: int | None
    force_code: str | None
    force_name: str | None


class MyAssignment(AssignmentStage):
    """An assignment as its force sees it: the case's summary (reporter masked) and the answers it may give."""

    category: str | None
    state: str | None
    lon: float | None
    lat: float | None
    answers: list[str]


class CaseAssignments(BaseModel):
    """Every assignment of a case with the steps of its story."""

    case_id: int
    items: list[AssignmentView]


class MyAssignments(BaseModel):
    """The caller's force and its active (then lately released) assignments; ``detail`` when none is linked."""

    force: dict[str, Any] | None
    items: list[MyAssignment]
    detail: str | None = None


class ForceRequestView(BaseModel):
    """A request to borrow a force of another unit, and what became of it."""

    id: int
    case_id: int
    force_id: int
    force_code: str | None
    force_name: str | None
    owner_code: str | None
    owner_name: str | None
    requested_by: str
    requested_at: str
    note: str | None
    state: str
    decided_by: str | None
    decided_at: str | None
    assignment_id: int | None
    released_at: str | None


class ForceRequests(BaseModel):
    """Force requests, newest first."""

    items: list[ForceRequestView]


async def clock(settings: ForceSettingsDep, zone: ZoneDep) -> Clock:
    """Freshness, shifts and accept deadlines as configured, in the city's zone."""
    return Clock(zone, settings.stale_after, settings.accept_within)


ClockDep = Annotated[Clock, Depends(clock)]


@router.get("/cases/{case_id}/candidates", response_class=FastJSONResponse, response_model=Candidates)
async def recommend(
    request: Request,
    user: Reader,
    case_id: RowId,
    settings: ForceSettingsDep,
    zone: ZoneDep,
    k: Annotated[int, Query(ge=1, le=MAX_K)] = 5,
    capability: Capability = None,
) -> FastJSONResponse:
    """The k nearest available, fresh, on-shift forces with the capabilities: own unit first, then neighbours."""
    capabilities = tuple(sorted(set(comma_list(capability, "capability"))))
    need = Need(k, capabilities, settings.stale_after, zone)
    async with scoped_connection(request) as conn:
        return FastJSONResponse(await candidates(conn, case_id, need, user.unit_id))


@router.post("/cases/{case_id}/assignments", response_class=FastJSONResponse, status_code=201, response_model=Assigned)
async def assign_forces(
    request: Request, user: Dispatcher, case_id: RowId, body: AssignIn, clock: ClockDep
) -> FastJSONResponse:
    """Send forces to the case atomically; 409 names the case holding a force that is taken."""
    async with scoped_connection(request) as conn:
        await check_capabilities(conn, tuple(body.capabilities))
        booked = await assign(conn, case_id, body.force_ids, sorted(set(body.capabilities)), user.username, clock)
    return FastJSONResponse(booked, status_code=201)


@router.get("/cases/{case_id}/assignments", response_class=FastJSONResponse, response_model=CaseAssignments)
async def assignments_of_case(request: Request, user: Reader, case_id: RowId) -> FastJSONResponse:
    """Every assignment of the case, newest first (active and released)."""
    async with scoped_connection(request) as conn:
        return FastJSONResponse({"case_id": case_id, "items": await case_assignments(conn, case_id)})


@router.post("/assignments/{assignment_id}/accept", response_class=FastJSONResponse, response_model=AssignmentView)
async def accept_assignment(
    request: Request, user: Dispatcher, assignment_id: RowId, redispatch: RedispatchDep
) -> FastJSONResponse:
    """The force took the job (told by radio, before its accept deadline): it is en route."""
    async with scoped_connection(request) as conn:
        return FastJSONResponse(await answer(conn, assignment_id, "accept", "", user.username, redispatch, None))


@router.get("/me/assignments", response_class=FastJSONResponse, response_model=MyAssignments)
async def mine(request: Request, user: Answerer) -> FastJSONResponse:
    """The assignments of the force the caller answers for: active first, then recent, with their cases."""
    if user.force_id is None:
        unlinked = f"{user.username} answers for no force: an administrator links them (cityops user add … --force)"
        return FastJSONResponse({"force": None, "items": [], "detail": unlinked})
    async with scoped_connection(request) as conn:
        return FastJSONResponse(await my_assignments(conn, user.force_id))


@router.post("/me/assignments/{assignment_id}/answer", response_class=FastJSONResponse, response_model=AssignmentView)
async def answer_assignment(
    request: Request, user: Answerer, assignment_id: RowId, body: AnswerIn, redispatch: RedispatchDep
) -> FastJSONResponse:
    """Accept (en route), arrive (on scene), complete, or unable with a reason — for the caller's own force."""
    if user.force_id is None:
        raise ForbiddenError(f"{user.username} answers for no force, so for no assignment")
    async with scoped_connection(request) as conn:
        return FastJSONResponse(
            await answer(conn, assignment_id, body.answer, body.reason, user.username, redispatch, user.force_id)
        )


@router.post("/assignments/{assignment_id}/release", response_class=FastJSONResponse, response_model=AssignmentView)
async def release_assignment(
    request: Request, user: Dispatcher, assignment_id: RowId, body: ReleaseIn
) -> FastJSONResponse:
    """End an assignment; the force is available again (a borrowed one returns to its unit)."""
    async with scoped_connection(request) as conn:
        return FastJSONResponse(await release(conn, assignment_id, body.reason, user.username))


@router.post("/force-requests", response_class=FastJSONResponse, status_code=201, response_model=ForceRequestView)
async def file_request(request: Request, user: Borrower, body: RequestIn) -> FastJSONResponse:
    """Ask another unit for one of its forces, for one of your cases."""
    async with scoped_connection(request) as conn:
        filed = await request_force(conn, body.case_id, body.force_id, body.note, user.username, user.unit_id)
    return FastJSONResponse(filed, status_code=201)


@router.get("/force-requests", response_class=FastJSONResponse, response_model=ForceRequests)
async def requests(
    request: Request,
    user: Reader,
    state: Annotated[Literal["requested", "committed", "declined", "released", "cancelled"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> FastJSONResponse:
    """Requests your unit filed or received, newest first."""
    async with scoped_connection(request) as conn:
        return FastJSONResponse({"items": await list_requests(conn, state, limit)})


@router.post("/force-requests/{request_id}/commit", response_class=FastJSONResponse, response_model=ForceRequestView)
async def commit(request: Request, user: Dispatcher, request_id: RowId, clock: ClockDep) -> FastJSONResponse:
    """The owning unit sends the force (booked like its own assignment)."""
    async with scoped_connection(request) as conn:
        return FastJSONResponse(await commit_request(conn, request_id, user.username, clock))


@router.post("/force-requests/{request_id}/decline", response_class=FastJSONResponse, response_model=ForceRequestView)
async def decline(request: Request, user: Dispatcher, request_id: RowId) -> FastJSONResponse:
    """The owning unit keeps its force."""
    async with scoped_connection(request) as conn:
        return FastJSONResponse(await decline_request(conn, request_id, user.username))


@router.post("/force-requests/{request_id}/cancel", response_class=FastJSONResponse, response_model=ForceRequestView)
async def cancel(request: Request, user: Borrower, request_id: RowId) -> FastJSONResponse:
    """The requesting unit withdraws its request before the owner decided."""
    async with scoped_connection(request) as conn:
        return FastJSONResponse(await cancel_request(conn, request_id, user.username))
