"""Warnings received: CAP 1.2 alerts posted by a warning service, placed on the hierarchy, drawn while in force."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import Caller

# a rectangle over 玄武区's middle (lat,lon pairs, CAP's order)
XUANWU = "32.040,118.790 32.040,118.820 32.070,118.820 32.070,118.790 32.040,118.790"
BOWTIE = "32.040,118.790 32.070,118.820 32.040,118.820 32.070,118.790 32.040,118.790"


def cap(
    identifier: str,
    *,
    polygon: str | None = XUANWU,
    msg_type: str = "Alert",
    references: str | None = None,
    level: str = "橙色",
    geocode: str | None = None,
) -> bytes:
    """A CAP 1.2 alert as the meteorological service sends one."""
    sent = datetime.now(UTC).replace(microsecond=0)
    stamp = sent.isoformat()
    expires = (sent + timedelta(hours=6)).isoformat()
    area = f"<polygon>{polygon}</polygon>" if polygon else ""
    if geocode:
        area += f"<geocode><valueName>GB/T 2260</valueName><value>{geocode}</value></geocode>"
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>{identifier}</identifier>
  <sender>njqx@weather.nanjing.gov.cn</sender>
  <sent>{stamp}</sent>
  <status>Actual</status>
  <msgType>{msg_type}</msgType>
  <scope>Public</scope>
  {f"<references>{references}</references>" if references else ""}
  <info>
    <language>zh-CN</language>
    <category>Met</category>
    <event>暴雨</event>
    <urgency>Expected</urgency>
    <severity>Severe</severity>
    <certainty>Likely</certainty>
    <expires>{expires}</expires>
    <headline>南京市气象台发布暴雨{level}预警</headline>
    <description>预计未来3小时内玄武区降雨量将达50毫米以上。</description>
    <parameter><valueName>CN_WARNING_LEVEL</valueName><value>{level}</value></parameter>
    <area><areaDesc>玄武区</areaDesc>{area}</area>
  </info>
</alert>""".encode()


def post(client: TestClient, headers: dict[str, str], body: bytes) -> httpx.Response:
    return client.post(
        "/api/v1/alerts/inbound", content=body, headers={**headers, "Content-Type": "application/cap+xml"}
    )


@pytest.fixture(scope="module")
def feed(caller: Caller) -> dict[str, str]:
    return caller(["warning_feed"], "320100")


def test_a_warning_reaches_the_units_under_it_and_no_others(
    client: TestClient, caller: Caller, feed: dict[str, str]
) -> None:
    identifier = f"NJQX-{uuid.uuid4().hex[:8]}"
    answer = post(client, feed, cap(identifier))
    assert answer.status_code == 201, answer.text
    warning = answer.json()
    assert warning["colour"] == "orange" and warning["event"] == "暴雨"
    codes = {unit["code"] for unit in warning["affected"]}
    assert "320102" in codes and any(code.startswith("320102") and len(code) > 6 for code in codes)
    assert "320118" not in codes  # 高淳区, far south
    again = post(client, feed, cap(identifier))
    assert again.status_code == 200 and again.json()["id"] == warning["id"]  # the same alert twice is one

    inside = caller(["street"], next(c for c in codes if c.startswith("320102") and len(c) > 6))
    outside = caller(["street"], "320118001")
    seen = client.get("/api/v1/warnings", headers=inside).json()["features"]
    assert any(f["id"] == warning["id"] and f["properties"]["colour"] == "orange" for f in seen)
    assert all(f["id"] != warning["id"] for f in client.get("/api/v1/warnings", headers=outside).json()["features"])

    reference = f"njqx@weather.nanjing.gov.cn,{identifier},2026-12-04T00:00:00+08:00"
    cancel = post(client, feed, cap(f"{identifier}-C", msg_type="Cancel", references=reference))
    assert cancel.status_code == 201, cancel.text
    assert all(f["id"] != warning["id"] for f in client.get("/api/v1/warnings", headers=inside).json()["features"])


def test_a_warning_by_geocode_only_covers_its_district(client: TestClient, feed: dict[str, str]) -> None:
    answer = post(client, feed, cap(f"NJQX-{uuid.uuid4().hex[:8]}", polygon=None, geocode="320118", level="黄色"))
    assert answer.status_code == 201, answer.text
    assert answer.json()["colour"] == "yellow" and "320118" in {u["code"] for u in answer.json()["affected"]}


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (cap("BAD-1", polygon=BOWTIE), "info 1, area 1, polygon 1: not a valid polygon"),
        (cap("BAD-2", polygon="32.04,118.79 32.07,118.82 32.04,118.82"), "info 1, area 1, polygon 1"),
        (cap("BAD-3", polygon="132.04,118.79 32.07,118.82 32.04,118.82 132.04,118.79"), "latitude first"),
        (cap("BAD-4").replace(b"<status>Actual</status>", b""), "not valid CAP 1.2"),
        (b"<alert>", "not valid CAP 1.2"),
    ],
)
def test_a_wrong_alert_is_refused_saying_where(
    client: TestClient, feed: dict[str, str], body: bytes, says: str
) -> None:
    answer = post(client, feed, body)
    assert answer.status_code == 422 and says in answer.json()["detail"], answer.text


def test_an_alert_must_come_as_xml_from_a_feed(client: TestClient, caller: Caller, feed: dict[str, str]) -> None:
    wrong = client.post("/api/v1/alerts/inbound", content=cap("X-1"), headers={**feed, "Content-Type": "text/plain"})
    assert wrong.status_code == 415
    planner = caller(["planner"], "320100")
    assert post(client, planner, cap("X-2")).status_code == 403
