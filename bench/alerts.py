"""`cityops bench alerts`: building one CAP 1.2 alert, validated, against the 50 ms target.

Why: publishing an alert builds its XML and validates it against the OASIS schema while the commander
waits (issue 21: alert build ≤ 50 ms). What is compared, in one run, on the same alert: ours
(``incidents.alerts.message`` → ``incidents.cap.build`` with lxml → ``incidents.cap.problems`` against
the CAP 1.2 XSD) against the named baseline, the same elements written with the standard library's
``xml.etree.ElementTree`` and not validated — so the ratio shows what lxml and the schema check cost.

Data: the alert covers the largest district of the installation's hierarchy (its real boundary, the
biggest ring a Nanjing alert would carry), in Chinese and English, with its districts' geocodes.
"""

from __future__ import annotations

import statistics
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from rich.console import Console
from sqlalchemy import text

from bench.harness import Row, print_table
from bench.machine import describe
from incidents.alerts import message
from incidents.cap import NS, build, cap_time, problems
from spatial.db import make_engine
from spatial.settings import StoreSettings

TARGET_MS = 50.0
LARGEST = """
SELECT code, name, ST_AsBinary(ST_Multi(geom)), ST_NPoints(geom) FROM unit
WHERE tier = 'district' ORDER BY ST_Area(geom) DESC LIMIT 1
"""


def sample_alert(code: str, name: str, area: bytes) -> dict[str, object]:
    """An alert as the store holds it, over ``area`` (a district's boundary), in both languages."""
    words = {
        "headline": f"{name}暴雨橙色预警",
        "event": "暴雨",
        "instruction": "请避免前往低洼地带，注意防范城市内涝。",
        "description": "预计未来6小时内降雨量将达50毫米以上。",
    }
    english = {"headline": f"{code} orange rainstorm warning", "event": "Rainstorm", "instruction": "Avoid low ground"}
    return {
        "identifier": f"CN-NJ-BENCH-{code}",
        "status": "Actual",
        "msg_type": "Alert",
        "scope": "Public",
        "expires": datetime.now(UTC) + timedelta(hours=6),
        "area_wkb": area,
        "geocodes": [code],
        "content": {
            "info": [{"language": "zh-CN", **words}, {"language": "en-US", "description": "", **english}],
            "category": "Met",
            "urgency": "Expected",
            "certainty": "Likely",
            "response_type": "Prepare",
            "severity": "Severe",
            "colour": "orange",
            "level": "II",
            "sender_name": "南京市突发事件应急指挥部",
            "area_desc": name,
            "incident_code": "INC-BENCH",
            "note": "",
        },
    }


def ours(alert: dict[str, object], sent: datetime) -> bytes:
    """The platform's path: the message, lxml, the schema check."""
    xml = build(message(alert, sent, None))
    if errors := problems(xml):
        raise RuntimeError(f"the benchmark's alert is not valid CAP: {errors}")
    return xml


def baseline(alert: dict[str, object], sent: datetime) -> bytes:
    """The same elements with ElementTree, unvalidated."""
    said = message(alert, sent, None)
    root = ET.Element(f"{{{NS}}}alert")
    for name, value in (
        ("identifier", said.identifier),
        ("sender", said.sender),
        ("sent", cap_time(said.sent)),
        ("status", said.status),
        ("msgType", said.msg_type),
        ("scope", said.scope),
    ):
        ET.SubElement(root, f"{{{NS}}}{name}").text = value
    for info in said.infos:
        block = ET.SubElement(root, f"{{{NS}}}info")
        for name, value in (
            ("language", info.language),
            ("category", info.category),
            ("event", info.event),
            ("responseType", info.response_type),
            ("urgency", info.urgency),
            ("severity", info.severity),
            ("certainty", info.certainty),
            ("expires", cap_time(info.expires)),
            ("senderName", info.sender_name),
            ("headline", info.headline),
            ("description", info.description),
            ("instruction", info.instruction),
        ):
            ET.SubElement(block, f"{{{NS}}}{name}").text = value
        for value_name, value in info.parameters:
            parameter = ET.SubElement(block, f"{{{NS}}}parameter")
            ET.SubElement(parameter, f"{{{NS}}}valueName").text = value_name
            ET.SubElement(parameter, f"{{{NS}}}value").text = value
        area = ET.SubElement(block, f"{{{NS}}}area")
        ET.SubElement(area, f"{{{NS}}}areaDesc").text = info.area_desc
        for ring in info.polygons:
            ET.SubElement(area, f"{{{NS}}}polygon").text = ring
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _timings(build_once: Callable[[], bytes], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        build_once()
        times.append((time.perf_counter() - start) * 1000)
    return sorted(times)


def _p(times: list[float], share: float) -> float:
    return times[min(len(times) - 1, int(len(times) * share))]


def run(settings: StoreSettings, *, repeats: int, console: Console) -> list[Row]:
    """Time ours and the baseline on the same alert; print and return the rows."""
    engine = make_engine(settings)
    try:
        with engine.connect() as conn:
            code, name, area, points = conn.execute(text(LARGEST)).one()
    finally:
        engine.dispose()
    alert, sent = sample_alert(code, name, bytes(area)), datetime.now(UTC)
    ours(alert, sent)  # the schema is parsed once, at first use: not part of a build
    mine, theirs = _timings(lambda: ours(alert, sent), repeats), _timings(lambda: baseline(alert, sent), repeats)
    console.print(f"{describe()}; alert over {name} ({points:,} boundary points), {repeats} builds each")
    rows = [
        Row(
            "alert build p50 (ms)",
            f"{statistics.median(mine):.2f}",
            f"{statistics.median(theirs):.2f}",
            statistics.median(theirs) / statistics.median(mine),
            "—",
        ),
        Row(
            "alert build p99 (ms) vs 50 ms",
            f"{_p(mine, 0.99):.2f}",
            f"{TARGET_MS:.0f}",
            TARGET_MS / _p(mine, 0.99),
            "≥ 1×",
        ),
    ]
    print_table(rows, console)
    return rows
