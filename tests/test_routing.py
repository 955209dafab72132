"""Routing: category × severity × place → unit, departments, deadline, with the rule in the trace."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from command.routing import Severity, parse_severity, route
from command.taxonomy import read_categories
from command.working_time import CHINA, LimitKind, TimeLimit, WorkingCalendar
from grid.locate import Location, Locator, UnitRef
from spatial.china_coords import wgs84_to_gcj02
from spatial.errors import InvalidInputError

CATEGORIES = {c.code: c for c in read_categories()}
CAL = WorkingCalendar.china()
QINHUAI = {"lon": 118.7844, "lat": 32.0415}  # 秦淮区 五老村街道


def beijing(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=CHINA)


def preview(client: TestClient, **params: object) -> dict:
    response = client.get("/api/v1/route", params=params)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize(
    ("severity", "tier", "name"),
    [
        ("IV", "street", "五老村街道"),
        ("III", "district", "秦淮区"),
        ("II", "city", "南京市"),
        ("I", "city", "南京市"),
    ],
)
def test_severity_escalates(client: TestClient, severity: str, tier: str, name: str) -> None:
    body = preview(client, **QINHUAI, category="020102", severity=severity)
    assert (body["responsible"]["tier"], body["responsible"]["name"]) == (tier, name)
    assert body["responsible"]["departments"] == ["城市管理局"]
    assert "020102" in body["trace"]["rule"]


# Deadlines worked out by hand from the category's limit and the holiday notices (working periods 09:00–12:00
# and 13:30–17:30, so a working day is 7 h), in Beijing time: (category, its limit, filed, due).
HAND_BUILT = [
    # 暴露垃圾 4 working hours, Friday 27 November 2026 15:00: 2.5 h that day, 1.5 h on Monday from 09:00
    ("020102", TimeLimit(4, LimitKind.WORKING_HOURS), "2026-11-27 15:00", "2026-11-30 10:30"),
    # Wednesday 30 September 2026 16:00: 1.5 h, National Day 1–7 October, 2.5 h on Thursday 8 October
    ("020102", TimeLimit(4, LimitKind.WORKING_HOURS), "2026-09-30 16:00", "2026-10-08 11:30"),
    # 2024 (the package's data): Monday 30 September 17:00: 0.5 h, 1–7 October off, 09:00–12:00 and 13:30–14:00
    ("020102", TimeLimit(4, LimitKind.WORKING_HOURS), "2024-09-30 17:00", "2024-10-08 14:00"),
    # 路灯 3 working days = 21 h from Friday 13 February 2026 10:00: 6 h that day, 7 h on Saturday 14th (调休),
    # Spring Festival 15–23, 7 h on Tuesday 24th, 1 h on Wednesday 25th
    ("010105", TimeLimit(3, LimitKind.WORKING_DAYS), "2026-02-13 10:00", "2026-02-25 10:00"),
    # 私搭乱建 15 working days from Friday 27 September 2024 09:00: 27, 29 (Sunday, 调休), 30 September,
    # 8–12 October (Saturday 12th 调休), 14–18, 21, 22 — the end of the 15th
    ("020101", TimeLimit(15, LimitKind.WORKING_DAYS), "2024-09-27 09:00", "2024-10-22 17:30"),
    # 上水井盖 2 urgent hours run on the clock, holiday or night: Saturday 3 October 2026 23:30
    ("010101", TimeLimit(2, LimitKind.URGENT_HOURS), "2026-10-03 23:30", "2026-10-04 01:30"),
]


@pytest.fixture(scope="module")
def wulaocun(nanjing: Engine) -> Location:
    with nanjing.connect() as conn:
        return Locator().locate(conn, QINHUAI["lon"], QINHUAI["lat"])


@pytest.mark.parametrize(("code", "limit", "filed", "due"), HAND_BUILT)
def test_deadlines_are_the_hand_computed_ones(
    wulaocun: Location, code: str, limit: TimeLimit, filed: str, due: str
) -> None:
    assert CATEGORIES[code].limit == limit  # the shipped table's limit, which the expectation was worked from
    decided = route(wulaocun, CATEGORIES[code], Severity.IV, beijing(filed), CAL)
    assert decided.deadline == beijing(due)
    assert decided.trace["time_limit"] == {"value": limit.value, "kind": limit.kind.value}


def test_the_preview_files_now_with_the_categorys_limit(client: TestClient) -> None:
    """The preview routes a report filed now (the deadlines themselves are pinned above, by hand)."""
    before = datetime.now(UTC)
    body = preview(client, **QINHUAI, category="020102")  # 暴露垃圾: 4 working hours
    filed, deadline = datetime.fromisoformat(body["filed_at"]), datetime.fromisoformat(body["deadline"])
    assert before <= filed <= datetime.now(UTC)
    # 4 working hours take at least 4 clock hours and at most a holiday week and a bit (Spring Festival: 9 days)
    assert timedelta(hours=4) <= deadline - filed <= timedelta(days=12)
    assert body["trace"]["time_limit"] == {"value": 4.0, "kind": "working_hours"}


def test_jiangbei_streets_route_to_the_new_area(client: TestClient, nanjing: Engine) -> None:
    with nanjing.connect() as conn:
        x, y = conn.execute(
            text(
                "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p FROM unit WHERE name = '泰山街道') s"
            )
        ).one()
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


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({**QINHUAI, "category": "999999"}, "valid codes: 010101, 010102"),
        ({**QINHUAI, "category": "020102", "severity": "V"}, "not one of IV (一般)"),
        ({**QINHUAI, "category": "020102", "crs": "mars"}, "use one of: wgs84"),
        ({"lon": 121.47, "lat": 31.23, "category": "020102"}, "outside the jurisdiction"),
        ({"lon": "nan", "lat": 32.0, "category": "020102"}, "finite"),
        ({**QINHUAI}, "category: Field required"),
    ],
)
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
