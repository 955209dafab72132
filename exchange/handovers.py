"""Cases across the city line: handed to the neighbour whose area they lie in, followed until closed.

Out: a report whose point lies outside this city's grids but inside a registered neighbour's boundary
is not refused. ``hand_over`` keeps it as a handover (``pending``) with its trace and writes the message
— the report as an Open311 service request (``service_code``, ``lat``, ``long``, ``description``,
``address_string``, ``requested_datetime``) with the handover's id — into ``peer_outbox`` in the same
transaction; ``exchange.peer_delivery`` sends it, retrying until the neighbour takes it. The neighbour
answers with its case and the unit responsible; a unit whose code is not the neighbour's own (its city
code's prefix) is refused with why, and the handover says so. The neighbour's state changes arrive as
signed status messages (``apply_status``) until the case closes.

In: ``receive`` routes a neighbour's handover as this city's own report (the same intake: locate,
category, duplicates, routing, deadline), remembers the neighbour's handover id (a handover sent twice
opens one case) and records where it came from in the audit log; the trigger
``cityops_handover_status`` tells the neighbour of each move of that case afterwards.

Reporters' names and numbers never cross the line; the neighbour calls back through its own 12345 if
it must, with the handover's reference.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson
import psycopg
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from command.intake import Submission, submit
from command.routing import Severity
from command.working_time import WorkingCalendar
from exchange import peers
from exchange.peers import Peer
from grid.locate import Locator
from spatial.audit import record_async
from spatial.errors import InvalidInputError, OutsideJurisdictionError
from spatial.rows import one
from spatial.sources import SOURCES

HAND_OVER = """
WITH kept AS (
    INSERT INTO handover (direction, peer, category, severity, source, description, address, geom, reported_at,
                          reported_by, idempotency_key, state, trace)
    VALUES ('out', %(peer)s, %(category)s, %(severity)s, %(source)s, %(description)s, %(address)s,
            ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326), now(), %(actor)s, %(key)s, 'pending',
            jsonb_build_array(jsonb_build_object('at', now(), 'event', 'outside', 'peer', %(peer)s::text)))
    ON CONFLICT (reported_by, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING id, reported_at
)
INSERT INTO peer_outbox (peer, handover_id, kind, body)
SELECT %(peer)s::text, kept.id, 'handover', %(body)s::jsonb || jsonb_build_object('handover', kept.id,
       'requested_datetime', kept.reported_at)
FROM kept RETURNING handover_id, (SELECT reported_at FROM kept)
"""
# the same report sent again with its Idempotency-Key: the handover the first made
HANDED_BEFORE = "SELECT id, reported_at, state FROM handover WHERE reported_by = %s AND idempotency_key = %s"
RECEIVED = "SELECT case_id FROM handover WHERE direction = 'in' AND peer = %s AND remote_id = %s"
KEEP_RECEIVED = """
INSERT INTO handover (direction, peer, remote_id, case_id, category, severity, source, description, address, geom,
                      reported_at, reported_by, state, trace)
VALUES ('in', %(peer)s, %(remote)s, %(case)s, %(category)s, %(severity)s, %(source)s, %(description)s, %(address)s,
        ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326), %(reported_at)s, %(actor)s,
        (SELECT state FROM case_file WHERE id = %(case)s),
        jsonb_build_array(jsonb_build_object('at', now(), 'event', 'received', 'peer', %(peer)s::text,
                                             'their_handover', %(remote)s::bigint)))
"""
CASE_ANSWER = """
SELECT e.id, e.state, u.code, u.name FROM case_file e JOIN unit u ON u.id = e.responsible_unit_id WHERE e.id = %s
"""
ACCEPTED = """
UPDATE handover SET state = 'accepted', remote_id = %(case)s, remote_unit = %(unit)s, updated_at = now(),
       trace = trace || jsonb_build_array(jsonb_build_object('at', now(), 'event', 'accepted', 'case', %(case)s::bigint,
                                                             'unit', %(unit)s::text, 'unit_name', %(unit_name)s::text))
WHERE id = %(id)s AND direction = 'out'
"""
REFUSED = """
UPDATE handover SET state = 'refused', updated_at = now(),
       trace = trace || jsonb_build_array(jsonb_build_object('at', now(), 'event', 'refused', 'why', %(why)s::text))
WHERE id = %(id)s AND direction = 'out'
"""
STATUS = """
UPDATE handover SET state = %(state)s, remote_seq = %(seq)s, updated_at = now(),
       trace = trace || jsonb_build_array(jsonb_build_object('at', %(at)s::timestamptz, 'event', 'moved',
                                                             'action', %(action)s::text, 'state', %(state)s::text,
                                                             'unit', %(unit)s::text))
WHERE id = %(id)s AND direction = 'out' AND peer = %(peer)s AND remote_id = %(case)s AND remote_seq < %(seq)s
RETURNING id
"""
KNOWN_OUT = "SELECT remote_seq FROM handover WHERE id = %s AND direction = 'out' AND peer = %s AND remote_id = %s"
LISTED = """
SELECT h.id, h.direction, h.peer, p.name, h.remote_id, h.case_id, h.category, c.name, h.severity::text,
       h.source::text, h.address, ST_X(h.geom), ST_Y(h.geom), h.reported_at, h.state, h.remote_unit, h.remote_seq,
       h.trace, h.updated_at, o.attempts, o.last_error, o.next_try_at
FROM handover h JOIN peer p ON p.city = h.peer LEFT JOIN category c ON c.code = h.category
LEFT JOIN LATERAL (SELECT attempts, last_error, next_try_at FROM peer_outbox
                   WHERE handover_id = h.id AND delivered_at IS NULL ORDER BY id LIMIT 1) o ON true
ORDER BY h.created_at DESC LIMIT %s
"""
LISTED_NAMES = (
    "id", "direction", "peer", "peer_name", "remote_id", "case_id", "category", "category_name", "severity",
    "source", "address", "lon", "lat", "reported_at", "state", "remote_unit", "remote_seq", "trace", "updated_at",
    "attempts",
    "last_error", "next_try_at",
)  # fmt: skip


class HandoverIn(BaseModel):
    """A neighbour's handover as it arrives: an Open311 service request with the neighbour's handover id."""

    model_config = ConfigDict(extra="forbid")

    handover: int = Field(ge=1, description="The sender's handover id (a second message with it opens nothing)")
    service_code: str = Field(pattern=r"^[0-9]{6}$", description="GB/T 30428 category code")
    severity: Literal["I", "II", "III", "IV"]
    source: Literal[SOURCES]  # type: ignore[valid-type]
    lat: float = Field(ge=-90, le=90)
    long: float = Field(ge=-180, le=180)
    description: str = Field(min_length=1, max_length=4000)
    address_string: str | None = Field(default=None, max_length=400)
    requested_datetime: AwareDatetime


class StatusIn(BaseModel):
    """One move of a handed-over case at the neighbour's."""

    model_config = ConfigDict(extra="forbid")

    handover: int = Field(ge=1, description="This city's handover id")
    case: int = Field(ge=1, description="The neighbour's case id")
    seq: int = Field(ge=1)
    action: str = Field(min_length=1, max_length=40)
    state: str = Field(min_length=1, max_length=40)
    unit: str | None = Field(default=None, max_length=32)
    at: AwareDatetime


async def hand_over(
    conn: psycopg.AsyncConnection, submission: Submission, peer: Peer, actor: str, idempotency_key: str | None = None
) -> dict[str, Any]:
    """Keep the report as a handover to ``peer`` and queue its message (one transaction); the answer to the
    reporter. A retry with the same ``idempotency_key`` gets the first handover back and queues nothing."""
    body = {
        "service_code": submission.category,
        "severity": submission.severity.value,
        "source": submission.source,
        "lat": submission.lat,
        "long": submission.lon,
        "description": submission.description,
        "address_string": submission.address,
    }
    values = {
        "peer": peer.city, "category": submission.category, "severity": submission.severity.value,
        "source": submission.source, "description": submission.description, "address": submission.address,
        "lon": submission.lon, "lat": submission.lat, "actor": actor, "body": orjson.dumps(body).decode(),
        "key": idempotency_key,
    }  # fmt: skip
    async with conn.transaction():
        made = await (await conn.execute(HAND_OVER, values)).fetchone()
        if made is None:  # the key's first report was handed over already
            handover_id, reported_at, state = one(
                await (await conn.execute(HANDED_BEFORE, (actor, idempotency_key))).fetchone()
            )
        else:
            (handover_id, reported_at), state = made, "pending"
            await record_async(conn, actor, "handover.created", f"handover:{handover_id}", peer=peer.city)
    return {
        "handover": handover_id,
        "state": state,
        "replayed": made is None,
        "handed_over_to": {"city": peer.city, "name": peer.name, "code": peer.code},
        "reported_at": reported_at,
        "message": f"the point lies in {peer.name}: the report is handed over to it and followed here",
    }


async def submit_or_hand_over(
    conn: psycopg.AsyncConnection,
    submission: Submission,
    idempotency_key: str | None,
    locator: Locator,
    calendar: WorkingCalendar,
    *,
    actor: str,
    within: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """The intake's answer and False; or, for a point outside the city inside a neighbour's boundary, the
    handover's answer and True (outside both: the intake's refusal stands)."""
    try:
        return await submit(conn, submission, idempotency_key, locator, calendar, actor=actor, within=within), False
    except OutsideJurisdictionError:
        peer = await peers.covering(conn, submission.lon, submission.lat)
        if peer is None:
            raise
        return await hand_over(conn, submission, peer, actor, idempotency_key), True


def submission_of(received: HandoverIn) -> Submission:
    """The neighbour's report as this city's intake takes it (no reporter: none crosses the line)."""
    return Submission(
        lon=received.long,
        lat=received.lat,
        given={"crs": "EPSG:4326", "coordinates": [received.long, received.lat]},
        category=received.service_code,
        severity=Severity(received.severity),
        source=received.source,
        description=received.description,
        address=received.address_string,
        reporter=None,
    )


async def received_case(conn: psycopg.AsyncConnection, peer: Peer, remote_id: int) -> int | None:
    """Our case for the neighbour's handover ``remote_id`` when it arrived before."""
    row = await (await conn.execute(RECEIVED, (peer.city, remote_id))).fetchone()
    return int(row[0]) if row else None


async def keep_received(
    conn: psycopg.AsyncConnection, peer: Peer, received: HandoverIn, case_id: int, actor: str
) -> dict[str, Any]:
    """Remember the handover beside the case its report made or joined; the answer the neighbour keeps."""
    values = {
        "peer": peer.city, "remote": received.handover, "case": case_id, "category": received.service_code,
        "severity": received.severity, "source": received.source, "description": received.description,
        "address": received.address_string, "lon": received.long, "lat": received.lat,
        "reported_at": received.requested_datetime, "actor": actor,
    }  # fmt: skip
    await conn.execute(KEEP_RECEIVED, values)
    await record_async(
        conn, actor, "handover.received", f"case:{case_id}", peer=peer.city, their_handover=received.handover
    )
    return await case_answer(conn, case_id)


async def case_answer(conn: psycopg.AsyncConnection, case_id: int) -> dict[str, Any]:
    """What the neighbour is told of our case: its id, state and the unit responsible."""
    case, state, unit, unit_name = one(await (await conn.execute(CASE_ANSWER, (case_id,))).fetchone())
    return {"case": case, "state": state, "unit": unit, "unit_name": unit_name}


class Answer(BaseModel):
    """The neighbour's answer to a handover."""

    case: int = Field(ge=1)
    state: str
    unit: str = Field(min_length=1, max_length=32)
    unit_name: str = ""


async def settle_answer(conn: psycopg.AsyncConnection, peer: Peer, handover_id: int, raw: bytes) -> str | None:
    """Record the neighbour's answer to a handover: accepted, or refused with why (its text, None when accepted)."""
    try:
        answer = Answer.model_validate_json(raw)
    except ValueError as error:
        why = f"{peer.name} answered something that is not a case: {str(error)[:300]}"
        await conn.execute(REFUSED, {"id": handover_id, "why": why})
        return why
    if not answer.unit.startswith(peer.unit_prefix):
        why = (
            f"{peer.name} answered with unit {answer.unit}, which is not one of its units "
            f"(its codes start with {peer.unit_prefix}); the handover stays with this city"
        )
        await conn.execute(REFUSED, {"id": handover_id, "why": why})
        return why
    values = {"id": handover_id, "case": answer.case, "unit": answer.unit, "unit_name": answer.unit_name}
    await conn.execute(ACCEPTED, values)
    return None


async def refuse(conn: psycopg.AsyncConnection, handover_id: int, why: str) -> None:
    """The neighbour will not take the handover (it said why)."""
    await conn.execute(REFUSED, {"id": handover_id, "why": why})


async def apply_status(conn: psycopg.AsyncConnection, peer: Peer, status: StatusIn) -> bool:
    """A move of a handed-over case at the neighbour's; False when it was applied already (or an older one)."""
    if status.unit is not None and not status.unit.startswith(peer.unit_prefix):
        raise InvalidInputError(
            f"unit {status.unit} is not one of {peer.name}'s units (its codes start with {peer.unit_prefix})"
        )
    known = await (await conn.execute(KNOWN_OUT, (status.handover, peer.city, status.case))).fetchone()
    if known is None:
        raise InvalidInputError(f"handover {status.handover} is not this city's handover of case {status.case} to you")
    values = status.model_dump() | {"id": status.handover, "peer": peer.city}
    return await (await conn.execute(STATUS, values)).fetchone() is not None


async def listed(conn: psycopg.AsyncConnection, limit: int = 200) -> list[dict[str, Any]]:
    """The newest handovers both ways, with the message still waiting to go (tries, last error)."""
    rows = await (await conn.execute(LISTED, (limit,))).fetchall()
    return [dict(zip(LISTED_NAMES, row, strict=True)) for row in rows]
