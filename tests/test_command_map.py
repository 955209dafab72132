"""The command map's own endpoints (issue 18, a legible map): unit names by zoom, open cases per unit
under the caller's scope, the daily flow of cases — each checked against the database itself."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from command.map_layers import count_tier
from tests.conftest import Caller, void_open_cases

CITY_BOX = "118.3,31.2,119.3,32.7"
DISTRICT = "320102"  # 玄武区
STREET = "320102002"
OTHER_DISTRICT = "320115"  # 江宁区
CATEGORY = "010101"
BEIJING = ZoneInfo("Asia/Shanghai")
NEAR = "ST_DWithin(geom::geography, ST_MakePoint(:x, :y)::geography, 60)"


def spot(nanjing: Engine, code: str, step: int) -> tuple[float, float]:
    """The ``step``-th of a dozen fixed points scattered inside the unit ``code``."""
    with nanjing.connect() as conn:
        return conn.execute(
            text(
                "SELECT ST_X(p), ST_Y(p) FROM (SELECT (ST_Dump(ST_GeneratePoints(geom, 12, 7))).geom AS p FROM unit "
                "WHERE code = :c) x OFFSET :n LIMIT 1"
            ),
            {"c": code, "n": step},
        ).one()  # type: ignore[return-value]


@pytest.fixture(scope="module")
def open_cases(client: TestClient, nanjing: Engine, staff: dict[str, str]) -> list[str]:
    """Three open cases in one street of 玄武区 and one in 江宁区, one of them overdue."""
    made = []
    for code, step in ((STREET, 0), (STREET, 4), (STREET, 8), (OTHER_DISTRICT, 0)):
        lon, lat = spot(nanjing, code, step)
        # nothing open within reach of the category's duplicate radius (30 m), so each report opens a case
        void_open_cases(
            nanjing, "ST_DWithin(geom::geography, ST_MakePoint(:x, :y)::geography, 60)", {"x": lon, "y": lat}
        )
        answer = client.post(
            "/api/v1/reports",
            headers=staff,
            json={"lon": lon, "lat": lat, "category": CATEGORY, "source": "hotline", "description": "井盖缺失"},
        )
        assert answer.status_code == 201, answer.text
        made.append(str(answer.json()["case_id"]))
    with nanjing.begin() as conn:  # the first is past its deadline
        conn.execute(
            text("UPDATE case_file SET deadline = now() - interval '1 hour' WHERE id = :id"), {"id": int(made[0])}
        )
    return made


def sql_open(nanjing: Engine, unit_code: str, scope_code: str) -> tuple[int, int]:
    """Open and overdue cases inside ``unit_code`` that a caller of ``scope_code`` sees (the policy's predicate)."""
    with nanjing.connect() as conn:
        return conn.execute(
            text("""
            SELECT count(*), count(*) FILTER (WHERE e.deadline < now()) FROM case_file e
            WHERE e.state NOT IN ('closed', 'void')
              AND e.units @> ARRAY[(SELECT id FROM unit WHERE code = :u)]
              AND e.units @> ARRAY[(SELECT id FROM unit WHERE code = :s)]"""),
            {"u": unit_code, "s": scope_code},
        ).one()  # type: ignore[return-value]


def test_labels_name_each_tier_at_its_zoom(client: TestClient, nanjing: Engine) -> None:
    city = client.get("/api/v1/map/labels", params={"bbox": CITY_BOX, "zoom": 10})
    assert city.status_code == 200 and city.headers["cache-control"].startswith("public")
    body = city.json()
    assert body["tiers"] == ["district"] and not body["truncated"]
    with nanjing.connect() as conn:
        districts = set(conn.execute(text("SELECT name FROM unit WHERE tier = 'district'")).scalars())
    assert {label["name"] for label in body["labels"]} == districts
    street_box = "118.77,32.03,118.82,32.07"  # central 玄武区 at street zoom
    streets = client.get("/api/v1/map/labels", params={"bbox": street_box, "zoom": 13}).json()
    assert streets["tiers"] == ["street"] and streets["labels"]
    with nanjing.connect() as conn:
        expected = set(
            conn.execute(
                text(
                    "SELECT code FROM unit WHERE tier = 'street' "
                    "AND label_point && ST_MakeEnvelope(118.77, 32.03, 118.82, 32.07, 4326)"
                )
            ).scalars()
        )
        # every label point lies inside its own unit (ST_PointOnSurface, kept by the trigger of migration 0024)
        outside = conn.execute(
            text("SELECT count(*) FROM unit WHERE label_point IS NULL OR NOT ST_Covers(geom, label_point)")
        ).scalar_one()
    assert {label["code"] for label in streets["labels"]} == expected and outside == 0
    assert all(label["tier"] == "street" for label in streets["labels"])
    grids = client.get("/api/v1/map/labels", params={"bbox": "118.78,32.04,118.79,32.05", "zoom": 17}).json()
    assert grids["tiers"] == ["grid"] and all(label["tier"] == "grid" for label in grids["labels"])


def test_a_unit_moved_gets_its_label_point_again(nanjing: Engine) -> None:
    with nanjing.connect() as conn:  # inside a transaction rolled back: the boundary is not really changed
        unit_id, before = conn.execute(
            text("SELECT id, ST_AsText(label_point) FROM unit WHERE tier = 'grid' ORDER BY id LIMIT 1")
        ).one()
        conn.execute(
            text("UPDATE unit SET geom = ST_Multi(ST_Translate(geom, 0.01, 0)) WHERE id = :id"), {"id": unit_id}
        )
        after, covered = conn.execute(
            text("SELECT ST_AsText(label_point), ST_Covers(geom, label_point) FROM unit WHERE id = :id"),
            {"id": unit_id},
        ).one()
        conn.rollback()
    assert after != before and covered


@pytest.mark.parametrize(
    "params",
    [
        {"zoom": 10},
        {"bbox": "118.3,31.2,119.3", "zoom": 10},
        {"bbox": CITY_BOX, "zoom": 23},
        {"bbox": CITY_BOX, "zoom": -1},
        {"bbox": CITY_BOX, "zoom": "near"},
        {"bbox": "119.3,31.2,118.3,32.7", "zoom": 10},
        {"bbox": "a,b,c,d", "zoom": 10},
        {"bbox": CITY_BOX},
    ],
    ids=["no-bbox", "three-numbers", "zoom-23", "zoom-negative", "zoom-word", "bbox-inverted", "bbox-words", "no-zoom"],
)
def test_bad_views_are_refused_in_words(client: TestClient, params: dict[str, object]) -> None:
    for path in ("/api/v1/map/labels", "/api/v1/map/unit-counts"):
        answer = client.get(path, params=params)
        assert answer.status_code == 422, (path, answer.text)
        assert answer.json()["detail"]


def test_a_district_commander_counts_only_their_districts_units(
    client: TestClient, caller: Caller, nanjing: Engine, open_cases: list[str]
) -> None:
    district = caller(["district"], DISTRICT)
    answer = client.get("/api/v1/map/unit-counts", params={"bbox": CITY_BOX, "zoom": 12}, headers=district)
    assert answer.status_code == 200 and answer.headers["cache-control"].startswith("private")
    body = answer.json()
    assert body["tier"] == count_tier(12) == "street"
    with nanjing.connect() as conn:
        streets = set(
            conn.execute(
                text(
                    "SELECT s.code FROM unit s JOIN unit d ON d.id = ANY(s.ancestors) WHERE d.code = :d AND s.tier "
                    "= 'street'"
                ),
                {"d": DISTRICT},
            ).scalars()
        )
    assert {u["code"] for u in body["units"]} == streets  # none of another district
    for unit in body["units"]:
        assert (unit["open"], unit["overdue"]) == sql_open(nanjing, unit["code"], DISTRICT), unit
    mine = next(u for u in body["units"] if u["code"] == STREET)
    assert mine["open"] >= 3 and mine["overdue"] >= 1
    assert body["total"]["open"] == sql_open(nanjing, DISTRICT, DISTRICT)[0]
    zoomed_out = client.get("/api/v1/map/unit-counts", params={"bbox": CITY_BOX, "zoom": 9}, headers=district).json()
    assert [u["code"] for u in zoomed_out["units"]] == [DISTRICT] and zoomed_out["tier"] == "district"
    assert zoomed_out["units"][0]["open"] == sql_open(nanjing, DISTRICT, DISTRICT)[0]


def test_the_city_sees_every_district_and_each_case_once(
    client: TestClient, nanjing: Engine, open_cases: list[str]
) -> None:
    body = client.get("/api/v1/map/unit-counts", params={"bbox": CITY_BOX, "zoom": 10}).json()
    with nanjing.connect() as conn:
        districts = set(conn.execute(text("SELECT code FROM unit WHERE tier = 'district'")).scalars())
        all_open = conn.execute(
            text("SELECT count(*) FROM case_file WHERE state NOT IN ('closed', 'void')")
        ).scalar_one()
    assert {u["code"] for u in body["units"]} == districts
    # a street 江北新区 manages counts for 江北新区, not again for its administrative district
    assert body["total"]["open"] == sum(u["open"] for u in body["units"]) == all_open
    other = next(u for u in body["units"] if u["code"] == OTHER_DISTRICT)
    assert other["open"] == sql_open(nanjing, OTHER_DISTRICT, "320100")[0] >= 1


def test_a_street_commander_zoomed_out_sees_their_street(
    client: TestClient, caller: Caller, nanjing: Engine, open_cases: list[str]
) -> None:
    street = caller(["street"], STREET)
    body = client.get("/api/v1/map/unit-counts", params={"bbox": CITY_BOX, "zoom": 9}, headers=street).json()
    assert [u["code"] for u in body["units"]] == [STREET] and body["tier"] == "street"
    assert body["units"][0]["open"] == sql_open(nanjing, STREET, STREET)[0] >= 3


def test_counts_need_a_reader_and_a_session(client: TestClient, anonymous: TestClient, caller: Caller) -> None:
    params = {"bbox": CITY_BOX, "zoom": 10}
    assert anonymous.get("/api/v1/map/unit-counts", params=params).status_code == 401
    assert anonymous.get("/api/v1/map/trend").status_code == 401
    admin = caller(["admin"], DISTRICT)  # administers users, reads no cases
    assert client.get("/api/v1/map/unit-counts", params=params, headers=admin).status_code == 403
    assert anonymous.get("/api/v1/map/labels", params=params).status_code == 200  # names are public geography


def test_the_trend_is_each_beijing_day_of_the_callers_cases(
    client: TestClient, caller: Caller, nanjing: Engine, open_cases: list[str]
) -> None:
    district = caller(["district"], DISTRICT)
    answer = client.get("/api/v1/map/trend", params={"days": 30}, headers=district)
    assert answer.status_code == 200, answer.text
    days = answer.json()["days"]
    today = datetime.now(BEIJING).date()
    assert [d["date"] for d in days] == [(today - timedelta(days=29 - i)).isoformat() for i in range(30)]
    first = datetime.combine(today - timedelta(days=29), datetime.min.time(), BEIJING)
    with nanjing.connect() as conn:
        rows = conn.execute(
            text("""
            SELECT (created_at AT TIME ZONE 'Asia/Shanghai')::date, count(*) FROM case_file
            WHERE created_at >= :first AND units @> ARRAY[(SELECT id FROM unit WHERE code = :d)] GROUP BY 1"""),
            {"first": first, "d": DISTRICT},
        ).all()
        closed = conn.execute(
            text("""
            SELECT count(*) FROM case_file WHERE state = 'closed' AND closed_at >= :first
              AND units @> ARRAY[(SELECT id FROM unit WHERE code = :d)]"""),
            {"first": first, "d": DISTRICT},
        ).scalar_one()
    reported = {day.isoformat(): n for day, n in rows}
    assert {d["date"]: d["reported"] for d in days if d["reported"]} == reported
    assert reported[today.isoformat()] >= 3  # this module's three cases in 玄武区, filed today
    assert sum(d["closed"] for d in days) == closed
    for bad in (3, 91, "month"):
        assert client.get("/api/v1/map/trend", params={"days": bad}, headers=district).status_code == 422
