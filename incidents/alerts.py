"""CAP alerts of an incident: composed, approved by another hand, published; updated and cancelled in a chain.

An alert takes its severity and the Chinese warning colour (蓝/黄/橙/红) from the incident's level
(``incident_level``), its CAP category from the incident's class, its area from the incident's perimeter
unless one is given, and its geocodes from the districts that area touches. An Update or a Cancel
refers to a published alert (``references``: sender,identifier,sent); the schema allows one of them in
flight per alert, so a chain never forks. Publishing builds the XML, refuses it (422) when the CAP 1.2
schema does, and stores it; publishing again answers the same alert (no second row, no second send).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import psycopg
import shapely
from psycopg.errors import UniqueViolation
from psycopg.types.json import Jsonb
from shapely.geometry import MultiPolygon

from command.users import User
from incidents.cap import Info, Message, build, cap_time, polygon_text, problems
from incidents.command import require_inside
from incidents.queries.alerts import (
    ACTIVE,
    APPROVE,
    CLIPPED,
    COMPOSE,
    DISTRICTS,
    INCIDENT,
    LIST,
    LOCK,
    PUBLISH,
    READ,
    REFERENCED,
    SENT,
    XML,
)
from incidents.timeline import log
from incidents.vocabulary import IncidentState
from spatial.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError, StaleVersionError
from spatial.polygons import checked_polygon
from spatial.rows import one

SENDER = "cityops.nanjing.gov.cn"  # the platform's address as a CAP sender (no spaces, commas or <&)
# CAP's category of each incident class (a subtype not named takes its parent's)
CATEGORY = {
    "natural_disaster": "Met",
    "natural_disaster.geological": "Geo",
    "natural_disaster.earthquake": "Geo",
    "accident": "Safety",
    "accident.fire": "Fire",
    "accident.gas": "Fire",
    "accident.hazardous_chemicals": "CBRNE",
    "accident.traffic": "Transport",
    "accident.utility": "Infra",
    "public_health": "Health",
    "social_security": "Security",
}
COLOUR = {  # the warning colour in each info's language, as the national warning system names it
    "zh-CN": {"blue": "蓝色", "yellow": "黄色", "orange": "橙色", "red": "红色"},
    "en-US": {"blue": "Blue", "yellow": "Yellow", "orange": "Orange", "red": "Red"},
}
WARNING_LEVEL = "CN_WARNING_LEVEL"
INCIDENT_LEVEL = "CN_INCIDENT_LEVEL"


class MsgType(StrEnum):
    """CAP's msgType: a new alert, an update of a published one, its cancellation."""

    ALERT = "Alert"
    UPDATE = "Update"
    CANCEL = "Cancel"


class AlertState(StrEnum):
    """An alert's life on the platform: drafted, approved by another hand, published."""

    DRAFT = "draft"
    APPROVED = "approved"
    PUBLISHED = "published"


@dataclass(frozen=True)
class Words:
    """What an alert says in one language."""

    headline: str
    event: str
    instruction: str
    description: str = ""


@dataclass(frozen=True)
class AlertSpec:
    """What composing an alert (or its update) takes; ``area`` is GeoJSON text, the perimeter when None."""

    zh: Words
    urgency: str
    certainty: str
    response_type: str
    expires: datetime
    en: Words | None = None
    status: str = "Actual"
    area: str | None = None
    area_desc: str | None = None


def _as_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    (i, incident, identifier, msg_type, references, status, scope, state, content, area, geocodes, expires) = row[:12]
    author, written, approver, published, version = row[12:]
    return {
        "id": i,
        "incident_id": incident,
        "identifier": identifier,
        "msg_type": msg_type,
        "references_id": references,
        "status": status,
        "scope": scope,
        "state": state,
        "content": content,
        "area": shapely.to_geojson(shapely.from_wkb(area)),
        "area_wkb": bytes(area),
        "geocodes": list(geocodes),
        "expires": expires,
        "author": author,
        "written_at": written.isoformat(),
        "approved_by": approver,
        "published_at": published,
        "version": version,
    }


def public(alert: dict[str, Any]) -> dict[str, Any]:
    """An alert as the API answers it (times as text, the area as GeoJSON, no raw geometry)."""
    shown = {k: v for k, v in alert.items() if k != "area_wkb"}
    shown["expires"] = alert["expires"].isoformat()
    shown["published_at"] = alert["published_at"].isoformat() if alert["published_at"] else None
    if alert["state"] == AlertState.PUBLISHED:
        shown["sent"] = cap_time(alert["published_at"])
        shown["xml_url"] = f"/api/v1/alerts/{alert['identifier']}.xml"
    return shown


async def _incident(conn: psycopg.AsyncConnection, user: User, incident_id: int) -> dict[str, Any]:
    row = await (await conn.execute(INCIDENT, (incident_id,))).fetchone()
    if row is None:
        raise NotFoundError(f"no incident {incident_id} in your jurisdiction")
    i, code, title, state, units, class_code, parent, class_name, level, severity, colour, unit_name, area = row
    require_inside(user, list(units), code)
    if state != IncidentState.ACTIVE:
        raise ConflictError(f"incident {code} is closed: it sends no more alerts")
    if area is None:
        raise ConflictError(f"incident {code} has no area: draw its perimeter or give the alert's polygon")
    return {
        "id": i,
        "code": code,
        "title": title,
        "category": CATEGORY.get(class_code) or CATEGORY.get(parent or "", "Other"),
        "class_name": class_name,
        "level": level,
        "severity": severity,
        "colour": colour,
        "sender_name": f"{unit_name}突发事件应急指挥部",
        "area": bytes(area),
    }


async def _area(conn: psycopg.AsyncConnection, spec: AlertSpec, perimeter: bytes) -> bytes:
    if spec.area is None:
        return perimeter
    drawn = shapely.to_wkb(checked_polygon(spec.area, "the alert's area"))
    clipped = one(await (await conn.execute(CLIPPED, (drawn,))).fetchone())[0]
    if clipped is None or shapely.is_empty(shapely.from_wkb(clipped)):
        raise InvalidInputError("the alert's area lies outside the city: draw it over the places to warn")
    return bytes(clipped)


def _content(incident: dict[str, Any], spec: AlertSpec, area_desc: str, note: str = "") -> dict[str, Any]:
    infos = [{"language": "zh-CN", **spec.zh.__dict__}]
    if spec.en is not None:
        infos.append({"language": "en-US", **spec.en.__dict__})
    return {
        "info": infos,
        "category": incident["category"],
        "urgency": spec.urgency,
        "certainty": spec.certainty,
        "response_type": spec.response_type,
        "severity": incident["severity"],
        "colour": incident["colour"],
        "level": incident["level"],
        "sender_name": incident["sender_name"],
        "area_desc": area_desc,
        "incident_code": incident["code"],
        "note": note,
    }


async def _insert(
    conn: psycopg.AsyncConnection,
    user: User,
    incident: dict[str, Any],
    spec: AlertSpec,
    msg_type: MsgType,
    references: int | None,
    note: str = "",
) -> dict[str, Any]:
    area = await _area(conn, spec, incident["area"])
    districts = await (await conn.execute(DISTRICTS, (area,))).fetchall()
    area_desc = spec.area_desc or "、".join(name for _, name in districts) or incident["title"]
    params = {
        "incident": incident["id"],
        "identifier": f"CN-NJ-{incident['code']}-{uuid.uuid4().hex[:12]}",
        "msg_type": msg_type.value,
        "references": references,
        "status": spec.status,
        "content": Jsonb(_content(incident, spec, area_desc, note)),
        "area": area,
        "geocodes": [code for code, _ in districts],
        "expires": spec.expires,
        "author": user.username,
    }
    try:
        async with conn.transaction():
            alert = _as_dict(one(await (await conn.execute(COMPOSE, params)).fetchone()))
    except UniqueViolation:
        raise ConflictError(
            f"alert {references} already has an update or a cancel in the works: continue that one"
        ) from None
    await log(
        conn,
        incident["id"],
        "alert_composed",
        user.username,
        "",
        alert=alert["id"],
        msg_type=msg_type.value,
        references=references,
    )
    return alert


def _check_expiry(expires: datetime, now: datetime) -> None:
    if expires.tzinfo is None:
        raise InvalidInputError("expires needs a time zone offset, e.g. 2026-12-03T18:00:00+08:00")
    if expires <= now:
        raise InvalidInputError(f"expires {expires.isoformat()} has passed: an alert must expire in the future")


async def compose(
    conn: psycopg.AsyncConnection, user: User, incident_id: int, spec: AlertSpec, now: datetime
) -> dict[str, Any]:
    """A new draft alert (msgType Alert) of the incident."""
    _check_expiry(spec.expires, now)
    async with conn.transaction():
        incident = await _incident(conn, user, incident_id)
        return await _insert(conn, user, incident, spec, MsgType.ALERT, None)


async def _published(conn: psycopg.AsyncConnection, alert_id: int, what: str) -> dict[str, Any]:
    row = await (await conn.execute(LOCK, (alert_id,))).fetchone()
    if row is None:
        raise NotFoundError(f"no alert {alert_id} in your jurisdiction")
    original = _as_dict(row)
    if original["state"] != AlertState.PUBLISHED:
        raise ConflictError(f"alert {alert_id} is not published ({original['state']}): there is nothing to {what}")
    if original["msg_type"] == MsgType.CANCEL:
        raise ConflictError(f"alert {alert_id} is itself a Cancel: there is nothing to {what}")
    return original


async def follow_up(
    conn: psycopg.AsyncConnection,
    user: User,
    alert_id: int,
    msg_type: MsgType,
    spec: AlertSpec | None,
    note: str,
    now: datetime,
) -> dict[str, Any]:
    """An Update (new words, area, expiry) or a Cancel (the original's words, with a note) of a published alert."""
    if spec is not None:
        _check_expiry(spec.expires, now)
    async with conn.transaction():
        original = await _published(conn, alert_id, "update" if msg_type is MsgType.UPDATE else "cancel")
        incident = await _incident(conn, user, original["incident_id"])
        if spec is None:  # a Cancel repeats what it cancels, over the same area
            said = original["content"]
            words = {
                i["language"]: Words(i["headline"], i["event"], i["instruction"], i["description"])
                for i in said["info"]
            }
            spec = AlertSpec(
                words["zh-CN"],
                said["urgency"],
                said["certainty"],
                "AllClear",
                original["expires"],
                words.get("en-US"),
                original["status"],
                None,
                said["area_desc"],
            )
            incident = {**incident, "area": original["area_wkb"]}
        return await _insert(conn, user, incident, spec, msg_type, alert_id, note)


async def _locked(conn: psycopg.AsyncConnection, user: User, alert_id: int, version: int | None) -> dict[str, Any]:
    row = await (await conn.execute(LOCK, (alert_id,))).fetchone()
    if row is None:
        raise NotFoundError(f"no alert {alert_id} in your jurisdiction")
    alert = _as_dict(row)
    if version is not None and alert["state"] != AlertState.PUBLISHED and version != alert["version"]:
        raise StaleVersionError(f"alert {alert_id} changed meanwhile (version {alert['version']}, you sent {version})")
    return alert


async def approve(conn: psycopg.AsyncConnection, user: User, alert_id: int, version: int) -> dict[str, Any]:
    """Approve a draft alert: by another hand than its author's."""
    async with conn.transaction():
        alert = await _locked(conn, user, alert_id, version)
        await _incident(conn, user, alert["incident_id"])
        if alert["author"] == user.username:
            raise ForbiddenError(f"you composed alert {alert_id}: another commander approves it")
        if alert["state"] != AlertState.DRAFT:
            raise ConflictError(f"alert {alert_id} is already {alert['state']}")
        approved = _as_dict(one(await (await conn.execute(APPROVE, (user.username, alert_id))).fetchone()))
        await log(conn, alert["incident_id"], "alert_approved", user.username, "", alert=alert_id)
    return approved


def message(alert: dict[str, Any], sent: datetime, references: str | None) -> Message:
    """The CAP message of a stored alert, as sent at ``sent``."""
    said = alert["content"]
    area = shapely.from_wkb(alert["area_wkb"])
    rings = polygon_text(area if isinstance(area, MultiPolygon) else MultiPolygon([area]))
    infos = tuple(
        Info(
            language=words["language"],
            category=said["category"],
            event=words["event"],
            urgency=said["urgency"],
            severity=said["severity"],
            certainty=said["certainty"],
            response_type=said["response_type"],
            expires=alert["expires"],
            sender_name=said["sender_name"],
            headline=words["headline"],
            description=words["description"],
            instruction=words["instruction"],
            parameters=(
                (WARNING_LEVEL, COLOUR[words["language"]][said["colour"]]),
                (INCIDENT_LEVEL, said["level"]),
            ),
            area_desc=said["area_desc"],
            polygons=rings,
            geocodes=tuple(alert["geocodes"]),
        )
        for words in said["info"]
    )
    return Message(
        identifier=alert["identifier"],
        sender=SENDER,
        sent=sent,
        status=alert["status"],
        msg_type=alert["msg_type"],
        scope=alert["scope"],
        infos=infos,
        references=references,
        note=said.get("note") or None,
        incidents=said["incident_code"],
    )


async def publish(conn: psycopg.AsyncConnection, user: User, alert_id: int) -> dict[str, Any]:
    """Publish an approved alert once: build its XML, refuse it when the CAP 1.2 schema does (422, saying
    why), store it. An alert already published is answered as it is."""
    async with conn.transaction():
        alert = await _locked(conn, user, alert_id, None)
        if alert["state"] == AlertState.PUBLISHED:
            return alert
        await _incident(conn, user, alert["incident_id"])
        if alert["state"] != AlertState.APPROVED:
            raise ConflictError(f"alert {alert_id} is a draft: another commander approves it before it is published")
        references = None
        if alert["references_id"] is not None:
            row = await (await conn.execute(REFERENCED, (alert["references_id"],))).fetchone()
            if row is None:
                raise ConflictError(f"alert {alert['references_id']}, which this one refers to, is not published")
            references = f"{SENDER},{row[0]},{cap_time(row[1])}"
        sent = one(await (await conn.execute(SENT)).fetchone())[0]
        xml = build(message(alert, sent, references))
        if errors := problems(xml):
            raise InvalidInputError(f"alert {alert_id} is not valid CAP 1.2: " + "; ".join(errors[:5]))
        published = _as_dict(one(await (await conn.execute(PUBLISH, (sent, xml.decode("utf-8"), alert_id))).fetchone()))
        await log(
            conn,
            alert["incident_id"],
            "alert_published",
            user.username,
            "",
            alert=alert_id,
            identifier=alert["identifier"],
            msg_type=alert["msg_type"],
        )
    return published


async def read(conn: psycopg.AsyncConnection, alert_id: int) -> dict[str, Any]:
    """One alert as the caller may see it, or 404."""
    row = await (await conn.execute(READ, (alert_id,))).fetchone()
    if row is None:
        raise NotFoundError(f"no alert {alert_id} in your jurisdiction")
    return _as_dict(row)


async def listed(conn: psycopg.AsyncConnection, incident_id: int) -> list[dict[str, Any]]:
    """The incident's alerts, oldest first."""
    return [_as_dict(r) for r in await (await conn.execute(LIST, (incident_id,))).fetchall()]


async def xml_of(conn: psycopg.AsyncConnection, identifier: str) -> str:
    """A published alert's XML, as it was sent."""
    row = await (await conn.execute(XML, (identifier,))).fetchone()
    if row is None:
        raise NotFoundError(f"no published alert {identifier!r}")
    return str(row[0])


async def active(conn: psycopg.AsyncConnection, limit: int = 200) -> list[dict[str, Any]]:
    """Alerts in force: published, not expired, not updated or cancelled since; newest first."""
    rows = await (await conn.execute(ACTIVE, (limit,))).fetchall()
    return [
        {"identifier": i, "msg_type": t, "content": c, "sent": sent, "expires": expires}
        for i, t, c, sent, expires in rows
    ]
