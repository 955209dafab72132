"""``/api/v1/analytics/trends``: a unit's KPIs day by day (or week by week), for the planner's charts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from api.geojson import FastJSONResponse
from api.routes.evaluation import Analyst, analysis_period, unit_in_reach
from api.routes.hotspots import End, Start, UnitCode
from command.evaluation import FORMULAS
from command.kpi_trends import FIGURES, Step, buckets, kpi_trends, step_for
from web.deps import read_connection
from web.services import ZoneDep

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"])


class Trends(BaseModel):
    """Per Beijing day or week: intake, closures, on-time rate, overdue moves, satisfaction; with the unit's parts."""

    unit: dict[str, str]
    parts: list[dict[str, str]]
    points: list[dict[str, Any]]
    from_: str = Field(alias="from")
    to: str
    step: str
    formulas: dict[str, str]


@router.get("/trends", response_class=FastJSONResponse, response_model=Trends)
async def get_trends(
    request: Request,
    user: Analyst,
    zone: ZoneDep,
    unit: UnitCode = None,
    start: Start = None,
    end: End = None,
    step: Annotated[Step | None, Query(description="day or week (default: days up to 62 days, weeks beyond)")] = None,
) -> FastJSONResponse:
    """Intake, closures, on-time closures and rate, overdue moves and satisfaction per Beijing day or week.

    Each point is the evaluation (``/api/v1/evaluation``) of its day or week, clipped to the window
    (all points in one grouped pass of the evaluation's SQL);
    ``date`` names it in Beijing time, ``from``/``to`` carry +08:00.
    """
    since, until = analysis_period(start, end, zone)
    step = step or step_for(since, until)
    spans = buckets(since, until, step, zone)
    async with read_connection(request) as conn:
        reach = await unit_in_reach(conn, user, unit)
        answer = await kpi_trends(conn, reach.id, spans, step, zone, user.department)
    formulas = {name: FORMULAS[name][0] for name in FIGURES if name in FORMULAS}
    return FastJSONResponse(
        {**answer, "from": since.isoformat(), "to": until.isoformat(), "step": step.value, "formulas": formulas}
    )
