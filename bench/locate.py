"""`cityops bench locate`: batch, single and HTTP locate against their baselines.

1. Batch: our H3-coverage locate vs shapely 2 ``STRtree.query(points, predicate="within")`` on
   the same grids and the same points; mismatches counted against that exact answer.
2. Single: one locate through PostGIS vs a prepared ``SELECT 1`` on the same connection; one
   from the process's index (``grid.locate_index``) vs through PostGIS, the same answer asserted.
3. HTTP: ``GET /api/v1/locate`` vs ``GET /healthz/ready`` (one ``SELECT 1``) of the same app,
   under the same number of concurrent clients.
"""

from __future__ import annotations

import time

import numpy as np
import shapely
from rich.console import Console
from sqlalchemy import text

from bench.harness import Row, bench_caller, cycling_gets, print_table, random_points_inside, run_wrk, served, warm
from bench.machine import describe
from grid.locate import BatchLocator, Locator
from grid.locate_index import FollowedIndex, LocateIndex
from spatial.db import make_engine
from spatial.settings import StoreSettings
from spatial.units import city_outline


def bench_batch(conn, points: int, console: Console) -> list[Row]:
    """Batch locate vs STRtree on the coverage tier's units."""
    locator = BatchLocator.from_db(conn)
    lon, lat = random_points_inside(city_outline(conn), points, seed=42)
    locator.locate(lon[:1000], lat[:1000])  # warm caches and lazy imports
    started = time.perf_counter()
    ours = locator.locate(lon, lat)
    ours_s = time.perf_counter() - started
    tree = shapely.STRtree(locator.geoms)
    geometries = shapely.points(lon, lat)
    assert isinstance(geometries, np.ndarray)  # coordinate arrays in, an array of points out
    tree.query(geometries[:1000], predicate="within")
    started = time.perf_counter()
    point_index, unit_index = tree.query(geometries, predicate="within")
    base_s = time.perf_counter() - started
    exact = np.full(points, -1, dtype=np.int64)
    exact[point_index] = locator.unit_ids[unit_index]
    mismatches = int((exact != ours).sum())
    boundary = float((locator.coverage.owner < 0).mean())
    console.print(
        f"batch: {points:,} points · {len(locator.unit_ids):,} units · H3 res "
        f"{locator.coverage.resolution}, {len(locator.coverage.cells):,} cells "
        f"({boundary:.0%} boundary) · mismatches vs exact: {mismatches}"
    )
    if mismatches:
        raise AssertionError(f"{mismatches:,} points located otherwise than by STRtree within: the comparison is void")
    return [
        Row(
            "batch locate, points/s",
            f"{points / ours_s:,.0f}",
            f"{points / base_s:,.0f} (STRtree within)",
            base_s / ours_s,
            "≥ 1.0",
        )
    ]


def _percentile_us(samples: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(samples) * 1e6, q))


def bench_single(conn, count: int) -> list[Row]:
    """Single locates through PostGIS vs SELECT 1 on the same connection, and from the process's index."""
    locator, indexed = Locator(), Locator(FollowedIndex.fixed(LocateIndex.from_db(conn)))
    lon, lat = random_points_inside(city_outline(conn), count, seed=7)
    driver = conn.connection.driver_connection
    for i in range(50):  # let psycopg prepare both statements
        driver.execute("SELECT 1", prepare=True).fetchone()
        locator.locate(conn, float(lon[i]), float(lat[i]))
        indexed.locate(conn, float(lon[i]), float(lat[i]))
    ours, floor, here = [], [], []
    for i in range(count):
        x, y = float(lon[i]), float(lat[i])
        started = time.perf_counter()
        driver.execute("SELECT 1", prepare=True).fetchone()
        floor.append(time.perf_counter() - started)
        started = time.perf_counter()
        through_db = locator.locate(conn, x, y)
        ours.append(time.perf_counter() - started)
        started = time.perf_counter()
        from_index = indexed.locate(conn, x, y)
        here.append(time.perf_counter() - started)
        if from_index != through_db:
            raise AssertionError(f"({x}, {y}) located otherwise from the index: the comparison is void")
    p50, p99 = _percentile_us(ours, 50), _percentile_us(ours, 99)
    f50, f99 = _percentile_us(floor, 50), _percentile_us(floor, 99)
    h50, h99 = _percentile_us(here, 50), _percentile_us(here, 99)
    return [
        Row(
            "single locate p50 / p99 µs",
            f"{p50:,.0f} / {p99:,.0f}",
            f"{f50:,.0f} / {f99:,.0f} (SELECT 1)",
            f50 / p50,
            "≥ 0.5",
        ),
        Row(
            "single locate from the process's index p50 / p99 µs",
            f"{h50:,.0f} / {h99:,.0f}",
            f"{p50:,.0f} / {p99:,.0f} (through PostGIS)",
            p50 / h50,
            "≥ 2",
        ),
    ]


def bench_http(settings: StoreSettings, conn, seconds: float, clients: int, key: dict[str, str]) -> list[Row]:
    """The locate endpoint (with its caller check) vs the public SELECT 1 endpoint of the same server."""
    with served(settings) as base:
        lon, lat = random_points_inside(city_outline(conn), 5000, seed=11)
        locate_paths = [f"/api/v1/locate?lon={x:.6f}&lat={y:.6f}" for x, y in zip(lon, lat, strict=True)]
        warm(base, cycling_gets(["/healthz/ready"]), clients)  # both paths and the pool
        warm(base, cycling_gets(locate_paths, key), clients)
        bare = run_wrk(base, cycling_gets(["/healthz/ready"]), clients, seconds)
        ours = run_wrk(base, cycling_gets(locate_paths, key), clients, seconds)
    return [
        Row(
            f"GET /api/v1/locate, {clients} clients: req/s (p99 ms)",
            f"{ours.rps:,.0f} ({ours.p99_ms:,.1f})",
            f"{bare.rps:,.0f} ({bare.p99_ms:,.1f}) (SELECT 1 endpoint)",
            ours.rps / bare.rps,
            "≥ 0.7",
        )
    ]


def run(
    settings: StoreSettings, *, points: int, single: int, seconds: float, clients: int, console: Console
) -> list[Row]:
    """Run all three and print one table; returns the rows (the smoke test reads them)."""
    console.print(f"machine: {describe()}")
    engine = make_engine(settings)
    key = bench_caller(engine, "bench-locate", ["integration"], "320100")
    with engine.connect() as conn:
        version = conn.execute(text("SELECT postgis_full_version()")).scalar_one().split(" ")[0]
        console.print(f"PostGIS {version} · database {engine.url.database}")
        rows = bench_batch(conn, points, console)
        rows += bench_single(conn, single)
        rows += bench_http(settings, conn, seconds, clients, key)
    print_table(rows, console)
    engine.dispose()
    return rows
