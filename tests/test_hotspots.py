"""Hot and cold spots (issue 8): planted clusters are found, uniform data gives (almost) none, esda agrees."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import esda
import h3
import numpy as np
import pandas as pd
import pytest
import shapely
from fastapi.testclient import TestClient
from libpysal.weights import W
from sqlalchemy import Engine, text

from command.historic_import import import_events
from grid.hotspots import COLD, HOT, hotspots, ring_weights
from tests.conftest import Caller

CENTRE = h3.latlng_to_cell(32.06, 118.80, 8)  # 玄武区


def disk(radius: int, centre: str = CENTRE) -> np.ndarray:
    return np.array(sorted(h3.str_to_int(c) for c in h3.grid_disk(centre, radius)), dtype=np.uint64)


def test_a_planted_cluster_is_hot_where_it_was_planted() -> None:
    cells = disk(12)  # 469 cells of ~0.7 km²
    rng = np.random.default_rng(7)
    counts = rng.poisson(2.0, len(cells))
    planted = set(disk(1).tolist())
    counts[[i for i, c in enumerate(cells) if int(c) in planted]] = rng.poisson(30.0, len(planted))
    spots = hotspots(cells, counts, permutations=999, alpha=0.05, seed=11)
    hot = {s.cell for s in spots if s.kind == HOT}
    assert planted <= hot  # every planted cell found
    assert len(hot - planted) <= 6  # and little else: the ring right around the cluster at most
    far = set(disk(12).tolist()) - set(disk(3).tolist())
    assert not (hot & far)


def test_a_planted_cold_area_is_cold() -> None:
    cells = disk(10)
    rng = np.random.default_rng(3)
    counts = rng.poisson(12.0, len(cells))
    quiet = set(disk(2, h3.grid_ring(CENTRE, 6)[0]).tolist()) & {int(c) for c in cells}
    counts[[i for i, c in enumerate(cells) if int(c) in quiet]] = 0
    spots = hotspots(cells, counts, permutations=999, seed=5)
    cold = {s.cell for s in spots if s.kind == COLD}
    assert len(cold & quiet) >= len(quiet) // 2
    assert not {s.cell for s in spots if s.kind == HOT} & quiet


def test_uniform_random_counts_give_almost_no_spots_after_the_fdr_cut() -> None:
    cells = disk(12)
    found = []
    for seed in range(5):
        counts = np.random.default_rng(100 + seed).poisson(5.0, len(cells))
        spots = hotspots(cells, counts, permutations=999, seed=seed)
        found.append(sum(s.kind != "not_significant" for s in spots))
    assert sum(found) <= 0.005 * 5 * len(cells)  # at most 1 in 200 cells, over five draws


def test_results_equal_esda_called_directly_on_the_same_input() -> None:
    cells = disk(8)
    counts = np.random.default_rng(21).poisson(3.0, len(cells)).astype(float)
    counts[:5] += 20
    ours = {s.cell: s for s in hotspots(cells, counts, permutations=199, seed=42)}
    index = [int(c) for c in cells]
    neighbours = {c: [h3.str_to_int(n) for n in h3.grid_disk(h3.int_to_str(c), 1) if n != h3.int_to_str(c)
                      and h3.str_to_int(n) in set(index)] for c in index}  # fmt: skip
    direct = esda.G_Local(counts, W(neighbours, silence_warnings=True), transform="B", star=True, permutations=199,
                          seed=42, n_jobs=1)  # fmt: skip
    assert np.allclose([ours[c].z for c in index], direct.Zs)
    assert np.allclose([ours[c].p for c in index], direct.p_sim)
    assert {c: sorted(n) for c, n in ring_weights(cells).neighbors.items()} == {c: sorted(n) for c, n in
                                                                               neighbours.items()}  # fmt: skip


def test_a_quiet_cell_beside_a_busy_one_is_not_called_hot() -> None:
    cells = disk(10)
    counts = np.random.default_rng(9).poisson(1.0, len(cells))
    centre = int(h3.str_to_int(CENTRE))
    ring = {h3.str_to_int(c) for c in h3.grid_ring(CENTRE, 1)}
    counts[[i for i, c in enumerate(cells) if int(c) in ring]] = 40
    counts[list(cells).index(centre)] = 0
    spots = {s.cell: s for s in hotspots(cells, counts, permutations=999, seed=1, min_count=3)}
    assert spots[centre].z > 3 and spots[centre].kind == "not_significant"  # the guard, not the statistic


def test_a_study_area_too_small_is_refused() -> None:
    with pytest.raises(ValueError, match="fewer than 3 cells"):
        hotspots(disk(0), np.array([4]), permutations=9)


# ---- through the API, on cases in the database ------------------------------------------------
PLANT = (118.8105, 32.0475)  # inside 玄武区 (320102)


@pytest.fixture(scope="module")
def planted(nanjing: Engine, tmp_path_factory: pytest.TempPathFactory) -> str:
    """120 cases around one resolution-8 cell of 玄武区 and 240 spread over the district, filed in the last days.

    With 999 permutations the smallest p is 0.001, and 135 cells under a 5 % false-discovery rate need
    three cells that small before any is called: a hot spot is a neighbourhood, not one busy cell.
    """
    with nanjing.connect() as conn:
        area = shapely.from_wkb(bytes(conn.execute(text("SELECT ST_AsBinary(geom) FROM unit WHERE code = '320102'"))
                                      .scalar_one()))  # fmt: skip
    rng = np.random.default_rng(17)
    west, south, east, north = area.bounds
    spread = [(x, y) for x, y in zip(rng.uniform(west, east, 2000), rng.uniform(south, north, 2000), strict=True)
              if area.contains(shapely.Point(x, y))][:240]  # fmt: skip
    # a cluster over the planted cell and its ring (~1.5 km across): Gi* tests a neighbourhood, not one cell
    cluster = [(PLANT[0] + dx, PLANT[1] + dy) for dx, dy in rng.normal(0, 0.004, (120, 2))]
    when = datetime.now(UTC) - timedelta(days=2)
    path = tmp_path_factory.mktemp("hotspots") / "planted.csv"
    pd.DataFrame([{"lon": round(x, 6), "lat": round(y, 6), "category": "020102", "reported_at": when.isoformat(),
                   "state": "closed", "id": f"hot-{i}"} for i, (x, y) in enumerate(cluster + spread)]
                 ).to_csv(path, index=False)  # fmt: skip
    assert import_events(nanjing, path).loaded == 360
    return h3.latlng_to_cell(PLANT[1], PLANT[0], 8)


def test_the_api_finds_the_planted_cell_of_a_district(client: TestClient, caller: Caller, planted: str) -> None:
    analyst = caller(["district"], "320102")
    answer = client.get("/api/v1/analytics/hotspots", headers=analyst,
                        params={"category": "0201", "res": 8})  # fmt: skip
    assert answer.status_code == 200, answer.text
    body = answer.json()
    hot = {f["id"] for f in body["features"] if f["properties"]["class"] == "hot"}
    assert planted in hot and body["summary"]["top"][0]["h3"] == planted
    assert body["summary"]["cases"] >= 300 and body["summary"]["cells"] > 50  # some fall outside the district
    first = body["features"][0]["properties"]
    assert {"h3", "count", "z", "p", "class"} <= first.keys()
    every = client.get("/api/v1/analytics/hotspots", headers=analyst,
                       params={"category": "0201", "permutations": 99, "every_cell": "true"}).json()  # fmt: skip
    assert len(every["features"]) == every["summary"]["cells"]


def test_hotspot_requests_are_checked(client: TestClient, caller: Caller) -> None:
    analyst = caller(["district"], "320102")
    assert client.get("/api/v1/analytics/hotspots", headers=analyst, params={"unit": "320115"}).status_code == 403
    assert client.get("/api/v1/analytics/hotspots", headers=caller(["street"], "320102002")).status_code == 403
    assert client.get("/api/v1/analytics/hotspots", headers=analyst, params={"res": 5}).status_code == 422
    city = caller(["city_commander"], "320100")
    too_fine = client.get("/api/v1/analytics/hotspots", headers=city, params={"res": 10, "permutations": 0})
    assert too_fine.status_code == 422 and "coarser" in too_fine.json()["detail"]
    assert client.get("/api/v1/analytics/hotspots", headers=analyst, params={"category": "垃圾"}).status_code == 422
