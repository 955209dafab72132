"""Report intake: a validated submission becomes a located, routed case in one transaction.

Idempotency: a client retrying the same submission with the same ``Idempotency-Key`` gets the
original answer and nothing new is stored; the same key with a different body is a conflict.
Identical keys are serialised by a transaction-scoped advisory lock, and the database's unique
constraint on the key is the last word, so parallel retries cannot create two reports.
The change feed learns of every new case through NOTIFY, delivered when the transaction commits.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
import psycopg

from command.routing import Severity, route
from command.taxonomy import CATEGORY_SQL, category_from_row, unknown_category
from command.working_time import WorkingCalendar
from grid.locate import Locator
from spatial.errors import ConflictError

CHANNEL = "cityops_events"
SOURCES = ("grid_worker", "hotline", "citizen_app", "sensor", "department")


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
ANSWER_SQL = """
SELECT e.id, r.id, r.request_hash, u.code, u.name, u.tier::text, e.departments, e.deadline, e.state
FROM report r JOIN event e ON e.id = r.event_id JOIN unit u ON u.id = e.responsible_unit_id
WHERE {where}
"""


def _answer(row: tuple[object, ...], *, replayed: bool) -> dict[str, object]:
    case_id, report_id, _, code, name, tier, departments, deadline, state = row
    return {
        "case_id": str(case_id), "report_id": str(report_id), "state": state, "replayed": replayed,
        "responsible": {"code": code, "name": name, "tier": tier, "departments": departments},
        "deadline": deadline.isoformat(),  # type: ignore[attr-defined]
    }  # fmt: skip


async def submit(
    conn: psycopg.AsyncConnection,
    submission: Submission,
    idempotency_key: str | None,
    locator: Locator,
    calendar: WorkingCalendar,
) -> dict[str, object]:
    """Store the report as a new case (routed) and return what the client needs to know."""
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
                return _answer(previous, replayed=True)
        category_row = await (await conn.execute(CATEGORY_SQL, (submission.category,))).fetchone()
        if category_row is None:
            codes = await (await conn.execute("SELECT code FROM category ORDER BY code")).fetchall()
            raise unknown_category(submission.category, [c[0] for c in codes])
        location = await locator.locate_async(conn, submission.lon, submission.lat)
        category = category_from_row(category_row)
        decided = route(location, category, submission.severity, datetime.now(UTC), calendar)
        grid = next(u for u in reversed(location.chain) if u.tier != "building")
        cell = int(location.cell, 16)
        event_id = (await (await conn.execute(INSERT_EVENT, (
            category.code, submission.severity.value, submission.lon, submission.lat, cell, grid.code,
            decided.unit.code, list(decided.departments), decided.filed_at, decided.deadline,
            orjson.dumps(decided.trace).decode(), submission.description, submission.address,
        ))).fetchone())[0]  # type: ignore[index]  # fmt: skip
        await conn.execute(INSERT_REPORT, (
            event_id, submission.source,
            orjson.dumps(submission.reporter).decode() if submission.reporter else None,
            submission.description, submission.address, submission.lon, submission.lat,
            orjson.dumps(submission.given).decode(), idempotency_key, fingerprint,
        ))  # fmt: skip
        await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, orjson.dumps({
            "type": "case.created", "case_id": str(event_id), "category": category.code,
            "severity": submission.severity.value, "responsible": decided.unit.code,
            "lon": submission.lon, "lat": submission.lat,
        }).decode()))  # fmt: skip
        row = await (await conn.execute(ANSWER_SQL.format(where="e.id = %s"), (event_id,))).fetchone()
    return _answer(row, replayed=False)  # type: ignore[arg-type]
