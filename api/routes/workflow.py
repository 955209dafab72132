"""The closed loop over HTTP: move a case one step, and read its transitions.

Who may take which step is data (``case_action``): the route lets anyone who can read cases try,
and the move itself checks the permission the step needs, in the caller's scope.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from api.access import Access
from api.deps import scoped_connection
from api.geojson import FastJSONResponse
from command.users import User
from command.workflow import Step, history, transition

router = APIRouter(prefix="/api/v1", tags=["workflow"])
Reader = Annotated[User, Depends(Access("cases:read"))]
CaseId = Annotated[int, Path(ge=1, le=2**63 - 1, description="Numeric id")]


class TransitionIn(BaseModel):
    """One step of the loop, on the case version the caller saw."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)
    action: str = Field(pattern=r"^[a-z][a-z_]{1,39}$", description="accept, file, dispatch, acknowledge, return …")
    version: int = Field(ge=0, description="The case's version as the caller last saw it")
    note: str = Field(default="", max_length=2000)
    evidence: list[str] = Field(default_factory=list, max_length=20, description="SHA-256 of photos/videos")
    lon: float | None = Field(default=None, ge=-180, le=180)
    lat: float | None = Field(default=None, ge=-90, le=90)


@router.post("/events/{case_id}/transitions", response_class=FastJSONResponse)
async def move(request: Request, user: Reader, case_id: CaseId, body: TransitionIn) -> FastJSONResponse:
    """Move the case one step; the answer has the new state, version and the caller's next actions."""
    position = None if body.lon is None or body.lat is None else (body.lon, body.lat)
    step = Step(body.action, body.version, body.note, tuple(body.evidence), position)
    async with scoped_connection(request) as conn:
        return FastJSONResponse(await transition(conn, case_id, step, user))


@router.get("/events/{case_id}/transitions", response_class=FastJSONResponse)
async def transitions(request: Request, user: Reader, case_id: CaseId) -> FastJSONResponse:
    """The case's transitions in order (hash-chained), its state and version, and the caller's next actions."""
    async with scoped_connection(request) as conn:
        return FastJSONResponse(await history(conn, case_id, user))
