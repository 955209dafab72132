"""An incident's life: opened (or elevated from cases), its level and command changed, closed.

The level decides the commanding tier (data: ``incident_level``); the commanding unit is the unit
of that tier over the command post — 江北新区 for its streets, as its management unit. Only the
commanding unit or a unit above it may open, re-level or close; de-escalation is a level change
downwards, and the command moves with it. Every change bumps ``version`` (a stale one is a 409)
and is written on the timeline.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import psycopg

from command.users import User
from incidents.areas import AreaSpec, add_area
from incidents.command import chain_of, require_commanding
from incidents.queries.areas import REFRESH_UNITS
from incidents.queries.lifecycle import (
    ACTIVE_AREAS,
    ACTIVE_USER,
    CASES,
    CLASS,
    CLASSES,
    CLOSE,
    COMMANDING_UNIT,
    LEVEL,
    LINK,
    LIST,
    LOCK,
    OPEN,
    READ,
    RELEASE_FORCES,
    SET_COMMAND,
    SET_LEVEL,
    VISIBLE_CASES,
)
from incidents.timeline import log
from incidents.vocabulary import AreaKind, CaseLink, IncidentState, Level
from spatial.coords import validate_lon_lat
from spatial.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError, StaleVersionError
from spatial.rows import one

DEFAULT_PERIMETER_M = 500.0  # an incident opened with no area gets this circle round its command post
MAX_CASES = 10_000


@dataclass(frozen=True)
class IncidentSpec:
    """What opening an incident takes; ``case_ids`` are elevated into it, ``areas`` drawn at once."""

    title: str
    class_code: str
    level: Level
    lon: float
    lat: float
    description: str = ""
    commander: str | None = None
    lead_department: str | None = None
    case_ids: tuple[int, ...] = ()
    areas: tuple[AreaSpec, ...] = field(default_factory=tuple)


async def commanding_unit(conn: psycopg.AsyncConnection, level: Level, lon: float, lat: float) -> tuple[int, str]:
    """The unit that commands an incident of ``level`` at the point: (id, name), or 422 outside the city."""
    tier = one(await (await conn.execute(LEVEL, (level.value,))).fetchone())[0]
    row = await (await conn.execute(COMMANDING_UNIT, {"lon": lon, "lat": lat, "tier": tier})).fetchone()
    if row is None:
        raise InvalidInputError(f"the command post lon={lon}, lat={lat} is outside the city: place it inside")
    return int(row[0]), str(row[2])


async def _check_class(conn: psycopg.AsyncConnection, class_code: str) -> None:
    if await (await conn.execute(CLASS, (class_code,))).fetchone() is None:
        known = [r[0] for r in await (await conn.execute(CLASSES)).fetchall()]
        raise InvalidInputError(f"unknown incident class {class_code!r}; use one of: {', '.join(known)}")


async def _check_user(conn: psycopg.AsyncConnection, username: str, role: str) -> None:
    if await (await conn.execute(ACTIVE_USER, (username,))).fetchone() is None:
        raise InvalidInputError(f"{role} {username!r} is not an active user")


async def open_incident(conn: psycopg.AsyncConnection, user: User, spec: IncidentSpec) -> dict[str, Any]:
    """Open an incident (elevating ``spec.case_ids``), with its areas; returns its id and code."""
    lon, lat = validate_lon_lat(spec.lon, spec.lat)
    await _check_class(conn, spec.class_code)
    commander = spec.commander or user.username
    await _check_user(conn, commander, "commander")
    if len(spec.case_ids) > MAX_CASES:
        raise InvalidInputError(f"at most {MAX_CASES} cases can be elevated at once")
    async with conn.transaction():
        unit_id, unit_name = await commanding_unit(conn, spec.level, lon, lat)
        chain = await _chain_or_refuse(conn, user, unit_id, unit_name, spec.level)
        incident_id, code = one(
            await (
                await conn.execute(
                    OPEN,
                    {
                        "title": spec.title,
                        "description": spec.description,
                        "class_code": spec.class_code,
                        "level": spec.level.value,
                        "unit_id": unit_id,
                        "commander": commander,
                        "lead_department": spec.lead_department,
                        "lon": lon,
                        "lat": lat,
                        "units": chain,
                        "actor": user.username,
                    },
                )
            ).fetchone()
        )
        await log(
            conn,
            incident_id,
            "opened",
            user.username,
            "",
            level=spec.level.value,
            class_code=spec.class_code,
            commanding_unit=unit_name,
            commander=commander,
        )
        areas = spec.areas or (AreaSpec(AreaKind.PERIMETER, "", buffer_m=DEFAULT_PERIMETER_M, lon=lon, lat=lat),)
        for area in areas:
            await add_area(conn, incident_id, area, user.username)
        if spec.case_ids:
            await link_cases(conn, user, incident_id, spec.case_ids, CaseLink.LINKED, how="elevated")
    return {"id": incident_id, "code": code}


async def _chain_or_refuse(
    conn: psycopg.AsyncConnection, user: User, unit_id: int, unit_name: str, level: Level
) -> list[int]:
    chain = await chain_of(conn, unit_id)
    if user.department is not None or user.unit_id not in chain:
        raise ForbiddenError(f"a level {level} incident here is commanded by {unit_name} or above, not by your unit")
    return chain


@dataclass(frozen=True)
class Locked:
    """An active incident's row, locked for a change that checked its version."""

    id: int
    version: int
    level: Level
    unit_id: int
    code: str
    lon: float
    lat: float


async def _lock(conn: psycopg.AsyncConnection, incident_id: int, version: int | None) -> Locked:
    row = await (await conn.execute(LOCK, (incident_id,))).fetchone()
    if row is None:
        raise NotFoundError(f"no incident {incident_id} in your jurisdiction")
    current, state, level, unit_id, code, lon, lat = row
    if version is not None and version != current:
        raise StaleVersionError(f"incident {code} changed meanwhile (version {current}, you sent {version}): reload it")
    if state != IncidentState.ACTIVE:
        raise ConflictError(f"incident {code} is closed")
    return Locked(incident_id, current, Level(level), unit_id, code, lon, lat)


async def change_level(
    conn: psycopg.AsyncConnection, user: User, incident_id: int, level: Level, version: int, note: str
) -> dict[str, Any]:
    """Escalate or de-escalate: the command moves to the tier the new level asks for (audited)."""
    async with conn.transaction():
        locked = await _lock(conn, incident_id, version)
        await require_commanding(conn, user, locked.unit_id, locked.code)
        if locked.level == level:
            raise ConflictError(f"incident {locked.code} is already level {level}")
        unit_id, unit_name = await commanding_unit(conn, level, locked.lon, locked.lat)
        new_version = one(await (await conn.execute(SET_LEVEL, (level.value, unit_id, incident_id))).fetchone())[0]
        await conn.execute(REFRESH_UNITS, (incident_id,))
        action = "escalated" if level.rank < locked.level.rank else "de_escalated"
        await log(
            conn,
            incident_id,
            action,
            user.username,
            note,
            level_from=locked.level.value,
            level_to=level.value,
            commanding_unit=unit_name,
        )
    return {"id": incident_id, "level": level.value, "commanding_unit": unit_name, "version": new_version}


async def change_command(
    conn: psycopg.AsyncConnection,
    user: User,
    incident_id: int,
    version: int,
    *,
    commander: str | None = None,
    lead_department: str | None = None,
    set_department: bool = False,
    lon: float | None = None,
    lat: float | None = None,
    note: str = "",
) -> dict[str, Any]:
    """Hand command to another commander, name the lead department, or move the command post."""
    if (lon is None) != (lat is None):
        raise InvalidInputError("the command post needs both lon and lat")
    if lon is not None and lat is not None:
        lon, lat = validate_lon_lat(lon, lat)
    if commander is not None:
        await _check_user(conn, commander, "commander")
    async with conn.transaction():
        locked = await _lock(conn, incident_id, version)
        await require_commanding(conn, user, locked.unit_id, locked.code)
        params: dict[str, object] = {
            "id": incident_id,
            "commander": commander,
            "lead_department": lead_department,
            "set_department": set_department,
            "lon": lon,
            "lat": lat,
        }
        new_version = one(await (await conn.execute(SET_COMMAND, params)).fetchone())[0]
        changed: dict[str, object] = {
            k: v for k, v in params.items() if k in ("commander", "lon", "lat") and v is not None
        }
        if set_department:
            changed["lead_department"] = lead_department
        await log(conn, incident_id, "command_changed", user.username, note, **changed)
    return {"id": incident_id, "version": new_version}


async def close_incident(
    conn: psycopg.AsyncConnection, user: User, incident_id: int, version: int, note: str
) -> dict[str, Any]:
    """Close the incident: its forces are released back to their units (announced on the timeline)."""
    if not note.strip():
        raise InvalidInputError("closing an incident needs a note: why it is over")
    async with conn.transaction():
        locked = await _lock(conn, incident_id, version)
        await require_commanding(conn, user, locked.unit_id, locked.code)
        released = [r[0] for r in await (await conn.execute(RELEASE_FORCES, (incident_id,))).fetchall()]
        new_version = one(await (await conn.execute(CLOSE, (incident_id,))).fetchone())[0]
        await log(conn, incident_id, "closed", user.username, note, released_forces=released)
    return {"id": incident_id, "state": IncidentState.CLOSED.value, "version": new_version}


async def link_cases(
    conn: psycopg.AsyncConnection,
    user: User,
    incident_id: int,
    case_ids: tuple[int, ...],
    decision: CaseLink,
    how: str = "linked",
) -> list[int]:
    """Put cases under the incident (or dismiss flagged and proposed ones); cases the caller cannot
    see are a 404 naming them. Returns the cases whose link changed."""
    visible = {r[0] for r in await (await conn.execute(VISIBLE_CASES, (list(case_ids),))).fetchall()}
    if missing := sorted(set(case_ids) - visible):
        raise NotFoundError(f"no cases {', '.join(map(str, missing[:20]))} in your jurisdiction")
    params = {
        "incident": incident_id,
        "state": decision.value,
        "how": how,
        "actor": user.username,
        "cases": list(case_ids),
    }
    changed = [r[0] for r in await (await conn.execute(LINK, params)).fetchall()]
    if changed:
        await log(
            conn, incident_id, f"cases_{decision.value}", user.username, "", cases=changed[:1000], count=len(changed)
        )
    return changed


async def read_incident(conn: psycopg.AsyncConnection, incident_id: int) -> dict[str, Any]:
    """The incident as the caller may see it, or 404."""
    row = await (await conn.execute(READ, (incident_id,))).fetchone()
    if row is None:
        raise NotFoundError(f"no incident {incident_id} in your jurisdiction")
    (
        i,
        code,
        title,
        description,
        class_code,
        class_name,
        class_en,
        level,
        level_name,
        level_en,
        state,
        unit_code,
        unit_name,
        unit_tier,
        commander,
        lead,
        lon,
        lat,
        departments,
        opened_by,
        opened_at,
        closed_at,
        version,
        unit_id,
    ) = row
    return {
        "id": i,
        "code": code,
        "title": title,
        "description": description,
        "class": {"code": class_code, "name": class_name, "name_en": class_en},
        "level": {"code": level, "name": level_name, "name_en": level_en},
        "state": state,
        "commanding_unit": {"code": unit_code, "name": unit_name, "tier": unit_tier, "id": unit_id},
        "commander": commander,
        "lead_department": lead,
        "command_post": {"lon": lon, "lat": lat},
        "departments": list(departments),
        "opened_by": opened_by,
        "opened_at": opened_at.isoformat(),
        "closed_at": closed_at.isoformat() if closed_at else None,
        "version": version,
    }


async def commanded_incident(conn: psycopg.AsyncConnection, user: User, incident_id: int) -> dict[str, Any]:
    """The incident, when the caller commands it itself (its commanding unit or above); 404 or 403 otherwise."""
    incident = await read_incident(conn, incident_id)
    await require_commanding(conn, user, incident["commanding_unit"]["id"], incident["code"])
    return incident


async def incident_cases(conn: psycopg.AsyncConnection, incident_id: int, limit: int) -> list[dict[str, Any]]:
    """Cases under the incident (linked), flagged to it, and proposed for it, newest decisions first."""
    rows = await (await conn.execute(CASES, {"id": incident_id, "limit": limit})).fetchall()
    return [
        {
            "case_id": str(case_id),
            "link": link,
            "how": how,
            "linked_at": at.isoformat() if at else None,
            "category": category,
            "state": state,
            "severity": severity,
            "lon": lon,
            "lat": lat,
            "address": address,
            "filed_at": filed.isoformat() if filed else None,
        }
        for case_id, link, how, at, category, state, severity, lon, lat, address, filed in rows
    ]


async def active_areas(conn: psycopg.AsyncConnection) -> dict[str, Any]:
    """The active incidents within reach as a FeatureCollection of their joined current areas."""
    rows = await (await conn.execute(ACTIVE_AREAS)).fetchall()
    features = [
        {
            "type": "Feature",
            "id": incident_id,
            "geometry": json.loads(geometry),
            "properties": {"id": incident_id, "code": code, "title": title, "level": level},
        }
        for incident_id, code, title, level, geometry in rows
    ]
    return {"type": "FeatureCollection", "features": features}


async def list_incidents(
    conn: psycopg.AsyncConnection, state: IncidentState | None, before: int | None, limit: int
) -> list[dict[str, Any]]:
    """Incidents the caller sees, newest first."""
    params = {"state": state.value if state else None, "before": before or 2**63 - 1, "limit": limit}
    rows = await (await conn.execute(LIST, params)).fetchall()
    return [
        {
            "id": i,
            "code": code,
            "title": title,
            "class": {"code": cc, "name": cn},
            "level": level,
            "state": st,
            "commanding_unit": unit,
            "command_post": {"lon": lon, "lat": lat},
            "opened_at": opened.isoformat(),
            "closed_at": closed.isoformat() if closed else None,
            "linked_cases": linked,
        }
        for i, code, title, cc, cn, level, st, unit, lon, lat, opened, closed, linked in rows
    ]
