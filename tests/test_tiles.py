"""Vector tiles and hexagon counts (issue 7): what the map draws when the whole city is in view."""

from __future__ import annotations

import asyncio
import math
import random

import h3
import mapbox_vector_tile
import psycopg
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from spatial.db import libpq_url
from spatial.settings import StoreSettings
from spatial.vector_tiles import TileLayer, cut_tile
from tests.conftest import Caller, add_force, void_open_cases

CATEGORY = "010101"
CENTRE = (118.80, 32.06)  # 玄武区


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    """The slippy-map tile holding a point."""
    n = 2**z
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def envelope_sql(z: int, x: int, y: int) -> str:
    return f"ST_Transform(ST_TileEnvelope({z}, {x}, {y}), 4326)"


def decode(content: bytes) -> dict[str, list[dict[str, object]]]:
    layers = mapbox_vector_tile.decode(content)
    return {name: layer["features"] for name, layer in layers.items()}


def test_a_grid_tile_holds_exactly_the_grids_it_covers(client: TestClient, nanjing: Engine) -> None:
    z = 13
    x, y = tile_of(*CENTRE, z)
    answer = client.get(f"/tiles/grid/{z}/{x}/{y}.pbf")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    assert answer.headers["cache-control"] == "public, max-age=300"
    features = decode(answer.content)["grid"]
    with nanjing.connect() as conn:
        expected = set(
            conn.execute(
                text(f"SELECT code FROM unit WHERE tier = 'grid' AND ST_Intersects(geom, {envelope_sql(z, x, y)})")
            ).scalars()
        )
    codes = {f["properties"]["code"] for f in features}  # type: ignore[index]
    assert expected and expected <= codes  # the buffer adds neighbours drawn across the tile's edge
    assert {f["properties"]["tier"] for f in features} == {"grid"}  # type: ignore[index]
    assert len(answer.content) < 200_000


def test_tiles_below_a_layers_first_zoom_are_empty_and_bad_coordinates_are_refused(client: TestClient) -> None:
    x, y = tile_of(*CENTRE, 8)
    assert client.get(f"/tiles/building/8/{x}/{y}.pbf").status_code == 204
    district = client.get(f"/tiles/district/8/{x}/{y}.pbf")
    assert district.status_code == 200 and "district" in decode(district.content)
    assert client.get("/tiles/grid/3/9/1.pbf").status_code == 422  # x runs 0…7 at zoom 3
    assert client.get("/tiles/grid/23/0/0.pbf").status_code == 422
    assert client.get("/tiles/roads/3/1/1.pbf").status_code == 422


def test_a_tile_stops_at_its_cap_and_says_so(nanjing_settings: StoreSettings) -> None:
    layer = TileLayer("grid", "unit", "t.code", "t.tier = 'grid'", cap=3)
    x, y = tile_of(*CENTRE, 12)

    async def cut() -> tuple[int, bool]:
        async with await psycopg.AsyncConnection.connect(libpq_url(nanjing_settings)) as conn:
            tile = await cut_tile(conn, layer, 12, x, y)
        return len(decode(tile.data)["grid"]), tile.truncated

    assert asyncio.run(cut()) == (3, True)


@pytest.fixture(scope="module")
def placed(client: TestClient, nanjing: Engine) -> list[str]:
    """Five open cases around 玄武区's centre."""
    void_open_cases(nanjing, "ST_DWithin(geom::geography, ST_MakePoint(118.80, 32.06)::geography, 1500)", {})
    ids = []
    for _ in range(5):
        lon, lat = CENTRE[0] + random.uniform(-0.008, 0.008), CENTRE[1] + random.uniform(-0.008, 0.008)
        body = {"lon": lon, "lat": lat, "category": CATEGORY, "source": "hotline", "description": "井盖松动"}
        answer = client.post("/api/v1/reports", json=body)
        assert answer.status_code == 201, answer.text
        ids.append(str(answer.json()["case_id"]))
    return ids


def open_in(nanjing: Engine, where: str) -> int:
    with nanjing.connect() as conn:
        return conn.execute(
            text(f"SELECT count(*) FROM case_file WHERE state NOT IN ('closed', 'void') AND {where}")
        ).one()[0]


def test_case_tiles_show_the_callers_open_cases_gathered_when_zoomed_out(
    client: TestClient, anonymous: TestClient, caller: Caller, nanjing: Engine, placed: list[str]
) -> None:
    xuanwu, jiangning = caller(["district"], "320102"), caller(["district"], "320115")
    with nanjing.connect() as conn:  # the tile of a placed case (the centre's own tile may hold none of them)
        spot = conn.execute(
            text(
                "SELECT ST_X(geom), ST_Y(geom) FROM case_file WHERE id = ANY(:ids) "
                "AND state NOT IN ('closed', 'void') ORDER BY id LIMIT 1"
            ),
            {"ids": [int(i) for i in placed]},
        ).one()
    x, y = tile_of(*spot, 15)
    near = client.get(f"/tiles/cases/15/{x}/{y}.pbf", headers=xuanwu)
    assert near.status_code == 200 and near.headers["cache-control"] == "private, max-age=5"
    shown = {f["properties"]["id"] for f in decode(near.content)["cases"]}  # type: ignore[index]
    inside = open_in(
        nanjing,
        f"units @> ARRAY[(SELECT id FROM unit WHERE code = '320102')] "
        f"AND ST_Intersects(geom, {envelope_sql(15, x, y)})",
    )
    assert set(placed) & shown and len(shown) >= inside
    assert client.get(f"/tiles/cases/15/{x}/{y}.pbf", headers=jiangning).status_code == 204  # another district's
    assert anonymous.get(f"/tiles/cases/15/{x}/{y}.pbf").status_code == 401
    x, y = tile_of(*CENTRE, 8)  # cells of 0.022°: the five cases (within 0.016°) share at most four
    far = decode(client.get(f"/tiles/cases/8/{x}/{y}.pbf", headers=xuanwu).content)["cases"]
    counted = sum(int(f["properties"]["count"]) for f in far)  # type: ignore[index,call-overload]
    expected = open_in(
        nanjing, f"units @> ARRAY[(SELECT id FROM unit WHERE code = '320102')] AND geom && {envelope_sql(8, x, y)}"
    )
    assert counted == expected and len(far) < counted  # gathered: fewer features than cases


def test_hexagon_counts_add_up_to_the_callers_cases(
    client: TestClient, caller: Caller, nanjing: Engine, placed: list[str]
) -> None:
    xuanwu = caller(["district"], "320102")
    answer = client.get("/api/v1/hexagons", params={"resolution": 7}, headers=xuanwu)
    assert answer.status_code == 200, answer.text
    features = answer.json()["features"]
    expected = open_in(nanjing, "units @> ARRAY[(SELECT id FROM unit WHERE code = '320102')]")
    assert sum(f["properties"]["count"] for f in features) == expected
    with nanjing.connect() as conn:
        cells = (
            conn.execute(text("SELECT cell FROM case_file WHERE id = ANY(:ids)"), {"ids": [int(i) for i in placed]})
            .scalars()
            .all()
        )
    hexes = {f["properties"]["h3"] for f in features}
    assert {h3.cell_to_parent(h3.int_to_str(c), 7) for c in cells} <= hexes
    first = features[0]
    assert h3.get_resolution(first["id"]) == 7 and len(first["geometry"]["coordinates"][0]) == 7
    by_class = client.get("/api/v1/hexagons", params={"resolution": 7, "category": "01"}, headers=xuanwu).json()
    assert sum(f["properties"]["count"] for f in by_class["features"]) == open_in(
        nanjing, "category_code LIKE '01%' AND units @> ARRAY[(SELECT id FROM unit WHERE code = '320102')]"
    )


def test_hexagon_queries_are_checked(client: TestClient, caller: Caller, nanjing: Engine) -> None:
    worker = caller(["grid_worker"], "320102002")
    assert client.get("/api/v1/hexagons", params={"layer": "forces"}, headers=worker).status_code == 403
    assert client.get("/api/v1/hexagons", params={"resolution": 3}).status_code == 422
    assert client.get("/api/v1/hexagons", params={"category": "井盖"}).status_code == 422
    assert client.get("/api/v1/hexagons", params={"since": "2026-01-01T00:00:00"}).status_code == 422
    assert client.get("/api/v1/hexagons", params={"state": "sideways"}).status_code == 422
    placed, _ = add_force(nanjing, "320102", ["drainage"], at=CENTRE)  # one hexagon to count, whatever ran before
    with nanjing.connect() as conn:
        cell = conn.execute(text("SELECT cell FROM force_position WHERE force_id = :f"), {"f": placed}).scalar_one()
    forces = client.get("/api/v1/hexagons", params={"layer": "forces", "resolution": 6})
    assert forces.status_code == 200, forces.text
    hexagons = forces.json()["features"]
    assert h3.cell_to_parent(h3.int_to_str(cell), 6) in {f["properties"]["h3"] for f in hexagons}
    assert all(f["properties"]["available"] <= f["properties"]["count"] for f in hexagons)


@settings(max_examples=60, deadline=None)
@given(lat=st.floats(31.2, 32.6), lon=st.floats(118.3, 119.3), resolution=st.integers(0, 10))
def test_the_databases_h3_parent_is_h3s(nanjing: Engine, lat: float, lon: float, resolution: int) -> None:
    cell = h3.latlng_to_cell(lat, lon, 10)
    with nanjing.connect() as conn:
        parent = conn.execute(text("SELECT cityops_h3_parent(:c, :r)"), {"c": h3.str_to_int(cell), "r": resolution})
        assert h3.int_to_str(parent.scalar_one()) == h3.cell_to_parent(cell, resolution)
