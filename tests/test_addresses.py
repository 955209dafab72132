"""Generated addresses: a report filed without an address gets one from its place, stored with the case.

Shown on the case (JSON and page, as stored in both languages) and published by Open311 as
``address`` in JSON and XML — a string, which GeoReport clients require. A given address is kept.
"""

from __future__ import annotations

import re
import uuid
from xml.etree import ElementTree as ET

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from command.users import create_api_key, create_user
from tests.conftest import void_open_cases

CATEGORY = "020104"  # 道路油污: a street-tier event category
GRID_NUMBER, BUILDING_NUMBER = r"第(\d+)网格$", r"(\d+)号楼$"  # how the fixture numbers its grids and buildings
# a point inside a building of 玄武区, with the names of its chain (administrative units only)
BUILDING_SPOT = """
SELECT ST_X(p) AS lon, ST_Y(p) AS lat, b.name AS building, g.name AS grid, c.name AS community, s.name AS street,
       d.name AS district, city.name AS city
FROM unit b JOIN unit g ON g.id = b.parent_id JOIN unit c ON c.id = g.parent_id JOIN unit s ON s.id = c.parent_id
JOIN unit d ON d.id = s.admin_parent_id JOIN unit city ON city.id = d.parent_id,
     ST_PointOnSurface(b.geom) AS p
WHERE b.tier = 'building' AND b.code LIKE '320102%' ORDER BY random() LIMIT 1
"""
# a point of a grid of 浦口区 (under the management unit 江北新区) that holds no building
GRID_SPOT = """
SELECT ST_X(p) AS lon, ST_Y(p) AS lat, g.name AS grid, c.name AS community, s.name AS street, d.name AS district
FROM unit g JOIN unit c ON c.id = g.parent_id JOIN unit s ON s.id = c.parent_id JOIN unit d ON d.id = s.admin_parent_id,
     ST_PointOnSurface(g.geom) AS p
WHERE g.tier = 'grid' AND g.code LIKE '320111%' AND NOT g.has_buildings ORDER BY random() LIMIT 1
"""


def place(nanjing: Engine, sql: str) -> dict[str, object]:
    with nanjing.connect() as conn:
        spot = dict(conn.execute(text(sql)).mappings().one())
    void_open_cases(
        nanjing,
        "category_code = :c AND ST_DWithin(geom::geography, ST_MakePoint(:x, :y)::geography, 600)",
        {"c": CATEGORY, "x": spot["lon"], "y": spot["lat"]},
    )
    return spot


def community_place(name: object) -> str:
    """An address names the community, not its committee (梅园新村社区居委会, 徐庄社区居民委员会 → …社区)."""
    return re.sub("(居民委员会|村民委员会|居委会|村委会)$", "", str(name))


def number_in(name: object, pattern: str) -> str:
    found = re.search(pattern, str(name))
    assert found, f"{name!r} has no number matching {pattern}"
    return found.group(1)


def report(client: TestClient, spot: dict[str, object], **extra: object) -> dict[str, object]:
    body = {
        "lon": spot["lon"],
        "lat": spot["lat"],
        "category": CATEGORY,
        "source": "hotline",
        "description": f"路面油污 {uuid.uuid4().hex[:8]}",
        **extra,
    }
    answer = client.post("/api/v1/reports", json=body)
    assert answer.status_code == 201, answer.text
    assert not answer.json()["merged"]
    return answer.json()


@pytest.fixture(scope="module")
def open311_key(nanjing: Engine) -> str:
    name = f"open311-addr-{uuid.uuid4().hex[:8]}"
    with nanjing.begin() as conn:
        create_user(conn, name, unit_code="320100", roles=["integration"], password=None, actor="test")
        return create_api_key(conn, name, "citizen app", actor="test")


def test_a_report_inside_a_building_gets_the_address_of_its_place(client: TestClient, nanjing: Engine) -> None:
    spot = place(nanjing, BUILDING_SPOT)
    filed = report(client, spot)
    grid, building = number_in(spot["grid"], GRID_NUMBER), number_in(spot["building"], BUILDING_NUMBER)
    expected = (
        f"{spot['city']} {spot['district']} {spot['street']} {community_place(spot['community'])} "
        f"第 {grid} 网格 {building} 号楼"
    )
    case = client.get(f"/api/v1/cases/{filed['case_id']}").json()
    assert case["address"] == expected
    [published] = client.get(f"/open311/v2/requests/{filed['report_id']}.json").json()
    assert published["address"] == expected
    root = ET.fromstring(client.get(f"/open311/v2/requests/{filed['report_id']}.xml").content)
    assert root.find("request/address").text == expected
    with nanjing.connect() as conn:  # the report keeps what the reporter gave: nothing
        given = conn.execute(text("SELECT address FROM report WHERE id = :id"), {"id": int(filed["report_id"])})
        assert given.scalar_one() is None


def test_a_grid_without_buildings_names_the_administrative_district(client: TestClient, nanjing: Engine) -> None:
    spot = place(nanjing, GRID_SPOT)
    address = client.get(f"/api/v1/cases/{report(client, spot)['case_id']}").json()["address"]
    grid = number_in(spot["grid"], GRID_NUMBER)
    assert address == f"南京市 {spot['district']} {spot['street']} {community_place(spot['community'])} 第 {grid} 网格"
    assert "江北新区" not in address  # the management unit is not part of a postal address


def test_a_given_address_is_kept_as_given(client: TestClient, nanjing: Engine) -> None:
    spot = place(nanjing, BUILDING_SPOT)
    filed = report(client, spot, address="中山路 100 号")
    assert client.get(f"/api/v1/cases/{filed['case_id']}").json()["address"] == "中山路 100 号"
    [published] = client.get(f"/open311/v2/requests/{filed['report_id']}.json").json()
    assert published["address"] == "中山路 100 号"


def test_an_open311_report_without_address_string_is_published_with_one(
    client: TestClient, nanjing: Engine, open311_key: str
) -> None:
    spot = place(nanjing, BUILDING_SPOT)
    form = {
        "api_key": open311_key,
        "service_code": CATEGORY,
        "lat": str(spot["lat"]),
        "long": str(spot["lon"]),
        "description": f"油污 {uuid.uuid4().hex[:8]}",
    }
    posted = client.post("/open311/v2/requests.json", data=form)
    assert posted.status_code in (200, 201), posted.text
    [answer] = posted.json()
    [published] = client.get(f"/open311/v2/requests/{answer['service_request_id']}.json").json()
    case = client.get(f"/api/v1/cases/{published['cityops_case_id']}").json()
    assert isinstance(published["address"], str) and published["address"] == case["address"]
    assert published["address"].startswith(f"南京市 {spot['district']} {spot['street']} ")
    root = ET.fromstring(client.get(f"/open311/v2/requests/{answer['service_request_id']}.xml").content)
    assert root.find("request/address").text == case["address"]


def test_the_case_page_shows_the_stored_address_in_either_language(
    client: TestClient, nanjing: Engine, server: str
) -> None:
    from tests.test_work_pages import person, signed_in

    spot = place(nanjing, BUILDING_SPOT)
    case_id = report(client, spot)["case_id"]
    address = client.get(f"/api/v1/cases/{case_id}").json()["address"]
    browser = signed_in(server, person(nanjing, "320100", ["city_commander"]))
    for lang in ("zh-CN", "en"):
        page = browser.get(f"/cases/{case_id}", params={"lang": lang})
        assert page.status_code == 200 and address in page.text  # a Chinese place name, in English mode too
