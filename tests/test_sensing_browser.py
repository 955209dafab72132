"""The sensor layer in the browser: a commander finds a device by its condition and reads its day in the popup."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser
from sqlalchemy import Engine, text

from command.users import create_user
from tests.conftest import Caller, add_sensor
from tests.test_map_browser import PASSWORD, STREET, browser, signed_in, wait_until  # noqa: F401

pytestmark = pytest.mark.browser


def somewhere_alone(nanjing: Engine, unit: str) -> tuple[float, float]:
    """A random point inside ``unit``: the click must land on this test's device, and other tests put their
    cases and sensors on the unit's fixed inner point, whose markers would lie on top of it."""
    with nanjing.connect() as conn:
        row = conn.execute(
            text(
                "SELECT ST_X(p), ST_Y(p) FROM "
                "(SELECT ST_GeometryN(ST_GeneratePoints(geom, 1), 1) AS p FROM unit WHERE code = :c) x"
            ),
            {"c": unit},
        ).one()
    return float(row[0]), float(row[1])


def test_a_commander_reads_a_sensors_day_in_its_popup(
    browser: Browser,  # noqa: F811 (the fixture imported from test_map_browser)
    server: str,
    nanjing: Engine,
    caller: Caller,
    artifacts: Path,
) -> None:
    lon, lat = somewhere_alone(nanjing, STREET)
    code = add_sensor(nanjing, "water_level", (lon, lat), asset="秦淮河测试断面")
    gateway = caller(["sensor_gateway"], "320102")
    start = datetime.now(UTC) - timedelta(hours=20)
    readings = [
        {"device": code, "t": (start + timedelta(minutes=20 * i)).timestamp(), "v": 4 + i / 50} for i in range(60)
    ]
    stored = httpx.post(f"{server}/api/v1/observations", json=readings, headers=gateway, timeout=30)
    assert stored.status_code == 200, stored.text
    name = f"sensing-{uuid.uuid4().hex[:6]}"
    with nanjing.begin() as conn:
        create_user(conn, name, unit_code=STREET, roles=["street"], password=PASSWORD, actor="tests")

    view = signed_in(browser, server, name, "/map", viewport={"width": 1280, "height": 800})
    page = view.page
    page.evaluate(f"void window.cityopsMap.setView([{lat}, {lon}], 17, {{animate: false}})")  # every device drawn
    assert "物联感知设备" in page.inner_text(".leaflet-control-layers-overlays")
    drawn = f"(window.cityopsSensors || {{}}).features && window.cityopsSensors.features.some(f => f.id === '{code}')"
    wait_until(page, drawn)
    x, y = page.evaluate(
        f"(() => {{ const p = window.cityopsMap.latLngToContainerPoint([{lat}, {lon}]);"
        " const box = window.cityopsMap.getContainer().getBoundingClientRect();"
        " return [box.left + p.x, box.top + p.y]; })()"
    )
    page.mouse.click(x, y)
    wait_until(page, f"(window.cityopsSensorChart || {{}}).code === '{code}'")
    popup = page.inner_text(".sensor-popup")
    assert "水位" in popup and "正常" in popup and "秦淮河测试断面" in popup
    assert page.locator(".sensor-popup svg polyline").count() == 1
    assert "正常" in page.inner_text(".sensor-legend") and "离线" in page.inner_text(".sensor-legend")
    page.screenshot(path=str(artifacts / "map-sensor-popup.png"))
    view.assert_offline(server)
