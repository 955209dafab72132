"""`cityops bench screen`: the wall display (大屏) — first full paint, and a day of traffic in minutes.

Data: the demo hierarchy with at least ``cases`` open cases (filed over the last 30 days, loaded
through the historic-import path) and ``forces`` tracked forces, in a database of its own kept
between runs; the wall is a city commander's, at 1920×1080 in headless Chromium.

Each measure has its baseline in the same run:
- first full paint: navigation → figures, ticker, map outlines and markers drawn (the page's own
  ``cityops-screen-ready`` mark), cold and warm — against the command map ``/map`` to interactive;
  and the 3 s target;
- a day compressed: ``minutes`` of traffic at ``rate`` events a second through the platform's
  own write paths — reports (``POST /api/v1/reports``), acceptances and voids (``POST
  .../transitions``), escalations (the deadline watch's ``cityops_escalate_overdue`` and its
  NOTIFY) and force moves (``POST /api/v1/forces/positions``), a quarter each of reports and voids
  so the open cases hold steady as a day's do. The page's JS heap (after a collection) and DOM
  size at the end against the same after the first tenth of the run (the wall's working set:
  its ticker full, its markers at their cap): at most 20 % more. Live item → drawn: from the
  moment the write was sent (a transaction commits before its answer; the escalations' stamp is
  their commit) to the animation frame that drew it, by the page's draw log: p95 against 1 s.
"""

from __future__ import annotations

import itertools
import random
import statistics
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
import orjson
from playwright.sync_api import Browser, Page, ViewportSize
from rich.console import Console
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Engine, text

from bench.forces import ensure_directory
from bench.harness import Row, bench_caller, ensure_cases, print_table, random_points_inside, served
from bench.machine import describe
from bench.map import INTERACTIVE, PASSWORD, chromium, session_cookies, wait_until
from command.intake import CHANNEL
from command.users import create_user
from spatial.db import make_engine
from spatial.settings import StoreSettings
from spatial.units import city_outline

if TYPE_CHECKING:  # playwright types add_cookies' argument with this but does not export it
    from playwright._impl._api_structures import SetCookieParam

VIEWPORT: ViewportSize = {"width": 1920, "height": 1080}
READY = "window.cityopsScreenReady === true"
READY_AT = "performance.getEntriesByName('cityops-screen-ready')[0].startTime"
MIX = (("report", 0.25), ("accept", 0.2), ("void", 0.25), ("escalate", 0.05), ("fix", 0.25))
GROWTH_LIMIT = 1.2
NOTE = "压测：不予立案（模拟）"  # a void says why
BACKLOG = 8  # requests queued per sender at most: the rate sent is the rate the platform takes
SENDERS = 12  # a city has many clients at once; fewer, and the bench's own round trips set the pace (6: 67/s)
ESCALATE = """
UPDATE case_clock SET escalate_at = now() - interval '1 second' WHERE case_id = ANY(:ids);
"""
ESCALATED = "SELECT case_id FROM cityops_escalate_overdue(now(), interval '1 hour', :n)"
Key = tuple[str, str, int]  # what the page's draw log names: ("c", case id, version) or ("f", force id, fix ms)


def wall_user(engine: Engine, unit: str = "320100") -> str:
    """A wall account (a city commander who signs in with a password), new each run."""
    name = f"bench-wall-{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        create_user(conn, name, unit_code=unit, roles=["city_commander"], password=PASSWORD, actor="bench")
    return name


def paint_times(browser: Browser, base: str, cookies: list[SetCookieParam], path: str, loads: int) -> list[float]:
    """Seconds from navigation to the page fully drawn: a cold load, then ``loads`` warm reloads."""
    context = browser.new_context(viewport=VIEWPORT)
    context.add_cookies(cookies)
    page = context.new_page()
    seconds = []
    for i in range(loads + 1):
        page.goto(f"{base}{path}") if i == 0 else page.reload()
        if path == "/screen":
            wait_until(page, READY)
            seconds.append(page.evaluate(READY_AT) / 1000)
        else:
            wait_until(page, INTERACTIVE)
            seconds.append(page.evaluate("performance.now()") / 1000)
    context.close()
    return seconds


def bench_paint(browser: Browser, base: str, cookies: list[SetCookieParam], loads: int, console: Console) -> list[Row]:
    """The wall's first full paint against the command map's load to interactive."""
    wall = paint_times(browser, base, cookies, "/screen", loads)
    command = paint_times(browser, base, cookies, "/map", loads)
    warm_wall, warm_command = statistics.median(wall[1:]), statistics.median(command[1:])
    console.print(
        f"/screen: cold {wall[0]:.2f} s, warm {warm_wall:.2f} s; /map: cold {command[0]:.2f} s, "
        f"warm {warm_command:.2f} s"
    )
    return [
        Row(
            "wall display: navigation → fully drawn, cold (warm)",
            f"{wall[0]:.2f} s ({warm_wall:.2f} s)",
            f"{command[0]:.2f} s ({warm_command:.2f} s) /map to interactive",
            command[0] / wall[0],
            "—",
        ),
        Row(
            "wall display: first full paint against the 3 s target", f"{wall[0]:.2f} s", "3.00 s", 3.0 / wall[0], "≥ 1"
        ),
    ]


@dataclass
class Traffic:
    """A day's writes, one event at a time, through the platform's write paths; what each should draw, and when
    it was sent (milliseconds since the epoch)."""

    engine: Engine
    http: httpx.Client
    reporter: dict[str, str]
    dispatcher: dict[str, str]
    tracker: dict[str, str]
    outline: BaseGeometry
    categories: list[str]
    forces: list[list[Any]]  # [id, code, lon, lat]
    rng: random.Random = field(default_factory=lambda: random.Random(61))
    reported: deque[str] = field(default_factory=lambda: deque(maxlen=5000))
    accepted: deque[tuple[str, int]] = field(default_factory=lambda: deque(maxlen=5000))
    lock: threading.Lock = field(default_factory=threading.Lock)
    refused: int = 0

    def __post_init__(self) -> None:
        lon, lat = random_points_inside(self.outline, 20_000, 67)
        self._points = itertools.cycle(zip(lon.tolist(), lat.tolist(), strict=True))
        self._fixes = itertools.count()
        self._ids = {str(code): str(force_id) for force_id, code, _, _ in self.forces}

    def one(self, kind: str) -> list[tuple[Key, float]]:
        """Send one event of ``kind`` (a report when its pool is empty); the keys it should draw."""
        with self.lock:
            if kind == "accept" and not self.reported:
                kind = "report"
            if kind == "void" and not (self.accepted or self.reported):
                kind = "report"
            if kind == "escalate" and not self.accepted:
                kind = "report"
            if kind == "accept":
                case, version = self.reported.popleft(), 0
            elif kind in ("void", "escalate"):
                case, version = self.accepted.popleft() if self.accepted else (self.reported.popleft(), 0)
        return getattr(self, f"_{kind}")(*(() if kind == "report" else (case, version)))

    def _report(self) -> list[tuple[Key, float]]:
        with self.lock:
            lon, lat = next(self._points)
        body = {
            "lon": round(lon, 6),
            "lat": round(lat, 6),
            "category": self.rng.choice(self.categories),
            "source": "citizen_app",
            "description": "大屏压测（模拟）",
        }
        sent = time.time() * 1000
        answer = self.http.post("/api/v1/reports", json=body, headers=self.reporter)
        if answer.status_code != 201 or answer.json()["merged"]:
            self.refused += answer.status_code != 201
            return []
        case = answer.json()["case_id"]
        with self.lock:
            self.reported.append(case)
        return [(("c", case, 0), sent)]

    def _move(self, case: str, version: int, action: str) -> list[tuple[Key, float]]:
        sent = time.time() * 1000
        move = {"action": action, "version": version, **({"note": NOTE} if action == "void" else {})}
        answer = self.http.post(f"/api/v1/cases/{case}/transitions", json=move, headers=self.dispatcher)
        if answer.status_code != 200:  # moved meanwhile (the deadline watch): left out
            self.refused += 1
            return []
        moved = answer.json()["version"]
        if action == "accept":
            with self.lock:
                self.accepted.append((case, moved))
        return [(("c", case, moved), sent)]

    def _accept(self, case: str, version: int) -> list[tuple[Key, float]]:
        return self._move(case, version, "accept")

    def _void(self, case: str, version: int) -> list[tuple[Key, float]]:
        return self._move(case, version, "void")

    def _escalate(self, case: str, version: int) -> list[tuple[Key, float]]:
        """The deadline watch's escalation of an overdue case, with the NOTIFY it sends (command.deadline_watch)."""
        with self.engine.begin() as conn:
            conn.execute(text(ESCALATE), {"ids": [int(case)]})
            escalated = [row[0] for row in conn.execute(text(ESCALATED), {"n": 50})]
            for case_id in escalated:
                notice = orjson.dumps({"type": "escalated", "case_id": str(case_id)}).decode()
                conn.execute(text("SELECT pg_notify(:c, :p)"), {"c": CHANNEL, "p": notice})
            versions: dict[int, int] = dict(
                conn.execute(text("SELECT id, version FROM case_file WHERE id = ANY(:ids)"), {"ids": escalated}).all()
            )
            sent = time.time() * 1000
        with self.lock:
            if int(case) in versions:
                self.accepted.append((case, versions[int(case)]))
        return [(("c", str(case_id), v), sent) for case_id, v in versions.items()]

    def fixes(self, n: int) -> list[tuple[Key, float]]:
        """``n`` forces a few metres on, in one batch; each fix a millisecond after its force's last."""
        batch = []
        with self.lock:
            now = datetime.now(UTC)
            fixed = now.replace(microsecond=now.microsecond // 1000 * 1000)
            for _ in range(n):
                force = self.forces[next(self._fixes) % len(self.forces)]
                force[2] = round(float(force[2]) + self.rng.uniform(-4e-5, 4e-5), 6)
                force[3] = round(float(force[3]) + self.rng.uniform(-4e-5, 4e-5), 6)
                batch.append({"id": force[1], "lon": force[2], "lat": force[3], "time": fixed.isoformat()})
        sent = time.time() * 1000
        answer = self.http.post("/api/v1/forces/positions", headers=self.tracker, json={"fixes": batch})
        if answer.status_code != 200:
            self.refused += n
            return []
        rejected = {r.get("id") for r in answer.json()["rejected"]}
        self.refused += len(rejected)
        at = int(fixed.timestamp() * 1000)
        return [(("f", self._ids[str(fix["id"])], at), sent) for fix in batch if fix["id"] not in rejected]


def heap_and_nodes(page: Page) -> tuple[float, int, int]:
    """(JS heap used, bytes; DOM nodes Chromium counts, live and detached; elements in the document), after a GC."""
    cdp = page.context.new_cdp_session(page)
    try:
        cdp.send("HeapProfiler.collectGarbage")
        cdp.send("Performance.enable")
        metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    finally:
        cdp.detach()
    elements = int(page.evaluate("document.getElementsByTagName('*').length"))
    return metrics["JSHeapUsedSize"], int(metrics["Nodes"]), elements


@dataclass
class DayResult:
    """What the compressed day measured."""

    events: int
    seconds: float
    refused: int
    latencies_ms: list[float]
    start: tuple[float, int, int]
    end: tuple[float, int, int]
    stats: dict[str, int]

    @property
    def heap_growth(self) -> float:
        """End heap over start heap."""
        return self.end[0] / self.start[0]

    @property
    def dom_growth(self) -> float:
        """End over start, in the document's elements."""
        return self.end[2] / self.start[2]


def run_day(
    page: Page,
    traffic: Traffic,
    minutes: float,
    rate: float,
    on_second: Callable[[int], None] | None = None,
    workers: int = SENDERS,
    events: int | None = None,
) -> DayResult:
    """``minutes`` of traffic at ``rate`` events a second against the open wall page (or until ``events`` were
    sent, if sooner); heap and DOM after the first tenth of the time and at the end, and every event's latency
    from its write to the page drawing it."""
    kinds, weights = [kind for kind, _ in MIX], [weight for _, weight in MIX]
    pending: dict[Key, float] = {}
    drawn: dict[Key, float] = {}
    latencies: list[float] = []
    futures: deque[Future[list[tuple[Key, float]]]] = deque()
    total_s = minutes * 60
    warm_s = max(5.0, total_s / 10)
    start = None
    sent = 0

    def collect(wait: bool = False) -> None:
        while futures and (wait or futures[0].done()):
            for key, at in futures.popleft().result():
                if key in drawn:
                    latencies.append(max(0.0, drawn.pop(key) - at))
                else:
                    pending[key] = at
        for kind, item_id, version, at in page.evaluate("window.cityopsScreenDrain()"):
            key = (kind, str(item_id), int(version))
            if key in pending:
                latencies.append(max(0.0, at - pending.pop(key)))
            elif kind != "t":
                drawn[key] = at

    began = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        while (elapsed := time.monotonic() - began) < total_s and (events is None or sent < events):
            due = int(elapsed * rate) + 1
            room = BACKLOG * workers - len(futures)
            wanted = due - sent if events is None else min(due, events) - sent
            chosen = traffic.rng.choices(kinds, weights, k=max(0, min(wanted, room)))
            for kind in chosen:
                if kind != "fix":
                    futures.append(pool.submit(traffic.one, kind))
            if fixes := chosen.count("fix"):  # a tracker sends its fixes in batches, as trackers do
                futures.append(pool.submit(traffic.fixes, fixes))
            sent += len(chosen)
            collect()
            if start is None and elapsed >= warm_s:
                start = heap_and_nodes(page)
                latencies.clear()  # the latencies count from the measured part of the day
            if on_second:
                on_second(sent)
            time.sleep(0.1)
        collect(wait=True)
    seconds = time.monotonic() - began
    deadline = time.monotonic() + 5
    while pending and time.monotonic() < deadline:  # the last events' draws
        time.sleep(0.2)
        collect()
    missed = len(pending)
    latencies.extend([5000.0] * missed)  # never drawn within 5 s: counted as 5 s, not dropped
    end = heap_and_nodes(page)
    return DayResult(
        sent, seconds, traffic.refused, latencies, start or end, end, page.evaluate("window.cityopsScreenStats()")
    )


def open_wall(browser: Browser, base: str, cookies: list[SetCookieParam]) -> Page:
    """The wall page at 1920×1080, fully drawn."""
    context = browser.new_context(viewport=VIEWPORT)
    context.add_cookies(cookies)
    page = context.new_page()
    page.goto(f"{base}/screen")
    wait_until(page, READY)
    return page


def traffic_for(engine: Engine, base: str, http: httpx.Client, forces: int = 2000) -> Traffic:
    """The day's writers: a citizen app, a city dispatcher, a tracker; the forces that move."""
    city = "320100"
    with engine.connect() as conn:
        outline = city_outline(conn)
        categories = [row[0] for row in conn.execute(text("SELECT code FROM category ORDER BY code"))]
        moving = [
            list(row)
            for row in conn.execute(
                text(
                    "SELECT f.id, f.code, ST_X(p.geom), ST_Y(p.geom) FROM force f JOIN force_position p ON "
                    "p.force_id = f.id "
                    "WHERE f.status NOT IN ('off_duty', 'out_of_service') AND NOT f.fixed_post ORDER BY p.fixed_at "
                    "DESC "
                    "LIMIT :n"
                ),
                {"n": forces},
            )
        ]
    return Traffic(
        engine,
        http,
        bench_caller(engine, "bench-screen-citizens", ["integration"], city),
        bench_caller(engine, "bench-screen-dispatcher", ["city_commander", "dispatcher"], city),
        bench_caller(engine, "bench-screen-tracker", ["tracker"], city),
        outline,
        categories,
        moving,
    )


def day_rows(day: DayResult, minutes: float, rate: float) -> list[Row]:
    """The compressed day's rows: heap and DOM growth against 20 %, latency p95 against 1 s."""
    p50, p95 = float(np.percentile(day.latencies_ms, 50)), float(np.percentile(day.latencies_ms, 95))
    mib = 2**20
    return [
        Row(
            f"a day in {minutes:g} min ({day.events:,} events, {day.events / day.seconds:.0f}/s): JS heap, end",
            f"{day.end[0] / mib:.1f} MiB (+{(day.heap_growth - 1) * 100:.1f} %)",
            f"{day.start[0] / mib:.1f} MiB after the first tenth",
            GROWTH_LIMIT / day.heap_growth,
            "≥ 1",
        ),
        Row(
            "the same: DOM elements (nodes incl. detached), end",
            f"{day.end[2]:,} ({day.end[1]:,}) (+{(day.dom_growth - 1) * 100:.1f} %)",
            f"{day.start[2]:,} ({day.start[1]:,}) after the first tenth",
            GROWTH_LIMIT / day.dom_growth,
            "≥ 1",
        ),
        Row(
            f"the same: live item → drawn, p50 / p95 ms ({len(day.latencies_ms):,} items, target {rate:g}/s)",
            f"{p50:.0f} / {p95:.0f}",
            "1000 ms",
            1000 / max(p95, 1.0),
            "≥ 1",
        ),
    ]


def run(
    settings: StoreSettings, *, minutes: float, rate: float, cases: int, forces: int, loads: int, console: Console
) -> list[Row]:
    """Seed, measure, print one table; returns the rows (the smoke test reads them)."""
    console.print(f"machine: {describe()}")
    engine = make_engine(settings)
    try:
        open_cases = ensure_cases(engine, cases, console, prefix="screen")
        tracked = ensure_directory(engine, forces, console)
        console.print(f"data: {open_cases:,} open cases, {tracked:,} tracked forces; wall 1920×1080, city commander")
        name = wall_user(engine)
        with served(settings) as base, chromium() as browser, httpx.Client(base_url=base, timeout=60) as http:
            cookies = session_cookies(base, name)
            rows = bench_paint(browser, base, cookies, loads, console)
            page = open_wall(browser, base, cookies)
            traffic = traffic_for(engine, base, http)
            with console.status("a day of traffic") as status:
                day = run_day(page, traffic, minutes, rate, lambda n: status.update(f"{n:,} events sent"))
            console.print(
                f"a day of traffic: {day.events:,} events in {day.seconds:.0f} s ({day.refused:,} refused: "
                f"moved meanwhile); the wall holds {day.stats}"
            )
            rows += day_rows(day, minutes, rate)
            page.context.close()
    finally:
        engine.dispose()
    print_table(rows, console)
    return rows
