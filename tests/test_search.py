"""GET /api/v1/search: one box finds cases by number and address, units by name or pinyin initials, buildings by code.

Against the Nanjing fixture: every expectation is read from the unit table or from a case the
test files, never written down as an answer.
"""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from rich.console import Console
from sqlalchemy import Engine, text

from spatial.initials import initials
from spatial.settings import StoreSettings
from tests.conftest import Caller, void_open_cases

CATEGORY = "020104"
MANHOLE = "010101"  # 上水井盖: cases of a test of their own
SPOT_IN_QINHUAI = """
SELECT ST_X(p), ST_Y(p) FROM unit g, ST_PointOnSurface(g.geom) AS p
WHERE g.tier = 'grid' AND g.code LIKE '320104%' ORDER BY random() LIMIT 1
"""


def hits(client: TestClient, q: str, limit: int = 10, headers: dict[str, str] | None = None) -> list[dict]:
    answer = client.get("/api/v1/search", params={"q": q, "limit": limit}, headers=headers or {})
    assert answer.status_code == 200, answer.text
    return answer.json()["hits"]


def unit(nanjing: Engine, code: str) -> dict[str, object]:
    with nanjing.connect() as conn:
        row = conn.execute(
            text(
                "SELECT code, name, tier::text AS tier, ST_XMin(geom) AS west, ST_YMin(geom) AS south, "
                "ST_XMax(geom) AS east, ST_YMax(geom) AS north FROM unit WHERE code = :c"
            ),
            {"c": code},
        )
        return dict(row.mappings().one())


@pytest.fixture(scope="module")
def case_with_address(client: TestClient, nanjing: Engine) -> dict[str, object]:
    """A case of 秦淮区 filed with an address nobody else uses."""
    with nanjing.connect() as conn:
        lon, lat = conn.execute(text(SPOT_IN_QINHUAI)).one()
    void_open_cases(
        nanjing,
        "category_code = :c AND ST_DWithin(geom::geography, ST_MakePoint(:x, :y)::geography, 600)",
        {"c": CATEGORY, "x": lon, "y": lat},
    )
    words = f"瑞金路{uuid.uuid4().int % 9000 + 1000}号"
    body = {
        "lon": lon,
        "lat": lat,
        "category": CATEGORY,
        "source": "hotline",
        "description": "路面油污",
        "address": f"秦淮区 {words} 东门",
    }
    answer = client.post("/api/v1/reports", json=body)
    assert answer.status_code == 201, answer.text
    return {"id": answer.json()["case_id"], "words": words, "lon": lon, "lat": lat}


def test_a_case_is_found_by_its_number(client: TestClient, case_with_address: dict[str, object]) -> None:
    [first, *_] = hits(client, str(case_with_address["id"]))
    assert first["kind"] == "case" and first["id"] == case_with_address["id"]
    assert first["point"] == [round(case_with_address["lon"], 6), round(case_with_address["lat"], 6)]  # type: ignore[arg-type]
    assert first["geometry"]["type"] == "Point" and first["state"] == "reported" and first["category_name"]


def test_a_case_is_found_by_words_of_its_address(client: TestClient, case_with_address: dict[str, object]) -> None:
    found = hits(client, str(case_with_address["words"]))
    assert [h["id"] for h in found if h["kind"] == "case"] == [case_with_address["id"]]
    assert case_with_address["words"] in found[0]["address"] and found[0]["label"] == found[0]["address"]


def test_a_case_outside_the_callers_jurisdiction_is_never_found(
    client: TestClient, caller: Caller, case_with_address: dict[str, object]
) -> None:
    gulou = caller(["dispatcher"], "320106")  # 鼓楼区; the case lies in 秦淮区
    qinhuai = caller(["dispatcher"], "320104")
    for q in (str(case_with_address["id"]), str(case_with_address["words"])):
        assert not [h for h in hits(client, q, headers=gulou) if h["kind"] == "case"]
        assert [h["id"] for h in hits(client, q, headers=qinhuai) if h["kind"] == "case"] == [case_with_address["id"]]
    assert hits(client, "玄武区", headers=gulou)[0]["name"] == "玄武区"  # units are public geography


def test_a_unit_is_found_by_its_chinese_name_whole_or_in_part(client: TestClient, nanjing: Engine) -> None:
    xuanwu, street = unit(nanjing, "320102"), unit(nanjing, "320102002")
    [first, *_] = hits(client, str(xuanwu["name"]))
    assert (first["kind"], first["id"], first["tier"], first["label"]) == (
        "unit",
        "320102",
        "district",
        "南京市 玄武区",
    )
    assert first["bbox"] == [round(float(xuanwu[k]), 6) for k in ("west", "south", "east", "north")]  # type: ignore[arg-type]
    assert first["geometry"]["type"] in ("Polygon", "MultiPolygon")
    part = str(street["name"])[:2]  # 梅园: the street, its communities and grids contain it
    found = hits(client, part, limit=20)
    assert found[0]["id"] == street["code"] and all(part in h["name"] for h in found)
    tiers = [h["tier"] for h in found if h["name"].startswith(part)]  # names that start with it: larger units first
    assert tiers == sorted(tiers, key=["city", "district", "street", "community", "grid", "building"].index)
    assert found[0]["label"] == f"南京市 玄武区 {street['name']}"


def test_a_unit_is_found_by_its_pinyin_initials(client: TestClient, nanjing: Engine) -> None:
    for code in ("320102", "320102002"):  # 玄武区 → xwq, 梅园新村街道 → myxcjd
        wanted = unit(nanjing, code)
        typed = initials(str(wanted["name"])).split()[0]
        assert typed in ("xwq", "myxcjd")
        assert hits(client, typed)[0]["id"] == code
        assert hits(client, typed.upper())[0]["id"] == code  # as typed with caps lock on
    assert any(h["id"] == "320102" for h in hits(client, "xw"))  # while typing: a prefix of the initials


def test_a_building_is_found_by_its_code(client: TestClient, nanjing: Engine) -> None:
    with nanjing.connect() as conn:
        code = conn.execute(
            text("SELECT code FROM unit WHERE tier = 'building' ORDER BY random() LIMIT 1")
        ).scalar_one()
    building = unit(nanjing, code)
    [first, *_] = hits(client, code)
    assert (first["kind"], first["id"], first["name"], first["tier"]) == (
        "building",
        code,
        building["name"],
        "building",
    )
    assert first["bbox"] == [round(float(building[k]), 6) for k in ("west", "south", "east", "north")]  # type: ignore[arg-type]
    grid = hits(client, code[:14])  # the grid's code: the grid first, then its buildings
    assert grid[0]["id"] == code[:14] and grid[0]["tier"] == "grid" and code in {h["id"] for h in grid} | {code}


def test_a_grid_and_a_building_are_found_by_their_whole_names(client: TestClient, nanjing: Engine) -> None:
    """Long names share pairs with every grid and building (社区, 居委, 网格): found by their rare ones."""
    named = """
    SELECT code, name FROM unit WHERE tier = :tier AND name LIKE '%委会第%'
      AND name IN (SELECT name FROM unit GROUP BY name HAVING count(*) = 1) ORDER BY random() LIMIT 1
    """
    with nanjing.connect() as conn:
        conn.exec_driver_sql("ANALYZE unit")  # the finders pick a name's rarest pairs from these statistics
        grid, building = (conn.execute(text(named), {"tier": tier}).one() for tier in ("grid", "building"))
    for code, name in (grid, building):
        found = hits(client, name)
        assert (found[0]["id"], found[0]["name"]) == (code, name) and all(name in h["name"] for h in found[1:])
    part = grid.name[: grid.name.index("委会第") + 3]  # 方家营社区居委会第: its grids first, then their buildings
    found = hits(client, part, limit=20)
    assert found and all(h["name"].startswith(part) for h in found) and found[0]["tier"] == "grid"


def test_a_word_most_addresses_hold_answers_with_the_newest_cases_holding_it(
    client: TestClient, nanjing: Engine
) -> None:
    """南京市 starts nearly every generated address: the finder reads the newest cases, not every holder."""
    with nanjing.connect() as conn:
        spots = [conn.execute(text(SPOT_IN_QINHUAI)).one() for _ in range(3)]
    for lon, lat in spots:  # filed without an address: each gets its place's (南京市 秦淮区 …)
        void_open_cases(
            nanjing,
            "category_code = :c AND ST_DWithin(geom::geography, ST_MakePoint(:x, :y)::geography, 600)",
            {"c": MANHOLE, "x": lon, "y": lat},
        )
        body = {"lon": lon, "lat": lat, "category": MANHOLE, "source": "hotline", "description": "井盖缺失"}
        assert client.post("/api/v1/reports", json=body).status_code == 201
    holding = "SELECT id FROM case_file WHERE replace(address, ' ', '') LIKE '%南京市%' {scope} ORDER BY id DESC"
    found = "SELECT id FROM cityops_cases_by_address('南京市', '%南京市%', 100)"
    with nanjing.connect() as conn:
        conn.exec_driver_sql("ANALYZE case_file")
        share = conn.execute(text("SELECT min(share) FROM cityops_rarest_pairs('南京市', 'ix_event_address_grams', 3)"))
        # among the grams index's most common pairs: how common decides the way (how many holders the shared
        # test city has depends on the other tests' imports, most without addresses)
        common = share.scalar_one() > 0
        assert common
        qinhuai, city = (
            conn.execute(text("SELECT id FROM unit WHERE code = :c"), {"c": c}).scalar_one()
            for c in ("320104", "320100")
        )
        conn.execute(text("SELECT set_config('cityops.scope_unit', :u, false)"), {"u": str(city)})
        holders = conn.execute(text(holding.format(scope=""))).scalars().all()
        answered = conn.execute(text(found)).scalars().all()
        assert len(answered) == len(set(answered)) == min(100, len(holders)) and set(answered) <= set(holders)
        if answered[0] == holders[0]:  # the newest cases were read (the word is common enough here): in order
            assert answered == holders[:100]
        conn.execute(text("SELECT set_config('cityops.scope_unit', :u, false)"), {"u": str(qinhuai)})
        in_scope = conn.execute(text(holding.format(scope=f"AND units @> ARRAY[{qinhuai}::bigint]"))).scalars().all()
        answered = conn.execute(text(found)).scalars().all()  # read from the newest, the rest from the index
        assert len(answered) == len(set(answered)) == min(100, len(in_scope)) and set(answered) <= set(in_scope)
        assert (
            conn.execute(
                text("SELECT count(*) FROM cityops_cases_by_address('南京市 秦淮区 无此', '%南京市 秦淮区 无此%', 100)")
            ).scalar_one()
            == 0
        )


def test_no_match_is_an_empty_list(client: TestClient) -> None:
    for q in ("不存在的地方名字", "zzzzqqqq", "%_\\", "99999999999999999"):
        answer = client.get("/api/v1/search", params={"q": q})
        assert answer.status_code == 200 and answer.json() == {"q": q, "hits": []}, (q, answer.text)


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"q": ""}, "q is empty"),
        ({"q": "   "}, "q is empty"),
        ({}, "q is empty"),
        ({"q": "玄" * 65}, "at most 64"),
        ({"q": "玄武", "limit": 0}, "limit must be between 1 and 50"),
        ({"q": "玄武", "limit": 51}, "between 1 and 50"),
        ({"q": "玄武", "limit": "ten"}, "limit"),
    ],
)
def test_bad_input_is_refused_with_what_to_fix(client: TestClient, params: dict[str, object], words: str) -> None:
    answer = client.get("/api/v1/search", params=params)
    assert answer.status_code == 422 and words in answer.text, answer.text


def test_bench_search_smoke(nanjing: Engine, nanjing_settings: StoreSettings) -> None:
    from bench.search import run

    with nanjing.connect() as conn:
        open_cases = conn.execute(
            text("SELECT count(*) FROM case_file WHERE state NOT IN ('closed', 'void')")
        ).scalar_one()
    console = Console(record=True, width=200)
    rows = run(nanjing_settings, cases=open_cases + 300, seconds=1, clients=1, queries=5, console=console)
    output = console.export_text()
    kinds = ["case number", "unit name in 汉字", "pinyin initials", "building code", "address words", "no match"]
    assert [row.measure.split(" (")[0].split(":")[0] for row in rows[::3]] == kinds
    assert all(row.ratio > 0 for row in rows) and "cores" in output and "units: building" in output
    assert "load average before the measures" in output and "load average after" in output
    with nanjing.connect() as conn:  # the imported cases were given the addresses of their places
        assert not conn.execute(
            text("SELECT count(*) FROM case_file WHERE external_id LIKE 'search-%' AND address IS NULL")
        ).scalar_one()
