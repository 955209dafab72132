"""The change log as CloudEvents: what other systems may act on, numbered in commit order, read by cursor.

The database writes a change in the transaction that makes it (``exchange/sql``: a case created, moved or
closed; an assignment offered, accepted, arrived, released; an incident; an alarm). ``sequence_round``
numbers the committed ones (one loop of all processes) — the number is the cursor of the pull feed and
of every subscription, and later numbers are later commits, so paging by it never skips a change; a
case's changes are numbered in the order its moves were made (each move locks the case).

Each change goes out as a CloudEvents 1.0 event (JSON format, built with the CloudEvents SDK): ``id`` the
city and the number, ``type`` ``cn.cityops.<type>``, ``subject`` what changed (``case/123``), ``time``,
``sequence`` (the cursor) and ``partitionkey`` (the case: a consumer keeping order per key keeps each
case's order). ``dataschema`` names the JSON Schema of its data (``GET /api/v1/changes/schemas/{type}``).
No reporter, description or photo is in any event; a system that needs more reads the case by its id,
under its own jurisdiction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import psycopg
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from pydantic import BaseModel, ConfigDict, Field

from exchange.records import RECORDS, record_schema
from spatial.errors import InvalidInputError

TYPES = ("case.created", "case.moved", "case.closed", "assignment.changed", "incident.changed", "alarm.changed")
TYPE_PREFIX = "cn.cityops."
SCHEMAS = "/api/v1/changes/schemas"
FEED_LIMIT = 1000
SEQUENCE = "SELECT cityops_change_sequence()"
AFTER = "SELECT seq, type, subject, case_id, units, departments, at, data FROM cityops_changes_after(%s, %s)"
# the pull feed: the caller's own scope applies (row-level security, the case's rule); the head in the same
# snapshot, so a cursor moved past the others' changes never passes one of the caller's
FEED = """
SELECT h.head, c.seq, c.type, c.subject, c.case_id, c.units, c.departments, c.at, c.data
FROM (SELECT cityops_change_head() AS head) h
LEFT JOIN LATERAL (SELECT * FROM change_event WHERE seq > %s AND type = ANY(%s) ORDER BY seq LIMIT %s) c ON true
"""
_FORMAT = JSONFormat()


def source(city: str) -> str:
    """A city's name as a URI: the CloudEvents source of its events, the origin of its exports and messages."""
    return f"urn:cityops:{city}"


class Change(BaseModel):
    """One numbered change as stored: who may see it (units, departments) and its event's fields."""

    model_config = ConfigDict(frozen=True)

    seq: int
    type: str
    subject: str
    case_id: int | None
    units: list[int]
    departments: list[str]
    at: datetime
    data: dict[str, Any]

    def seen_by(self, unit_id: int, department: str | None) -> bool:
        """Row-level security's rule for cases, applied to a change already read (the delivery loop's filter)."""
        return unit_id in self.units and (department is None or department in self.departments)

    def event(self, source: str) -> bytes:
        """The change as one CloudEvents JSON object."""
        attributes = {
            "specversion": "1.0",
            "id": f"{source.rsplit(':', 1)[-1]}-{self.seq}",
            "source": source,
            "type": TYPE_PREFIX + self.type,
            "subject": self.subject,
            "time": self.at,
            "datacontenttype": "application/json",
            "dataschema": f"{SCHEMAS}/{self.type}",
            "sequence": str(self.seq),
            "partitionkey": f"case/{self.case_id}" if self.case_id is not None else self.subject,
        }
        return _FORMAT.write(CloudEvent(attributes, self.data))


def batch(events: list[bytes]) -> bytes:
    """CloudEvents batched JSON (``application/cloudevents-batch+json``): the events as one array."""
    return b"[" + b",".join(events) + b"]"


def _changes(rows: list[tuple[Any, ...]]) -> list[Change]:
    names = ("seq", "type", "subject", "case_id", "units", "departments", "at", "data")
    return [Change.model_validate(dict(zip(names, row, strict=True))) for row in rows]


async def sequence_round(conn: psycopg.AsyncConnection) -> int:
    """Number the committed changes not yet numbered; the highest number given (0: none)."""
    row = await (await conn.execute(SEQUENCE)).fetchone()
    return int(row[0]) if row else 0


async def after(conn: psycopg.AsyncConnection, cursor: int, most: int) -> list[Change]:
    """Every numbered change after ``cursor`` (all jurisdictions: the delivery loop filters per subscription)."""
    return _changes(await (await conn.execute(AFTER, (cursor, most))).fetchall())


def wanted_types(text: str | None) -> list[str]:
    """``case.closed,alarm.changed`` as a list of known types (none: every type), or InvalidInputError."""
    asked = [t.strip() for t in (text or "").split(",") if t.strip()] or list(TYPES)
    unknown = sorted(set(asked) - set(TYPES))
    if unknown:
        raise InvalidInputError(f"unknown change type(s) {', '.join(unknown)}; one of {', '.join(TYPES)}")
    return asked


async def feed(conn: psycopg.AsyncConnection, cursor: int, types: list[str], limit: int) -> tuple[list[Change], int]:
    """The caller's changes after ``cursor`` (their scope on ``conn``) and the cursor to ask with next.

    The next cursor is the last change returned, or — when none of the caller's changes follow — the
    highest number given, so a caller who sees few changes does not read the same stretch again.
    """
    rows = await (await conn.execute(FEED, (cursor, types, limit))).fetchall()
    found = _changes([row[1:] for row in rows if row[1] is not None])
    if found:
        return found, found[-1].seq
    return [], max(cursor, int(rows[0][0]) if rows else 0)


# ---- the data of each type, as documented JSON Schemas -------------------------------------------------
class CaseData(BaseModel):
    """A case created, moved or closed: the move and the case as it stands after it."""

    case_id: int
    action: str = Field(description="The move made (report, accept, dispatch, feedback, close …)")
    from_state: str
    state: str
    version: int = Field(description="The case's version after the move (moves carry it, 409 when stale)")
    category: str = Field(description="GB/T 30428 category code")
    severity: Literal["I", "II", "III", "IV"]
    source: str | None
    responsible_unit: str = Field(description="Code of the unit responsible")
    district: str | None
    departments: list[str]
    department: str | None = Field(description="The department this move dispatched to or concerns")
    deadline: datetime | None
    lon: float
    lat: float
    address: str | None
    at: datetime


class AssignmentData(BaseModel):
    """A force's assignment to a case: offered, accepted, arrived or released."""

    assignment_id: int
    case_id: int
    force: str
    force_name: str
    state: Literal["offered", "accepted", "arrived", "released"]
    release_reason: str | None
    accept_by: datetime | None
    at: datetime


class IncidentData(BaseModel):
    """A major incident opened, re-levelled, its area changed or closed."""

    incident: str
    title: str
    class_: str = Field(alias="class")
    level: str
    state: Literal["active", "closed"]
    version: int
    lon: float
    lat: float
    at: datetime


class AlarmData(BaseModel):
    """A sensor alarm raised, acknowledged, cleared, closed, or linked to the case it filed."""

    alarm_id: int
    kind: str
    rule: str
    severity: Literal["I", "II", "III", "IV"]
    state: str
    value: float | None
    case_id: int | None
    lon: float
    lat: float
    at: datetime


DATA: dict[str, type[BaseModel]] = {
    "case.created": CaseData,
    "case.moved": CaseData,
    "case.closed": CaseData,
    "assignment.changed": AssignmentData,
    "incident.changed": IncidentData,
    "alarm.changed": AlarmData,
}


def schema(change_type: str) -> dict[str, Any]:
    """The JSON Schema of one type's CloudEvent (the envelope's attributes and the type's data), or of one
    line of the bulk exchange format (``exchange.records``)."""
    if change_type in RECORDS:
        return record_schema(change_type)
    if change_type not in DATA:
        known = ", ".join([*TYPES, *RECORDS])
        raise InvalidInputError(f"unknown change or record type {change_type}; one of {known}")
    data = DATA[change_type].model_json_schema(by_alias=True)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"{TYPE_PREFIX}{change_type}",
        "type": "object",
        "required": ["specversion", "id", "source", "type", "subject", "time", "sequence", "data"],
        "properties": {
            "specversion": {"const": "1.0"},
            "id": {"type": "string", "description": "The city's code and the change's number"},
            "source": {"type": "string", "description": "urn:cityops:<city code>"},
            "type": {"const": f"{TYPE_PREFIX}{change_type}"},
            "subject": {"type": "string", "description": "What changed: case/123, assignment/5, incident/INC-…"},
            "time": {"type": "string", "format": "date-time"},
            "datacontenttype": {"const": "application/json"},
            "dataschema": {"type": "string"},
            "sequence": {"type": "string", "description": "The change's number: the cursor to resume after"},
            "partitionkey": {"type": "string", "description": "The case (order is kept per key)"},
            "data": data,
        },
    }
