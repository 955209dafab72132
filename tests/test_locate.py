"""Locate: exact at every boundary, equal to point-in-polygon, the same in SQL and in batch."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from grid.locate import BatchLocator, Location, Locator
from spatial.errors import InvalidInputError, OutsideJurisdictionError

EPS = 2e-6  # ~0.2 m: clearly on one side of a boundary, far beyond float noise


@pytest.fixture(scope="module")
def units(nanjing: Engine) -> dict[str, gpd.GeoDataFrame]:
    with nanjing.connect() as conn:
        return {
            tier: gpd.read_postgis(
                text("SELECT id, code, geom FROM unit WHERE tier = :t AND kind = 'administrative' ORDER BY code"),
                conn,
                geom_col="geom",
                params={"t": tier},
            )
            for tier in ("district", "street", "grid", "building")
        }


def code_at(location: Location, tier: str) -> str:
    return next(u.code for u in location.chain if u.tier == tier and u.kind == "administrative")


def neighbour_pairs(frame: gpd.GeoDataFrame, count: int) -> list[tuple[int, int]]:
    """Pairs of units that share an edge (not just a corner), spread over the city."""
    geoms = frame.geom.values
    left, right = shapely.STRtree(geoms).query(geoms, predicate="touches")
    keep = left < right
    left, right = left[keep], right[keep]
    shared = shapely.intersection(shapely.boundary(geoms[left]), shapely.boundary(geoms[right]))
    pairs = [(i, j) for i, j, line in zip(left, right, shared, strict=True) if shapely.length(line) > 1e-4]
    step = max(1, len(pairs) // count)
    return pairs[::step][:count]


def points_across(a: shapely.Geometry, b: shapely.Geometry) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A point just inside ``a``, one just inside ``b``, and one on their shared edge."""
    shared = shapely.line_merge(shapely.intersection(a.boundary, b.boundary))
    lines = [g for g in shapely.get_parts(shared) if g.geom_type == "LineString"]
    line = max(lines, key=lambda g: g.length)
    coords = np.asarray(line.coords)
    k = len(coords) // 2
    start, end = coords[k - 1], coords[k]
    middle = (start + end) / 2
    direction = (end - start) / np.hypot(*(end - start))
    normal = np.array([-direction[1], direction[0]])
    first, second = middle + EPS * normal, middle - EPS * normal
    if not a.contains(shapely.Point(first)):
        first, second = second, first
    return first, second, middle


@pytest.mark.parametrize("tier", ["district", "street", "grid"])
def test_golden_points_on_both_sides_of_boundaries(
    nanjing: Engine, units: dict[str, gpd.GeoDataFrame], tier: str
) -> None:
    frame = units[tier]
    locator = Locator()
    grid_codes = dict(zip(units["grid"].id, units["grid"].code, strict=True))
    checked = 0
    with nanjing.connect() as conn:
        batch = BatchLocator.from_db(conn)
        for i, j in neighbour_pairs(frame, 12):
            a, b = frame.geom.values[i], frame.geom.values[j]
            inside_a, inside_b, on_edge = points_across(a, b)
            assert a.contains(shapely.Point(inside_a)) and b.contains(shapely.Point(inside_b))
            assert code_at(locator.locate(conn, *inside_a), tier) == frame.code.values[i]
            assert code_at(locator.locate(conn, *inside_b), tier) == frame.code.values[j]
            on_edge_location = locator.locate(conn, *on_edge)
            edge_code = code_at(on_edge_location, tier)
            covering = [frame.code.values[k] for k in (i, j) if frame.geom.values[k].covers(shapely.Point(on_edge))]
            assert edge_code in {frame.code.values[i], frame.code.values[j]}
            if tier == "grid" and len(covering) == 2:
                assert edge_code == min(covering)  # ties between grids go to the lowest code
            batch_unit = batch.locate(np.array([on_edge[0]]), np.array([on_edge[1]]))[0]
            assert code_at(on_edge_location, "grid") == grid_codes[batch_unit]  # SQL and batch agree
            checked += 1
    assert checked >= 10


def exact_grid(units: dict[str, gpd.GeoDataFrame], lon: float, lat: float) -> str | None:
    grids = units["grid"]
    hits = shapely.STRtree(grids.geom.values).query(shapely.Point(lon, lat), predicate="intersects")
    return min(grids.code.values[hits]) if len(hits) else None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lon=st.floats(118.35, 119.25), lat=st.floats(31.22, 32.62))
def test_locate_equals_exact_point_in_polygon(
    nanjing: Engine, units: dict[str, gpd.GeoDataFrame], lon: float, lat: float
) -> None:
    expected = exact_grid(units, lon, lat)
    with nanjing.connect() as conn:
        if expected is None:
            with pytest.raises(OutsideJurisdictionError):
                Locator().locate(conn, lon, lat)
        else:
            assert code_at(Locator().locate(conn, lon, lat), "grid") == expected


def test_batch_locate_has_no_mismatch_against_strtree(nanjing: Engine) -> None:
    with nanjing.connect() as conn:
        batch = BatchLocator.from_db(conn)
    rng = np.random.default_rng(5)
    lon, lat = rng.uniform(118.35, 119.25, 200_000), rng.uniform(31.22, 32.62, 200_000)
    ours = batch.locate(lon, lat)
    tree = shapely.STRtree(batch.geoms)
    point_index, unit_index = tree.query(shapely.points(lon, lat), predicate="within")
    exact = np.full(len(lon), -1)
    exact[point_index] = batch.unit_ids[unit_index]
    assert (ours >= 0).sum() > 50_000
    assert (ours != exact).sum() == 0


def test_batch_and_single_agree(nanjing: Engine, units: dict[str, gpd.GeoDataFrame]) -> None:
    grids = units["grid"]
    rng = np.random.default_rng(9)
    lon, lat = rng.uniform(118.6, 118.95, 300), rng.uniform(31.9, 32.2, 300)
    with nanjing.connect() as conn:
        batch = BatchLocator.from_db(conn).locate(lon, lat)
        locator = Locator()
        codes = dict(zip(grids.id, grids.code, strict=True))
        for x, y, unit_id in zip(lon, lat, batch, strict=True):
            if unit_id < 0:
                with pytest.raises(OutsideJurisdictionError):
                    locator.locate(conn, x, y)
            else:
                assert code_at(locator.locate(conn, x, y), "grid") == codes[unit_id]


def test_chain_runs_from_city_to_building(nanjing: Engine, units: dict[str, gpd.GeoDataFrame]) -> None:
    building = units["building"].iloc[100]
    point = building.geom.representative_point()
    with nanjing.connect() as conn:
        location = Locator().locate(conn, point.x, point.y)
    assert [u.tier for u in location.chain] == ["city", "district", "street", "community", "grid", "building"]
    assert location.leaf.code == building.code
    assert location.chain[4].code == building.code[:14]
    assert location.chain[0].code == "320100"


def test_jiangbei_streets_answer_to_the_new_area(nanjing: Engine) -> None:
    with nanjing.connect() as conn:
        wkb = conn.execute(text("SELECT ST_AsBinary(ST_PointOnSurface(geom)) FROM unit WHERE name = '泰山街道'"))
        point = shapely.from_wkb(bytes(wkb.scalar_one()))
        location = Locator().locate(conn, point.x, point.y)
    assert location.at("district").name == "江北新区"
    assert location.at("district").kind == "management"
    assert "浦口区" in {u.name for u in location.chain if u.tier == "district"}
    assert location.at("street").name == "泰山街道"


def test_outside_the_city_is_a_clear_answer(nanjing: Engine) -> None:
    with nanjing.connect() as conn, pytest.raises(OutsideJurisdictionError, match="outside the jurisdiction"):
        Locator().locate(conn, 121.47, 31.23)  # Shanghai


@pytest.mark.parametrize(
    ("lon", "lat", "message"),
    [
        (math.nan, 32.0, "finite"),
        (118.8, math.inf, "finite"),
        (118.8, 91.0, "lat=91.0"),
        (181.0, 32.0, "lon=181.0"),
        (32.04, 118.78, "swapped"),
    ],
)
def test_bad_coordinates_are_refused(nanjing: Engine, lon: float, lat: float, message: str) -> None:
    with nanjing.connect() as conn, pytest.raises(InvalidInputError, match=message):
        Locator().locate(conn, lon, lat)
