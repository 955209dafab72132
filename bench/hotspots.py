"""`cityops bench hotspots`: from the database to classified cells, against h3 + esda called directly.

The data: ``cases`` cases over the last year, imported through the historic-import path into a
database of their own (kept between runs): 60 % spread evenly over the city, 40 % around 40
centres of 300–1,200 m spread, a quarter of those only in the last 90 days — the shape of real
case history, where hot spots exist.

Ours: ``command.hotspot_analysis.analyse`` for the whole city over the year at resolution 8 with
999 permutations — counted by the database, Gi* on every cell of the city (empty ones as zeros),
FDR, places named. The baseline, in the same run, computes the same answer the direct way: the cases'
cells read out, each taken to the resolution with ``h3``, the study area from ``h3.geo_to_cells`` of the
same boundary (and the edge cells holding cases), ring weights, ``esda.G_Local`` with the same seed and
p-value (the fit of the permutation distribution), the same FDR cut and count guard. The two answers
must classify every cell alike (asserted; printed as a row). Both are timed warm — median of ``repeats``
after one untimed run, each keeping its study area and weights between runs as a service would — and
cold, each building them anew; numba compiling esda's kernel (once per process, at service start) is
measured first and reported on its own.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import esda
import h3
import numpy as np
import pandas as pd
import psycopg
import shapely
from libpysal.weights import W
from rich.console import Console
from sqlalchemy import Engine, text

from bench.harness import Row, print_table, random_points_inside
from bench.machine import describe
from command.historic_import import import_events
from command.hotspot_analysis import HotspotQuery, HotspotResult, analyse
from grid.binning import FOLD, Steps, bins, counts_by_step
from grid.hexagons import HexFilter
from grid.hotspots import COLD, HOT, NOT_SIGNIFICANT, forget, warm_up
from spatial.db import libpq_url, make_engine
from spatial.settings import StoreSettings
from spatial.units import city_outline

T = TypeVar("T")
TAG = "hotspots-bench"
CLUSTERS, CLUSTERED = 40, 0.4
CELLS = """SELECT cell FROM case_file
WHERE units @> ARRAY[%s::bigint] AND filed_at >= %s AND filed_at < %s AND state <> 'void'"""
OURS_SO_FAR = """SELECT count(*), max(b.loaded_at) FROM case_file e JOIN import_batch b ON b.id = e.import_batch_id
WHERE b.source LIKE :tag"""


def write_cases(engine: Engine, path: Path, count: int, seed: int, end: datetime) -> None:
    """``count`` cases over the year before ``end``: an even spread plus clusters, some of them recent."""
    rng = np.random.default_rng(seed)
    with engine.connect() as conn:
        outline = city_outline(conn)
        codes = [row[0] for row in conn.execute(text("SELECT code FROM category ORDER BY code"))]
    spread = count - int(count * CLUSTERED)
    lon, lat = random_points_inside(outline, spread, seed)
    centres = np.column_stack(random_points_inside(outline, CLUSTERS, seed + 1))
    members = rng.integers(0, CLUSTERS, count - spread)
    sigma = rng.uniform(300, 1200, CLUSTERS)[members] / 111_000
    cluster_lon = centres[members, 0] + rng.normal(0, 1, len(members)) * sigma / np.cos(np.radians(32))
    cluster_lat = centres[members, 1] + rng.normal(0, 1, len(members)) * sigma
    recent = members < CLUSTERS // 4  # these clusters began 90 days ago
    days = np.concatenate(
        [
            rng.uniform(0, 365, spread),
            np.where(recent, rng.uniform(0, 90, len(members)), rng.uniform(0, 365, len(members))),
        ]
    )
    reported = pd.Timestamp(end) - pd.to_timedelta(days * 86400, "s")
    pd.DataFrame(
        {
            "id": [f"{path.stem}-{i}" for i in range(count)],
            "lon": np.concatenate([lon, cluster_lon]).round(6),
            "lat": np.concatenate([lat, cluster_lat]).round(6),
            "category": rng.choice(codes, count),
            "source": rng.choice(["hotline", "grid_worker", "citizen_app"], count),
            "reported_at": reported.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
            "state": "closed",
        }
    ).to_csv(path, index=False)


def ensure_cases(engine: Engine, count: int, console: Console) -> tuple[datetime, int]:
    """The benchmark's cases (kept between runs) and the end of their year."""
    with engine.connect() as conn:
        have, end = conn.execute(text(OURS_SO_FAR), {"tag": f"%{TAG}%"}).one()
    if have < count * 0.99:  # the import rejects the few cluster points that fall outside the city
        end = datetime.now(UTC)
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / f"{TAG}-{uuid.uuid4().hex[:8]}.csv"
            write_cases(engine, path, count - have, seed=61 + have, end=end)
            result = import_events(engine, path, actor="bench")
        console.print(f"imported {result.loaded:,} cases ({result.seconds:.0f} s)")
        have += result.loaded
    return end, int(have)


Counter_ = Callable[[psycopg.AsyncConnection, bool], Awaitable[object]]


async def counting(settings: StoreSettings, count: Counter_, repeats: int) -> tuple[float, float, bool]:
    """A count alone, warm: with whole days from the rollup (ours) and from every case (the baseline); medians of
    ``repeats`` after one untimed run each, and whether the two answered alike."""
    async with await psycopg.AsyncConnection.connect(libpq_url(settings), autocommit=True) as conn:
        await conn.execute(FOLD)  # the import's appended rows merged, as the worker would have by now
        seconds: dict[bool, list[float]] = {True: [], False: []}
        answers = {}
        for _ in range(repeats + 1):
            for rollup in (True, False):
                started = time.perf_counter()
                answers[rollup] = await count(conn, rollup)
                seconds[rollup].append(time.perf_counter() - started)
    return statistics.median(seconds[True][1:]), statistics.median(seconds[False][1:]), answers[True] == answers[False]


async def ours(settings: StoreSettings, query: HotspotQuery) -> tuple[float, HotspotResult]:
    """One analysis from the database, timed."""
    async with await psycopg.AsyncConnection.connect(libpq_url(settings)) as conn:
        started = time.perf_counter()
        result = await analyse(conn, query)
        return time.perf_counter() - started, result


class Direct:
    """The direct route with h3, libpysal and esda; the study area and its weights kept between runs."""

    def __init__(self, boundary: bytes, resolution: int) -> None:
        self.resolution = resolution
        outline = shapely.geometry.mapping(shapely.from_wkb(boundary))
        self.area = {h3.str_to_int(c) for c in h3.geo_to_cells(outline, resolution)}
        self.weights: dict[tuple[int, ...], W] = {}

    def _weights(self, cells: list[int]) -> W:
        key = tuple(cells)
        if key not in self.weights:
            known = set(cells)
            ring = {c: [h3.str_to_int(x) for x in h3.grid_ring(h3.int_to_str(c), 1)] for c in cells}
            self.weights[key] = W({c: [n for n in ring[c] if n in known] for c in cells}, silence_warnings=True)
        return self.weights[key]

    def __call__(self, conn: psycopg.Connection, query: HotspotQuery) -> dict[int, str]:
        """Each cell of the study area and its class (hot, cold, not significant)."""
        stored = conn.execute(CELLS, (query.unit_id, query.since, query.until)).fetchall()
        counted = Counter(h3.str_to_int(h3.cell_to_parent(h3.int_to_str(c), self.resolution)) for (c,) in stored)
        cells = sorted(self.area | counted.keys())
        counts = np.array([counted.get(c, 0) for c in cells])
        with np.errstate(invalid="ignore", divide="ignore"):
            g = esda.G_Local(
                counts.astype(float),
                self._weights(cells),
                transform="B",
                star=True,
                permutations=query.permutations,
                seed=query.seed,
                n_jobs=1,
            )
        z, p = np.nan_to_num(g.Zs), np.nan_to_num(g.p_z_sim, nan=1.0)
        cut = esda.fdr(p, query.alpha)
        return {
            c: NOT_SIGNIFICANT if pv > cut else COLD if zc <= 0 else HOT if n >= query.min_count else NOT_SIGNIFICANT
            for c, n, zc, pv in zip(cells, counts, z, p, strict=True)
        }


def timed(call: Callable[[], T]) -> tuple[float, T]:
    """Seconds a call took, and its answer."""
    started = time.perf_counter()
    answer = call()
    return time.perf_counter() - started, answer


def run(
    settings: StoreSettings,
    *,
    cases: int,
    resolution: int = 8,
    permutations: int = 999,
    repeats: int = 3,
    console: Console,
) -> list[Row]:
    """Cold start, then ours and the direct route warm, one table; returns the rows (the smoke test reads them)."""
    console.print(f"machine: {describe()}")
    engine = make_engine(settings)
    try:
        end, total = ensure_cases(engine, cases, console)
        with engine.connect() as conn:
            city, code, boundary = conn.execute(
                text("SELECT id, code, ST_AsBinary(geom) FROM unit WHERE tier = 'city' LIMIT 1")
            ).one()
    finally:
        engine.dispose()
    started = time.perf_counter()
    warm_up()
    cold_s = time.perf_counter() - started
    query = HotspotQuery(
        city,
        code,
        bytes(boundary),
        end - timedelta(days=366),
        end + timedelta(seconds=1),
        resolution,
        permutations=permutations,
    )
    count_s, count_base_s, counted_alike = asyncio.run(
        counting(settings, lambda db, rollup: counts_by_step(db, query.filter, query.period, rollup=rollup), repeats)
    )
    months = Steps(query.since, query.until, 12)  # a planner's table: each district's categories month by month
    by_month = HexFilter(city, resolution, None, (), "reported", query.since, query.until)
    bins_s, bins_base_s, binned_alike = asyncio.run(
        counting(
            settings,
            lambda db, rollup: bins(
                db, by_month, months, by="district", group="category", scope_tier="city", rollup=rollup
            ),
            repeats,
        )
    )
    direct = Direct(bytes(boundary), resolution)
    with psycopg.connect(libpq_url(settings)) as conn:  # (ours too is timed from an open connection)
        asyncio.run(ours(settings, query))  # caches and buffers warm, both routes
        direct(conn, query)
        ours_runs = [asyncio.run(ours(settings, query)) for _ in range(repeats)]
        direct_runs = [timed(lambda: direct(conn, query)) for _ in range(repeats)]
        forget()
        ours_cold_s, _ = asyncio.run(ours(settings, query))
        base_cold_s, _ = timed(lambda: Direct(bytes(boundary), resolution)(conn, query))
    ours_s, base_s = statistics.median(t for t, _ in ours_runs), statistics.median(t for t, _ in direct_runs)
    result = ours_runs[-1][1]
    ours_kinds, base_kinds = {s.cell: s.kind for s in result.spots}, direct_runs[-1][1]
    alike = sum(ours_kinds.get(c) == k for c, k in base_kinds.items()) / max(len(ours_kinds | base_kinds), 1)
    hot = sum(kind == HOT for kind in base_kinds.values())
    console.print(
        f"data: {total:,} cases in the city database, {result.summary()['cases']:,} in the year; "
        f"{len(result.spots):,} cells in the city at resolution {resolution}; hot cells: ours "
        f"{sum(s.kind == HOT for s in result.spots):,}, direct {hot:,}; cells classified alike: {alike:.2%}"
    )
    console.print(result.text(), highlight=False)
    rows = [
        Row(
            f"city, one year, res {resolution}, {permutations} permutations: database → classified cells, warm s",
            f"{ours_s:.2f}",
            f"{base_s:.2f} (cells → h3 → esda.G_Local)",
            base_s / ours_s,
            "≥ 1",
        ),
        Row(
            "the same, cold (study area and weights built anew)",
            f"{ours_cold_s:.2f}",
            f"{base_cold_s:.2f}",
            base_cold_s / ours_cold_s,
            "≥ 1",
        ),
        Row("the same against the issue's 2 s target", f"{ours_s:.2f}", "2.00", 2.0 / ours_s, "≥ 1"),
        Row("cells classified alike, ours vs direct (share)", f"{alike:.4f}", "1.0000", alike, "= 1"),
        Row(
            "its count per cell: whole days from case_cell_day, the rest from the cases, warm s",
            f"{count_s:.3f}",
            f"{count_base_s:.3f} (every case counted)",
            count_base_s / count_s,
            "≥ 1",
        ),
        Row("the two counts alike (share)", f"{counted_alike:.4f}", "1.0000", float(counted_alike), "= 1"),
        Row(
            "bins: the year per district × category × month (12 steps), warm s",
            f"{bins_s:.3f}",
            f"{bins_base_s:.3f} (every case counted)",
            bins_base_s / bins_s,
            "≥ 1",
        ),
        Row("the two tables alike (share)", f"{binned_alike:.4f}", "1.0000", float(binned_alike), "= 1"),
        Row(
            "cold start: numba compiling esda's kernel (once per process, at service start)",
            f"{cold_s:.1f}",
            "—",
            0.0,
            "—",
        ),
    ]
    if alike != 1.0 or not counted_alike or not binned_alike:
        print_table(rows, console)
        raise AssertionError("the routes disagree (cells classified, counts or bins): the comparison is void")
    print_table(rows, console)
    return rows
