"""`cityops simulate`: the demo city in motion, through the platform's own API.

Mobile forces patrol their own unit (fixed posts stay at home) — a grid worker walks their grid,
a district's truck drives its district — going straight to a random point of it at their kind's
speed, pausing, and choosing the next; positions go to ``POST /api/v1/forces/positions`` as an
AVL gateway would send them. Citizens' reports arrive at a configurable rate at random points of
the city. The simulator is a client like any other (its own tracker and integration users), so
the live map, the change feed and the benchmarks see exactly the traffic a real city would
cause; `cityops up` starts one beside its server in development (never in production).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Engine, text

from forces.queries.simulate import FORCES
from spatial.errors import PlatformError
from spatial.sampling import random_point_in

BATCH = 500


@dataclass
class Walker:
    """One force on its way to its next waypoint."""

    code: str
    speed_ms: float
    x: float
    y: float
    area: BaseGeometry
    target: tuple[float, float] | None = None
    pause_s: float = 0.0


class Simulation:
    """Moves ``walkers`` by ``dt`` seconds at a time; seeded, so runs can be repeated."""

    def __init__(self, walkers: list[Walker], seed: int = 7) -> None:
        self.walkers = walkers
        self.rng = np.random.default_rng(seed)

    def step(self, dt: float) -> list[dict[str, object]]:
        """Advance every force; the fixes they would report now."""
        now = datetime.now(UTC).isoformat()
        fixes = []
        for w in self.walkers:
            if w.pause_s > 0:
                w.pause_s -= dt
                speed = 0.0
            else:
                if w.target is None:
                    w.target = random_point_in(w.area, self.rng)
                dx = (w.target[0] - w.x) * 94_400  # metres per degree of longitude at 32°N
                dy = (w.target[1] - w.y) * 110_900
                left = float(np.hypot(dx, dy))
                travel = w.speed_ms * dt
                if travel >= left:
                    w.x, w.y, w.target, w.pause_s = w.target[0], w.target[1], None, float(self.rng.uniform(10, 120))
                else:
                    w.x += (w.target[0] - w.x) * travel / left
                    w.y += (w.target[1] - w.y) * travel / left
                speed = w.speed_ms
            fixes.append(
                {
                    "id": w.code,
                    "lon": round(w.x, 6),
                    "lat": round(w.y, 6),
                    "time": now,
                    "speed": round(speed, 2),
                    "accuracy": 8.0,
                }
            )
        return fixes


def walkers(engine: Engine, count: int) -> list[Walker]:
    """The first ``count`` forces on duty with a position, at their last position."""
    with engine.connect() as conn:
        rows = conn.execute(text(FORCES), {"n": count}).all()
    found = []
    for code, kmh, x, y, wkb in rows:
        area = shapely.from_wkb(bytes(wkb))
        shapely.prepare(area)
        found.append(Walker(code, kmh / 3.6, x, y, area))
    return found


@dataclass
class Traffic:
    """What a simulation sent, so far."""

    fixes: int = 0
    refused_fixes: int = 0
    reports: int = 0
    refused_reports: int = 0


def random_report(rng: np.random.Generator, outline: BaseGeometry, categories: list[str]) -> dict[str, object]:
    """A citizen's report at a random point of the city."""
    x, y = random_point_in(outline, rng)
    return {
        "lon": round(x, 6),
        "lat": round(y, 6),
        "category": str(rng.choice(categories)),
        "source": "citizen_app",
        "description": "市民随手拍（模拟）",
    }


def _wait_ready(http: httpx.Client, base_url: str, wait_s: float) -> None:
    """Until the service answers ready, for at most ``wait_s`` (a simulator started beside its server)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            http.get("/healthz/ready").raise_for_status()
            return
        except httpx.HTTPError as error:
            if time.monotonic() >= deadline:
                raise PlatformError(
                    f"no cityops service at {base_url} ({error}): start it with `cityops serve`"
                ) from None
            time.sleep(1.0)


def simulator_wanted(environment: str) -> bool:
    """`cityops up` moves the demo's mobile forces in development only: production forces report themselves."""
    return environment == "development"


def run(
    base_url: str,
    tracker: dict[str, str],
    reporter: dict[str, str],
    sim: Simulation,
    outline: BaseGeometry,
    categories: list[str],
    *,
    reports_per_minute: float,
    interval_s: float,
    seconds: float | None,
    on_tick: Callable[[Traffic], None] = lambda _traffic: None,
    wait_s: float = 0.0,
) -> Traffic:
    """Send positions every ``interval_s`` and reports at the rate, for ``seconds`` (None: until interrupted)."""
    traffic = Traffic()
    started = time.monotonic()
    with httpx.Client(base_url=base_url, timeout=30) as http:
        _wait_ready(http, base_url, wait_s)
        while seconds is None or time.monotonic() - started < seconds:
            tick = time.monotonic()
            fixes = sim.step(interval_s)
            for i in range(0, len(fixes), BATCH):
                answer = http.post("/api/v1/forces/positions", json={"fixes": fixes[i : i + BATCH]}, headers=tracker)
                if answer.status_code != 200:
                    raise PlatformError(f"positions refused: {answer.status_code} {answer.text[:200]}")
                traffic.fixes += answer.json()["accepted"]
                traffic.refused_fixes += len(answer.json()["rejected"])
            for _ in range(sim.rng.poisson(reports_per_minute * interval_s / 60)):
                answer = http.post(
                    "/api/v1/reports", json=random_report(sim.rng, outline, categories), headers=reporter
                )
                if answer.status_code == 201:
                    traffic.reports += 1
                else:
                    traffic.refused_reports += 1
            on_tick(traffic)
            time.sleep(max(0.0, interval_s - (time.monotonic() - tick)))
    return traffic
