"""`cityops bench public`: the public page ready in a browser, and what freezing a month costs.

Page: ``/public`` of a freshly started server in a new browser context (nothing cached: cold), to the
district map drawn (its legend in the DOM), then again in the same context (warm: the month's files
are ``immutable``). The baseline is the same page, byte for byte — its HTML as the server answered it,
the platform's static assets and the month's ``counts.geojson`` — from plain Starlette ``StaticFiles``
in its own process: the floor of serving that page at all. The issue's target is ready ≤ 1 s cold.

Publication: ``exchange.publications.build`` of the newest month with cases (figures, files, manifest;
what ``cityops publish`` does before its insert) against one plain ``GROUP BY`` of that month's cases
by district and category — the floor of reading the month once.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
from playwright.sync_api import Browser, ViewportSize
from rich.console import Console
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from bench.harness import Row, print_table, served
from bench.machine import describe
from bench.map import chromium, wait_until
from bench.workflow import ensure_history
from command.working_time import CHINA
from exchange import publications
from exchange.public_figures import Month
from exchange.publication_key import public_pem, signing_key
from spatial.db import libpq_url, make_engine
from spatial.errors import InvalidInputError
from spatial.settings import StoreSettings

STATIC_ENV = "CITYOPS_BENCH_PUBLIC_DIR"
MAP_READY = "document.querySelector('.public-legend') !== null"
VIEWPORT: ViewportSize = {"width": 1280, "height": 900}
TARGET_READY_S = 1.0
NEWEST_MONTH = """
SELECT to_char(date_trunc('month', created_at AT TIME ZONE 'Asia/Shanghai'), 'YYYY-MM'), count(*)
FROM case_file WHERE created_at < %s GROUP BY 1 ORDER BY 1 DESC LIMIT 1
"""
PLAIN_COUNTS = """
SELECT units[2], category_code, count(*) FROM case_file
WHERE created_at >= %(start)s AND created_at < %(end)s GROUP BY 1, 2
"""


def static_app() -> Starlette:
    """The baseline: the page's saved bytes from StaticFiles, and the readiness answer ``served`` waits for."""

    async def ready(request: object) -> JSONResponse:
        return JSONResponse({"analytics": "ready"})

    directory = os.environ[STATIC_ENV]
    return Starlette(routes=[Route("/healthz/ready", ready), Mount("/", StaticFiles(directory=directory, html=True))])


def _snapshot(base: str, month: str, into: Path) -> None:
    """Save ``/public`` as the server answers it, the static assets and the month's district counts, under ``into``."""
    static = Path(__file__).parent.parent / "map_ui" / "static"
    shutil.copytree(static, into / "static")
    (into / "public" / month).mkdir(parents=True)
    (into / "public" / "index.html").write_bytes(httpx.get(f"{base}/public").content)
    (into / "public" / month / "counts.geojson").write_bytes(httpx.get(f"{base}/public/{month}/counts.geojson").content)


def ready_times(browser: Browser, base: str, loads: int) -> tuple[float, float]:
    """Median seconds from navigation to the map drawn: cold (a new context), warm (the same context again)."""
    cold: list[float] = []
    warm: list[float] = []
    for _ in range(loads):
        context = browser.new_context(viewport=VIEWPORT)
        page = context.new_page()
        for times in (cold, warm):
            page.goto(f"{base}/public")
            wait_until(page, MAP_READY)
            times.append(page.evaluate("performance.now()") / 1000)
        context.close()
    return statistics.median(cold), statistics.median(warm)


async def _publish_newest(settings: StoreSettings, now: datetime) -> tuple[Month, int, float, float]:
    """The newest ended month with cases published (kept: a month stays published); build and baseline seconds."""
    key = signing_key(settings.data_dir, settings.city)
    async with await psycopg.AsyncConnection.connect(libpq_url(settings), autocommit=True) as conn:
        this_month = Month(now.astimezone(CHINA).date().replace(day=1))
        row = await (await conn.execute(NEWEST_MONTH, (this_month.start,))).fetchone()
        if row is None:
            raise InvalidInputError("the benchmark's city has no cases before this month: give it --cases")
        month, cases = Month.parse(row[0]), int(row[1])
        await publications.publish(conn, month, key, "bench", now)
        started = time.perf_counter()
        await publications.build(conn, month, public_pem(key))
        built_s = time.perf_counter() - started
        started = time.perf_counter()
        await (await conn.execute(PLAIN_COUNTS, {"start": month.start, "end": month.end})).fetchall()
        plain_s = time.perf_counter() - started
    return month, cases, built_s, plain_s


def run(settings: StoreSettings, *, cases: int, loads: int, console: Console) -> list[Row]:
    """The history in place, the newest month published and its build timed, then the page cold and warm
    against its static copy."""
    console.print(f"machine: {describe()}")
    engine = make_engine(settings)
    try:
        ensure_history(settings, engine, cases, console)
    finally:
        engine.dispose()
    month, cases, built_s, plain_s = asyncio.run(_publish_newest(settings, datetime.now(UTC)))
    console.print(f"month {month.label}: {cases:,} cases; built in {built_s:.2f} s, plain GROUP BY {plain_s:.2f} s")
    with tempfile.TemporaryDirectory() as scratch, chromium() as browser:
        with served(settings) as base:
            ours = ready_times(browser, base, loads)
            _snapshot(base, month.label, Path(scratch))
        with served(settings, ("uvicorn", "--factory", "bench.public:static_app"), env={STATIC_ENV: scratch}) as base:
            floor = ready_times(browser, base, loads)
    console.print(
        f"/public ready: cold {ours[0]:.2f} s, warm {ours[1]:.2f} s; "
        f"static copy cold {floor[0]:.2f} s, warm {floor[1]:.2f} s"
    )
    rows = [
        Row(
            f"public page ready (map drawn), cold (warm), median of {loads}",
            f"{ours[0]:.2f} s ({ours[1]:.2f} s)",
            f"{floor[0]:.2f} s ({floor[1]:.2f} s) the same bytes from StaticFiles",
            floor[0] / ours[0],
            "—",
        ),
        Row(
            "the same against the 1 s target, cold",
            f"{ours[0]:.2f} s",
            f"{TARGET_READY_S:.2f} s",
            TARGET_READY_S / ours[0],
            "≥ 1",
        ),
        Row(
            f"publication of {month.label} built ({cases:,} cases): s",
            f"{built_s:.2f}",
            f"{plain_s:.2f} (one plain GROUP BY of the month)",
            plain_s / built_s,
            "—",
        ),
    ]
    print_table(rows, console)
    return rows
