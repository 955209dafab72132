"""Sensing over HTTP: gateways' batches of readings, the sensors on the map and their charts, alarms and their moves.

A gateway (an API key with the ``sensor_gateway`` role) posts readings as SenML or the platform's
JSON; a batch is stored whole or not at all — every refused record comes back with its index and
reason (422) and the gateway sends the batch again without them. The map reads sensors by area and
condition, a sensor's readings over a period (at most ``CHART_POINTS`` averaged buckets), and the
alarms; a commander or street acknowledges and closes alarms. Everything is read in the caller's
scope: a district sees its own sensors and alarms.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, Path, Query, Request
from psycopg.rows import dict_row
from pydantic import BaseModel, ConfigDict, Field

from api.body import RequestBody
from api.geojson import FastJSONResponse
from api.schemas import FeatureCollection
from command.routing import Severity
from command.users import User
from sensing import alarms
from sensing.pipeline import Intake
from sensing.queries.sensors import CONDITIONS, ONE, READINGS, REFUSALS, SENSORS
from sensing.readings import parse
from spatial.errors import InvalidInputError, NotFoundError, UnsupportedFormatError
from web.access import Access
from web.deps import BBoxDep, RowId, comma_list, scoped_connection, shared
from web.services import ZoneDep

router = APIRouter(prefix="/api/v1", tags=["sensing"])
Reader = Annotated[User, Depends(Access("sensors:read"))]
Handler = Annotated[User, Depends(Access("alarms:handle"))]
Gateway = Annotated[User, Depends(Access("observations:write"))]
SensorCode = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", description="The device's code")]
CHART_POINTS = 288  # a day in 5-minute buckets
MAX_SENSORS = 25_000


async def _intake(request: Request) -> Intake:
    return shared(request).sensor_intake


IntakeDep = Annotated[Intake, Depends(_intake)]


class Stored(BaseModel):
    """What a batch did."""

    stored: int = Field(description="Readings stored")
    duplicates: int = Field(description="Readings already stored (same device and time): a retry")
    late: int = Field(description="Of those stored, older than the device's newest: kept, state not moved back")
    alarms_raised: list[str]
    alarms_cleared: list[str]


class SensorView(BaseModel):
    """One sensor: its registry entry, what it looks like now, its newest and previous reading."""

    model_config = ConfigDict(extra="allow")

    code: str
    kind: str
    kind_name: str
    unit: str
    name: str
    state: str
    condition: str
    lon: float
    lat: float
    unit_code: str
    value: float | None
    observed_at: str | None
    open_alarms: int


class ReadingPoint(BaseModel):
    """A bucket of readings: its start (Beijing time), average, low, high and count."""

    t: str
    v: float
    low: float
    high: float
    n: int


class Readings(BaseModel):
    """A sensor's readings over a period."""

    code: str
    unit: str
    since: str
    points: list[ReadingPoint]


class AlarmList(BaseModel):
    """Alarms, newest first (each with its rule, device or area, values, state and times)."""

    items: list[dict[str, Any]]


class AlarmMoved(BaseModel):
    """An alarm after a move: its state and new version."""

    id: str
    state: str
    version: int


class RefusalCounts(BaseModel):
    """Readings refused per day (Beijing), channel and reason."""

    items: list[dict[str, Any]]


class AlarmMove(RequestBody):
    """The alarm's version as read (a stale one is refused), and for a close, what was done."""

    version: int = Field(ge=1)
    note: str | None = Field(default=None, min_length=1, max_length=2000)


@router.post("/observations", response_class=FastJSONResponse, response_model=Stored)
async def observations(request: Request, user: Gateway, intake: IntakeDep) -> FastJSONResponse:
    """Store a gateway's batch of readings (SenML, RFC 8428, or ``[{"device", "t", "v"}]``), all or nothing.

    Each record names its device (``device``, or a SenML name ``<device>/<field>``); time is seconds since
    1970 or ISO 8601 with its offset. Refused records answer 422 with their index and reason (unknown
    device, not a number, stamped in the future or before retention, a unit not the kind's, outside the
    kind's physical range, throttled) and nothing is stored; a repeated batch stores nothing twice.
    """
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    if content_type not in {"application/json", "application/senml+json"}:
        raise UnsupportedFormatError("send the batch as application/json or application/senml+json")
    readings, refused = parse(await request.body())
    async with scoped_connection(request) as conn:
        scope = await _scope_unit(conn)
        outcome = await intake.take(conn, readings, refused, whole=True, scope=scope)
    if outcome.refused:
        return FastJSONResponse(
            {
                "detail": f"{len(outcome.refused)} of {len(readings) + len(refused)} records refused; nothing was "
                "stored: fix or drop them and send the batch again",
                "refused": [{"index": r.index, "reason": r.reason, "detail": r.detail} for r in outcome.refused[:1000]],
            },
            status_code=422,
        )
    return FastJSONResponse(
        {
            "stored": outcome.stored,
            "duplicates": outcome.duplicates,
            "late": outcome.late,
            "alarms_raised": [str(i) for i in outcome.raised],
            "alarms_cleared": [str(i) for i in outcome.cleared],
        }
    )


async def _scope_unit(conn: psycopg.AsyncConnection) -> int | None:
    row = await (await conn.execute("SELECT cityops_scope_unit()")).fetchone()
    return None if row is None else row[0]


@router.get("/sensors", response_class=FastJSONResponse, response_model=FeatureCollection)
async def sensors(
    request: Request,
    user: Reader,
    bbox: BBoxDep = None,
    kind: Annotated[str | None, Query(description="Kinds, comma-separated")] = None,
    condition: Annotated[str | None, Query(description=f"Conditions, comma-separated: {', '.join(CONDITIONS)}")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_SENSORS)] = MAX_SENSORS,
) -> FastJSONResponse:
    """Sensors as GeoJSON points with their kind, condition (normal, alarm, fault, offline, unknown), newest value."""
    conditions = comma_list(condition, "condition", CONDITIONS)
    async with scoped_connection(request) as conn:
        kinds = comma_list(kind, "kind", tuple(await alarms.kind_names(conn)))
        params = {"bbox": list(bbox) if bbox else None, "kinds": list(kinds) or None, "limit": limit}
        row = await (await conn.execute(SENSORS, {**params, "conditions": list(conditions) or None})).fetchone()
    return FastJSONResponse(row[0] if row else {"type": "FeatureCollection", "features": []})


@router.get("/sensors/{code}", response_class=FastJSONResponse, response_model=SensorView)
async def sensor(request: Request, user: Reader, code: SensorCode) -> FastJSONResponse:
    """One sensor: registry entry, condition, newest and previous reading, open alarms."""
    async with scoped_connection(request) as conn, conn.cursor(row_factory=dict_row) as cur:
        found = await (await cur.execute(ONE, (code,))).fetchone()
    if found is None:
        raise NotFoundError(f"no sensor {code} in your jurisdiction")
    return FastJSONResponse(_jsonable(found))


@router.get("/sensors/{code}/readings", response_class=FastJSONResponse, response_model=Readings)
async def sensor_readings(
    request: Request,
    user: Reader,
    zone: ZoneDep,
    code: SensorCode,
    hours: Annotated[float, Query(gt=0, le=24 * 30, description="How far back")] = 24,
) -> FastJSONResponse:
    """A sensor's readings over the last ``hours``: raw when few, else averaged into at most 288 buckets (with
    each bucket's low and high), times in Beijing time."""
    since = datetime.now(UTC) - timedelta(hours=hours)
    bucket = timedelta(hours=hours) / CHART_POINTS
    async with scoped_connection(request) as conn, conn.cursor(row_factory=dict_row) as cur:
        found = await (await cur.execute(ONE, (code,))).fetchone()
        if found is None:
            raise NotFoundError(f"no sensor {code} in your jurisdiction")
        rows = await (await cur.execute(READINGS, {"id": found["id"], "since": since, "bucket": bucket})).fetchall()
    points = [
        {
            "t": row["t"].astimezone(zone).isoformat(),
            "v": row["v"],
            "low": row["low"],
            "high": row["high"],
            "n": row["n"],
        }
        for row in rows
    ]
    return FastJSONResponse(
        {"code": code, "unit": found["unit"], "since": since.astimezone(zone).isoformat(), "points": points}
    )


@router.get("/alarms", response_class=FastJSONResponse, response_model=AlarmList)
async def alarm_list(
    request: Request,
    user: Reader,
    open_only: Annotated[bool, Query(alias="open", description="Only alarms not closed")] = True,
    state: Annotated[alarms.AlarmState | None, Query(description="Only alarms in this state")] = None,
    kind: Annotated[str | None, Query(description="Only these kinds of device, comma-separated")] = None,
    severity: Annotated[Severity | None, Query(description="Only rules of this severity (I most severe)")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> FastJSONResponse:
    """Alarms newest first: raised, acknowledged, cleared (and closed ones with ``open=false``), of a state, kinds
    of device or severity when asked."""
    async with scoped_connection(request) as conn:
        kinds = comma_list(kind, "kind", tuple(await alarms.kind_names(conn)))
        found = await alarms.listed(conn, open_only=open_only, limit=limit, state=state, kinds=kinds, severity=severity)
    return FastJSONResponse({"items": found})


@router.post("/alarms/{alarm_id}/acknowledge", response_class=FastJSONResponse, response_model=AlarmMoved)
async def alarm_acknowledge(request: Request, user: Handler, alarm_id: RowId, body: AlarmMove) -> FastJSONResponse:
    """Acknowledge a raised alarm (someone is on it); the readings still clear it."""
    async with scoped_connection(request) as conn:
        return FastJSONResponse(await alarms.acknowledge(conn, alarm_id, body.version, user.username))


@router.post("/alarms/{alarm_id}/close", response_class=FastJSONResponse, response_model=AlarmMoved)
async def alarm_close(request: Request, user: Handler, alarm_id: RowId, body: AlarmMove) -> FastJSONResponse:
    """Close an alarm, saying what was done (``note``)."""
    if body.note is None:
        raise InvalidInputError("say what was done: note is required to close an alarm")
    async with scoped_connection(request) as conn:
        return FastJSONResponse(await alarms.close(conn, alarm_id, body.version, user.username, body.note))


@router.get("/sensing/refusals", response_class=FastJSONResponse, response_model=RefusalCounts)
async def refusals(request: Request, user: Reader, days: Annotated[int, Query(ge=1, le=90)] = 7) -> FastJSONResponse:
    """Readings refused per day (Beijing), channel and reason: where devices and gateways need fixing."""
    async with scoped_connection(request) as conn, conn.cursor(row_factory=dict_row) as cur:
        rows = await (await cur.execute(REFUSALS, (days,))).fetchall()
    return FastJSONResponse({"items": [{**row, "day": row["day"].isoformat()} for row in rows]})


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {key: value.isoformat() if isinstance(value, datetime) else value for key, value in row.items()}
