"""Reporters rate the outcome of their case (满意 / 基本满意 / 不满意) with their report's token."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from api.body import RequestBody
from api.geojson import FastJSONResponse
from command.follow_up import Rating, rate
from web.access import PUBLIC_VIEW
from web.deps import scoped_connection
from web.services import LoopSettingsDep, RulesDep

router = APIRouter(prefix="/api/v1", tags=["follow-up"])


class RatingIn(RequestBody):
    """The token the report was answered with, the rating, and optionally why."""

    model_config = ConfigDict(str_strip_whitespace=True)
    token: uuid.UUID
    rating: Rating
    note: str = Field(default="", max_length=500)


class Rated(BaseModel):
    """A rating kept; a poor one reopened the case."""

    report_id: str
    case_id: str
    rating: str
    reopened: bool
    state: str


@router.post(
    "/ratings",
    response_class=FastJSONResponse,
    status_code=201,
    response_model=Rated,
    dependencies=[Depends(PUBLIC_VIEW)],
)
async def rate_outcome(
    request: Request, body: RatingIn, settings: LoopSettingsDep, rules: RulesDep
) -> FastJSONResponse:
    """Rate a closed case's outcome once per report; 不满意 reopens the case (when so configured)."""
    async with scoped_connection(request) as conn:
        answer = await rate(conn, str(body.token), body.rating, body.note, settings, rules)
    return FastJSONResponse(answer, status_code=201)
