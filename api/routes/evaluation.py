"""Evaluation (综合评价) over HTTP: a unit's subtree over a period, by area, department or role, as JSON or CSV."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, NamedTuple

import psycopg
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from api.geojson import FastJSONResponse
from api.schemas import or_csv
from api.tabular import csv_response
from command.evaluation import COUNTS, FORMULAS, RATINGS, By, Period, evaluate
from command.users import User
from spatial.errors import ForbiddenError, InvalidInputError, NotFoundError
from web.access import Access
from web.deps import read_connection
from web.services import ZoneDep

router = APIRouter(prefix="/api/v1", tags=["evaluation"])
Analyst = Annotated[User, Depends(Access("analytics:read"))]
UNIT = "SELECT id, ancestors, ST_AsBinary(geom), tier::text FROM unit WHERE code = %s"
LONGEST = timedelta(days=3 * 366)
FIELDS = ("key", "name", *COUNTS, *RATINGS, *FORMULAS)


class Output(StrEnum):
    """The evaluation's formats."""

    json = "json"
    csv = "csv"


def analysis_period(start: datetime | None, end: datetime | None, zone: object) -> tuple[datetime, datetime]:
    """``[from, to)``: zone-aware, ordered, at most three years; by default the last 30 days."""
    for name, value in (("from", start), ("to", end)):
        if value is not None and value.tzinfo is None:
            raise InvalidInputError(f"{name} needs a time zone, e.g. 2026-11-01T00:00:00+08:00")
    end = end or datetime.now().astimezone(zone)  # type: ignore[arg-type]
    start = start or end - timedelta(days=30)
    if start >= end:
        raise InvalidInputError(f"from ({start.isoformat()}) must be before to ({end.isoformat()})")
    if end - start > LONGEST:
        raise InvalidInputError("a period is at most three years; evaluate longer spans year by year")
    return start, end


class UnitInReach(NamedTuple):
    """A unit an analysis covers: its id, boundary (WKB) and tier."""

    id: int
    boundary: bytes
    tier: str


async def unit_in_reach(conn: psycopg.AsyncConnection, user: User, code: str | None) -> UnitInReach:
    """The unit ``code`` (default: the caller's), if it is in the caller's jurisdiction."""
    found = await (await conn.execute(UNIT, (code or user.unit_code,))).fetchone()
    if found is None:
        raise NotFoundError(f"no unit {code}")
    unit_id, ancestors, boundary, tier = found
    if user.unit_id != unit_id and user.unit_id not in ancestors:
        raise ForbiddenError(f"unit {code} is outside your jurisdiction ({user.unit_code})")
    return UnitInReach(unit_id, bytes(boundary), tier)


class Evaluation(BaseModel):
    """The evaluation of a unit's period: one row per group (area, department, category …) and the total,
    each with its counts and rates, and the formulas used."""

    model_config = ConfigDict(populate_by_name=True)

    unit_id: int
    from_: str = Field(alias="from")
    to: str
    by: str
    department: str | None
    rows: list[dict[str, Any]]
    total: dict[str, Any]
    formulas: dict[str, str]


@router.get(
    "/evaluation",
    response_model=None,
    responses=or_csv(Evaluation),
)
async def evaluation(
    request: Request,
    user: Analyst,
    zone: ZoneDep,
    unit: Annotated[str | None, Query(pattern=r"^[0-9]{6,19}$", description="Default: your unit")] = None,
    start: Annotated[datetime | None, Query(alias="from", description="With zone (default: 30 days ago)")] = None,
    end: Annotated[datetime | None, Query(alias="to", description="End, exclusive, with zone (default: now)")] = None,
    by: By = By.area,
    fmt: Annotated[Output, Query(alias="format")] = Output.json,
) -> Response:
    """Filed, closed, closure and on-time rates, rework, returns, handling time, overdue, repeats, satisfaction."""
    since, until = analysis_period(start, end, zone)
    async with read_connection(request) as conn:
        reach = await unit_in_reach(conn, user, unit)
        result = await evaluate(conn, Period(reach.id, since, until, by, user.department))
    if fmt is Output.csv:
        return csv_response([*result["rows"], result["total"]], FIELDS, f"evaluation-{unit or user.unit_code}-{by}")
    return FastJSONResponse(result)
