"""`cityops bench workflow`: case transitions under load, and evaluation over a city's history.

1. Transitions: N wrk connections (one thread each, so each drives a case of its own) move
   distinct dispatched cases back and forth (``return`` ↔ ``dispatch``, each a real move: row
   lock, version check, state machine, clocks on the working calendar, a hash-chained transition
   row, the case update, a change-feed notice) against the same app's bare endpoint that parses
   the JSON and inserts one row. Every answer must be 200: a 409 would be a lost or doubled move.
2. Evaluation over M historic cases and their transitions (``command.synthetic_history``, the
   demo's own year of history: imported with ``cityops load events``' code, lifecycles with voids,
   returns, extensions, late feedback and rework, hash-chained with the database's formula,
   checked on a sample): the city by
   district over the whole period through ``command.evaluation`` against a straightforward pandas
   computation from the same tables (read with COPY, grouped in memory), and against the same SQL
   counting the moves alone (``cityops_evaluation_series`` without a step: no rollup); the counts must
   agree, every one of them with the SQL's.
"""

from __future__ import annotations

import asyncio
import io
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pandas as pd
import psycopg
from rich.console import Console
from sqlalchemy import Engine, text

from bench.demo import progress_bar
from bench.harness import Row, bench_caller, lua_headers, print_table, run_wrk, served, warm
from bench.intake import SINK_SQL
from bench.machine import describe
from command.evaluation import By, Period, evaluate
from command.synthetic_history import history_count, load_history
from spatial.db import libpq_url, make_engine
from spatial.errors import PlatformError
from spatial.settings import StoreSettings

HISTORY_PREFIX = "workflow-history"
COUNTED = ("filed", "closed", "closed_on_time", "handled", "handled_on_time", "reworked", "dispatched", "returned")
PERIOD = (datetime.now(UTC) - timedelta(days=400), datetime.now(UTC) + timedelta(days=1))  # the history: the last year


# ---- 1. transitions under load -------------------------------------------------------------------
def _dispatched_cases(base: str, headers: dict[str, str], engine: Engine, count: int) -> list[tuple[int, int]]:
    """``count`` fresh cases moved to dispatched through the API: (case id, version)."""
    with engine.connect() as conn:
        grids = conn.execute(
            text(
                "SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) FROM unit "
                "WHERE tier = 'grid' ORDER BY random() LIMIT :n"
            ),
            {"n": 3 * count},
        ).all()
    cases: list[tuple[int, int]] = []
    with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
        for lon, lat in grids:
            if len(cases) == count:
                break
            body = {
                "lon": lon,
                "lat": lat,
                "category": "010101",
                "source": "hotline",
                "description": f"bench workflow {uuid.uuid4()}",
            }
            case = int(http.post("/api/v1/reports", json=body).json()["case_id"])
            version = http.get(f"/api/v1/cases/{case}/transitions").json()["version"]
            if version != 0:  # joined an open case near the spot: take another
                continue
            for action in ("accept", "file", "dispatch"):
                moved = http.post(f"/api/v1/cases/{case}/transitions", json={"action": action, "version": version})
                if moved.status_code != 200:
                    raise PlatformError(f"bench case {case}: {action} answered {moved.status_code} {moved.text}")
                version += 1
            cases.append((case, version))
    return cases


def _moving(cases: list[tuple[int, int]], headers: dict[str, str]) -> str:
    """A wrk script: thread i (one connection) moves case i return ↔ dispatch, tracking its version."""
    ids = ", ".join(str(c) for c, _ in cases)
    versions = ", ".join(str(v) for _, v in cases)
    return f"""local ids = {{{ids}}}
local versions = {{{versions}}}
local started = 0
function setup(thread)
  started = started + 1
  thread:set("case_id", ids[started])
  thread:set("version", versions[started])
end
local headers = {lua_headers({"Content-Type": "application/json", **headers})}
local state = "dispatched"
function request()
  local action = state == "dispatched" and "return" or "dispatch"
  local body = '{{"action":"' .. action .. '","version":' .. version .. ',"note":"bench: not ours"}}'
  return wrk.format("POST", "/api/v1/cases/" .. case_id .. "/transitions", headers, body)
end
function response(status, headers, body)
  if status == 200 then
    version = version + 1
    state = state == "dispatched" and "returned" or "dispatched"
  end
end
"""


def _bare(headers: dict[str, str]) -> str:
    body = '{"action":"return","version":7,"note":"bench: not ours"}'
    return f"""local headers = {lua_headers({"Content-Type": "application/json", **headers})}
function request()
  return wrk.format("POST", "/api/v1/_bench/insert", headers, '{body}')
end
"""


def bench_transitions(
    settings: StoreSettings, engine: Engine, seconds: float, clients: int, console: Console
) -> list[Row]:
    """Transitions/s and p99 with ``clients`` connections on distinct cases vs the bare one-row insert."""
    with engine.begin() as conn:
        conn.execute(text(SINK_SQL))
    staff = bench_caller(engine, "bench-workflow", ["city_commander", "dispatcher"], "320100")
    with served(settings, env={"CITYOPS_BENCH_ENDPOINTS": "true"}) as base:
        cases = _dispatched_cases(base, staff, engine, clients)
        if len(cases) < clients:
            raise PlatformError(f"only {len(cases)} of {clients} benchmark cases could be opened")
        warm(base, _bare(staff), clients, threads=clients)  # pools and code paths
        bare = run_wrk(base, _bare(staff), clients, seconds, threads=clients)
        ours = run_wrk(base, _moving(cases, staff), clients, seconds, threads=clients)
    with engine.connect() as conn:
        broken = conn.execute(
            text("SELECT count(*) FROM cityops_verify_transitions() WHERE case_id = ANY(:ids)"),
            {"ids": [c for c, _ in cases]},
        ).scalar_one()
    console.print(f"transitions: {clients} cases, every answer 200 (no lost or doubled move); chains broken: {broken}")
    if broken:
        raise PlatformError(f"{broken} transitions do not fit their case's chain after the run")
    return [
        Row(
            f"POST …/transitions, {clients} clients on distinct cases: moves/s (p50 / p99 ms)",
            f"{ours.rps:,.0f} ({ours.p50_ms:,.1f} / {ours.p99_ms:,.1f})",
            f"{bare.rps:,.0f} ({bare.p50_ms:,.1f} / {bare.p99_ms:,.1f}) (one-row insert)",
            ours.rps / bare.rps,
            "≥ 0.4",
        )
    ]


# ---- 2. a city's history -------------------------------------------------------------------------
def ensure_history(settings: StoreSettings, engine: Engine, count: int, console: Console) -> int:
    """``count`` historic cases with transitions (kept between runs); returns the transition rows."""
    have = history_count(engine, HISTORY_PREFIX)
    if have < count:
        started = time.perf_counter()
        with progress_bar(console, "workflow history") as update:
            loaded = load_history(
                settings, engine, count, prefix=HISTORY_PREFIX, seed=29, actor="bench", progress=update
            )
        console.print(
            f"loaded {loaded.cases:,} historic cases with {loaded.transitions:,} transitions in "
            f"{time.perf_counter() - started:.0f} s"
        )
    with engine.connect() as conn:
        sample = conn.execute(
            text(
                "SELECT count(*), count(*) FILTER (WHERE t.hash <> cityops_transition_hash(t)) FROM case_transition t "
                "WHERE t.case_id IN (SELECT e.id FROM case_file e WHERE e.external_id LIKE :p ORDER BY e.id DESC "
                "LIMIT 500)"
            ),
            {"p": f"{HISTORY_PREFIX}-%"},
        ).one()
        total = conn.execute(text("SELECT count(*) FROM case_transition")).scalar_one()
    if sample[1]:
        raise PlatformError(f"{sample[1]} of {sample[0]} sampled generated transitions do not hash like the database")
    console.print(
        f"history: {max(have, count):,} historic cases, {total:,} transitions; "
        f"hash formula checked on {sample[0]:,} sampled rows"
    )
    return int(total)


async def _ours(settings: StoreSettings, city: int) -> tuple[float, dict[str, dict[str, float]]]:
    async with await psycopg.AsyncConnection.connect(libpq_url(settings)) as conn:
        await evaluate(conn, Period(city, *PERIOD, By.area))  # warm the cache like the baseline's second read
        started = time.perf_counter()
        result = await evaluate(conn, Period(city, *PERIOD, By.area))
        seconds = time.perf_counter() - started
    return seconds, {row["key"]: row for row in result["rows"]}


OURS_SQL = "SELECT * FROM cityops_evaluation(%s, %s, %s, 'area', NULL) ORDER BY 1"
MOVES_ALONE_SQL = (
    "SELECT key, filed, closed, closed_on_time, handled, handled_on_time, handling_s, checked, reworked, dispatched, "
    "returned, moves, late_moves, escalated, reopened, supervised "
    "FROM cityops_evaluation_series(%s, %s, %s, 'area', NULL, NULL, NULL) ORDER BY 1"
)


def moves_alone(settings: StoreSettings, city: int) -> tuple[float, float]:
    """Seconds of the evaluation's SQL with its rollup and of the same counts from the moves alone, each warm;
    raises unless every count of every district is equal."""
    timed: list[tuple[float, list[tuple]]] = []
    with psycopg.connect(libpq_url(settings)) as conn:
        conn.execute("SELECT cityops_evaluation_rollup_fold()")  # as the worker would have by now
        conn.commit()
        for sql in (OURS_SQL, MOVES_ALONE_SQL):
            conn.execute(sql, (city, *PERIOD)).fetchall()  # warm
            started = time.perf_counter()
            rows = conn.execute(sql, (city, *PERIOD)).fetchall()
            timed.append((time.perf_counter() - started, rows))
    (rollup_s, ours), (alone_s, theirs) = timed
    if ours != theirs:
        raise PlatformError("the evaluation with its rollup and the moves alone disagree")
    return rollup_s, alone_s


PANDAS_READ = (
    "COPY (SELECT action, at, deadline, grid_id FROM case_transition WHERE at >= %s AND at < %s) TO STDOUT "
    "(FORMAT csv, HEADER)"
)
GRID_DISTRICTS = (
    "SELECT g.id AS grid_id, d.code AS district FROM unit g JOIN unit d ON d.id = g.ancestors[2] WHERE g.tier = 'grid'"
)


def pandas_evaluation(settings: StoreSettings) -> tuple[float, dict[str, dict[str, int]]]:
    """The same counts by district, straightforwardly: read the rows, flag, group, sum."""
    started = time.perf_counter()
    buffer = io.BytesIO()
    with psycopg.connect(libpq_url(settings)) as conn, conn.cursor().copy(PANDAS_READ, PERIOD) as copy:
        for chunk in copy:
            buffer.write(chunk)
    with psycopg.connect(libpq_url(settings)) as conn:
        districts = pd.DataFrame(conn.execute(GRID_DISTRICTS).fetchall(), columns=["grid_id", "district"])
    buffer.seek(0)
    frame = pd.read_csv(buffer).merge(districts, on="grid_id")
    for column in ("at", "deadline"):
        frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
    on_time = frame["at"] <= frame["deadline"]
    flags = pd.DataFrame(
        {
            "district": frame["district"],
            "filed": frame["action"] == "file",
            "closed": frame["action"] == "close",
            "closed_on_time": (frame["action"] == "close") & on_time,
            "handled": frame["action"] == "feedback",
            "handled_on_time": (frame["action"] == "feedback") & on_time,
            "reworked": frame["action"] == "rework",
            "dispatched": frame["action"] == "dispatch",
            "returned": frame["action"] == "return",
        }
    )
    sums = flags.groupby("district").sum()
    seconds = time.perf_counter() - started
    return seconds, {code: {k: int(v) for k, v in row.items()} for code, row in sums.iterrows()}


def bench_evaluation(settings: StoreSettings, engine: Engine, cases: int, console: Console) -> list[Row]:
    """Evaluation of the whole city by district over the history vs the pandas computation; counts compared."""
    total = ensure_history(settings, engine, cases, console)
    with engine.connect() as conn:
        city = conn.execute(text("SELECT id FROM unit WHERE tier = 'city' LIMIT 1")).scalar_one()
    pandas_evaluation(settings)  # both read warm
    base_s, theirs = pandas_evaluation(settings)
    ours_s, ours = asyncio.run(_ours(settings, city))
    rollup_s, alone_s = moves_alone(settings, city)
    with engine.connect() as conn:
        rollup_rows = conn.execute(text("SELECT count(*) FROM evaluation_rollup")).scalar_one()
    console.print(f"evaluation rollup: {rollup_rows:,} rows for {total:,} moves; every count equal to the moves'")
    differing = [
        code
        for code in set(ours) | set(theirs)
        if any(int(ours.get(code, {}).get(k, 0)) != theirs.get(code, {}).get(k, 0) for k in COUNTED)
    ]
    console.print(f"evaluation: {len(ours)} districts; counts differing from pandas: {len(differing)}")
    if differing:
        raise PlatformError(f"evaluation and pandas disagree for {sorted(differing)}")
    return [
        Row(
            f"evaluation, city by district, {cases:,}+ cases / {total:,} transitions: s",
            f"{ours_s:.2f}",
            f"{base_s:.2f} (pandas from the same tables)",
            base_s / ours_s,
            "≥ 1",
        ),
        Row(
            "the evaluation's SQL with its rollup vs the same counts from the moves alone: s",
            f"{rollup_s:.3f}",
            f"{alone_s:.3f}",
            alone_s / rollup_s,
            "> 1",
        ),
        Row("evaluation: seconds against the 1 s target", f"{ours_s:.2f}", "1.00", 1.0 / ours_s, "≥ 1.0"),
    ]


def run(settings: StoreSettings, *, seconds: float, clients: int, cases: int, console: Console) -> list[Row]:
    """Both measures and one table; returns the rows (the smoke test reads them)."""
    console.print(f"machine: {describe()}")
    engine = make_engine(settings)
    try:
        rows = bench_transitions(settings, engine, seconds, clients, console)
        rows += bench_evaluation(settings, engine, cases, console)
    finally:
        engine.dispose()
    print_table(rows, console)
    return rows
