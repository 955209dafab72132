"""Hot and cold spots (issue 8): planted clusters are found with their class and pattern over time, uniform data
gives (almost) none, esda agrees; through the API with bins by cell, unit, category and source."""

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
from grid.hotspots import (
    COLD,
    DIMINISHING,
    HOT,
    INTENSIFYING,
    NEW,
    NOT_SIGNIFICANT,
    PERSISTENT,
    SPORADIC,
    classify,
    emerging,
    hotspots,
    pattern,
    ring_weights,
)
from tests.conftest import Caller

CENTRE = h3.latlng_to_cell(32.06, 118.80, 8)  # 玄武区


def disk(radius: int, centre: str = CENTRE) -> np.ndarray:
    return np.array(sorted(h3.str_to_int(c) for c in h3.grid_disk(centre, radius)), dtype=np.uint64)


# Benjamini–Hochberg by hand over m = 10 p-values: sorted, p(i) is a discovery when some j ≥ i has p(j) < j/m·q
#   i   p(i)    i/10·0.05  p(i) below   i/10·0.10  p(i) below
#   1   0.001   0.005      yes          0.010      yes
#   2   0.008   0.010      yes          0.020      yes
#   3   0.012   0.015      yes          0.030      yes
#   4   0.021   0.020      no           0.040      yes
#   5   0.024   0.025      yes  <- k    0.050      yes
#   6   0.045   0.030      no           0.060      yes  <- k
#   7   0.075   0.035      no           0.070      no
#   8   0.200   0.040      no           0.080      no
#   9   0.450   0.045      no           0.090      no
#  10   0.900   0.050      no           0.100      no
# q = 0.05: the largest passing i is 5, so p(1)…p(5) are discoveries — 0.021 too, though it misses its own line
# (the step-up). q = 0.10: the largest is 6, so 0.045 joins. A plain p ≤ 0.05 cut would keep 0.045 as well, a
# step-down stopping at the first miss only p(1)…p(3): each wrong rule, and a doubled level, gives another set.
P_VALUES = np.array([0.450, 0.024, 0.001, 0.900, 0.045, 0.012, 0.200, 0.021, 0.075, 0.008])  # cells 0…9, shuffled
DISCOVERED_AT_5 = {1, 2, 5, 7, 9}  # the cells holding 0.024, 0.001, 0.012, 0.021, 0.008
DISCOVERED_AT_10 = DISCOVERED_AT_5 | {4}  # and 0.045


def benjamini_hochberg(p: np.ndarray, q: float) -> set[int]:
    """The discoveries (indices) of the step-up rule, written out here, apart from esda."""
    order = np.argsort(p, kind="stable")
    passing = [rank for rank in range(1, len(p) + 1) if p[order[rank - 1]] < rank / len(p) * q]
    return {int(i) for i in order[: max(passing, default=0)]}


def test_the_fdr_cut_keeps_exactly_the_hand_computed_discoveries() -> None:
    counts, z = np.full(10, 5), np.full(10, 2.0)
    z[5] = -2.0  # one discovery below the mean: cold
    at_5 = classify(counts, z, P_VALUES, alpha=0.05, min_count=3)
    assert {i for i, kind in enumerate(at_5) if kind == HOT} == DISCOVERED_AT_5 - {5}
    assert {i for i, kind in enumerate(at_5) if kind == COLD} == {5}
    at_10 = classify(counts, z, P_VALUES, alpha=0.10, min_count=3)
    assert {i for i, kind in enumerate(at_10) if kind != NOT_SIGNIFICANT} == DISCOVERED_AT_10
    assert benjamini_hochberg(P_VALUES, 0.05) == DISCOVERED_AT_5  # the helper below agrees with the table
    assert benjamini_hochberg(P_VALUES, 0.10) == DISCOVERED_AT_10


def test_the_analyses_cut_at_a_false_discovery_rate_of_5_percent_by_default() -> None:
    """hotspots and emerging pass their level on unchanged: analytic p-values (no permutations) of a
    fixed pattern, where 5 % and 10 % discover different cells, against the rule written out above."""
    cells, cluster = disk(4), set(disk(1).tolist())
    counts = np.array([9 if int(c) in cluster else 2 + (i * 7) % 5 for i, c in enumerate(cells)])
    spots = hotspots(cells, counts, permutations=0, min_count=1)
    p = np.array([s.p for s in spots])
    at_5 = benjamini_hochberg(p, 0.05)
    assert at_5 and at_5 != benjamini_hochberg(p, 0.10)  # the pattern tells the two levels apart
    assert {i for i, s in enumerate(spots) if s.kind != NOT_SIGNIFICANT} == at_5
    trends = emerging(cells, np.stack([counts, counts]), permutations=0, min_count=1)
    assert {i for i, t in enumerate(trends) if t.kinds[-1] != NOT_SIGNIFICANT} == at_5


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
    neighbours = {
        c: [
            h3.str_to_int(n)
            for n in h3.grid_disk(h3.int_to_str(c), 1)
            if n != h3.int_to_str(c) and h3.str_to_int(n) in set(index)
        ]
        for c in index
    }
    direct = esda.G_Local(
        counts,
        W(neighbours, silence_warnings=True),
        transform="B",
        star=True,
        permutations=199,
        seed=42,
        n_jobs=1,
        keep_simulations=True,
    )
    assert np.allclose([ours[c].z for c in index], direct.Zs)
    assert np.allclose([ours[c].p for c in index], direct.p_z_sim)  # the permutation distribution's tail
    assert {c: sorted(n) for c, n in ring_weights(cells).neighbors.items()} == {
        c: sorted(n) for c, n in neighbours.items()
    }


def test_a_quiet_cell_beside_a_busy_one_is_not_called_hot() -> None:
    cells = disk(10)
    counts = np.random.default_rng(9).poisson(1.0, len(cells))
    centre = int(h3.str_to_int(CENTRE))
    ring = {h3.str_to_int(c) for c in h3.grid_ring(CENTRE, 1)}
    counts[[i for i, c in enumerate(cells) if int(c) in ring]] = 40
    counts[list(cells).index(centre)] = 0
    spots = {s.cell: s for s in hotspots(cells, counts, permutations=999, seed=1, min_count=3)}
    assert spots[centre].z > 3 and spots[centre].kind == "not_significant"  # the guard, not the statistic


def test_rates_take_the_exposure_out_of_the_counts() -> None:
    cells = disk(10)
    rng = np.random.default_rng(12)
    buildings = np.full(len(cells), 5.0)
    dense = [i for i, c in enumerate(cells) if int(c) in set(disk(1).tolist())]
    buildings[dense] = 60  # a dense quarter: twelve times the buildings …
    counts = rng.poisson(buildings * 0.8)  # … and twelve times the cases, at the same rate per building
    on_counts = {s.cell for s in hotspots(cells, counts, seed=2) if s.kind == HOT}
    on_rates = {s.cell for s in hotspots(cells, counts, seed=2, exposure=buildings) if s.kind == HOT}
    assert {int(cells[i]) for i in dense} <= on_counts and not on_rates
    with pytest.raises(ValueError, match="positive exposure"):
        hotspots(cells, counts, exposure=np.zeros(len(cells)))


@pytest.mark.parametrize(
    ("classes", "tau", "p", "expected"),
    [
        ("HHHHHHHHHH", 0.1, 0.6, PERSISTENT),
        ("HHHHHHHHHH", 0.7, 0.001, INTENSIFYING),
        ("HHHHHHHHHH", -0.7, 0.001, DIMINISHING),
        ("NHHHHHHHHH", 0.0, 1.0, PERSISTENT),  # 90 % of the steps
        ("NNNNNNNNNH", 0.5, 0.04, NEW),
        ("NNNNNNHHHH", 0.5, 0.04, NEW),  # a run at the end, never before
        ("HNNHNNNNNH", 0.0, 1.0, SPORADIC),
        ("HNCHNNNNHH", 0.0, 1.0, SPORADIC),  # on and off, once cold
        ("HHHHHHHHHN", -0.5, 0.001, None),  # not hot now: no pattern
    ],
)
def test_patterns_follow_the_rules(classes: str, tau: float, p: float, expected: str | None) -> None:
    names = {"H": HOT, "N": NOT_SIGNIFICANT, "C": COLD}
    assert pattern([names[c] for c in classes], tau, p, alpha=0.05) == expected


def test_planted_histories_get_their_emerging_pattern() -> None:
    """Five clusters over eight steps, each with the history of one pattern, among Poisson(2) background."""
    cells = disk(12)
    rng = np.random.default_rng(4)
    counts = rng.poisson(2.0, (8, len(cells)))
    ring = h3.grid_ring(CENTRE, 6)
    plan = {
        PERSISTENT: (CENTRE, [25] * 8),
        NEW: (ring[0], [2] * 6 + [25, 25]),
        INTENSIFYING: (ring[9], list(range(14, 46, 4))),
        DIMINISHING: (ring[18], list(range(42, 10, -4))),
        SPORADIC: (ring[27], [25, 2, 2, 25, 2, 2, 2, 25]),
    }
    column = {int(c): i for i, c in enumerate(cells)}
    for centre, means in plan.values():
        for step, mean in enumerate(means):
            for cell in h3.grid_disk(centre, 1):
                counts[step, column[h3.str_to_int(cell)]] = rng.poisson(mean)
    trends = {t.cell: t for t in emerging(cells, counts, permutations=999, seed=3)}
    for expected, (centre, _) in plan.items():
        assert trends[h3.str_to_int(centre)].pattern == expected, (expected, trends[h3.str_to_int(centre)])
    far = set(cells.tolist()) - {int(h3.str_to_int(c)) for centre, _ in plan.values() for c in h3.grid_disk(centre, 2)}
    assert sum(trends[c].pattern is not None for c in far) <= 0.01 * len(far)
    assert trends[h3.str_to_int(CENTRE)].counts == tuple(int(n) for n in counts[:, column[h3.str_to_int(CENTRE)]])


def test_a_study_area_too_small_is_refused() -> None:
    with pytest.raises(ValueError, match="fewer than 3 cells"):
        hotspots(disk(0), np.array([4]), permutations=9)


# ---- through the API, on cases in the database ------------------------------------------------
PLANT = (118.8105, 32.0475)  # inside 玄武区 (320102)


@pytest.fixture(scope="module")
def planted(nanjing: Engine, tmp_path_factory: pytest.TempPathFactory) -> str:
    """120 cases around one resolution-8 cell of 玄武区 and 240 spread over the district, filed 2 days ago.

    Sources alternate hotline / grid worker, so a filter by source halves them.
    """
    with nanjing.connect() as conn:
        area = shapely.from_wkb(
            bytes(conn.execute(text("SELECT ST_AsBinary(geom) FROM unit WHERE code = '320102'")).scalar_one())
        )
    rng = np.random.default_rng(17)
    west, south, east, north = area.bounds
    spread = [
        (x, y)
        for x, y in zip(rng.uniform(west, east, 2000), rng.uniform(south, north, 2000), strict=True)
        if area.contains(shapely.Point(x, y))
    ][:240]
    # a cluster over the planted cell and its ring (~1.5 km across): Gi* tests a neighbourhood, not one cell
    cluster = [(PLANT[0] + dx, PLANT[1] + dy) for dx, dy in rng.normal(0, 0.004, (120, 2))]
    when = datetime.now(UTC) - timedelta(days=2)
    path = tmp_path_factory.mktemp("hotspots") / "planted.csv"
    pd.DataFrame(
        [
            {
                "lon": round(x, 6),
                "lat": round(y, 6),
                "category": "020102",
                "reported_at": when.isoformat(),
                "state": "closed",
                "id": f"hot-{i}",
                "source": ("hotline", "grid_worker")[i % 2],
            }
            for i, (x, y) in enumerate(cluster + spread)
        ]
    ).to_csv(path, index=False)
    assert import_events(nanjing, path).loaded == 360
    return h3.latlng_to_cell(PLANT[1], PLANT[0], 8)


def test_the_api_finds_the_planted_cell_of_a_district(client: TestClient, caller: Caller, planted: str) -> None:
    analyst = caller(["district"], "320102")
    answer = client.get("/api/v1/analytics/hotspots", headers=analyst, params={"category": "0201", "res": 8})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    hot = {f["id"] for f in body["features"] if f["properties"]["class"] == "hot"}
    assert planted in hot and body["summary"]["top"][0]["h3"] == planted
    assert body["summary"]["alpha"] == 0.05  # the documented default false-discovery rate
    assert body["summary"]["cases"] >= 300 and body["summary"]["cells"] > 50  # some fall outside the district
    first = body["features"][0]["properties"]
    assert {"h3", "count", "z", "p", "class"} <= first.keys()
    every = client.get(
        "/api/v1/analytics/hotspots",
        headers=analyst,
        params={"category": "0201", "permutations": 99, "every_cell": "true"},
    ).json()
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


def test_the_api_gives_the_pattern_over_steps_and_csv(client: TestClient, caller: Caller, planted: str) -> None:
    analyst = caller(["planner"], "320102")
    answer = client.get(
        "/api/v1/analytics/hotspots", headers=analyst, params={"category": "0201", "steps": 5, "permutations": 199}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    cell = next(f for f in body["features"] if f["id"] == planted)["properties"]
    assert cell["pattern"] == NEW and cell["classes"][-1] == HOT and len(cell["counts"]) == 5
    assert sum(cell["counts"]) == cell["count"] and cell["counts"][-1] >= 0.9 * cell["count"]  # planted 2 days ago
    assert len(body["summary"]["steps"]) == 5 and body["summary"]["patterns"][NEW] >= 1
    assert body["summary"]["top"][0]["place"]  # the street and community of the hottest cell
    table = client.get(
        "/api/v1/analytics/hotspots",
        headers=analyst,
        params={"category": "0201", "steps": 2, "permutations": 99, "format": "csv"},
    )
    assert table.status_code == 200 and table.headers["content-type"].startswith("text/csv")
    header = table.content.decode("utf-8-sig").splitlines()[0].split(",")
    assert header[:7] == ["h3", "lon", "lat", "count", "z", "p", "class"] and header[-2:] == ["step_1", "step_2"]


def test_hotspots_by_source_and_on_rates(client: TestClient, caller: Caller, planted: str) -> None:
    analyst = caller(["planner"], "320102")
    params = {"category": "0201", "permutations": 99, "every_cell": "true"}
    everything = client.get("/api/v1/analytics/hotspots", headers=analyst, params=params).json()["summary"]
    hotline = client.get("/api/v1/analytics/hotspots", headers=analyst, params=params | {"source": "hotline"})
    assert hotline.status_code == 200, hotline.text
    assert 0 < hotline.json()["summary"]["cases"] < everything["cases"]
    rates = client.get("/api/v1/analytics/hotspots", headers=analyst, params=params | {"rate": "buildings"})
    assert rates.status_code == 200, rates.text
    assert rates.json()["summary"]["rate"] == "buildings" and rates.json()["summary"]["cells"] <= everything["cells"]
    for bad in ({"source": "pigeon"}, {"rate": "people"}, {"steps": 0}, {"steps": 25}):
        refused = client.get("/api/v1/analytics/hotspots", headers=analyst, params=params | bad)
        assert refused.status_code == 422, (bad, refused.text)


def test_bins_by_cell_unit_category_and_source(client: TestClient, caller: Caller, planted: str) -> None:
    analyst = caller(["district"], "320102")
    by_cell = client.get("/api/v1/analytics/bins", headers=analyst, params={"category": "0201", "steps": 3})
    assert by_cell.status_code == 200, by_cell.text
    cells = by_cell.json()
    total = sum(r["count"] for r in cells["rows"])
    assert total >= 300 and len(cells["steps"]) == 3
    top = max(cells["rows"], key=lambda r: r["count"])
    assert top["key"] == planted and top["step"] == cells["steps"][-1] and top["per_km2"] > top["count"]
    streets = client.get(
        "/api/v1/analytics/bins", headers=analyst, params={"category": "0201", "by": "street", "group": "source"}
    ).json()
    assert sum(r["count"] for r in streets["rows"]) == total  # every case in exactly one street
    by_source = {}
    for row in streets["rows"]:
        by_source[row["group"]] = by_source.get(row["group"], 0) + row["count"]
    # the planted cases alternate the two sources (a few fall outside 玄武区); other tests may add other sources
    assert by_source.get("hotline", 0) >= 150 and by_source.get("grid_worker", 0) >= 150, by_source
    assert all(r["key"].startswith("320102") and r["name"] and r["per_km2"] > 0 for r in streets["rows"])
    grids = client.get(
        "/api/v1/analytics/bins", headers=analyst, params={"category": "0201", "by": "grid", "format": "csv"}
    )
    assert grids.status_code == 200
    lines = grids.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "key,name,step,group,count,per_km2" and sum(int(x.split(",")[4]) for x in lines[1:]) == total
    street = caller(["planner"], "320102002")
    above = client.get("/api/v1/analytics/bins", headers=street, params={"by": "district"})
    assert above.status_code == 422 and "above" in above.json()["detail"]
    for bad in ({"by": "building"}, {"group": "weather"}, {"format": "xml"}, {"source": "x"}):
        assert client.get("/api/v1/analytics/bins", headers=analyst, params=bad).status_code == 422, bad
