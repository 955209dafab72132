"""`cityops bench intake`: report intake over HTTP and historic import, each against its baseline.

1. ``POST /api/v1/reports`` (no media) from N concurrent wrk connections for S seconds vs the
   same app's bare endpoint that parses the JSON and inserts one row, same bodies. wrk (C) keeps
   the load generator off the measured CPU. Every 201 is then looked up in the database by its
   Idempotency-Key (echoed in the answer): a key answered but not stored is lost, a key stored
   twice is duplicated; both must be zero.
2. The same intake served by ``cityops serve --workers N`` vs ``--workers 1``: what more server
   processes buy on this machine (the background loops run once across them, so the ratio is the
   requests' alone). Both servers are measured in the same run, one after the other.
3. ``cityops load events.csv`` of M generated events (validated, located, routed, deadlines) vs
   ``geopandas.to_postgis`` of the same file followed by one set-based ``ST_Contains`` update
   that only finds each event's grid; grids are compared afterwards.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from pathlib import Path

import geopandas as gpd
import httpx
import numpy as np
import orjson
import pandas as pd
from fastapi import FastAPI, Request, Response
from rich.console import Console
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Engine, text

from bench.bare_app import BareApp, json_response
from bench.harness import (
    Row,
    WrkResult,
    bench_caller,
    lua_headers,
    print_table,
    random_points_inside,
    resident_mb,
    run_wrk,
    served,
    smoke_run,
    warm,
)
from bench.machine import describe
from command.historic_import import import_events
from spatial.db import make_engine
from spatial.errors import PlatformError
from spatial.settings import StoreSettings
from spatial.units import city_outline
from web.settings import ApiSettings

SINK_SQL = """
CREATE TABLE IF NOT EXISTS bench_sink (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, body jsonb NOT NULL, at timestamptz NOT NULL DEFAULT now()
);
GRANT INSERT, SELECT ON bench_sink TO cityops_api;
GRANT USAGE ON SEQUENCE bench_sink_id_seq TO cityops_api
"""
MEMORY_TARGET_MB = 500  # per API process (issue 23)
SINK_INSERT = "INSERT INTO bench_sink (body) VALUES (%s) RETURNING id"  # as the platform's bare endpoint
BASELINE_TABLE = "bench_baseline_events"


def report_bodies(engine: Engine, count: int, seed: int) -> list[str]:
    """Citizen reports (JSON) at random places in the city, of random categories (few become duplicates)."""
    with engine.connect() as conn:
        lon, lat = random_points_inside(city_outline(conn), count, seed)
        codes = [row[0] for row in conn.execute(text("SELECT code FROM category ORDER BY code"))]
    rng = np.random.default_rng(seed)
    return [
        orjson.dumps(
            {
                "lon": round(float(x), 6),
                "lat": round(float(y), 6),
                "category": codes[int(c)],
                "source": "citizen_app",
                "description": f"市民反映问题 {i}",
            }
        ).decode()
        for i, (x, y, c) in enumerate(zip(lon, lat, rng.integers(0, len(codes), count), strict=True))
    ]


def posting(path: str, bodies: list[str], run: str, answered: Path, caller: dict[str, str]) -> str:
    """A wrk script POSTing ``bodies`` in turn as ``caller``, each with a fresh Idempotency-Key.

    The keys answered 201 go to a file.
    """
    listed = ",\n".join(f"[==[{body}]==]" for body in bodies)
    return f"""local bodies = {{\n{listed}\n}}
local sent = 0
local answered = nil
init = function(args)
  answered = io.open("{answered}", "w")
end
request = function()
  sent = sent + 1
  local headers = {lua_headers({"Content-Type": "application/json", **caller})}
  headers["Idempotency-Key"] = "{run}-" .. sent
  return wrk.format("POST", "{path}", headers, bodies[sent % #bodies + 1])
end
response = function(status, headers, body)
  if status == 201 then
    answered:write(headers["idempotency-key"] or headers["Idempotency-Key"] or "?", "\\n")
    answered:flush()
  end
end
"""


def audit(engine: Engine, answered: list[str], run: str) -> tuple[int, int]:
    """(lost, duplicated): keys answered 201 but not stored, and keys stored more than once."""
    with engine.connect() as conn:
        stored = conn.execute(
            text("SELECT idempotency_key, count(*) FROM report WHERE idempotency_key LIKE :run GROUP BY 1"),
            {"run": f"{run}-%"},
        ).all()
    counts: dict[str, int] = dict(stored)
    lost = sum(1 for key in answered if key not in counts)
    return lost, sum(count - 1 for count in counts.values())


def minimal_app() -> FastAPI:
    """The floor of any JSON intake: the same framework, driver and pool size, no middleware, no caller check,
    parse the body and insert it as one row (the platform's bare endpoint does the same inside the platform)."""
    bare = BareApp({}, pool_size=ApiSettings().db_concurrency)

    @bare.app.post("/insert", status_code=201)
    async def insert_one(request: Request) -> Response:
        body = orjson.loads(await request.body())
        async with bare.connection() as conn:
            row = await (await conn.execute(SINK_INSERT, (orjson.dumps(body).decode(),))).fetchone()
        return json_response({"id": str(row[0])})  # type: ignore[index]

    return bare.app


def bench_http(settings: StoreSettings, engine: Engine, seconds: float, clients: int, console: Console) -> list[Row]:
    """Intake vs the bare one-row insert, same server, same load generator, same bodies."""
    with engine.begin() as conn:
        conn.execute(text(SINK_SQL))
    bodies = report_bodies(engine, 20_000, seed=17)
    caller = bench_caller(engine, "bench-intake", ["integration"], "320100")
    run = f"bench-{uuid.uuid4().hex[:8]}"
    with (
        tempfile.TemporaryDirectory() as scratch,
        served(settings, env={"CITYOPS_BENCH_ENDPOINTS": "true"}) as base,
        served(settings, ("uvicorn", "--factory", "bench.intake:minimal_app", "--log-level", "warning")) as minimal,
    ):
        keys = Path(scratch) / "answered.txt"
        bare_lua = posting("/api/v1/_bench/insert", bodies, f"{run}-bare", Path(scratch) / "bare.txt", caller)
        minimal_lua = posting("/insert", bodies, f"{run}-minimal", Path(scratch) / "minimal.txt", {})
        warm(base, bare_lua, clients)  # pools and code paths, each app alike
        warm(minimal, minimal_lua, clients)
        warm(base, posting("/api/v1/reports", bodies, f"{run}-warm", keys, caller), clients)
        bare = run_wrk(base, bare_lua, clients, seconds)
        floor = run_wrk(minimal, minimal_lua, clients, seconds)
        ours = run_wrk(base, posting("/api/v1/reports", bodies, run, keys, caller), clients, seconds)
        answered = keys.read_text().split()
        memory, minimal_memory = resident_mb(base), resident_mb(minimal)
    lost, duplicated = audit(engine, answered, run)
    console.print(f"intake: {len(answered):,} reports answered 201 · lost {lost} · duplicated {duplicated}")
    if lost or duplicated:
        raise PlatformError(f"intake lost {lost} and duplicated {duplicated} reports under load")
    return [
        Row(
            f"POST /api/v1/reports, {clients} clients: reports/s (p50 / p99 ms), lost {lost}, dup {duplicated}",
            _figures(ours),
            f"{_figures(bare)} (one-row insert)",
            ours.rps / bare.rps,
            "≥ 0.5",
        ),
        Row(
            f"the same against a minimal app, {clients} clients: reports/s (p50 / p99 ms)",
            _figures(ours),
            f"{_figures(floor)} (minimal app, one-row insert)",
            ours.rps / floor.rps,
            "≥ 0.5",
        ),
        Row(
            "memory of the API process after these runs: resident MB (ratio: minimal app / ours)",
            f"{memory:,.0f}",
            f"{minimal_memory:,.0f} (minimal app)",
            minimal_memory / memory,
            "—",
        ),
        Row(
            f"memory of the API process against the {MEMORY_TARGET_MB} MB target",
            f"{memory:,.0f}",
            f"{MEMORY_TARGET_MB}",
            MEMORY_TARGET_MB / memory,
            "≥ 1.0",
        ),
        Row(
            f"the platform's bare insert against the minimal app's, {clients} clients: req/s (the middleware's cost)",
            _figures(bare),
            f"{_figures(floor)} (minimal app)",
            bare.rps / floor.rps,
            "—",
        ),
    ]


def all_ready(base: str, answers: int = 10) -> None:
    """Wait until ``answers`` fresh connections in a row find a process whose analytics are compiled: with N
    processes each has a compile (or a load from numba's cache) run apart, and a measure taken during one
    would measure the compiler."""
    deadline, streak = time.monotonic() + 180, 0
    while streak < answers:
        if time.monotonic() > deadline:
            raise PlatformError("the server's processes did not all compile their analytics in 180 s")
        ready = httpx.get(f"{base}/healthz/ready", timeout=5).json().get("analytics") == "ready"
        streak = streak + 1 if ready else 0
        if not ready:
            time.sleep(0.5)


def bench_workers(
    settings: StoreSettings,
    engine: Engine,
    seconds: float,
    clients: int,
    workers: int,
    console: Console,
) -> list[Row]:
    """Intake under ``cityops serve --workers N`` vs ``--workers 1``, same bodies, same load generator."""
    bodies = report_bodies(engine, 20_000, seed=19)
    caller = bench_caller(engine, "bench-intake", ["integration"], "320100")
    run = f"bench-w-{uuid.uuid4().hex[:8]}"
    servers = {
        "one": ("--workers", "1"),
        "direct": ("--workers", str(workers), "--direct"),
        "pooled": ("--workers", str(workers), "--pooler"),
    }
    measured, answered = {}, []
    with tempfile.TemporaryDirectory() as scratch:
        for name, options in servers.items():
            keys = Path(scratch) / f"answered-{name}.txt"
            with served(settings, ("cityops", "serve", *options), compiled=False) as base:
                if not smoke_run():
                    all_ready(base)
                warm(base, posting("/api/v1/reports", bodies, f"{run}-warm{name}", keys, caller), clients)
                measured[name] = run_wrk(
                    base, posting("/api/v1/reports", bodies, f"{run}-{name}", keys, caller), clients, seconds
                )
            answered += [key for key in keys.read_text().split() if not key.startswith(f"{run}-warm")]
    lost, duplicated = audit(engine, answered, run)
    console.print(
        f"intake by {workers} processes (directly, then through PgBouncer) and by 1 on {describe()}: "
        f"{len(answered):,} reports answered 201 · lost {lost} · duplicated {duplicated}"
    )
    if lost or duplicated:
        raise PlatformError(f"intake lost {lost} and duplicated {duplicated} reports under load")
    one, many, pooled = measured["one"], measured["direct"], measured["pooled"]
    return [
        Row(
            f"POST /api/v1/reports, {clients} clients, serve --workers {workers}: reports/s (p50 / p99 ms)",
            _figures(many),
            f"{_figures(one)} (--workers 1)",
            many.rps / one.rps,
            "≥ 1",
        ),
        Row(
            f"POST /api/v1/reports, {clients} clients, serve --workers {workers} through PgBouncer: "
            "reports/s (what it costs)",
            _figures(pooled),
            f"{_figures(many)} (directly)",
            pooled.rps / many.rps,
            "—",
        ),
    ]


def _figures(load: WrkResult) -> str:
    return f"{load.rps:,.0f} ({load.p50_ms:,.0f} / {load.p99_ms:,.0f})"


HISTORY_START = pd.Timestamp("2025-01-01T00:00:00+08:00")


def write_history(
    engine: Engine,
    path: Path,
    count: int,
    seed: int,
    *,
    state: str = "closed",
    start: pd.Timestamp = HISTORY_START,
    days: int = 365,
    area: BaseGeometry | None = None,
) -> None:
    """``days`` of events from ``start`` at random places (in ``area``, else the city): the kind of file a
    12345 system exports."""
    with engine.connect() as conn:
        lon, lat = random_points_inside(city_outline(conn) if area is None else area, count, seed)
        codes = [row[0] for row in conn.execute(text("SELECT code FROM category ORDER BY code"))]
    rng = np.random.default_rng(seed)
    reported = start + pd.to_timedelta(rng.integers(0, days * 86400, count), "s")
    pd.DataFrame(
        {
            "id": [f"{path.stem}-{i}" for i in range(count)],
            "lon": lon.round(6),
            "lat": lat.round(6),
            "category": rng.choice(codes, count),
            "severity": rng.choice(["IV", "IV", "IV", "III"], count),
            "source": rng.choice(["hotline", "grid_worker", "citizen_app"], count),
            "reported_at": reported.strftime("%Y-%m-%dT%H:%M:%S+08:00"),
            "description": "历史工单",
            "state": state,
        }
    ).to_csv(path, index=False)


def baseline_import(engine: Engine, path: Path) -> float:
    """geopandas.to_postgis of the file, then one set-based ST_Contains update finding each grid."""
    started = time.perf_counter()
    frame = pd.read_csv(path, dtype={"category": str})
    points = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame.lon, frame.lat), crs=4326)
    points.to_postgis(BASELINE_TABLE, engine, if_exists="replace")
    with engine.begin() as conn:
        conn.execute(text(f"ALTER TABLE {BASELINE_TABLE} ADD COLUMN grid_id bigint"))
        conn.execute(
            text(
                f"UPDATE {BASELINE_TABLE} b SET grid_id = u.id FROM unit u "
                "WHERE u.tier = 'grid' AND ST_Contains(u.geom, b.geometry)"
            )
        )
    return time.perf_counter() - started


def bench_import(engine: Engine, events: int, console: Console) -> list[Row]:
    """Historic import end to end vs to_postgis + ST_Contains, on the same generated file."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / f"history-{uuid.uuid4().hex[:8]}.csv"
        write_history(engine, path, events, seed=23)
        result = import_events(engine, path)
        base_s = baseline_import(engine, path)
    with engine.begin() as conn:
        mismatched = conn.execute(
            text(
                f"SELECT count(*) FROM case_file e JOIN {BASELINE_TABLE} b ON b.id = e.external_id "
                "WHERE e.import_batch_id = :batch AND b.grid_id IS DISTINCT FROM e.grid_id"
            ),
            {"batch": result.batch_id},
        ).scalar_one()
        conn.execute(text(f"DROP TABLE {BASELINE_TABLE}"))
        batch = {"batch": result.batch_id}
        conn.execute(
            text("DELETE FROM incident_case l USING case_file c WHERE c.id = l.case_id AND c.import_batch_id = :batch"),
            batch,
        )
        conn.execute(text("DELETE FROM case_file WHERE import_batch_id = :batch"), batch)
    console.print(
        f"import: {events:,} events · {result.loaded:,} loaded, {result.rejected:,} rejected · "
        f"{'bulk mode' if result.bulk else 'incremental'} · grids differing from the baseline's: {mismatched}"
    )
    return [
        Row(
            f"historic import of {events:,} events: events/s",
            f"{result.loaded / result.seconds:,.0f} ({result.seconds:.1f} s)",
            f"{events / base_s:,.0f} ({base_s:.1f} s) (to_postgis + ST_Contains)",
            base_s / result.seconds,
            "≥ 3",  # issue 23's table
        )
    ]


def run(
    settings: StoreSettings, *, seconds: float, clients: int, events: int, console: Console, workers: int | None = None
) -> list[Row]:
    """The measures and one table (``workers``: also intake by that many server processes against one); returns
    the rows (the smoke tests read them)."""
    console.print(f"machine: {describe()}")
    engine = make_engine(settings)
    try:
        with engine.connect() as conn:
            version = conn.execute(text("SELECT postgis_full_version()")).scalar_one().split(" ")[0]
            cases = conn.execute(text("SELECT count(*) FROM case_file")).scalar_one()
        console.print(f"PostGIS {version} · database {engine.url.database} · {cases:,} cases stored before the run")
        rows = bench_http(settings, engine, seconds, clients, console)
        if workers is not None:
            rows += bench_workers(settings, engine, seconds, clients, workers, console)
        rows += bench_import(engine, events, console)
    finally:
        engine.dispose()
    print_table(rows, console)
    return rows
