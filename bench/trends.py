"""`cityops bench trends`: the planner's four KPI charts over the demo's year of case history.

Why: the planner's page draws a unit's trends (intake, closures, on-time closure, overdue moves,
satisfaction) day by day or week by week; one evaluation per point took 9 s for thirty days of
the city. What is compared, in one run, over the same window (fixed at the run's start, so the
scheduler's new moves stay outside it):

- ``GET /api/v1/analytics/trends`` for the city and its busiest district, over 30 days (by day)
  and 90 days (by week, the default beyond 62 days): p50 / p99 of sequential requests (one
  client: the latency a planner waits for) — against the named baseline, the old path of one
  ``command.evaluation.evaluate`` per point (``per_bucket_points``), served by a minimal FastAPI
  app (ratio: baseline p99 / ours p99), and against the grouped pass through that minimal app
  (the same SQL and driver, the scope set the same way, no middleware, no authentication), so
  what the platform's request path adds shows; the city's 30 days against the 1 s p99 target.
- Every point of ours must equal the baseline's (printed: points differing).

Data: the demo's year of history (``command.synthetic_history.load_history`` with the demo's
prefix, seed and hot street, as `cityops demo` loads it), ``cases`` of them, in a database of
its own kept between runs.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

import httpx
import numpy as np
import psycopg
from fastapi import FastAPI, Query, Response
from rich.console import Console
from sqlalchemy import Engine, text

from bench.bare_app import BareApp, json_response
from bench.demo import progress_bar
from bench.harness import Row, bench_caller, print_table, served
from bench.machine import describe
from command.demo_users import DEMO_STREET
from command.evaluation import By, Period, evaluate
from command.kpi_trends import FIGURES, Bucket, Step, buckets, kpi_trends, step_for
from command.synthetic_history import history_count, load_history
from command.working_time import WorkingCalendar
from spatial.db import make_engine
from spatial.settings import StoreSettings

PREFIX, SEED = "demo-history", 17  # the demo's own history (fixtures/demo.py, `cityops demo`)
WINDOWS = (30, 90)  # days: by day, and by week (the route's default beyond 62 days)
TARGET_P99_MS = 1000.0
TIMEOUT_S = 300  # the baseline's 90 days of the city is slow: measured, not dropped
USER_ENV = "CITYOPS_BENCH_TRENDS_USER"  # the minimal app's caller (a planner at the city)
Since = Annotated[datetime, Query(alias="from")]
Until = Annotated[datetime, Query(alias="to")]
BUSIEST = """
SELECT d.code, d.name FROM case_file e JOIN unit d ON d.id = e.units[2]
WHERE d.tier = 'district' AND e.created_at >= now() - interval '90 days'
GROUP BY 1, 2 ORDER BY count(*) DESC, 1 LIMIT 1
"""
CITY = "SELECT code, id FROM unit WHERE tier = 'city' ORDER BY id LIMIT 1"
WINDOW_MOVES = "SELECT count(*) FROM case_transition WHERE at >= :since AND at < :until"


async def per_bucket_points(
    conn: psycopg.AsyncConnection, unit_id: int, spans: list[Bucket], department: str | None
) -> list[dict[str, object]]:
    """The baseline: the trend as it was computed before the grouped pass, one ``evaluate`` per point."""
    points = []
    for span in spans:
        total = (await evaluate(conn, Period(unit_id, span.start, span.end, By.area, department)))["total"]
        points.append(
            {
                "date": span.date,
                "from": span.start.isoformat(),
                "to": span.end.isoformat(),
                **{figure: total[figure] for figure in FIGURES},
            }
        )
    return points


# ---- the minimal app: the same SQL and driver, no middleware --------------------------------------
def minimal_app() -> FastAPI:
    """FastAPI with one pool of API-role connections, the grouped trend and the per-bucket baseline.

    Its caller is fixed at start (``CITYOPS_BENCH_TRENDS_USER``); see ``bench.bare_app``.
    """
    zone = WorkingCalendar.china().zone
    bare = BareApp({"caller": os.environ[USER_ENV]}, pool_size=4)
    app = bare.app

    async def answer(unit_id: int, start: datetime, end: datetime, grouped: bool) -> Response:
        step = step_for(start, end)
        spans = buckets(start, end, step, zone)
        async with bare.scoped(bare.users["caller"]) as conn:
            if grouped:
                body = await kpi_trends(conn, unit_id, spans, step, zone, None)
            else:
                body = {"points": await per_bucket_points(conn, unit_id, spans, None)}
        return json_response(body)

    @app.get("/grouped/{unit_id}")
    async def grouped(unit_id: int, start: Since, end: Until) -> Response:
        return await answer(unit_id, start, end, grouped=True)

    @app.get("/per-bucket/{unit_id}")
    async def per_bucket(unit_id: int, start: Since, end: Until) -> Response:
        return await answer(unit_id, start, end, grouped=False)

    return app


# ---- measures ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Timed:
    """Sequential requests: p50 / p99 ms and the last answer's points."""

    p50_ms: float
    p99_ms: float
    points: list[dict[str, object]]

    def __str__(self) -> str:
        return f"{self.p50_ms:,.0f} / {self.p99_ms:,.0f}"


def timed(base: str, path: str, params: dict[str, str], headers: dict[str, str] | None, samples: int) -> Timed:
    """One warm-up request, then ``samples`` one after another."""
    seconds, answer = [], None
    with httpx.Client(base_url=base, headers=headers, timeout=TIMEOUT_S) as http:
        for i in range(samples + 1):
            started = time.perf_counter()
            answer = http.get(path, params=params)
            answer.raise_for_status()
            if i:
                seconds.append(time.perf_counter() - started)
    ms = np.asarray(seconds) * 1000
    assert answer is not None  # samples + 1 requests: at least one
    return Timed(float(np.percentile(ms, 50)), float(np.percentile(ms, 99)), answer.json()["points"])


def differing(ours: list[dict[str, object]], baseline: list[dict[str, object]]) -> int:
    """Points whose date, span or any figure differs between two answers."""
    return sum(a != b for a, b in zip(ours, baseline, strict=True))


def bench_unit(
    base: str,
    bare: str,
    headers: dict[str, str],
    unit: tuple[str, str, int],
    until: datetime,
    samples: int,
    baseline_samples: int,
    console: Console,
) -> list[Row]:
    """One unit over each window: ours, the per-bucket baseline, the minimal app's grouped pass."""
    who, code, unit_id = unit
    rows = []
    for days in WINDOWS:
        since = until - timedelta(days=days)
        window = {"from": since.isoformat(), "to": until.isoformat()}
        ours = timed(base, "/api/v1/analytics/trends", {"unit": code, **window}, headers, samples)
        baseline = timed(bare, f"/per-bucket/{unit_id}", window, None, baseline_samples)
        minimal = timed(bare, f"/grouped/{unit_id}", window, None, samples)
        wrong = differing(ours.points, baseline.points) + differing(minimal.points, baseline.points)
        step = step_for(since, until)
        console.print(
            f"{who} {code}, {days} days by {step.value}: {len(ours.points)} points; "
            f"points differing from the per-bucket baseline: {wrong}"
        )
        label = f"{who}, {days} days by {step.value} ({len(ours.points)} points)"
        rows += [
            Row(
                f"{label}: GET /api/v1/analytics/trends, 1 client, p50 / p99 ms (ratio: baseline p99 / ours p99)",
                str(ours),
                f"{baseline} one evaluate() per point",
                baseline.p99_ms / ours.p99_ms,
                "—",
            ),
            Row(
                f"{label}: the same against the minimal app (ratio: minimal p99 / ours p99)",
                str(ours),
                f"{minimal} minimal app, same grouped SQL",
                minimal.p99_ms / ours.p99_ms,
                "—",
            ),
        ]
        if who == "city" and step is Step.day:
            rows.append(
                Row(
                    f"{label}: p99 against the {TARGET_P99_MS:,.0f} ms target",
                    f"{ours.p99_ms:,.0f} ms",
                    f"{TARGET_P99_MS:,.0f} ms",
                    TARGET_P99_MS / ours.p99_ms,
                    "≥ 1",
                )
            )
    return rows


def ensure_history(settings: StoreSettings, engine: Engine, cases: int, console: Console) -> None:
    """The demo's year of history, ``cases`` of them (kept between runs), with fresh planner statistics.

    A live database has its statistics kept by autovacuum; a just-loaded one may have none for the
    hierarchy yet, and the measure would then be of that, not of the trends.
    """
    if history_count(engine, PREFIX) < cases:
        with progress_bar(console, f"the demo's year of history, {cases:,} cases") as update:
            load_history(
                settings, engine, cases, prefix=PREFIX, seed=SEED, hot_unit=DEMO_STREET, actor="bench", progress=update
            )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE unit, case_file, report, case_transition")


def run(settings: StoreSettings, *, cases: int, samples: int, baseline_samples: int, console: Console) -> list[Row]:
    """Load the history, measure each unit and window, print one table; returns the rows (the smoke test reads them)."""
    console.print(f"machine: {describe()}")
    engine = make_engine(settings)
    until = datetime.now(WorkingCalendar.china().zone).replace(second=0, microsecond=0)
    try:
        ensure_history(settings, engine, cases, console)
        with engine.connect() as conn:
            city_code, city = conn.execute(text(CITY)).one()
            district_code, district_name = conn.execute(text(BUSIEST)).one()
            district = conn.execute(text("SELECT id FROM unit WHERE code = :c"), {"c": district_code}).scalar_one()
            total = conn.execute(text("SELECT count(*) FROM case_file")).scalar_one()
            moves = [
                conn.execute(text(WINDOW_MOVES), {"since": until - timedelta(days=d), "until": until}).scalar_one()
                for d in WINDOWS
            ]
        console.print(
            f"data: {total:,} cases; transitions in the last {WINDOWS[0]} / {WINDOWS[1]} days: "
            f"{moves[0]:,} / {moves[1]:,}; district: {district_name} ({district_code})"
        )
        planner = "bench-trends-planner"
        headers = bench_caller(engine, planner, ["planner"], city_code)
        rows: list[Row] = []
        with (
            served(settings) as base,
            served(
                settings,
                ("uvicorn", "--factory", "bench.trends:minimal_app", "--log-level", "warning"),
                env={USER_ENV: planner},
            ) as bare,
        ):
            for unit in (("city", city_code, city), ("district", district_code, district)):
                rows += bench_unit(base, bare, headers, unit, until, samples, baseline_samples, console)
    finally:
        engine.dispose()
    speedups = [row.ratio for row in rows if "baseline p99 / ours p99" in row.measure]
    console.print(
        f"samples: {samples} per measure ({baseline_samples} for the baseline), one after another; "
        f"median ratio baseline p99 / ours p99: {statistics.median(speedups):.1f}"
    )
    print_table(rows, console)
    return rows
