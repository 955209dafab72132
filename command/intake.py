"""Report intake: a validated submission becomes a located, routed case in one transaction.

Idempotency: a client retrying the same submission with the same ``Idempotency-Key`` gets the
original answer and nothing new is stored; the same key with a different body is a conflict.
The key is looked up first; when two retries race past that lookup, the database's unique
constraint on the key stops the second insert, and its rolled-back transaction answers as a
replay of the first — parallel retries cannot create two reports.

Duplicates: a report joins the open case of the same category nearest to it within the
category's radius and time window instead of opening a second case (article 12: fewer duplicate
dispatches). Candidates come from the H3 cells around the point (a ring wide enough to cover the
radius), then the exact geodesic distance decides. Reports of one category in one area are
serialised by an advisory lock, so two simultaneous reports of one incident make one case.
The change feed learns of every new or joined case through NOTIFY, delivered at commit.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields
from datetime import UTC, datetime, tzinfo
from typing import Any

import orjson
import psycopg

from command.case_states import CaseState
from command.duplicates import CANDIDATES_SQL, best_match
from command.media import StoredMedia
from command.queries.intake import ANSWER_SQL, ATTACH_MEDIA, CHANNEL, INSERT_CASE, JOINED_CASE, NEW_CASE, STORE_MEDIA
from command.routing import Route, Severity, route
from command.taxonomy import Category, category_from_row, fetch_category
from command.working_time import WorkingCalendar
from grid.cells import cells_to_parents, cells_within
from grid.locate import Location, Locator
from spatial.errors import ConflictError, ForbiddenError
from spatial.rows import one

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
    media: tuple[StoredMedia, ...] = ()

    def fingerprint(self) -> str:
        """What 'the same submission' means for idempotency: every field the client sent."""
        body = {**self.__dict__, "severity": self.severity.value}
        return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _answer(row: tuple[Any, ...], *, replayed: bool, zone: tzinfo) -> dict[str, object]:
    case_id, report_id, _, code, name, tier, departments, deadline, state, reports, joined, token = row
    return {
        "case_id": str(case_id),
        "report_id": str(report_id),
        "token": str(token),
        "state": state,
        "replayed": replayed,
        "merged": joined,
        "report_count": reports,
        "responsible": {"code": code, "name": name, "tier": tier, "departments": departments},
        "deadline": deadline.astimezone(zone).isoformat(),  # the calendar's zone
    }


async def notify(conn: psycopg.AsyncConnection, change: str, **fields: object) -> None:
    """Announce a case change on the feed; PostgreSQL delivers it at commit, never for a rollback."""
    await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, orjson.dumps({"type": change, **fields}).decode()))


def _grid_code(location: Location) -> str:
    """The grid a point lies in (the finest tier that is not a building)."""
    return next(u.code for u in reversed(location.chain) if u.tier != "building")


def _case_values(
    location: Location,
    category: Category,
    severity: Severity,
    calendar: WorkingCalendar,
    *,
    lon: float,
    lat: float,
    description: str,
    address: str | None,
    source: str,
) -> tuple[Route, tuple[object, ...]]:
    """Route a located report: the decision, and the parameters of INSERT_EVENT."""
    decided = route(location, category, severity, datetime.now(UTC), calendar)
    return decided, (
        category.code,
        severity.value,
        lon,
        lat,
        int(location.cell, 16),
        _grid_code(location),
        decided.unit.code,
        list(decided.departments),
        decided.filed_at,
        decided.deadline,
        orjson.dumps(decided.trace).decode(),
        description,
        address,
        source,
    )


async def open_case(
    conn: psycopg.AsyncConnection,
    location: Location,
    category: Category,
    severity: Severity,
    calendar: WorkingCalendar,
    *,
    lon: float,
    lat: float,
    description: str,
    address: str | None,
    source: str,
) -> int:
    """Route a located report and store the case it opens (the caller moves the report in)."""
    _, values = _case_values(
        location,
        category,
        severity,
        calendar,
        lon=lon,
        lat=lat,
        description=description,
        address=address,
        source=source,
    )
    row = await (await conn.execute(INSERT_CASE, values)).fetchone()
    return one(row)[0]


async def _attach(conn: psycopg.AsyncConnection, report_id: int, media: tuple[StoredMedia, ...]) -> None:
    if not media:
        return
    await conn.execute(
        STORE_MEDIA, ([m.sha256 for m in media], [m.content_type for m in media], [m.size_bytes for m in media])
    )
    await conn.execute(
        ATTACH_MEDIA, (report_id, [m.sha256 for m in media], list(range(len(media))), [m.filename for m in media])
    )


def _lookup_sql() -> str:
    category = ", ".join(f"c.{f.name}" for f in fields(Category))
    previous = ANSWER_SQL.format(where="r.idempotency_owner = %(owner)s AND r.idempotency_key = %(key)s")
    return f"""
SELECT {category}, previous.*
FROM (SELECT 1) AS one
LEFT JOIN category c ON c.code = %(code)s
LEFT JOIN LATERAL ({previous}) AS previous ON true
"""


# a key is its caller's own: another caller's replay of it is a new report, never the first one's answer
ANSWER_BY_KEY = ANSWER_SQL.format(where="r.idempotency_owner = %s AND r.idempotency_key = %s")
# The category and any answer already given under the key, in one statement
LOOKUP = _lookup_sql()
CATEGORY_COLUMNS = len(fields(Category))


def _replay(previous: tuple[object, ...], key: str | None, fingerprint: str, zone: tzinfo) -> dict[str, object]:
    if previous[2] != fingerprint:
        raise ConflictError(
            f"Idempotency-Key {key!r} was already used for a different report "
            f"(case {previous[0]}); use a new key for a new report"
        )
    return _answer(previous, replayed=True, zone=zone)


async def submit(
    conn: psycopg.AsyncConnection,
    submission: Submission,
    idempotency_key: str | None,
    locator: Locator,
    calendar: WorkingCalendar,
    *,
    actor: str,
    within: str | None = None,
) -> dict[str, object]:
    """Store the report — joining an open duplicate case or opening a routed one — and say which.

    Idempotency is optimistic: the key is looked up, and if a twin commits meanwhile the unique
    key stops the second insert, whose transaction then answers as a replay. Reads happen before
    the transaction; inside it, one call locks the area and finds open cases nearby, and one
    statement stores case, report, merge record, announcement and audit entry. ``actor`` is who
    files it (audited); ``within``, when given, is the unit the point must lie in (the caller's).
    """
    fingerprint = submission.fingerprint()
    row = await (
        await conn.execute(LOOKUP, {"code": submission.category, "key": idempotency_key, "owner": actor}, prepare=True)
    ).fetchone()
    found = one(row)
    category_row, previous = found[:CATEGORY_COLUMNS], found[CATEGORY_COLUMNS:]
    if previous[0] is not None:
        return _replay(previous, idempotency_key, fingerprint, calendar.zone)
    if category_row[0] is None:
        await fetch_category(conn, submission.category)  # raises, listing the valid codes
    category = category_from_row(category_row)
    location = await locator.locate_async(conn, submission.lon, submission.lat)
    if within is not None and within not in {unit.code for unit in location.chain}:
        raise ForbiddenError(
            f"the point ({submission.lon}, {submission.lat}) lies outside your jurisdiction (unit "
            f"{within}); report it to the unit responsible there"
        )
    try:
        return await _store(conn, submission, category, location, idempotency_key, fingerprint, calendar, actor)
    except psycopg.errors.UniqueViolation as clash:
        if idempotency_key is None or "idempotency_key" not in (clash.diag.constraint_name or ""):
            raise
        twin = await (await conn.execute(ANSWER_BY_KEY, (actor, idempotency_key))).fetchone()
        if twin is None:  # stored by a caller whose reports this one may not see
            raise ConflictError(
                f"Idempotency-Key {idempotency_key!r} is taken; use a new key for a new report"
            ) from None
        return _replay(twin, idempotency_key, fingerprint, calendar.zone)


async def _store(
    conn: psycopg.AsyncConnection,
    submission: Submission,
    category: Category,
    location: Location,
    idempotency_key: str | None,
    fingerprint: str,
    calendar: WorkingCalendar,
    actor: str,
) -> dict[str, object]:
    candidates = cells_within(int(location.cell, 16), category.duplicate_radius_m)
    # Two reports within the radius each have the other's cell among their candidates, so
    # locking the coarse parents of all candidates (in one fixed order) always makes them meet.
    areas = sorted({f"{category.code}:{parent}" for parent in cells_to_parents(candidates, LOCK_RESOLUTION)})
    report = (
        submission.source,
        orjson.dumps(submission.reporter).decode() if submission.reporter else None,
        submission.description,
        submission.address,
        submission.lon,
        submission.lat,
        orjson.dumps(submission.given).decode(),
        actor if idempotency_key is not None else None,
        idempotency_key,
        fingerprint,
        _grid_code(location),
    )
    announce = (category.code, submission.severity.value, submission.lon, submission.lat)
    audit = (actor, "report.filed")
    async with conn.transaction():
        near = await (
            await conn.execute(
                CANDIDATES_SQL,
                {
                    "areas": areas,
                    "lon": submission.lon,
                    "lat": submission.lat,
                    "cells": candidates,
                    "category": category.code,
                    "window_hours": category.duplicate_window_hours,
                    "radius_m": category.duplicate_radius_m,
                },
                prepare=True,
            )
        ).fetchall()
        match = best_match(near, submission.description, category.duplicate_radius_m)
        if match is None:
            decided, values = _case_values(
                location,
                category,
                submission.severity,
                calendar,
                lon=submission.lon,
                lat=submission.lat,
                description=submission.description,
                address=submission.address,
                source=submission.source,
            )
            row = await (
                await conn.execute(NEW_CASE, (*values, *report, "case.created", *announce, *audit), prepare=True)
            ).fetchone()
            case_id, report_id, token, _, _ = one(row)
            state, count, deadline, departments = CaseState.REPORTED, 1, decided.deadline, list(decided.departments)
            unit = [decided.unit.code, decided.unit.name, decided.tier]
        else:
            row = await (
                await conn.execute(
                    JOINED_CASE,
                    (
                        match.case_id,
                        *report,
                        match.distance_m,
                        match.similarity,
                        "case.report_joined",
                        *announce,
                        *audit,
                    ),
                    prepare=True,
                )
            ).fetchone()
            case_id, report_id, token, _, _, state, count, deadline, departments, *unit = one(row)
        await _attach(conn, report_id, submission.media)
    return _answer(
        (case_id, report_id, None, *unit, departments, deadline, state, count, match is not None, token),
        replayed=False,
        zone=calendar.zone,
    )
