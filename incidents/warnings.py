"""Warnings received: official CAP 1.2 alerts (heavy rain, typhoon, heat …) read, placed on the hierarchy, kept.

An alert must be valid CAP 1.2 (the OASIS schema, as for the alerts the platform issues) and its areas
valid shapes: a polygon is CAP's ``lat,lon`` pairs, closed, that do not cross themselves; a circle is
``lat,lon radius_km``. A refusal says where (info, area, polygon) and what is wrong. The area is the
union of every info's polygons and circles; the units it touches (districts, streets, communities) and
those its GB/T 2260 geocodes name are the affected ones, and they with their chains may read it — so a
street's queue shows the warnings over that street. The warning's colour is its ``CN_WARNING_LEVEL``
parameter (蓝/黄/橙/红, or Blue … Red), else its CAP severity's (Minor … Extreme).

The same alert received twice (sender and identifier) is one. An Update replaces the alerts it
references; a Cancel ends them. A warning is drawn until it expires, is replaced or is cancelled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
import shapely
from lxml import etree
from psycopg.rows import dict_row
from shapely.geometry import Polygon

from incidents.cap import NS, problems
from incidents.queries.warnings import CANCEL, INSERT, LIVE, NOTICES, REPLACE, SAME
from spatial.errors import InvalidInputError

MAX_BYTES = 1 << 20
MAX_VERTICES = 20_000
COLOURS = {
    "蓝色": "blue",
    "黄色": "yellow",
    "橙色": "orange",
    "红色": "red",
    "blue": "blue",
    "yellow": "yellow",
    "orange": "orange",
    "red": "red",
}
BY_SEVERITY = {"Minor": "blue", "Moderate": "yellow", "Severe": "orange", "Extreme": "red"}
GEOCODE_NAMES = re.compile(r"GB.?T.?2260|GB2260|ADCODE|行政区划", re.IGNORECASE)
_ = {"c": NS}


@dataclass
class Received:
    """What the platform reads from one CAP alert."""

    identifier: str
    sender: str
    sent: datetime
    msg_type: str
    status: str
    references: list[tuple[str, str]]
    event: str
    headline: str | None
    description: str | None
    severity: str
    urgency: str
    certainty: str
    colour: str | None
    expires: datetime | None
    polygons: list[bytes] = field(default_factory=list)  # WKB
    circles: list[tuple[float, float, float]] = field(default_factory=list)  # lon, lat, metres
    geocodes: list[str] = field(default_factory=list)


def _text(element: etree._Element, path: str) -> str | None:
    found = element.find(path, _)
    return found.text.strip() if found is not None and found.text else None


def read(xml: bytes) -> Received:
    """The alert as the platform keeps it; InvalidInputError says where it is wrong."""
    if len(xml) > MAX_BYTES:
        raise InvalidInputError(f"a CAP alert of {len(xml):,} bytes is over {MAX_BYTES:,}: send the area simplified")
    if found := problems(xml):
        raise InvalidInputError("not valid CAP 1.2: " + "; ".join(found[:5]))
    alert = etree.fromstring(xml)
    infos = alert.findall("c:info", _)
    if not infos:
        raise InvalidInputError("the alert has no info: nothing says what the warning is")
    chosen = next((i for i in infos if (_text(i, "c:language") or "en-US").lower().startswith("zh")), infos[0])
    received = Received(
        identifier=_text(alert, "c:identifier") or "",
        sender=_text(alert, "c:sender") or "",
        sent=datetime.fromisoformat(_text(alert, "c:sent") or ""),
        msg_type=_text(alert, "c:msgType") or "",
        status=_text(alert, "c:status") or "",
        references=_references(_text(alert, "c:references")),
        event=_text(chosen, "c:event") or "",
        headline=_text(chosen, "c:headline"),
        description=_text(chosen, "c:description"),
        severity=_text(chosen, "c:severity") or "",
        urgency=_text(chosen, "c:urgency") or "",
        certainty=_text(chosen, "c:certainty") or "",
        colour=_colour(chosen),
        expires=max((datetime.fromisoformat(e) for i in infos if (e := _text(i, "c:expires"))), default=None),
    )
    for i, info in enumerate(infos, start=1):
        for j, area in enumerate(info.findall("c:area", _), start=1):
            _place(received, area, f"info {i}, area {j}")
    if received.msg_type != "Cancel" and not (received.polygons or received.circles or received.geocodes):
        raise InvalidInputError("the alert names no area: give a polygon, a circle or a GB/T 2260 geocode")
    return received


def _references(text: str | None) -> list[tuple[str, str]]:
    """CAP's ``sender,identifier,sent`` triples, as (sender, identifier)."""
    pairs = []
    for triple in (text or "").split():
        parts = triple.split(",")
        if len(parts) != 3:
            raise InvalidInputError(f"references {triple!r} is not sender,identifier,sent")
        pairs.append((parts[0], parts[1]))
    return pairs


def _colour(info: etree._Element) -> str | None:
    for parameter in info.findall("c:parameter", _):
        if (_text(parameter, "c:valueName") or "").upper() == "CN_WARNING_LEVEL":
            word = (_text(parameter, "c:value") or "").strip().lower()
            if word in COLOURS:
                return COLOURS[word]
    return BY_SEVERITY.get(_text(info, "c:severity") or "")


def _place(received: Received, area: etree._Element, where: str) -> None:
    """Add an area's polygons, circles and geocodes to the alert, each checked."""
    for k, polygon in enumerate(area.findall("c:polygon", _), start=1):
        received.polygons.append(_polygon(polygon.text or "", f"{where}, polygon {k}"))
    for k, circle in enumerate(area.findall("c:circle", _), start=1):
        received.circles.append(_circle(circle.text or "", f"{where}, circle {k}"))
    for geocode in area.findall("c:geocode", _):
        if GEOCODE_NAMES.search(_text(geocode, "c:valueName") or "") and (value := _text(geocode, "c:value")):
            received.geocodes.append(value)


def _pair(text: str, where: str) -> tuple[float, float]:
    """CAP's ``lat,lon`` as (lon, lat), in range."""
    try:
        lat, lon = (float(part) for part in text.split(","))
    except ValueError:
        raise InvalidInputError(f"{where}: {text!r} is not a lat,lon pair") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise InvalidInputError(f"{where}: {text} is outside lat -90…90 / lon -180…180 (CAP puts latitude first)")
    return lon, lat


def _polygon(text: str, where: str) -> bytes:
    points = [_pair(pair, where) for pair in text.split()]
    if len(points) < 4 or points[0] != points[-1]:
        raise InvalidInputError(f"{where}: a polygon is at least 4 lat,lon pairs, the last the same as the first")
    if len(points) > MAX_VERTICES:
        raise InvalidInputError(f"{where}: {len(points):,} points is over {MAX_VERTICES:,}: simplify it")
    shape = Polygon(points)
    if not shape.is_valid:
        raise InvalidInputError(f"{where}: not a valid polygon: {shapely.is_valid_reason(shape)}")
    return shapely.to_wkb(shape)


def _circle(text: str, where: str) -> tuple[float, float, float]:
    try:
        centre, radius = text.split()
        kilometres = float(radius)
    except ValueError:
        raise InvalidInputError(f"{where}: a circle is 'lat,lon radius_km', not {text!r}") from None
    if not 0 < kilometres <= 1000:
        raise InvalidInputError(f"{where}: the radius {kilometres} km is not between 0 and 1,000")
    lon, lat = _pair(centre, where)
    return lon, lat, kilometres * 1000


async def receive(conn: psycopg.AsyncConnection, xml: bytes, actor: str) -> tuple[dict[str, Any], bool]:
    """Keep the alert (once), place it, apply its Update or Cancel; (the warning as kept, whether it is new)."""
    received = read(xml)
    async with conn.transaction():
        async with conn.cursor(row_factory=dict_row) as cur:
            same = await (await cur.execute(SAME, (received.sender, received.identifier))).fetchone()
            if same is not None:
                return _public(same), False
            row = await (
                await cur.execute(
                    INSERT,
                    {
                        **received.__dict__,
                        "clon": [c[0] for c in received.circles],
                        "clat": [c[1] for c in received.circles],
                        "cradius": [c[2] for c in received.circles],
                        "xml": xml.decode("utf-8", "replace"),
                        "actor": actor,
                        "cancelled": received.msg_type == "Cancel",
                    },
                )
            ).fetchone()
        assert row is not None
        senders = [sender for sender, _ in received.references]
        identifiers = [identifier for _, identifier in received.references]
        if received.references:
            statement = CANCEL if received.msg_type == "Cancel" else REPLACE
            await conn.execute(statement, {"id": row["id"], "senders": senders, "identifiers": identifiers})
    return _public(row), True


async def live(conn: psycopg.AsyncConnection) -> dict[str, Any]:
    """The warnings in force over the caller's jurisdiction, as GeoJSON (each area simplified to ~50 m)."""
    row = await (await conn.execute(LIVE)).fetchone()
    return row[0] if row else {"type": "FeatureCollection", "features": []}


async def in_force(conn: psycopg.AsyncConnection) -> list[dict[str, Any]]:
    """The warnings in force over the caller's jurisdiction, newest first, as a queue's notice shows them."""
    async with conn.cursor(row_factory=dict_row) as cur:
        return list(await (await cur.execute(NOTICES)).fetchall())


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value.isoformat() if isinstance(value, datetime) else str(value) if key == "id" else value
        for key, value in row.items()
    }
