"""Locate from the process's own index: the database's answers, and fresh after a boundary import."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import orjson
import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from grid.cells import points_to_cells
from grid.load import load_file
from grid.locate import SNAP_DEG, Location, Locator
from grid.locate_index import FollowedIndex, LocateIndex, load_index
from spatial.boundary_file import ImportOptions
from spatial.db import as_libpq, database_url
from spatial.errors import OutsideJurisdictionError
from spatial.settings import StoreSettings
from spatial.tiers import Tier
from tests.conftest import eventually
from tests.test_import import DISTRICTS, STREETS, write

# LOCATE_SQL for many points at once: the same table lookups and the same functions of migration 0002
LOCATE_MANY_SQL = """
SELECT p.i, c.unit_id IS NOT NULL AS interior, g.chain::text AS chain, g.boundary_version_id AS version,
       CASE WHEN g.has_buildings THEN cityops_building_at(g.id, p.lon, p.lat) END AS building
FROM unnest(:lon ::float8[], :lat ::float8[], :cell ::int8[]) WITH ORDINALITY AS p(lon, lat, cell, i)
JOIN h3_cell c ON c.cell = p.cell
JOIN unit g ON g.id = coalesce(c.unit_id, cityops_pick(c.candidates, p.lon, p.lat, :snap))
"""


def database_answers(engine: Engine, lon: np.ndarray, lat: np.ndarray) -> dict[int, tuple[str, ...]]:
    """Point index → (interior, version, the chain's codes) as the database locates it."""
    with engine.connect() as conn:
        resolution = conn.execute(text("SELECT resolution FROM h3_coverage ORDER BY id DESC LIMIT 1")).scalar_one()
        rows = conn.execute(
            text(LOCATE_MANY_SQL),
            {
                "lon": lon.tolist(),
                "lat": lat.tolist(),
                "cell": points_to_cells(lon, lat, resolution).tolist(),
                "snap": SNAP_DEG,
            },
        ).all()
    answers = {}
    for row in rows:
        codes = [unit["code"] for unit in orjson.loads(row.chain)]
        if row.building:
            codes.append(orjson.loads(row.building)["code"])
        answers[row.i - 1] = (str(row.interior), str(row.version), *codes)
    return answers


def index_answers(index: LocateIndex, lon: np.ndarray, lat: np.ndarray) -> tuple[dict[int, tuple[str, ...]], set[int]]:
    """Like ``database_answers`` where the index decides, and the points it left to the database."""
    answers, undecided = {}, set()
    for i, (x, y) in enumerate(zip(lon.tolist(), lat.tolist(), strict=True)):
        found = index.locate(x, y)
        if isinstance(found, Location):
            answers[i] = (str(found.interior), str(found.boundary_version), *(u.code for u in found.chain))
        elif found is None:
            undecided.add(i)
    return answers, undecided


def points_on_edges(engine: Engine, tier: str, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Vertices and edge midpoints of a tier's outlines: points exactly on shared boundaries (the ties)."""
    with engine.connect() as conn:
        wkbs = conn.execute(text("SELECT ST_AsBinary(geom) FROM unit WHERE tier = :t ORDER BY code"), {"t": tier})
        coords = shapely.get_coordinates(shapely.from_wkb([bytes(w) for (w,) in wkbs]))
    middles = (coords[:-1] + coords[1:]) / 2
    points = np.concatenate([coords, middles])[:: max(1, (2 * len(coords)) // count)][:count]
    return points[:, 0].copy(), points[:, 1].copy()


def test_index_equals_the_database_on_100000_points(nanjing: Engine) -> None:
    index = load_index(nanjing)
    rng = np.random.default_rng(23)
    lon, lat = rng.uniform(118.35, 119.25, 70_000), rng.uniform(31.22, 32.62, 70_000)
    for tier, count in (("grid", 12_000), ("building", 8_000)):  # beside grids' and buildings' edges: 1 µm–0.1 m
        edge_lon, edge_lat = points_on_edges(nanjing, tier, count)
        nudge = rng.choice([-1, 1], (2, count)) * 10 ** rng.uniform(-11, -6, (2, count))
        lon, lat = np.concatenate([lon, edge_lon + nudge[0]]), np.concatenate([lat, edge_lat + nudge[1]])
    exact_lon, exact_lat = points_on_edges(nanjing, "grid", 10_000)  # on the edges, to the last bit
    lon, lat = np.concatenate([lon, exact_lon]), np.concatenate([lat, exact_lat])
    assert len(lon) == 100_000
    (ours, undecided), theirs = index_answers(index, lon, lat), database_answers(nanjing, lon, lat)
    assert len(theirs) > 50_000 and sum(len(chain) >= 8 for chain in theirs.values()) > 1_000  # buildings met
    outside = set(range(len(lon))) - ours.keys() - undecided
    assert ours == {i: theirs[i] for i in ours}  # wherever the index decides, it answers as the database
    assert not outside & theirs.keys()
    on_edges = undecided & set(range(90_000, 100_000))
    assert len(on_edges) > 9_000, len(on_edges)  # on an edge to the last bit: mostly the database's to decide
    assert not undecided & set(range(70_000))  # a point at random is never that close


def test_the_api_locates_from_its_index(client: TestClient, staff: dict[str, str]) -> None:
    followed: FollowedIndex = client.app.state.locate_index  # type: ignore[attr-defined]
    index = eventually(followed.current)
    answer = client.get("/api/v1/locate", params={"lon": 118.78, "lat": 32.04}, headers=staff).json()
    found = index.locate(118.78, 32.04)
    assert isinstance(found, Location) and answer["index"]["cell"] == found.cell
    assert [u["code"] for u in answer["chain"]] == [u.code for u in found.chain]


def test_a_boundary_import_reaches_the_index(fresh: tuple[Engine, StoreSettings], tmp_path: Path) -> None:
    engine, settings = fresh
    load_file(engine, write(tmp_path / "districts.geojson", DISTRICTS), ImportOptions(tier=Tier.DISTRICT), settings)
    followed = FollowedIndex()
    locator = Locator(followed)

    def leaf_code() -> str:
        with engine.connect() as conn:
            return locator.locate(conn, 30.05, 10.15).leaf.code

    async def scenario() -> tuple[list[str], int]:
        follower = asyncio.create_task(followed.follow(as_libpq(database_url(settings)), lambda: load_index(engine)))
        try:
            await asyncio.to_thread(eventually, followed.current)
            before = leaf_code()
            streets = write(tmp_path / "streets.geojson", STREETS)
            await asyncio.to_thread(load_file, engine, streets, ImportOptions(tier=Tier.STREET), settings)
            await asyncio.to_thread(eventually, lambda: followed.loads >= 2 and followed.current())
            return [before, leaf_code()], followed.loads
        finally:
            follower.cancel()

    leaves, loads = asyncio.run(scenario())
    assert leaves == ["X-A", "X-A-2"]  # the district, then the street the import added
    assert loads == 2  # one reload for the whole import, however many statements it wrote
    index = followed.current()
    assert index is not None
    rng = np.random.default_rng(4)
    lon, lat = rng.uniform(29.95, 30.25, 5_000), rng.uniform(9.95, 10.25, 5_000)
    ours, undecided = index_answers(index, lon, lat)
    assert ours == database_answers(engine, lon, lat) and not undecided
    with engine.connect() as conn, pytest.raises(OutsideJurisdictionError, match="swapped"):
        locator.locate(conn, 10.15, 30.05)  # the hint comes from the index too
