"""`cityops bench intake`: report intake over HTTP and historic import, each against its baseline.

1. ``POST /api/v1/reports`` (no media) from N concurrent clients for S seconds vs the same app's
   bare endpoint that parses the JSON and inserts one row, same clients, same bodies. Every 201
   is then looked up in the database by its Idempotency-Key: a key answered but not stored is
   lost, a key stored twice is duplicated; both must be zero.
2. ``cityops load events.csv`` of M generated events (validated, located, routed, deadlines) vs
   ``geopandas.to_postgis`` of the same file followed by one set-based ``ST_Contains`` update
   that only finds each event's grid; grids are compared afterwards.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import httpx
import numpy as np
import pandas as pd
from rich.console import Console
from sqlalchemy import Engine, text

from bench.harness import Row, city_outline, print_table, random_points_inside, served
from bench.machine import describe
from command.historic_import import import_events
from spatial.db import make_engine
from spatial.errors import PlatformError
from spatial.settings import StoreSettings

SINK_SQL = """
CREATE TABLE IF NOT EXISTS bench_sink (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, body jsonb NOT NULL, at timestamptz NOT NULL DEFAULT now()
)
"""
BASELINE_TABLE = "bench_baseline_events"


@dataclass
class Load:
    """What one run of concurrent clients saw."""

    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    answered: dict[str, str] = field(default_factory=dict)  # Idempotency-Key → id in the 201
    failures: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Successful requests per second."""
        return len(self.answered) / self.seconds

    def percentile_ms(self, q: float) -> float:
        """Latency percentile in milliseconds."""
        return float(np.percentile(np.asarray(self.latencies) * 1e3, q))


def report_bodies(engine: Engine, count: int, seed: int) -> list[dict[str, object]]:
    """Citizen reports at random places in the city, of random categories (few become duplicates)."""
    with engine.connect() as conn:
        lon, lat = random_points_inside(city_outline(conn), count, seed)
        codes = [row[0] for row in conn.execute(text("SELECT code FROM category ORDER BY code"))]
    rng = np.random.default_rng(seed)
    return [{"lon": round(float(x), 6), "lat": round(float(y), 6), "category": codes[int(c)], "source": "citizen_app",
             "description": f"市民反映问题 {i}"}
            for i, (x, y, c) in enumerate(zip(lon, lat, rng.integers(0, len(codes), count), strict=True))]  # fmt: skip


async def _drive(url: str, bodies: list[dict[str, object]], clients: int, seconds: float, run: str) -> Load:
    load = Load()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        started = time.perf_counter()
        deadline = started + seconds

        async def worker(number: int) -> None:
            sent = 0
            while time.perf_counter() < deadline:
                key = f"{run}-{number}-{sent}"
                body = bodies[(number * 7919 + sent) % len(bodies)]
                began = time.perf_counter()
                response = await client.post(url, json=body, headers={"Idempotency-Key": key})
                load.latencies.append(time.perf_counter() - began)
                if response.status_code == 201:
                    answer = response.json()
                    load.answered[key] = str(answer.get("report_id", answer.get("id")))
                else:
                    load.failures.append(f"{response.status_code} {response.text[:200]}")
                sent += 1

        await asyncio.gather(*(worker(n) for n in range(clients)))
        load.seconds = time.perf_counter() - started
    return load


def drive(url: str, bodies: list[dict[str, object]], clients: int, seconds: float, run: str) -> Load:
    """Clients posting in a loop for ``seconds``; every answer recorded."""
    load = asyncio.run(_drive(url, bodies, clients, seconds, run))
    if load.failures:
        raise PlatformError(f"{len(load.failures)} requests failed, e.g. {load.failures[0]}")
    return load


def audit(engine: Engine, load: Load, run: str) -> tuple[int, int]:
    """(lost, duplicated): answered keys missing from the database, and keys stored more than once."""
    with engine.connect() as conn:
        stored = conn.execute(
            text("SELECT idempotency_key, count(*) FROM report WHERE idempotency_key LIKE :run GROUP BY 1"),
            {"run": f"{run}-%"},
        ).all()  # fmt: skip
    counts = dict(stored)  # type: ignore[arg-type]
    lost = sum(1 for key in load.answered if key not in counts)
    duplicated = sum(count - 1 for count in counts.values()) + len(load.answered) - len(set(load.answered.values()))
    return lost, duplicated


def bench_http(settings: StoreSettings, engine: Engine, seconds: float, clients: int, console: Console) -> list[Row]:
    """Intake vs the bare one-row insert, same server, same clients, same bodies."""
    with engine.begin() as conn:
        conn.execute(text(SINK_SQL))
    bodies = report_bodies(engine, 20_000, seed=17)
    run = f"bench-{uuid.uuid4().hex[:8]}"
    with served(settings, CITYOPS_BENCH_ENDPOINTS="true") as base:
        drive(f"{base}/api/v1/_bench/insert", bodies, clients, 1, f"{run}-warm")  # warm pools and code paths
        drive(f"{base}/api/v1/reports", bodies, clients, 1, f"{run}-warm")
        bare = drive(f"{base}/api/v1/_bench/insert", bodies, clients, seconds, f"{run}-bare")
        ours = drive(f"{base}/api/v1/reports", bodies, clients, seconds, run)
    lost, duplicated = audit(engine, ours, run)
    console.print(f"intake: {len(ours.answered):,} reports answered 201 · lost {lost} · duplicated {duplicated}")
    if lost or duplicated:
        raise PlatformError(f"intake lost {lost} and duplicated {duplicated} reports under load")
    return [Row(f"POST /api/v1/reports, {clients} clients: reports/s (p50 / p99 ms), lost {lost}, dup {duplicated}",
                f"{ours.rate:,.0f} ({ours.percentile_ms(50):,.0f} / {ours.percentile_ms(99):,.0f})",
                f"{bare.rate:,.0f} ({bare.percentile_ms(50):,.0f} / {bare.percentile_ms(99):,.0f}) (one-row insert)",
                ours.rate / bare.rate, "≥ 0.5")]  # fmt: skip


def write_history(engine: Engine, path: Path, count: int, seed: int) -> None:
    """A year of past events at random places: the kind of file a 12345 system exports."""
    with engine.connect() as conn:
        lon, lat = random_points_inside(city_outline(conn), count, seed)
        codes = [row[0] for row in conn.execute(text("SELECT code FROM category ORDER BY code"))]
    rng = np.random.default_rng(seed)
    reported = pd.Timestamp("2025-01-01T00:00:00+08:00") + pd.to_timedelta(rng.integers(0, 365 * 86400, count), "s")
    pd.DataFrame({
        "id": [f"{path.stem}-{i}" for i in range(count)], "lon": lon.round(6), "lat": lat.round(6),
        "category": rng.choice(codes, count), "severity": rng.choice(["IV", "IV", "IV", "III"], count),
        "source": rng.choice(["hotline", "grid_worker", "citizen_app"], count),
        "reported_at": reported.strftime("%Y-%m-%dT%H:%M:%S+08:00"), "description": "历史工单", "state": "closed",
    }).to_csv(path, index=False)  # fmt: skip


def baseline_import(engine: Engine, path: Path) -> float:
    """geopandas.to_postgis of the file, then one set-based ST_Contains update finding each grid."""
    started = time.perf_counter()
    frame = pd.read_csv(path, dtype={"category": str})
    points = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame.lon, frame.lat), crs=4326)
    points.to_postgis(BASELINE_TABLE, engine, if_exists="replace")
    with engine.begin() as conn:
        conn.execute(text(f"ALTER TABLE {BASELINE_TABLE} ADD COLUMN grid_id bigint"))
        conn.execute(text(
            f"UPDATE {BASELINE_TABLE} b SET grid_id = u.id FROM unit u "
            "WHERE u.tier = 'grid' AND ST_Contains(u.geom, b.geometry)"))  # fmt: skip
    return time.perf_counter() - started


def bench_import(engine: Engine, events: int, console: Console) -> list[Row]:
    """Historic import end to end vs to_postgis + ST_Contains, on the same generated file."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / f"history-{uuid.uuid4().hex[:8]}.csv"
        write_history(engine, path, events, seed=23)
        result = import_events(engine, path)
        base_s = baseline_import(engine, path)
    with engine.begin() as conn:
        mismatched = conn.execute(text(
            f"SELECT count(*) FROM event e JOIN {BASELINE_TABLE} b ON b.id = e.external_id "
            "WHERE e.import_batch_id = :batch AND b.grid_id IS DISTINCT FROM e.grid_id"), {"batch": result.batch_id},
        ).scalar_one()  # fmt: skip
        conn.execute(text(f"DROP TABLE {BASELINE_TABLE}"))
        conn.execute(text("DELETE FROM event WHERE import_batch_id = :batch"), {"batch": result.batch_id})
    console.print(
        f"import: {events:,} events · {result.loaded:,} loaded, {result.rejected:,} rejected · "
        f"{'bulk mode' if result.bulk else 'incremental'} · grids differing from the baseline's: {mismatched}"
    )
    return [Row(f"historic import of {events:,} events: events/s",
                f"{result.loaded / result.seconds:,.0f} ({result.seconds:.1f} s)",
                f"{events / base_s:,.0f} ({base_s:.1f} s) (to_postgis + ST_Contains)",
                base_s / result.seconds, "≥ 5")]  # fmt: skip


def run(settings: StoreSettings, *, seconds: float, clients: int, events: int, console: Console) -> list[Row]:
    """Both measures and one table; returns the rows (the smoke test reads them)."""
    console.print(f"machine: {describe()}")
    engine = make_engine(settings)
    try:
        with engine.connect() as conn:
            version = conn.execute(text("SELECT postgis_full_version()")).scalar_one().split(" ")[0]
            cases = conn.execute(text("SELECT count(*) FROM event")).scalar_one()
        console.print(f"PostGIS {version} · database {engine.url.database} · {cases:,} cases stored before the run")
        rows = bench_http(settings, engine, seconds, clients, console)
        rows += bench_import(engine, events, console)
    finally:
        engine.dispose()
    print_table(rows, console)
    return rows
