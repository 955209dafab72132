"""Routing: category × severity × place → unit, departments, deadline, with the rule in the trace."""

from __future__ import annotations

from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from command.routing import Severity, parse_severity, route
from command.taxonomy import read_categories
from command.working_time import WorkingCalendar
from grid.locate import Location, UnitRef
from spatial.china_coords import wgs84_to_gcj02
from spatial.errors import InvalidInputError

CATEGORIES = {c.code: c for c in read_categories()}
CAL = WorkingCalendar.china()
QINHUAI = {"lon": 118.7844, "lat": 32.0415}  # 秦淮区 五老村街道


def preview(client: TestClient, **params: object) -> dict:
    response = client.get("/api/v1/route", params=params)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize(("severity", "tier", "name"), [
    ("IV", "street", "五老村街道"), ("III", "district", "秦淮区"), ("II", "city", "南京市"), ("I", "city", "南京市"),
])  # fmt: skip
def test_severity_escalates(client: TestClient, severity: str, tier: str, name: str) -> None:
    body = preview(client, **QINHUAI, category="020102", severity=severity)
    assert (body["responsible"]["tier"], body["responsible"]["name"]) == (tier, name)
    assert body["responsible"]["departments"] == ["城市管理局"]
    assert "020102" in body["trace"]["rule"]


def test_deadline_runs_on_the_working_calendar(client: TestClient) -> None:
    body = preview(client, **QINHUAI, category="020102")  # 暴露垃圾: 4 working hours
    filed = datetime.fromisoformat(body["filed_at"])
    expected = CAL.deadline(filed, CATEGORIES["020102"].limit)
    assert datetime.fromisoformat(body["deadline"]) == expected
    assert body["trace"]["time_limit"] == {"value": 4.0, "kind": "working_hours"}


def test_jiangbei_streets_route_to_the_new_area(client: TestClient, nanjing: Engine) -> None:
    with nanjing.connect() as conn:
        x, y = conn.execute(text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p FROM unit "
                                 "WHERE name = '泰山街道') s")).one()  # fmt: skip
    taishan = {"lon": x, "lat": y}
    street = preview(client, **taishan, category="020102")
    assert street["responsible"]["name"] == "泰山街道"
    district = preview(client, **taishan, category="020403")  # 燃气泄漏: district tier
    assert (district["responsible"]["name"], district["responsible"]["kind"]) == ("江北新区", "management")
    assert "managed by 江北新区" in district["trace"]["rule"]
    assert district["responsible"]["departments"] == ["燃气集团", "应急管理局"]


def test_gcj02_input_is_converted_at_the_edge(client: TestClient) -> None:
    gcj_lon, gcj_lat = wgs84_to_gcj02(QINHUAI["lon"], QINHUAI["lat"])
    body = preview(client, lon=float(gcj_lon), lat=float(gcj_lat), crs="gcj02", category="020102")
    assert body["point"]["lon"] == pytest.approx(QINHUAI["lon"], abs=1e-8)
    assert body["chain"] == preview(client, **QINHUAI, category="020102")["chain"]


@pytest.mark.parametrize(("params", "message"), [
    ({**QINHUAI, "category": "999999"}, "valid codes: 010101, 010102"),
    ({**QINHUAI, "category": "020102", "severity": "V"}, "not one of IV (一般)"),
    ({**QINHUAI, "category": "020102", "crs": "mars"}, "use one of: wgs84"),
    ({"lon": 121.47, "lat": 31.23, "category": "020102"}, "outside the jurisdiction"),
    ({"lon": "nan", "lat": 32.0, "category": "020102"}, "finite"),
    ({**QINHUAI}, "category: Field required"),
])  # fmt: skip
def test_bad_route_requests(client: TestClient, params: dict, message: str) -> None:
    response = client.get("/api/v1/route", params=params)
    assert response.status_code == 422
    assert message in response.json()["detail"]


def test_a_city_without_the_tier_routes_to_the_nearest_coarser_one() -> None:
    chain = (
        UnitRef("X-A", "A", "district", "administrative", True),
        UnitRef("X-A-1", "A1", "grid", "administrative", True),
    )
    location = Location(30.0, 10.0, "8a", 10, True, chain, 1)
    decided = route(location, CATEGORIES["020102"], Severity.IV, datetime(2026, 11, 27, 10, tzinfo=CAL.zone), CAL)
    assert decided.unit.code == "X-A" and "no street tier here" in decided.trace["rule"]


def test_severity_names() -> None:
    assert parse_severity("较大") is Severity.III
    assert parse_severity("iv") is Severity.IV
    with pytest.raises(InvalidInputError):
        parse_severity("5")
