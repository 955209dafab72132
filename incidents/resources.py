"""Resources for an incident in EDXL-RM's words: asked of a unit that owns them, answered, committed,
deployed, released and returned — across districts (regulation art. 10: the centre coordinates resources).

A commander working inside the incident asks a unit (any district's) for a resource type and quantity,
needed by a time at a point. The asked unit sees the request (row-level security: ``to_units``), not
the rest of the incident, and answers: an offer of a quantity (possibly partial) or a decline with its
reason. The requester accepts the offer (RequisitionResource); then the OWNER commits it, because
committing names what is sent — its own forces (``force_ids``), which only the owner sees and
dispatches — so the requester's acceptance and the owner's commitment are each made by the side that
can make them. Forces committed are held by the incident (unified dispatch) until the requester
releases them. Every move checks the state (a move it does not allow: 409 naming the allowed ones) and
the version (stale: 409; two answers at once: the row lock makes one win), is a ``resource_message``
row with its EDXL-RM type, and goes on the incident's timeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import psycopg
from psycopg import errors

from command.users import User
from forces.recommend import Need, check_need, rank_near, shortfall
from incidents.command import require_inside
from incidents.queries.resources import (
    AREA,
    EDGE,
    HELD,
    HOLD,
    INCIDENT,
    LISTED,
    LOCK,
    MESSAGE,
    MOVE,
    OF_INCIDENT,
    ONE,
    OWN_FORCES,
    RELEASE,
    REQUEST,
    RESOURCE_TYPE,
    RESOURCE_TYPES,
    SUMMARY,
    TYPES_NAMED,
    UNIT,
)
from incidents.timeline import log
from incidents.vocabulary import IncidentState
from spatial.coords import validate_lon_lat
from spatial.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError, StaleVersionError
from spatial.rows import one

MAX_QUANTITY = 100_000
MAX_FORCES = 200
PAST_GRACE = timedelta(minutes=5)  # a time typed a moment ago is not refused as past


class Side(StrEnum):
    """Who makes a move: the incident's command (the requester) or the unit asked (the owner)."""

    REQUESTER = "requester"
    OWNER = "owner"


@dataclass(frozen=True)
class Move:
    """One move of a request: the states it leaves, the state it reaches, who makes it, its EDXL-RM message."""

    sources: tuple[str, ...]
    target: str
    side: Side
    message: str


# the state machine as data; "returned" answers the release (the requester's ReleaseResource asks the
# owner to take the resource back, the owner's ResponseToRequestReturn says it is home)
MOVES: dict[str, Move] = {
    "offer": Move(("requested",), "offered", Side.OWNER, "ResponseToRequestResource"),
    "decline": Move(("requested", "offered"), "declined", Side.OWNER, "ResponseToRequestResource"),
    "accept": Move(("offered",), "accepted", Side.REQUESTER, "RequisitionResource"),
    "commit": Move(("accepted",), "committed", Side.OWNER, "CommitResource"),
    "deploy": Move(("committed",), "deployed", Side.REQUESTER, "ReportResourceDeploymentStatus"),
    "release": Move(("committed", "deployed"), "released", Side.REQUESTER, "ReleaseResource"),
    "return": Move(("released",), "returned", Side.OWNER, "ResponseToRequestReturn"),
}


@dataclass(frozen=True)
class ResourceAsk:
    """A request as given: what, how many, from which unit (its code), needed by when and where."""

    resource_type: str
    quantity: int
    to_unit: str
    needed_by: datetime
    lon: float
    lat: float
    note: str = ""


@dataclass(frozen=True)
class Answer:
    """A move on a request, on the version the caller saw; ``quantity`` for an offer or a commitment,
    ``force_ids`` for a commitment of forces, ``note`` (a decline's reason)."""

    action: str
    version: int
    quantity: int | None = None
    force_ids: tuple[int, ...] = ()
    note: str = ""


async def _incident(conn: psycopg.AsyncConnection, incident_id: int) -> tuple[str, list[int]]:
    row = await (await conn.execute(INCIDENT, (incident_id,))).fetchone()
    if row is None:
        raise NotFoundError(f"no incident {incident_id} in your jurisdiction")
    code, state, units = row
    if state != IncidentState.ACTIVE:
        raise ConflictError(f"incident {code} is closed: its resources are no longer requested or moved")
    return str(code), list(units)


async def _resource_type(conn: psycopg.AsyncConnection, code: str) -> tuple[str, str | None, str]:
    row = await (await conn.execute(RESOURCE_TYPE, (code,))).fetchone()
    if row is None:
        known = [r[0] for r in await (await conn.execute(RESOURCE_TYPES)).fetchall()]
        raise InvalidInputError(f"unknown resource type {code!r}; use one of: {', '.join(known)}")
    return row[0], row[1], row[2]


async def request_resource(conn: psycopg.AsyncConnection, user: User, incident_id: int, ask: ResourceAsk) -> int:
    """Ask ``ask.to_unit`` for a resource for the incident (RequestResource); returns the request's id."""
    lon, lat = validate_lon_lat(ask.lon, ask.lat)
    if not 1 <= ask.quantity <= MAX_QUANTITY:
        raise InvalidInputError(f"quantity must be 1…{MAX_QUANTITY}")
    if ask.needed_by < datetime.now(UTC) - PAST_GRACE:
        raise InvalidInputError(f"needed_by {ask.needed_by.isoformat()} has passed: say when it is needed from now on")
    type_code, _, measure = await _resource_type(conn, ask.resource_type)
    unit = await (await conn.execute(UNIT, (ask.to_unit,))).fetchone()
    if unit is None:
        raise InvalidInputError(f"no unit with the code {ask.to_unit}: ask a unit that exists")
    unit_id, unit_chain, unit_name = unit
    async with conn.transaction():
        code, units = await _incident(conn, incident_id)
        require_inside(user, units, code)
        params = {
            "incident": incident_id,
            "type": type_code,
            "quantity": ask.quantity,
            "unit": unit_id,
            "units": list(unit_chain),
            "needed_by": ask.needed_by,
            "lon": lon,
            "lat": lat,
            "note": ask.note,
            "actor": user.username,
        }
        request_id = int(one(await (await conn.execute(REQUEST, params)).fetchone())[0])
        message = (request_id, "RequestResource", ask.quantity, user.username, user.unit_id, ask.note)
        await conn.execute(MESSAGE, message)
        await log(
            conn,
            incident_id,
            "resource_requested",
            user.username,
            ask.note,
            request_id=request_id,
            resource_type=type_code,
            quantity=ask.quantity,
            measure=measure,
            to_unit=unit_name,
        )
    return request_id


@dataclass(frozen=True)
class Locked:
    """A request as locked for a move."""

    id: int
    version: int
    state: str
    incident_id: int
    to_units: list[int]
    quantity: int
    offered: int | None
    capability: str | None
    to_unit_id: int
    force_ids: list[int]


async def _lock(conn: psycopg.AsyncConnection, request_id: int, version: int) -> Locked:
    row = await (await conn.execute(LOCK, (request_id,))).fetchone()
    if row is None:
        raise NotFoundError(f"no resource request {request_id} for your unit")
    current, state, incident_id, to_units, quantity, offered, capability, to_unit_id, force_ids = row
    locked = Locked(
        request_id,
        current,
        state,
        incident_id,
        list(to_units),
        quantity,
        offered,
        capability,
        to_unit_id,
        list(force_ids),
    )
    if locked.version != version:
        raise StaleVersionError(
            f"resource request {request_id} changed meanwhile (version {locked.version}, you sent {version}): reload it"
        )
    return locked


async def _require_side(conn: psycopg.AsyncConnection, user: User, locked: Locked, move: Move, action: str) -> None:
    """The owner's moves are made in the asked unit or above it; the requester's inside the incident."""
    if user.department is not None:
        raise ForbiddenError("resource requests are answered by units, not departments")
    if move.side is Side.OWNER:
        if user.unit_id not in locked.to_units:
            raise ForbiddenError(f"only the unit asked (or above it) may {action} resource request {locked.id}")
        return
    row = await (await conn.execute(INCIDENT, (locked.incident_id,))).fetchone()
    if row is None:
        raise ForbiddenError(f"only the incident's command may {action} resource request {locked.id}")
    require_inside(user, list(row[2]), str(row[0]))
    if row[1] != IncidentState.ACTIVE:
        raise ConflictError(f"incident {row[0]} is closed: release its resources no more")


def _allowed(state: str) -> list[str]:
    return [name for name, move in MOVES.items() if state in move.sources]


def _quantity(given: int | None, ceiling: int, what: str) -> int:
    """The quantity of an offer (at most what was asked) or a commitment (at most what was offered)."""
    quantity = ceiling if given is None else given
    if not 1 <= quantity <= ceiling:
        before = "asked" if what == "offer" else "offered"
        raise InvalidInputError(f"{what} a quantity of 1…{ceiling}: no more than was {before}")
    return quantity


async def _check_forces(conn: psycopg.AsyncConnection, locked: Locked, force_ids: list[int]) -> None:
    """Forces committed are the owner's own, able to do the job, and held by no incident."""
    if locked.capability is None:
        raise InvalidInputError("this resource type is counted goods, not forces: commit a quantity without force_ids")
    rows = await (
        await conn.execute(OWN_FORCES, {"unit": locked.to_unit_id, "capability": locked.capability, "ids": force_ids})
    ).fetchall()
    fit = {force_id for force_id, ok in rows if ok}
    if unfit := sorted(set(force_ids) - fit):
        raise InvalidInputError(
            f"forces {', '.join(map(str, unfit))} are not the asked unit's forces with capability {locked.capability}"
        )
    if held := await (await conn.execute(HELD, (force_ids,))).fetchall():
        raise ConflictError(
            "; ".join(f"force {force_id} is held by {code}" for force_id, code in held) + ": it is released there first"
        )


async def move_request(conn: psycopg.AsyncConnection, user: User, request_id: int, answer: Answer) -> dict[str, Any]:
    """Make one move on a request (offer, decline, accept, commit, deploy, release, return)."""
    move = MOVES.get(answer.action)
    if move is None:
        raise InvalidInputError(f"unknown move {answer.action!r}; use one of: {', '.join(MOVES)}")
    if answer.action == "decline" and not answer.note.strip():
        raise InvalidInputError("a decline needs a note: the reason, so the command can ask elsewhere")
    force_ids = sorted(set(answer.force_ids))
    if len(force_ids) > MAX_FORCES:
        raise InvalidInputError(f"at most {MAX_FORCES} forces at once")
    if force_ids and answer.action != "commit":
        raise InvalidInputError("force_ids are named when committing, not on other moves")
    async with conn.transaction():
        locked = await _lock(conn, request_id, answer.version)
        if locked.state not in move.sources:
            allowed = _allowed(locked.state)
            raise ConflictError(
                f"resource request {request_id} is {locked.state}: {answer.action} is not allowed now; "
                + (f"allowed: {', '.join(allowed)}" if allowed else "no move is left")
            )
        await _require_side(conn, user, locked, move, answer.action)
        offered = committed = None
        quantity: int | None = None
        if answer.action == "offer":
            quantity = offered = _quantity(answer.quantity, locked.quantity, "offer")
        elif answer.action == "commit":
            given = answer.quantity if answer.quantity is not None else (len(force_ids) or None)
            quantity = committed = _quantity(given, locked.offered or locked.quantity, "commit")
            if force_ids:
                if len(force_ids) != committed:
                    raise InvalidInputError(f"committing {committed} forces: name {committed} force_ids")
                await _check_forces(conn, locked, force_ids)
        params = {
            "id": request_id,
            "state": move.target,
            "offered": offered,
            "committed": committed,
            "force_ids": force_ids or None,
        }
        version = one(await (await conn.execute(MOVE, params)).fetchone())[0]
        detail: dict[str, Any] = {"request_id": request_id, "state": move.target, "message": move.message}
        if quantity is not None:
            detail["quantity"] = quantity
        if force_ids:
            await _hold(conn, locked.incident_id, force_ids, user.username)
            detail["forces"] = force_ids
        if move.target == "released" and locked.force_ids:
            freed = await (await conn.execute(RELEASE, (locked.incident_id, locked.force_ids))).fetchall()
            detail["released_forces"] = [r[0] for r in freed]
        await conn.execute(MESSAGE, (request_id, move.message, quantity, user.username, user.unit_id, answer.note))
        await log(conn, locked.incident_id, f"resource_{move.target}", user.username, answer.note, **detail)
    return {"id": request_id, "state": move.target, "version": version, "allowed": _allowed(move.target)}


async def _hold(conn: psycopg.AsyncConnection, incident_id: int, force_ids: list[int], actor: str) -> None:
    """The incident holds the forces (unified dispatch); one held meanwhile by an incident the caller
    cannot see still hits the one-holder index: 409."""
    try:
        async with conn.transaction():
            await conn.execute(HOLD, (incident_id, actor, force_ids))
    except errors.UniqueViolation as held:
        raise ConflictError(
            f"forces {', '.join(map(str, force_ids))} include one held by another incident: it is released there first"
        ) from held


def _view(row: tuple[Any, ...]) -> dict[str, Any]:
    (
        i,
        incident_id,
        type_code,
        type_name,
        type_en,
        measure,
        capability,
        quantity,
        offered,
        committed,
        unit_code,
        unit_name,
        needed_by,
        lon,
        lat,
        state,
        note,
        force_ids,
        by,
        at,
        version,
        messages,
    ) = row
    return {
        "id": i,
        "incident_id": incident_id,
        "resource_type": {"code": type_code, "name": type_name, "name_en": type_en, "measure": measure},
        "capability": capability,
        "quantity": quantity,
        "offered": offered,
        "committed": committed,
        "to_unit": {"code": unit_code, "name": unit_name},
        "needed_by": needed_by.isoformat(),
        "needed_at": {"lon": lon, "lat": lat},
        "state": state,
        "note": note,
        "force_ids": list(force_ids),
        "requested_by": by,
        "requested_at": at.isoformat(),
        "version": version,
        "allowed": _allowed(state),
        "messages": messages,
    }


async def resource_types(conn: psycopg.AsyncConnection) -> list[dict[str, Any]]:
    """The types a request may name, with their words and measure (a form's choices)."""
    rows = await (await conn.execute(TYPES_NAMED)).fetchall()
    return [
        {"code": code, "name": name, "name_en": name_en, "measure": measure} for code, name, name_en, measure in rows
    ]


def side_moves(allowed: list[str], side: Side) -> list[str]:
    """Of the moves a request's state allows, those ``side`` makes (the board shows the requester's, the
    inbox the owner's)."""
    return [action for action in allowed if MOVES[action].side is side]


async def read_request(conn: psycopg.AsyncConnection, request_id: int) -> dict[str, Any]:
    """One request with its messages, as the caller may see it (the incident's command or the unit asked)."""
    row = await (await conn.execute(ONE, (request_id,))).fetchone()
    if row is None:
        raise NotFoundError(f"no resource request {request_id} for your unit")
    return _view(row)


async def list_requests(
    conn: psycopg.AsyncConnection, user: User, *, asked: bool, state: str | None, before: int | None, limit: int
) -> list[dict[str, Any]]:
    """Requests the caller sees, newest first; ``asked``: only those asked of their unit (the inbox)."""
    params = {
        "state": state,
        "before": before or 2**63 - 1,
        "asked": asked,
        "unit": user.unit_id,
        "limit": limit,
    }
    return [_view(row) for row in await (await conn.execute(LISTED, params)).fetchall()]


async def incident_resources(conn: psycopg.AsyncConnection, incident_id: int) -> dict[str, Any]:
    """The board's resources: every request of the incident, and per type requested / offered /
    committed / deployed (on scene) / released."""
    requests = [_view(row) for row in await (await conn.execute(OF_INCIDENT, (incident_id,))).fetchall()]
    summary = [
        {
            "resource_type": code,
            "name": name,
            "name_en": name_en,
            "measure": measure,
            "requested": requested or 0,
            "offered": offered,
            "committed": committed,
            "deployed": deployed,
            "released": released,
            "declined_requests": declined,
        }
        for code, name, name_en, measure, requested, offered, committed, deployed, released, declined in (
            await (await conn.execute(SUMMARY, (incident_id,))).fetchall()
        )
    ]
    return {"incident_id": incident_id, "summary": summary, "requests": requests}


async def nearest_forces(
    conn: psycopg.AsyncConnection, user: User, incident_id: int, resource_type: str, need: Need
) -> dict[str, Any]:
    """The k nearest available forces able to serve ``resource_type`` for the incident's whole area.

    The case recommendation ranks from a point; for an area it ranks from the area's centre (the
    perimeter's, else the areas', else the command post) in the commanding unit's tiers — for a
    round perimeter (a buffer) the order by distance to the centre is the order by distance to the
    area — and each card then says its distance and ETA to the area's edge (0 inside).
    """
    type_code, capability, _ = await _resource_type(conn, resource_type)
    if capability is None:
        raise InvalidInputError(f"resource type {type_code} is counted goods, not forces: ask a unit that stocks it")
    need = Need(need.k, (capability,), need.stale_after, need.zone, need.look_m)
    await check_need(conn, need)
    row = await (await conn.execute(AREA, (incident_id,))).fetchone()
    if row is None:
        raise NotFoundError(f"no incident {incident_id} in your jurisdiction")
    area, centre, own = row
    chosen, passed = await rank_near(conn, centre, own, need, user.unit_id)
    placed = [card for card in chosen if card["position"] is not None]
    lons, lats = [c["position"]["lon"] for c in placed], [c["position"]["lat"] for c in placed]
    edge: dict[int, float] = dict(
        await (await conn.execute(EDGE, (area, [c["id"] for c in placed], lons, lats))).fetchall()
    )
    for card in chosen:
        to_edge = float(edge.get(card["id"], card["distance_m"]))
        card["eta_s"] = round(card["eta_s"] * to_edge / card["distance_m"]) if card["distance_m"] else 0
        card["distance_to_centre_m"], card["distance_m"] = card["distance_m"], round(to_edge, 1)
    answer: dict[str, Any] = {
        "incident_id": incident_id,
        "resource_type": type_code,
        "capability": capability,
        "k": need.k,
        "candidates": chosen,
        "passed_over": passed,
    }
    if (short := shortfall(chosen, need)) is not None:
        answer["shortfall"] = short
    return answer
