"""Report intake: a validated submission becomes a located, routed case in one transaction.

Idempotency: a client retrying the same submission with the same ``Idempotency-Key`` gets the
original answer and nothing new is stored; the same key with a different body is a conflict.
Identical keys are serialised by a transaction-scoped advisory lock, and the database's unique
constraint on the key is the last word, so parallel retries cannot create two reports.

Duplicates: a report joins the open case of the same category nearest to it within the
category's radius and time window instead of opening a second case (article 12: fewer duplicate
dispatches). Candidates come from the H3 cells around the point (a ring wide enough to cover the
radius), then the exact geodesic distance decides. Reports of one category in one area are
serialised by an advisory lock, so two simultaneous reports of one incident make one case.
The change feed learns of every new or joined case through NOTIFY, delivered at commit.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

import orjson
import psycopg

from command.routing import Severity, route
from command.taxonomy import fetch_category
from command.working_time import WorkingCalendar
from grid.cells import cells_to_parents, cells_within
from grid.locate import Locator
from spatial.errors import ConflictError

CHANNEL = "cityops_events"
LOCK_RESOLUTION = 7  # ~5 km² areas: merges are serialised per category and area, not city-wide


@dataclass(frozen=True)
class Submission:
    """A report as the intake accepts it: WGS84 already, category and severity checked for form."""

    lon: float
    lat: float
    given: dict[str, object]  # the position as the client sent it (crs, coordinates)
    category: str
    severity: Severity
    source: str
    description: str
    address: str | None
    reporter: dict[str, str] | None

    def fingerprint(self) -> str:
        """What 'the same submission' means for idempotency: every field the client sent."""
        body = {**self.__dict__, "severity": self.severity.value}
        return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


INSERT_EVENT = """
INSERT INTO event (category_code, severity, geom, cell, grid_id, responsible_unit_id, departments,
                   filed_at, deadline, routing_trace, description, address)
VALUES (%s, %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326), %s,
        (SELECT id FROM unit WHERE code = %s), (SELECT id FROM unit WHERE code = %s),
        %s, %s, %s, %s, %s, %s)
RETURNING id
"""
INSERT_REPORT = """
INSERT INTO report (event_id, source, reporter, description, address, geom, given, idempotency_key, request_hash)
VALUES (%s, %s, %s, %s, %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326), %s, %s, %s)
RETURNING id
"""
NEAREST_OPEN_CASE = """
SELECT e.id FROM event e
WHERE e.cell = ANY(%s) AND e.category_code = %s AND e.state NOT IN ('closed', 'void')
  AND e.created_at > now() - %s * interval '1 hour'
  AND ST_DWithin(e.geom::geography, ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography, %s)
ORDER BY ST_Distance(e.geom::geography, ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography), e.id
LIMIT 1
"""
JOIN_CASE = "UPDATE event SET report_count = report_count + 1, updated_at = now() WHERE id = %s"
ANSWER_SQL = """
SELECT e.id, r.id, r.request_hash, u.code, u.name, u.tier::text, e.departments, e.deadline, e.state,
       e.report_count, (SELECT min(first.id) FROM report first WHERE first.event_id = e.id) <> r.id
FROM report r JOIN event e ON e.id = r.event_id JOIN unit u ON u.id = e.responsible_unit_id
WHERE {where}
"""


def _answer(row: tuple[object, ...], *, replayed: bool, zone: tzinfo) -> dict[str, object]:
    case_id, report_id, _, code, name, tier, departments, deadline, state, reports, joined = row
    return {
        "case_id": str(case_id), "report_id": str(report_id), "state": state, "replayed": replayed,
        "merged": joined, "report_count": reports,
        "responsible": {"code": code, "name": name, "tier": tier, "departments": departments},
        "deadline": deadline.astimezone(zone).isoformat(),  # type: ignore[attr-defined]  # the calendar's zone
    }  # fmt: skip


async def submit(
    conn: psycopg.AsyncConnection,
    submission: Submission,
    idempotency_key: str | None,
    locator: Locator,
    calendar: WorkingCalendar,
) -> dict[str, object]:
    """Store the report — joining an open duplicate case or opening a routed one — and say which."""
    fingerprint = submission.fingerprint()
    async with conn.transaction():
        if idempotency_key is not None:
            await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (idempotency_key,))
            previous = await (
                await conn.execute(ANSWER_SQL.format(where="r.idempotency_key = %s"), (idempotency_key,))
            ).fetchone()
            if previous is not None:
                if previous[2] != fingerprint:
                    raise ConflictError(
                        f"Idempotency-Key {idempotency_key!r} was already used for a different report "
                        f"(case {previous[0]}); use a new key for a new report"
                    )
                return _answer(previous, replayed=True, zone=calendar.zone)
        category = await fetch_category(conn, submission.category)
        location = await locator.locate_async(conn, submission.lon, submission.lat)
        cell = int(location.cell, 16)
        candidates = cells_within(cell, category.duplicate_radius_m)
        # Two reports within the radius each have the other's cell among their candidates, so
        # locking the coarse parents of all candidates (in one fixed order) always makes them meet.
        areas = sorted({f"{category.code}:{parent}" for parent in cells_to_parents(candidates, LOCK_RESOLUTION)})
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(area, 0)) FROM unnest(%s::text[]) AS area ORDER BY area",
            (areas,),
        )
        joined = await (await conn.execute(NEAREST_OPEN_CASE, (
            candidates, category.code, category.duplicate_window_hours, submission.lon, submission.lat,
            category.duplicate_radius_m, submission.lon, submission.lat,
        ))).fetchone()  # fmt: skip
        if joined is not None:
            event_id = joined[0]
            await conn.execute(JOIN_CASE, (event_id,))
            change = "case.report_joined"
        else:
            decided = route(location, category, submission.severity, datetime.now(UTC), calendar)
            grid = next(u for u in reversed(location.chain) if u.tier != "building")
            event_id = (await (await conn.execute(INSERT_EVENT, (
                category.code, submission.severity.value, submission.lon, submission.lat, cell, grid.code,
                decided.unit.code, list(decided.departments), decided.filed_at, decided.deadline,
                orjson.dumps(decided.trace).decode(), submission.description, submission.address,
            ))).fetchone())[0]  # type: ignore[index]  # fmt: skip
            change = "case.created"
        report_id = (await (await conn.execute(INSERT_REPORT, (
            event_id, submission.source,
            orjson.dumps(submission.reporter).decode() if submission.reporter else None,
            submission.description, submission.address, submission.lon, submission.lat,
            orjson.dumps(submission.given).decode(), idempotency_key, fingerprint,
        ))).fetchone())[0]  # type: ignore[index]  # fmt: skip
        await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, orjson.dumps({
            "type": change, "case_id": str(event_id), "report_id": str(report_id), "category": category.code,
            "severity": submission.severity.value, "lon": submission.lon, "lat": submission.lat,
        }).decode()))  # fmt: skip
        row = await (await conn.execute(ANSWER_SQL.format(where="r.id = %s"), (report_id,))).fetchone()
    return _answer(row, replayed=False, zone=calendar.zone)  # type: ignore[arg-type]
