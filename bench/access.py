"""`cityops bench access`: what jurisdiction scoping costs — a street user vs a city-wide user.

The same server, the same endpoints, the same requests, one after the other: report intake at
random points inside one street (in scope for both callers), and the newest-first lists of
cases and reports. The street user's every statement runs under row-level security confined
to the street's subtree; the city-wide commander's passes the same policy for every row
(no one bypasses it — the API cannot). The ratio is the street user's throughput over the
city user's (each measured in two halves, in A B B A order); the target is that scoping costs at
most 15 %.
"""

from __future__ import annotations

import tempfile
import uuid
from functools import partial
from pathlib import Path

import numpy as np
import orjson
import shapely
from rich.console import Console
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Engine, text

from bench.harness import (
    Row,
    bench_caller,
    cycling_gets,
    lua_headers,
    print_table,
    random_points_inside,
    run_wrk,
    served,
    warm,
)
from bench.intake import write_history
from bench.machine import describe
from command.historic_import import import_events
from spatial.db import make_engine
from spatial.settings import StoreSettings

STREET_POINT = (118.80, 32.06)  # 玄武区 梅园新村街道: the scoped user's street
LISTS = ("/api/v1/cases?limit=100", "/api/v1/reports?limit=100")


def _street(engine: Engine) -> tuple[str, BaseGeometry]:
    with engine.connect() as conn:
        code, wkb = conn.execute(
            text(
                "SELECT code, ST_AsBinary(geom) FROM unit WHERE tier = 'street' "
                "AND ST_Contains(geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326))"
            ),
            {"x": STREET_POINT[0], "y": STREET_POINT[1]},
        ).one()
    return code, shapely.from_wkb(bytes(wkb))


def _bodies(engine: Engine, street: BaseGeometry, count: int) -> list[str]:
    with engine.connect() as conn:
        codes = [row[0] for row in conn.execute(text("SELECT code FROM category ORDER BY code"))]
    lon, lat = random_points_inside(street, count, seed=29)
    rng = np.random.default_rng(29)
    return [
        orjson.dumps(
            {
                "lon": round(float(x), 6),
                "lat": round(float(y), 6),
                "category": codes[int(c)],
                "source": "grid_worker",
                "description": f"巡查发现 {i}",
                "reporter": {"name": "网格员", "phone": "13800000000"},
            }
        ).decode()
        for i, (x, y, c) in enumerate(zip(lon, lat, rng.integers(0, len(codes), count), strict=True))
    ]


def _posting(bodies: list[str], headers: dict[str, str]) -> str:
    listed = ",\n".join(f"[==[{body}]==]" for body in bodies)
    return f"""local bodies = {{\n{listed}\n}}
local headers = {lua_headers({"Content-Type": "application/json", **headers})}
local sent = 0
request = function()
  sent = sent + 1
  return wrk.format("POST", "/api/v1/reports", headers, bodies[sent % #bodies + 1])
end
"""


def seed_cases(engine: Engine, count: int, console: Console) -> None:
    """A history of ``count`` cases across the city, so the lists page through real volume."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / f"access-{uuid.uuid4().hex[:8]}.csv"
        write_history(engine, path, count, seed=31)
        result = import_events(engine, path)
    console.print(f"seeded {result.loaded:,} cases ({result.seconds:.1f} s)")


def bench_http(settings: StoreSettings, engine: Engine, seconds: float, clients: int, console: Console) -> list[Row]:
    """Each endpoint as the street user and as the city user, back to back on one server."""
    code, street = _street(engine)
    scoped = bench_caller(engine, "bench-street", ["street"], code)
    unscoped = bench_caller(engine, "bench-city", ["city_commander"], "320100")
    bodies = _bodies(engine, street, 5_000)
    with engine.connect() as conn:
        total = conn.execute(text("SELECT count(*) FROM case_file")).scalar_one()
        in_street = conn.execute(
            text("SELECT count(*) FROM case_file WHERE units @> ARRAY[(SELECT id FROM unit WHERE code = :c)]"),
            {"c": code},
        ).scalar_one()
    console.print(f"cases: {total:,} in the city, {in_street:,} in street {code} (the scoped user's reach)")
    rows = []
    with served(settings) as base:
        scripts = [("POST /api/v1/reports (in the street)", lambda who: _posting(bodies, who))]
        scripts += [(f"GET {path}", partial(cycling_gets, [path])) for path in LISTS]
        for name, script in scripts:
            warm(base, script(unscoped), clients)  # both callers' caches and plans
            warm(base, script(scoped), clients)
            # A B B A: intake grows the street's cases as it runs, and the noise drifts; halves in
            # mirrored order put both callers on the same footing
            first, second, third, fourth = (
                run_wrk(base, script(who), clients, seconds / 2) for who in (unscoped, scoped, scoped, unscoped)
            )
            city, local = first.averaged(fourth), second.averaged(third)
            rows.append(
                Row(
                    f"{name}, {clients} clients: req/s (p50 / p99 ms)",
                    f"{local.rps:,.0f} ({local.p50_ms:,.0f} / {local.p99_ms:,.0f}) street user",
                    f"{city.rps:,.0f} ({city.p50_ms:,.0f} / {city.p99_ms:,.0f}) city-wide user",
                    local.rps / city.rps,
                    "≥ 0.85",
                )
            )
    return rows


def run(settings: StoreSettings, *, seconds: float, clients: int, cases: int, console: Console) -> list[Row]:
    """Seed, measure, print one table; returns the rows (the smoke test reads them)."""
    console.print(f"machine: {describe()}")
    engine = make_engine(settings)
    try:
        seed_cases(engine, cases, console)
        rows = bench_http(settings, engine, seconds, clients, console)
    finally:
        engine.dispose()
    print_table(rows, console)
    return rows
