"""Alarms after the readings: area rules, cases filed for alarms, and the people's moves (acknowledge, close).

A raised alarm whose kind names a case category files one report with source ``sensor`` through the
ordinary intake (``command.intake.submit``), so it is located, routed to its unit and departments and
joins an open case of the same category nearby instead of opening a second one: many alarms of one
flooded street make one case. The report's idempotency key is the alarm's, so an alarm files at most
once whoever retries. The chart of the readings around the alarm then follows as the case's evidence.
A device falling silent is the owner's maintenance, not the city's case: its alarm stays an alarm.

An area rule (k of the kind's devices in an H3 neighbourhood in alarm) is judged here, for the
neighbourhoods of the devices that newly breached or cleared in a batch: one area alarm per rule and
res-7 cell (~5 km²), raised at the centre of the devices in alarm. A severe one (level II or I)
proposes an incident to the commanders of its tier.

Flapping: a cleared alarm raised again is the same alarm (``flaps`` counts); from ``FLAPPING`` flaps on it
files nothing more and is shown as flapping, so a device dithering at its level does not flood the queues.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import h3
import psycopg
import structlog
from psycopg.rows import dict_row

from command.case_media import store_case_media
from command.intake import Submission, submit
from command.media import MediaStore
from command.routing import Severity
from command.working_time import WorkingCalendar
from grid.locate import Locator
from sensing.queries.alarms import (
    ACKNOWLEDGE,
    AREA_CLEAR,
    AREA_COUNTS,
    AREA_RAISE,
    AREA_RULES,
    CHARTED,
    CITY_SCOPE,
    CLOSE,
    FILED,
    LIST,
    LOCKED,
    OPEN_COUNTS,
    POINTS,
    UNCHARTED,
    WAITING,
)
from sensing.queries.sensors import KINDS
from spatial.audit import record_async
from spatial.errors import ConflictError, NotFoundError, StaleVersionError

SYSTEM = "system:sensing"
FLAPPING = 3  # flaps from which an alarm files and announces nothing more
AREA_RESOLUTION = 7  # an area alarm's key: one per rule and ~5 km² cell
SEVERE = {Severity.I.value, Severity.II.value}
CHART_BEFORE = timedelta(hours=2)
log = structlog.get_logger("cityops.sensing")


@dataclass(frozen=True)
class Filing:
    """What filing needs that a batch does not: where the city's cases go and how they are evidenced."""

    locator: Locator
    calendar: WorkingCalendar
    media: MediaStore


async def judge_areas(conn: psycopg.AsyncConnection, devices: list[int]) -> tuple[list[int], list[int]]:
    """The area rules around ``devices`` (those that breached or cleared): (area alarms raised, cleared)."""
    if not devices:
        return [], []
    raised: list[int] = []
    cleared: list[int] = []
    async with conn.transaction():
        await conn.execute(CITY_SCOPE)  # the system judges the whole neighbourhood, whoever's reading turned
        rules = await (await conn.execute(AREA_RULES, (devices,))).fetchall()
        for rule_id, kind, k, ring, cells in rules:
            neighbourhood = sorted({n for cell in cells for n in h3.grid_disk(h3.int_to_str(cell), ring)})
            keys = {h3.str_to_int(h3.cell_to_parent(h3.int_to_str(cell), AREA_RESOLUTION)) for cell in cells}
            alarmed, lon, lat, units = await _count(conn, kind, [h3.str_to_int(c) for c in neighbourhood])
            for key in sorted(keys):
                if alarmed >= k:
                    values = {"rule": rule_id, "cell": key, "lon": lon, "lat": lat, "units": units, "alarmed": alarmed}
                    row = await (await conn.execute(AREA_RAISE, values)).fetchone()
                    raised += [row[0]] if row else []
                else:
                    cleared += [row[0] for row in await (await conn.execute(AREA_CLEAR, (rule_id, key))).fetchall()]
    return raised, cleared


async def _count(
    conn: psycopg.AsyncConnection, kind: str, cells: list[int]
) -> tuple[int, float | None, float | None, list[int]]:
    row = await (await conn.execute(AREA_COUNTS, (kind, cells))).fetchone()
    assert row is not None
    return int(row[0]), row[1], row[2], list(row[3] or [])


async def file_cases(conn: psycopg.AsyncConnection, filing: Filing, limit: int = 100) -> list[int]:
    """File the raised alarms still without a case (oldest first); returns the cases filed or joined. Their charts
    are drawn apart (``chart_cases``): a chart takes a tenth of a second, and no case waits for a picture."""
    cases: list[int] = []
    for _ in range(limit):
        async with conn.transaction():
            await conn.execute(CITY_SCOPE)
            async with conn.cursor(row_factory=dict_row) as cur:
                alarm = await (await cur.execute(WAITING)).fetchone()
            if alarm is None:
                break
            answer = await submit(
                conn, _submission(alarm), f"alarm-{alarm['id']}", filing.locator, filing.calendar, actor=SYSTEM
            )
            case_id = int(str(answer["case_id"]))
            await conn.execute(FILED, (case_id, alarm["id"]))
        cases.append(case_id)
    return cases


async def chart_cases(conn: psycopg.AsyncConnection, filing: Filing, limit: int = 20) -> int:
    """Attach the chart of its readings to each filed device alarm's case (oldest first); returns how many."""
    async with conn.transaction():
        await conn.execute(CITY_SCOPE)
        async with conn.cursor(row_factory=dict_row) as cur:
            alarms = await (await cur.execute(UNCHARTED, (limit,))).fetchall()
        await conn.execute(CHARTED, ([alarm["id"] for alarm in alarms],))
    for alarm in alarms:
        await _evidence(conn, filing, alarm, alarm["case_id"])
    return len(alarms)


def _submission(alarm: dict[str, Any]) -> Submission:
    """The report an alarm files: at the device (or the area's centre), in the kind's category, with the values."""
    unit = alarm["unit"]
    if alarm["sensor_id"] is None:
        text = f"{alarm['rule_name']}：片区内 {alarm['value']:g} 台{alarm['kind_name']}设备同时报警，物联感知自动上报"
    else:
        text = (
            f"{alarm['rule_name']}：{alarm['kind_name']} {alarm['value']:g}{unit}"
            f"（报警值 {alarm['raise_at']:g}{unit}），设备 {alarm['sensor_code']} {alarm['sensor_name']}"
            + (f"，监测对象：{alarm['asset']}" if alarm["asset"] else "")
            + "，物联感知自动上报"
        )
    return Submission(
        lon=alarm["lon"],
        lat=alarm["lat"],
        given={"crs": "EPSG:4326", "coordinates": [alarm["lon"], alarm["lat"]]},
        category=alarm["category_code"],
        severity=Severity(alarm["severity"]),
        source="sensor",
        description=text[:2000],
        address=alarm["asset"],
        reporter=None,
    )


async def _evidence(conn: psycopg.AsyncConnection, filing: Filing, alarm: dict[str, Any], case_id: int) -> None:
    """The chart of the device's readings around the alarm, as the case's evidence (a device alarm only).

    A chart that cannot be drawn is logged and the case stands without it (it is not tried again).
    """
    from sensing.evidence import chart_png  # here: matplotlib (~27 MB) loads in the worker, not in every API process

    try:
        since = alarm["raised_at"] - CHART_BEFORE
        rows = await (await conn.execute(POINTS, (alarm["sensor_id"], since))).fetchall()
        points = [(at, value) for at, value in rows]
        if not points:
            return
        title = f"{alarm['sensor_code']} {alarm['kind_name']}（{alarm['rule_name']}）"
        png = await asyncio.to_thread(
            chart_png,
            title,
            alarm["unit"],
            points,
            filing.calendar.zone,
            raise_at=alarm["raise_at"],
            clear_at=alarm["clear_at"],
        )
        async with conn.transaction():
            await conn.execute(CITY_SCOPE)
            await store_case_media(conn, case_id, [(io.BytesIO(png), f"alarm-{alarm['id']}.png")], SYSTEM, filing.media)
    except Exception as error:
        log.warning("alarm chart not attached", alarm=alarm["id"], case=case_id, error=str(error))


async def acknowledge(conn: psycopg.AsyncConnection, alarm_id: int, version: int, actor: str) -> dict[str, Any]:
    """A person has seen the alarm (raised → acknowledged); the readings still clear it."""
    return await _move(conn, ACKNOWLEDGE, alarm_id, version, actor, "acknowledged", {"raised"}, note=None)


async def close(conn: psycopg.AsyncConnection, alarm_id: int, version: int, actor: str, note: str) -> dict[str, Any]:
    """A person closes the alarm: a cleared one as done, an open one as dealt with (the note says how)."""
    allowed = {"raised", "acknowledged", "cleared"}
    return await _move(conn, CLOSE, alarm_id, version, actor, "closed", allowed, note=note)


async def _move(
    conn: psycopg.AsyncConnection,
    statement: str,
    alarm_id: int,
    version: int,
    actor: str,
    to: str,
    allowed: set[str],
    note: str | None,
) -> dict[str, Any]:
    async with conn.transaction():
        async with conn.cursor(row_factory=dict_row) as cur:
            alarm = await (await cur.execute(LOCKED, (alarm_id,))).fetchone()
        if alarm is None:
            raise NotFoundError(f"no alarm {alarm_id} in your jurisdiction")
        if alarm["version"] != version:
            raise StaleVersionError(f"alarm {alarm_id} is at version {alarm['version']}, not {version}: reload it")
        if alarm["state"] not in allowed:
            raise ConflictError(f"alarm {alarm_id} is {alarm['state']}; it cannot be {to}")
        await conn.execute(statement, {"id": alarm_id, "actor": actor, "note": note})
        await record_async(conn, actor, f"alarm.{to}", f"alarm:{alarm_id}", note=note)
    return {"id": str(alarm_id), "state": to, "version": version + 1}


class AlarmState(StrEnum):
    """Raised and cleared by the readings; acknowledged and closed by people."""

    RAISED = "raised"
    ACKNOWLEDGED = "acknowledged"
    CLEARED = "cleared"
    CLOSED = "closed"


async def listed(
    conn: psycopg.AsyncConnection,
    *,
    open_only: bool,
    limit: int,
    state: AlarmState | None = None,
    kinds: tuple[str, ...] = (),
    severity: Severity | None = None,
) -> list[dict[str, Any]]:
    """The alarms the connection's scope sees, newest first: open ones (raised, acknowledged, cleared) or all,
    of one state, kinds of device (checked by the caller against ``kind_names``) or severity when asked."""
    asked = {"state": state and state.value, "kinds": list(kinds) or None, "severity": severity and severity.value}
    async with conn.cursor(row_factory=dict_row) as cur:
        rows = await (await cur.execute(LIST, {"open_only": open_only, "limit": limit, **asked})).fetchall()
    return [_public(row) for row in rows]


async def open_counts(conn: psycopg.AsyncConnection) -> dict[str, int]:
    """How many alarms the connection's scope sees in each open state."""
    found: dict[str, int] = dict(await (await conn.execute(OPEN_COUNTS)).fetchall())
    return {state.value: int(found.get(state.value, 0)) for state in AlarmState if state is not AlarmState.CLOSED}


async def kind_names(conn: psycopg.AsyncConnection) -> dict[str, tuple[str, str]]:
    """The kinds of device: code → (name, English name)."""
    return {code: (name, name_en) for code, name, name_en in await (await conn.execute(KINDS)).fetchall()}


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {
        **row,
        "id": str(row["id"]),
        "sensor_id": None if row["sensor_id"] is None else str(row["sensor_id"]),
        "case_id": None if row["case_id"] is None else str(row["case_id"]),
        "flapping": row["flaps"] >= FLAPPING,
        "severe": row["severity"] in SEVERE,
        **{key: _iso(row[key]) for key in ("raised_at", "acknowledged_at", "cleared_at", "closed_at")},
    }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
