"""`cityops bench forces`: nearest-capable recommendation and position ingest, against baselines.

Recommendation: top-5 among the directory (100,000 forces by default) for cases at random
points, with a capability mix (none, drainage, first aid, traffic control); p50/p99 in the
database alone (``cityops_rank_forces``) and through the API, against PostGIS
``ORDER BY geom <-> point LIMIT 5`` on the same positions; every database answer compared with
a brute-force ranking (every eligible force, geodesic distance on WGS84 by pyproj, the same
preference tiers), and the baseline's answers with the plain geodesic top-5.

Ingest: 16 clients post batches of 500 fixes (devices spread over the directory, each fix
newer than the force's last) through the API, against plain COPY of the same kind of rows
into an unindexed table.
"""

from __future__ import annotations

import csv
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

import numpy as np
import psycopg
from fastapi import FastAPI, Response
from pyproj import Geod
from rich.console import Console
from rich.progress import track
from sqlalchemy import Engine, text

from bench.bare_app import BareApp, json_response
from bench.harness import Row, bench_caller, cycling_gets, lua_headers, print_table, run_wrk, served, warm
from bench.intake import write_history
from bench.machine import describe
from command.historic_import import import_events
from forces.demo import COLUMNS
from forces.directory import load_directory
from spatial.db import libpq_url, make_engine
from spatial.settings import StoreSettings

WGS84 = Geod(ellps="WGS84")
PREFIX = "BENCH-"
MIX: tuple[list[str], ...] = ([], ["drainage"], ["first_aid"], ["traffic_control"])
KINDS = np.array(["person", "team", "vehicle", "equipment"])
CAPS_BY_KIND = {
    "person": ["inspection;first_aid", "law_enforcement;inspection", "sanitation", "first_aid"],
    "team": ["rescue;first_aid;drainage", "law_enforcement;inspection", "firefighting;rescue;first_aid"],
    "vehicle": ["drainage", "traffic_control", "road_repair", "sanitation", "electrical", "water_supply", "first_aid"],
    "equipment": ["drainage;power_supply", "power_supply", "aerial_survey;inspection"],
}
RANK = "SELECT force_id, tier, distance_m FROM cityops_rank_forces(%s::geometry, %s, 5, %s, %s, %s)"
KNN = "SELECT force_id FROM force_position ORDER BY geom <-> %s::geometry LIMIT 5"
CASE_PLACE = "SELECT geom, responsible_unit_id FROM case_file WHERE id = %s"
USER_ENV = "CITYOPS_BENCH_FORCES_USER"
SNAPSHOT = """
SELECT force_id, ST_X(geom), ST_Y(geom), status = 'available' AND fixed_at >= %(fresh)s
       AND cityops_on_shift(shift_start, shift_end, %(at)s), capabilities, units, unit_id
FROM force_position
"""


# ---- the directory ------------------------------------------------------------------------------
def ensure_directory(engine: Engine, total: int, console: Console) -> int:
    """Top the directory up to ``total`` forces with synthetic ones: on duty, fresh, 1 in 10 off duty."""
    with engine.connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM force")).scalar_one()
    if count < total:
        _add_forces(engine, total - count, console)
    with engine.begin() as conn:  # the synthetic forces' state is known each run; other forces stay as they are
        synthetic = {"prefix": f"{PREFIX}%"}
        conn.execute(
            text(
                "UPDATE force SET status = 'available' WHERE status <> 'available' AND code LIKE :prefix "
                "AND NOT EXISTS (SELECT FROM assignment a WHERE a.force_id = force.id "
                "AND a.released_at IS NULL)"
            ),
            synthetic,
        )
        conn.execute(
            text(
                "UPDATE force SET status = 'off_duty' WHERE id % 10 = 3 AND code LIKE :prefix AND status = 'available'"
            ),
            synthetic,
        )
        conn.execute(
            text(
                "UPDATE force_position p SET fixed_at = now() - interval '1 minute' FROM force f "
                "WHERE f.id = p.force_id AND f.code LIKE :prefix"
            ),
            synthetic,
        )
        conn.execute(text("ANALYZE force, force_position"))
        return conn.execute(text("SELECT count(*) FROM force_position")).scalar_one()


def _add_forces(engine: Engine, count: int, console: Console) -> None:
    """Synthetic forces: persons in grids, teams in streets, vehicles and equipment in districts."""
    rng = np.random.default_rng(41)
    with engine.connect() as conn:
        units = {
            tier: conn.execute(
                text(
                    "SELECT code, ST_X(c), ST_Y(c), sqrt(area_m2) FROM (SELECT code, ST_PointOnSurface(geom) c, "
                    "area_m2 "
                    "FROM unit WHERE tier = :t AND kind = 'administrative') q"
                ),
                {"t": tier},
            ).all()
            for tier in ("grid", "street", "district")
        }
    kinds = rng.choice(KINDS, count, p=[0.6, 0.1, 0.22, 0.08])
    tier_of = {"person": "grid", "team": "street", "vehicle": "district", "equipment": "district"}
    rows = []
    for i, kind in enumerate(track(kinds, description="generating forces", console=console)):
        code, x, y, size = units[tier_of[kind]][int(rng.integers(0, len(units[tier_of[kind]])))]
        spread = size / 2 / 100_000  # about half the unit's width, in degrees
        rows.append(
            {
                "code": f"{PREFIX}{uuid.uuid4().hex[:12]}",
                "name": f"bench {kind} {i}",
                "kind": kind,
                "unit": code,
                "capabilities": str(rng.choice(CAPS_BY_KIND[kind])),
                "lon": f"{x + rng.normal(0, spread):.6f}",
                "lat": f"{y + rng.normal(0, spread):.6f}",
            }
        )
    with tempfile.TemporaryDirectory() as scratch:  # the directory file, loaded as any directory is
        path = Path(scratch) / "bench-forces.csv"
        with path.open("w", newline="", encoding="utf-8") as out:
            writer = csv.DictWriter(out, fieldnames=COLUMNS, restval="")
            writer.writeheader()
            writer.writerows(rows)
        with console.status(f"loading {count:,} forces"):
            load_directory(engine, path, actor="bench", synthetic=True)
    console.print(f"added {count:,} synthetic forces")


# ---- recommendation ---------------------------------------------------------------------------
def cases(engine: Engine, count: int) -> list[tuple[int, str, int, float, float]]:
    """``count`` cases at random points: (id, geometry as hex EWKB, responsible unit, lon, lat)."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / f"forces-{uuid.uuid4().hex[:8]}.csv"
        write_history(engine, path, count, seed=43)
        batch = import_events(engine, path).batch_id
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                text(
                    "SELECT id, geom::text, responsible_unit_id, ST_X(geom), ST_Y(geom) FROM case_file WHERE "
                    "import_batch_id = :b "
                    "ORDER BY id"
                ),
                {"b": batch},
            )
        ]


def _percentiles(seconds: list[float]) -> tuple[float, float]:
    ms = np.asarray(seconds) * 1e3
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def time_database(settings: StoreSettings, picks: list[tuple], fresh: datetime, at: clock_time) -> dict:
    """Ours and the KNN baseline, alternating per query; both answers kept for the exactness check."""
    ours, knn, answers, nearest = [], [], [], []
    with psycopg.connect(libpq_url(settings), autocommit=True) as conn:
        for n, (_, geom, own, _, _) in enumerate(picks):
            caps = MIX[n % len(MIX)]
            started = time.perf_counter()
            answers.append(conn.execute(RANK, (geom, own, caps, fresh, at), prepare=True).fetchall())
            ours.append(time.perf_counter() - started)
            started = time.perf_counter()
            nearest.append([r[0] for r in conn.execute(KNN, (geom,), prepare=True).fetchall()])
            knn.append(time.perf_counter() - started)
    return {
        "ours": _percentiles(ours),
        "knn": _percentiles(knn),
        "answers": answers,
        "nearest": nearest,
        "fresh": fresh,
        "at": at,
    }


def brute_force_check(
    settings: StoreSettings, engine: Engine, picks: list[tuple], timed: dict, console: Console
) -> tuple[int, int, int]:
    """(exact answers of ours, exact answers of the KNN baseline, queries): every force, geodesic metres."""
    with psycopg.connect(libpq_url(settings)) as raw:  # available, fresh and on shift as the ranking judged it
        rows = raw.execute(SNAPSHOT, {"fresh": timed["fresh"], "at": timed["at"]}).fetchall()
    with engine.connect() as conn:
        ancestors: dict[int, list[int]] = dict(conn.execute(text("SELECT id, ancestors[2:] FROM unit")).all())
        neighbours: dict[int, list[int]] = {}
        for unit, other in conn.execute(text("SELECT unit_id, neighbour_id FROM unit_neighbour")):
            neighbours.setdefault(unit, []).append(other)
    ids = np.array([r[0] for r in rows])
    lon, lat = np.array([r[1] for r in rows]), np.array([r[2] for r in rows])
    available, unit_ids = np.array([r[3] for r in rows]), np.array([r[6] for r in rows])
    members: dict[int, list[int]] = {}  # unit → the forces in its subtree
    for index, units in enumerate(r[5] for r in rows):
        for unit in units:
            members.setdefault(unit, []).append(index)
    capable = {tuple(need): np.array([set(need) <= set(r[4]) for r in rows]) for need in MIX}
    exact = plain_exact = 0
    for n, (_, _, own, x, y) in enumerate(track(picks, description="brute-force check", console=console)):
        _, _, metres = WGS84.inv(np.full(len(ids), x), np.full(len(ids), y), lon, lat)
        plain_exact += set(ids[np.argsort(metres, kind="stable")[:5]].tolist()) == set(timed["nearest"][n])
        tier = np.full(len(ids), 2)
        tier[[i for unit in neighbours.get(own, []) for i in members.get(unit, [])]] = 1
        tier[members.get(own, [])] = 0
        tier[np.isin(unit_ids, ancestors[own])] = 0
        eligible = available & capable[tuple(MIX[n % len(MIX)])]
        order = np.lexsort((ids[eligible], metres[eligible], tier[eligible]))[:5]
        exact += ids[eligible][order].tolist() == [r[0] for r in timed["answers"][n]]
    return exact, plain_exact, len(picks)


def minimal_app() -> FastAPI:
    """The recommendation without the platform around it: the same framework, driver and ranking, the caller's
    scope set as the API sets it, no middleware (one caller: ``USER_ENV``)."""
    bare = BareApp({"commander": os.environ[USER_ENV]}, pool_size=4)

    @bare.app.get("/candidates/{case_id}")
    async def candidates(case_id: int, capability: str = "") -> Response:
        now = datetime.now().astimezone()
        needs = capability.split(",") if capability else []
        async with bare.scoped(bare.users["commander"]) as conn:
            place = await (await conn.execute(CASE_PLACE, (case_id,), prepare=True)).fetchone()
            if place is None:
                return json_response({"detail": "no such case"})
            rank = (place[0], place[1], needs, now - timedelta(minutes=30), now.time())
            rows = await (await conn.execute(RANK, rank, prepare=True)).fetchall()
        return json_response([{"force_id": r[0], "tier": r[1], "distance_m": r[2]} for r in rows])

    return bare.app


def bench_recommend(
    settings: StoreSettings, engine: Engine, total: int, queries: int, seconds: float, console: Console
) -> list[Row]:
    """Database alone, exactness, and the API at one and at four clients."""
    picks = cases(engine, queries)
    now = datetime.now().astimezone()
    timed = time_database(settings, picks, now - timedelta(minutes=30), now.time())
    exact, plain_exact, n = brute_force_check(settings, engine, picks[: min(len(picks), 500)], timed, console)
    ours, knn = timed["ours"], timed["knn"]
    headers = bench_caller(engine, "bench-commander", ["city_commander"], "320100")
    paths = [
        f"/api/v1/cases/{case[0]}/candidates?k=5" + (f"&capability={','.join(MIX[i % 4])}" if MIX[i % 4] else "")
        for i, case in enumerate(picks)
    ]
    bare_paths = [
        f"/candidates/{case[0]}" + (f"?capability={','.join(MIX[i % 4])}" if MIX[i % 4] else "")
        for i, case in enumerate(picks)
    ]
    with (
        served(settings) as base,
        served(
            settings,
            ("uvicorn", "--factory", "bench.forces:minimal_app", "--log-level", "warning"),
            env={USER_ENV: "bench-commander"},
        ) as bare_base,
    ):
        warm(base, cycling_gets(paths, headers), 1, 2)  # both alike
        warm(bare_base, cycling_gets(bare_paths, {}), 1, 2)
        single = run_wrk(base, cycling_gets(paths, headers), 1, seconds)
        bare_single = run_wrk(bare_base, cycling_gets(bare_paths, {}), 1, seconds)
        loaded = run_wrk(base, cycling_gets(paths, headers), 4, seconds)
        bare_loaded = run_wrk(bare_base, cycling_gets(bare_paths, {}), 4, seconds)
    rows = [
        Row(
            f"recommend top-5 of {total:,} in the database: p50 / p99 ms",
            f"{ours[0]:.2f} / {ours[1]:.2f}",
            f"{knn[0]:.2f} / {knn[1]:.2f} (PostGIS <-> LIMIT 5)",
            knn[1] / ours[1],
            "—",
        ),
        Row(
            f"recommend: equal to brute-force geodesic ranking ({n} queries)",
            f"{100 * exact / n:.1f} %",
            f"{100 * plain_exact / n:.1f} % (<-> vs geodesic top-5)",
            exact / n,
            "≥ 1.0",
        ),
    ]
    for clients, ours_wrk, bare_wrk in ((1, single, bare_single), (4, loaded, bare_loaded)):
        rows += [
            Row(
                f"recommend through the API, {clients} client{'s' * (clients > 1)}: p50 / p99 ms (req/s)",
                f"{ours_wrk.p50_ms:.2f} / {ours_wrk.p99_ms:.2f} ({ours_wrk.rps:,.0f})",
                f"{bare_wrk.p50_ms:.2f} / {bare_wrk.p99_ms:.2f} ({bare_wrk.rps:,.0f}) minimal app",
                bare_wrk.p99_ms / ours_wrk.p99_ms,
                "—",
            ),
            Row("the same: p99 against the 10 ms limit", f"{ours_wrk.p99_ms:.2f}", "10", 10 / ours_wrk.p99_ms, "≥ 1.0"),
        ]
    return rows


# ---- ingest -------------------------------------------------------------------------------------
def _ingest_script(codes: list[str], lon: np.ndarray, lat: np.ndarray, headers: dict[str, str], batch: int) -> str:
    """wrk Lua that builds each batch on the fly: the next ``batch`` devices, a little moved, stamped now."""
    quoted = ",".join(f'"{c}"' for c in codes)
    xs, ys = ",".join(f"{v:.6f}" for v in lon), ",".join(f"{v:.6f}" for v in lat)
    return f"""local codes = {{{quoted}}}
local xs = {{{xs}}}
local ys = {{{ys}}}
local headers = {lua_headers({"Content-Type": "application/json", **headers})}
local n = #codes
local k = 0
request = function()
  local parts = {{}}
  local second = os.time()
  local stamp = os.date("!%Y-%m-%dT%H:%M:%S", second)
  for j = 1, {batch} do
    k = k + 1
    local i = k % n + 1
    local frac = string.format("%06d", k % 1000000)
    parts[j] = string.format('{{"id":"%s","lon":%.6f,"lat":%.6f,"time":"%s.%sZ","speed":4.5,"heading":90}}',
      codes[i], xs[i] + (k % 7) * 0.00001, ys[i], stamp, frac)
  end
  return wrk.format("POST", "/api/v1/forces/positions", headers, '{{"fixes":[' .. table.concat(parts, ",") .. ']}}')
end
"""


def copy_baseline(settings: StoreSettings, codes: list[int], lon: np.ndarray, lat: np.ndarray, rows: int) -> float:
    """Rows per second of plain COPY of fixes (force, time, point, speed, heading) into an unindexed table."""
    table = f"bench_fix_copy_{uuid.uuid4().hex[:6]}"
    base = datetime.now(UTC)
    with psycopg.connect(libpq_url(settings), autocommit=True) as conn:
        conn.execute(
            f"CREATE TABLE {table} (force_id bigint, fixed_at timestamptz, lon float8, lat float8, "
            "speed real, heading real)"
        )
        try:
            started = time.perf_counter()
            with conn.cursor() as cur, cur.copy(f"COPY {table} FROM STDIN") as copy:
                for k in range(rows):
                    i = k % len(codes)
                    copy.write_row((codes[i], base + timedelta(microseconds=k), lon[i], lat[i], 4.5, 90.0))
            return rows / (time.perf_counter() - started)
        finally:
            conn.execute(f"DROP TABLE {table}")


def bench_ingest(settings: StoreSettings, engine: Engine, seconds: float, clients: int, console: Console) -> list[Row]:
    """Batches through the API against plain COPY of as many rows."""
    with engine.connect() as conn:
        devices = conn.execute(
            text(
                "SELECT f.id, f.code, ST_X(p.geom), ST_Y(p.geom) FROM force f "
                "JOIN force_position p ON p.force_id = f.id ORDER BY f.id"
            )
        ).all()
    ids, codes = [d[0] for d in devices], [d[1] for d in devices]
    lon, lat = np.array([d[2] for d in devices]), np.array([d[3] for d in devices])
    headers = bench_caller(engine, "bench-tracker", ["tracker"], "320100")
    with served(settings) as base:
        script = _ingest_script(codes, lon, lat, headers, 500)
        warm(base, script, clients, 2)
        ours = run_wrk(base, script, clients, seconds)
    fixes_per_s = ours.rps * 500
    copy_rate = copy_baseline(settings, ids, lon, lat, max(200_000, int(fixes_per_s * 5)))
    console.print(
        f"ingest: {ours.rps:,.1f} batches/s of 500 → {fixes_per_s:,.0f} fixes/s; COPY {copy_rate:,.0f} rows/s"
    )
    return [
        Row(
            f"positions, {clients} clients × batches of 500: fixes/s (p50 / p99 ms a batch)",
            f"{fixes_per_s:,.0f} ({ours.p50_ms:,.0f} / {ours.p99_ms:,.0f})",
            f"{copy_rate:,.0f} rows/s (plain COPY)",
            fixes_per_s / copy_rate,
            "≥ 0.3",
        ),
        Row(
            "positions: fixes/s against the 20,000 target",
            f"{fixes_per_s:,.0f}",
            "20,000",
            fixes_per_s / 20_000,
            "≥ 1.0",
        ),
    ]


def run(
    settings: StoreSettings, *, forces: int, queries: int, seconds: float, clients: int, console: Console
) -> list[Row]:
    """Set the directory up, measure, print one table; returns the rows (the smoke test reads them)."""
    console.print(f"machine: {describe()}")
    engine = make_engine(settings)
    try:
        total = ensure_directory(engine, forces, console)
        console.print(f"directory: {total:,} forces with a position")
        rows = bench_recommend(settings, engine, total, queries, seconds, console)
        rows += bench_ingest(settings, engine, seconds, clients, console)
    finally:
        engine.dispose()
    print_table(rows, console)
    return rows
