"""`cityops bench map`: the command map holding a whole city — load, bytes, tiles, live latency.

Data: the demo hierarchy, ``cases`` open cases at random places across the city (filed over the
last 30 days, loaded through the historic-import path) and ``forces`` tracked forces, in a
database of its own that is kept between runs (generating it takes minutes).

Each measure has its baseline in the same run:
- the command page in headless Chromium (the platform's own Chromium), from navigation to
  interactive (layers drawn, counts shown, every visible tile in), cold and warm, at the city view
  and at a street (zoom 15); and the bytes it transferred — against fetching the same layers the
  way the issue forbids, whole, as GeoJSON (every grid and every open case, OGC items 10,000 a
  page), not even drawn; and against the 3 s target;
- vector tiles of grids, buildings and cases at random places and zooms (wrk, 4 clients): p50 and
  p99 — against the GeoJSON of the same tiles' areas (OGC items with the tile's bbox), and the
  50 ms target;
- zoomed-out case tiles gathered in the database (zoom 10–11, the city commander's): from the open cases'
  cell rollup against counting every open case (``rollup => false``), the same tiles alternately on one
  connection; the two answers asserted alike;
- live: a position POST to the marker moving on the page (p50 / p95), while the other forces
  report at ``background`` fixes a second — against the POST's own round trip, and the 1 s target.
"""

from __future__ import annotations

import math
import random
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import numpy as np
import psycopg
from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright
from rich.console import Console
from sqlalchemy import Engine, text

from bench.forces import ensure_directory
from bench.harness import (
    Row,
    bench_caller,
    cycling_gets,
    ensure_cases,
    print_table,
    random_points_inside,
    run_wrk,
    served,
    smoke_run,
    warm,
)
from bench.machine import describe
from command.users import create_user
from spatial.db import libpq_url, make_engine
from spatial.errors import InvalidInputError
from spatial.settings import StoreSettings
from spatial.units import city_outline

if TYPE_CHECKING:  # playwright types add_cookies' argument with this but does not export it
    from playwright._impl._api_structures import SetCookieParam

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
PASSWORD = "bench map password"
CENTRE = (118.78, 32.04)  # 秦淮区 / 玄武区: the densest part of the demo
INTERACTIVE = (
    "window.cityopsReady === true && document.querySelectorAll('.leaflet-tile-loaded').length > 0 "
    "&& !document.querySelector('.leaflet-tile:not(.leaflet-tile-loaded)')"
)
BYTES = (
    "performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))"
    ".reduce(function (sum, e) { return sum + (e.transferSize || 0); }, 0)"
)


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    """The slippy-map tile holding a point."""
    n = 2**z
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def tile_bbox(z: int, x: int, y: int) -> str:
    """A tile's WGS84 bounds as an OGC bbox."""
    n = 2**z

    def lat(row: int) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / n))))

    return f"{x / n * 360 - 180:.6f},{lat(y + 1):.6f},{(x + 1) / n * 360 - 180:.6f},{lat(y):.6f}"


def sample_tiles(engine: Engine, count: int, zooms: range, seed: int) -> list[tuple[int, int, int]]:
    """Tiles under random places of the city at random zooms of ``zooms``."""
    with engine.connect() as conn:
        lon, lat = random_points_inside(city_outline(conn), count, seed)
    rng = np.random.default_rng(seed)
    return [
        (int(z), *tile_of(float(x), float(y), int(z)))
        for x, y, z in zip(lon, lat, rng.integers(zooms.start, zooms.stop, count), strict=True)
    ]


@contextmanager
def chromium() -> Iterator[Browser]:
    """Headless Chromium from the system's package (`make bench` installs it; `make up` does not need it)."""
    if not Path(CHROMIUM).exists():
        raise InvalidInputError(
            f"this benchmark drives a browser and {CHROMIUM} is missing: run `make bench` or `apt-get install chromium`"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def wait_until(page: Page, expression: str, timeout_s: float = 60) -> None:
    """Poll ``expression`` (the pages' content policy forbids the eval Playwright's own waiting needs)."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise TimeoutError(f"still false after {timeout_s} s: {expression}")
        time.sleep(0.02)


def session_cookies(base: str, username: str) -> list[SetCookieParam]:
    """Sign in as a browser would; the session's cookies, for a browser context."""
    answer = httpx.post(f"{base}/api/v1/auth/session", data={"username": username, "password": PASSWORD})
    answer.raise_for_status()
    return [{"name": c.name, "value": c.value or "", "url": base} for c in answer.cookies.jar]


def load_page(browser: Browser, base: str, cookies: list[SetCookieParam], fragment: str) -> list[tuple[float, int]]:
    """(seconds to interactive, bytes transferred): a cold load, then three warm reloads."""
    context = browser.new_context(viewport=VIEWPORT)
    context.add_cookies(cookies)
    page = context.new_page()
    loads: list[tuple[float, int]] = []
    for _ in range(4):
        page.goto(f"{base}/map{fragment}") if not loads else page.reload()
        wait_until(page, INTERACTIVE)
        loads.append((page.evaluate("performance.now()") / 1000, int(page.evaluate(BYTES))))
    context.close()
    return loads


def whole_layers(base: str, headers: dict[str, str]) -> tuple[float, int]:
    """The forbidden design: every grid and every open case as GeoJSON (seconds, bytes), not drawn."""
    started, size = time.perf_counter(), 0
    with httpx.Client(base_url=base, headers=headers, timeout=300) as http:
        for collection, extra in (("units-grid", ""), ("cases", "&open=true")):
            url: str | None = f"/ogc/collections/{collection}/items?limit=10000{extra}"
            while url:
                answer = http.get(url)
                answer.raise_for_status()
                size += len(answer.content)
                url = next((link["href"] for link in answer.json()["links"] if link["rel"] == "next"), None)
    return time.perf_counter() - started, size


def bench_page(
    browser: Browser, base: str, cookies: list[SetCookieParam], headers: dict[str, str], console: Console
) -> list[Row]:
    """The command page at the city view and at a street, against the whole-GeoJSON design."""
    rows = []
    cold_baseline_s, baseline_bytes = whole_layers(base, headers)
    baseline_s, _ = whole_layers(base, headers)  # warm, as the page's reloads are
    console.print(
        f"whole layers as GeoJSON: {baseline_bytes / 2**20:.1f} MiB, "
        f"cold {cold_baseline_s:.2f} s, warm {baseline_s:.2f} s"
    )
    for name, fragment in (("city view", ""), ("street, zoom 15", f"#15/{CENTRE[1]}/{CENTRE[0]}")):
        loads = load_page(browser, base, cookies, fragment)
        cold_s, cold_bytes = loads[0]
        warm_s = statistics.median(seconds for seconds, _ in loads[1:])
        console.print(f"{name}: cold {cold_s:.2f} s ({cold_bytes / 1024:.0f} KiB), warm {warm_s:.2f} s")
        rows.append(
            Row(
                f"command page, {name}: to interactive, warm (cold)",
                f"{warm_s:.2f} s ({cold_s:.2f} s)",
                f"{baseline_s:.2f} s ({cold_baseline_s:.2f} s) whole GeoJSON, undrawn",
                baseline_s / warm_s,
                "—",
            )
        )
        rows.append(
            Row(
                f"command page, {name}: interactive against the 3 s target",
                f"{cold_s:.2f} s",
                "3.00 s",
                3.0 / cold_s,
                "≥ 1",
            )
        )
        rows.append(
            Row(
                f"command page, {name}: bytes transferred, cold",
                f"{cold_bytes / 1024:,.0f} KiB",
                f"{baseline_bytes / 1024:,.0f} KiB whole GeoJSON",
                baseline_bytes / max(cold_bytes, 1),
                "—",
            )
        )
    return rows


# wrk stops with requests in flight, which the server still answers: a GeoJSON page takes up to half a second,
# and measuring tiles right after it measured its tail too (their p99 39 ms with it, 20 ms without)
DRAIN_S = 1.0


def drain() -> None:
    """Let the server answer what the last wrk run left in flight (not in a smoke run: see ``smoke_run``)."""
    if not smoke_run():
        time.sleep(DRAIN_S)


def bench_tiles(engine: Engine, base: str, headers: dict[str, str], seconds: float, console: Console) -> list[Row]:
    """p50 / p99 of each big layer's tiles against the GeoJSON of the same areas."""
    rows = []
    layers = (
        ("grid", range(12, 16), "units-grid"),
        ("building", range(14, 17), "units-building"),
        ("cases", range(10, 14), "cases"),
        ("cases", range(14, 17), "cases"),
    )
    for layer, zooms, baseline_collection in layers:
        tiles = sample_tiles(engine, 1000, zooms, seed=43)
        paths = [f"/tiles/{layer}/{z}/{x}/{y}.pbf" for z, x, y in tiles]
        extra = "&open=true" if layer == "cases" else ""
        geojson = [
            f"/ogc/collections/{baseline_collection}/items?limit=10000&bbox={tile_bbox(*t)}{extra}" for t in tiles
        ]
        with httpx.Client(base_url=base, headers=headers) as http:
            sizes = [len(http.get(path).content) for path in paths[:100]]
        warm(base, cycling_gets(paths, headers), 4)  # both alike
        warm(base, cycling_gets(geojson, headers), 4, timeout_s=30)
        drain()
        ours = run_wrk(base, cycling_gets(paths, headers), 4, seconds)
        drain()
        theirs = run_wrk(base, cycling_gets(geojson, headers), 4, seconds, timeout_s=30)
        drain()
        console.print(f"{layer} tiles z{zooms.start}–{zooms.stop - 1}: mean {statistics.mean(sizes) / 1024:.1f} KiB")
        rows.append(
            Row(
                f"{layer} tiles z{zooms.start}–{zooms.stop - 1}, 4 clients: p50 / p99 ms (req/s)",
                f"{ours.p50_ms:.1f} / {ours.p99_ms:.1f} ({ours.rps:,.0f})",
                f"{theirs.p50_ms:.1f} / {theirs.p99_ms:.1f} ({theirs.rps:,.0f}) GeoJSON by bbox",
                theirs.p99_ms / ours.p99_ms,
                "—",
            )
        )
        rows.append(
            Row(
                f"{layer} tiles: p99 against the 50 ms target",
                f"{ours.p99_ms:.1f} ms",
                "50 ms",
                50 / ours.p99_ms,
                "≥ 1",
            )
        )
    return rows


GATHERED = (
    "SELECT lon, lat, count, severity, overdue FROM cityops_case_cells("
    "ST_Transform(ST_TileEnvelope(%s, %s, %s), 4326), %s, %s) ORDER BY count, severity, overdue, lon, lat"
)


def alike(rolled: list[tuple], counted: list[tuple]) -> bool:
    """The same cells, counts, severities and overdue counts; the means to a nanodegree (summed in another order)."""
    return len(rolled) == len(counted) and all(
        r[2:] == c[2:] and abs(r[0] - c[0]) < 1e-9 and abs(r[1] - c[1]) < 1e-9
        for r, c in zip(rolled, counted, strict=True)
    )


def bench_gathered(settings: StoreSettings, engine: Engine, tiles: int, console: Console) -> list[Row]:
    """Zoomed-out tiles gathered in the database as the city commander: the rollup against every open case."""
    with engine.connect() as conn:
        city = conn.execute(text("SELECT id FROM unit WHERE tier = 'city'")).scalar_one()
    sample = sample_tiles(engine, tiles, range(10, 12), seed=47)
    times: dict[bool, list[float]] = {True: [], False: []}
    agreeing = 0
    with psycopg.connect(libpq_url(settings, api=True), autocommit=True) as conn:
        conn.execute("SELECT set_config('cityops.scope_unit', %s, false)", (str(city),))
        for z, x, y in sample[:10]:  # warm both alike
            for rollup in (True, False):
                conn.execute(GATHERED, (z, x, y, z - 4, rollup)).fetchall()
        for z, x, y in sample:
            answers = {}
            for rollup in (True, False):
                started = time.perf_counter()
                answers[rollup] = conn.execute(GATHERED, (z, x, y, z - 4, rollup)).fetchall()
                times[rollup].append(time.perf_counter() - started)
            agreeing += alike(answers[True], answers[False])
    if agreeing != len(sample):
        raise AssertionError(f"the rollup's tiles differ from every open case's: {len(sample) - agreeing} tiles")
    p50, p99 = ({k: float(np.percentile(v, q)) * 1000 for k, v in times.items()} for q in (50, 99))
    console.print(f"gathered tiles z10–11 in the database: {len(sample)} tiles, rollup vs every open case")
    return [
        Row(
            "cases tiles z10–11 gathered in the database, city: p50 / p99 ms",
            f"{p50[True]:.1f} / {p99[True]:.1f} (open_case_cell)",
            f"{p50[False]:.1f} / {p99[False]:.1f} (every open case)",
            p99[False] / p99[True],
            "—",
        ),
        Row("the same: tiles alike, rollup and every open case", f"{agreeing / len(sample):.4f}", "1", 1.0, "= 1"),
    ]


def view_bbox(lon: float, lat: float, z: int) -> tuple[float, float, float, float]:
    """The WGS84 bounds of a 1280×800 view centred on a point at zoom ``z``."""
    half_w = VIEWPORT["width"] / 2 * 360 / (256 * 2**z)
    half_h = VIEWPORT["height"] / 2 * 360 / (256 * 2**z) * math.cos(math.radians(lat))
    return lon - half_w, lat - half_h, lon + half_w, lat + half_h


def view_tiles(bbox: tuple[float, float, float, float], z: int) -> list[tuple[int, int, int]]:
    """The tiles a view at zoom ``z`` shows."""
    (x0, y0), (x1, y1) = tile_of(bbox[0], bbox[3], z), tile_of(bbox[2], bbox[1], z)
    return [(z, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]


def bench_zoomed_out(engine: Engine, base: str, headers: dict[str, str], views: int, console: Console) -> list[Row]:
    """Zoomed-out cases as the page draws them (one hexagon request a view) against the same views'
    case tiles fetched six at a time as a browser does; one view after another, both."""
    zooms = sample_tiles(engine, views, range(10, 13), seed=59)
    with engine.connect() as conn:
        lon, lat = random_points_inside(city_outline(conn), views, 59)
    boxes = [(view_bbox(float(x), float(y), z), z) for (z, _, _), x, y in zip(zooms, lon, lat, strict=True)]
    hexes: list[float] = []
    tiles: list[float] = []
    with httpx.Client(base_url=base, headers=headers, timeout=60) as http, ThreadPoolExecutor(6) as pool:
        for view, (box, z) in enumerate(boxes):
            bbox = ",".join(f"{v:.5f}" for v in box)
            resolution = max(5, min(9, round(z * 0.7 - 1.5)))
            hexagons = [f"/api/v1/hexagons?layer=cases&resolution={resolution}&bbox={bbox}"]
            case_tiles = [f"/tiles/cases/{tz}/{tx}/{ty}.pbf" for tz, tx, ty in view_tiles(box, z)]
            # the first of the two reads the view's rows from disk for both: each goes first every other view
            order = [(hexagons, hexes), (case_tiles, tiles)]
            for paths, times in order if view % 2 else order[::-1]:
                started = time.perf_counter()
                list(pool.map(lambda path: http.get(path).content, paths))
                times.append((time.perf_counter() - started) * 1000)
    ours, theirs = (np.percentile(hexes, [50, 99]), np.percentile(tiles, [50, 99]))
    per_view = statistics.mean(len(view_tiles(box, z)) for box, z in boxes)
    console.print(f"zoomed-out views: {views} (z10–12), {per_view:.0f} case tiles a view")
    return [
        Row(
            "cases zoomed out, a 1280×800 view at z10–12: one hexagon request: p50 / p99 ms",
            f"{ours[0]:.0f} / {ours[1]:.0f}",
            f"{theirs[0]:.0f} / {theirs[1]:.0f} its case tiles, 6 at a time",
            theirs[1] / ours[1],
            "—",
        )
    ]


def _background(
    base: str, headers: dict[str, str], places: list[tuple[str, float, float]], per_second: int, stop: threading.Event
) -> None:
    """The rest of the city reporting positions in batches of 100, ``per_second`` fixes a second.

    Each fix is a few metres from where the force was: believable speeds, so none is refused.
    """
    rng = random.Random(47)
    with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
        while not stop.is_set():
            now = datetime.now(UTC).isoformat()
            fixes = [
                {"id": code, "lon": lon + rng.uniform(-5e-5, 5e-5), "lat": lat + rng.uniform(-5e-5, 5e-5), "time": now}
                for code, lon, lat in rng.sample(places, min(100, len(places)))
            ]
            http.post("/api/v1/forces/positions", json={"fixes": fixes}).raise_for_status()
            stop.wait(100 / per_second)


def bench_live(
    browser: Browser,
    base: str,
    engine: Engine,
    cookies: list[SetCookieParam],
    tracker: dict[str, str],
    samples: int,
    background: int,
    console: Console,
) -> list[Row]:
    """A position POST → the marker moved on the page, while the other forces keep reporting."""
    context = browser.new_context(viewport=VIEWPORT)
    context.add_cookies(cookies)
    page = context.new_page()
    page.goto(f"{base}/map#14/{CENTRE[1]}/{CENTRE[0]}")
    wait_until(page, "window.cityopsReady === true && Object.keys(cityopsForces).length > 0")
    shown = page.evaluate(
        "Object.keys(cityopsForces).map(function (id) { return [id, cityopsForces[id].item.code,"
        " cityopsForces[id].item.lon, cityopsForces[id].item.lat]; })"
    )
    watched = {code for _, code, _, _ in shown}
    with engine.connect() as conn:
        places = [
            (code, lon, lat)
            for code, lon, lat in conn.execute(
                text(
                    "SELECT f.code, ST_X(p.geom), ST_Y(p.geom) FROM force f JOIN force_position p ON p.force_id = f.id"
                )
            )
            if code not in watched
        ]
    stop = threading.Event()
    others = threading.Thread(target=_background, args=(base, tracker, places, background, stop), daemon=True)
    others.start()
    latencies, posts = [], []
    rng = random.Random(53)
    try:
        with httpx.Client(base_url=base, headers=tracker, timeout=30) as http:
            order = rng.sample(shown, len(shown))  # each force once before any again: believable speeds
            for i in range(samples):
                force_id, code, lon, lat = order[i % len(order)]
                moved = round(lon + (i // len(order) + 1) * 2e-5, 7)
                sent_ms = time.time() * 1000
                answer = http.post(
                    "/api/v1/forces/positions",
                    json={"fixes": [{"id": code, "lon": moved, "lat": lat, "time": datetime.now(UTC).isoformat()}]},
                )
                posts.append(time.time() * 1000 - sent_ms)
                answer.raise_for_status()
                wait_until(page, f"Math.abs(cityopsForces['{force_id}'].item.lon - {moved}) < 1e-7", timeout_s=10)
                latencies.append(page.evaluate(f"cityopsApplied['{force_id}']") - sent_ms)
                time.sleep(0.05 if i % 2 else 0.2)  # not in step with the stream's batching window
    finally:
        stop.set()
        others.join()
        context.close()
    p50, p95 = float(np.percentile(latencies, 50)), float(np.percentile(latencies, 95))
    post_p50 = float(np.percentile(posts, 50))
    console.print(f"live: {len(latencies)} moves watched, background {background} fixes/s")
    return [
        Row(
            f"live: position POST → marker moved ({samples} moves): p50 / p95 ms",
            f"{p50:.0f} / {p95:.0f}",
            f"{post_p50:.0f} ms the POST's own round trip (p50)",
            post_p50 / p50,
            "—",
        ),
        Row("live: p95 against the 1 s target", f"{p95:.0f} ms", "1000 ms", 1000 / p95, "≥ 1"),
    ]


def run(
    settings: StoreSettings, *, cases: int, forces: int, seconds: float, samples: int, background: int, console: Console
) -> list[Row]:
    """Seed, measure, print one table; returns the rows (the smoke test reads them)."""
    console.print(f"machine: {describe()}")
    engine = make_engine(settings)
    try:
        open_cases = ensure_cases(engine, cases, console)
        tracked = ensure_directory(engine, forces, console)
        with engine.begin() as conn:
            tiers: dict[str, int] = dict(
                conn.execute(text("SELECT tier::text, count(*) FROM unit GROUP BY tier")).all()
            )
            name = f"bench-map-{uuid.uuid4().hex[:8]}"
            create_user(conn, name, unit_code="320100", roles=["city_commander"], password=PASSWORD, actor="bench")
        console.print(f"data: {open_cases:,} open cases, {tracked:,} tracked forces, units {tiers}")
        commander = bench_caller(engine, "bench-map-city", ["city_commander"], "320100")
        tracker = bench_caller(engine, "bench-map-tracker", ["tracker"], "320100")
        with served(settings) as base, chromium() as browser:
            cookies = session_cookies(base, name)
            rows = bench_page(browser, base, cookies, commander, console)
            rows += bench_tiles(engine, base, commander, seconds, console)
            rows += bench_gathered(settings, engine, max(20, samples), console)
            rows += bench_zoomed_out(engine, base, commander, max(5, samples // 2), console)
            rows += bench_live(browser, base, engine, cookies, tracker, samples, background, console)
    finally:
        engine.dispose()
    print_table(rows, console)
    return rows
