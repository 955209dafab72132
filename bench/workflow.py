"""`cityops bench workflow`: case transitions under load, and evaluation over a city's history.

1. Transitions: N wrk connections (one thread each, so each drives a case of its own) move
   distinct dispatched cases back and forth (``return`` ↔ ``dispatch``, each a real move: row
   lock, version check, state machine, clocks on the working calendar, a hash-chained transition
   row, the case update, a change-feed notice) against the same app's bare endpoint that parses
   the JSON and inserts one row. Every answer must be 200: a 409 would be a lost or doubled move.
2. Evaluation over M historic cases (imported with ``cityops load``) and their transitions
   (generated lifecycles: returns, late feedback, rework; hash-chained in Python with the
   database's formula, COPYed with the chain trigger paused, checked on a sample): the city by
   district over the whole period through ``command.evaluation`` against a straightforward pandas
   computation from the same tables (read with COPY, grouped in memory); the counts must agree.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import psycopg
from rich.console import Console
from rich.progress import track
from sqlalchemy import Engine, text

from bench.harness import Row, bench_caller, lua_headers, print_table, run_wrk, served
from bench.intake import SINK_SQL, write_history
from bench.machine import describe
from command.evaluation import By, Period, evaluate
from command.historic_import import import_events
from spatial.db import libpq_url, make_engine
from spatial.errors import PlatformError
from spatial.settings import StoreSettings

HISTORY_PREFIX = "workflow-history"
COUNTED = ("filed", "closed", "closed_on_time", "handled", "handled_on_time", "reworked", "dispatched", "returned")
PERIOD = (datetime(2024, 12, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC))
MINUTE = np.timedelta64(60_000_000, "us")


# ---- 1. transitions under load -------------------------------------------------------------------
def _dispatched_cases(base: str, headers: dict[str, str], engine: Engine, count: int) -> list[tuple[int, int]]:
    """``count`` fresh cases moved to dispatched through the API: (case id, version)."""
    with engine.connect() as conn:
        grids = conn.execute(text("SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) FROM unit "
                                  "WHERE tier = 'grid' ORDER BY random() LIMIT :n"),
                             {"n": 3 * count}).all()  # fmt: skip
    cases = []
    with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
        for lon, lat in grids:
            if len(cases) == count:
                break
            body = {"lon": lon, "lat": lat, "category": "010101", "source": "hotline",
                    "description": f"bench workflow {uuid.uuid4()}"}  # fmt: skip
            case = int(http.post("/api/v1/reports", json=body).json()["case_id"])
            version = http.get(f"/api/v1/events/{case}/transitions").json()["version"]
            if version != 0:  # joined an open case near the spot: take another
                continue
            for action in ("accept", "file", "dispatch"):
                moved = http.post(f"/api/v1/events/{case}/transitions", json={"action": action, "version": version})
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
  return wrk.format("POST", "/api/v1/events/" .. case_id .. "/transitions", headers, body)
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


def bench_transitions(settings: StoreSettings, engine: Engine, seconds: float, clients: int,
                      console: Console) -> list[Row]:  # fmt: skip
    """Transitions/s and p99 with ``clients`` connections on distinct cases vs the bare one-row insert."""
    with engine.begin() as conn:
        conn.execute(text(SINK_SQL))
    staff = bench_caller(engine, "bench-workflow", ["city_commander", "dispatcher"], "320100")
    with served(settings, CITYOPS_BENCH_ENDPOINTS="true") as base:
        cases = _dispatched_cases(base, staff, engine, clients)
        if len(cases) < clients:
            raise PlatformError(f"only {len(cases)} of {clients} benchmark cases could be opened")
        run_wrk(base, _bare(staff), clients, 1, threads=clients)  # warm pools and code paths
        bare = run_wrk(base, _bare(staff), clients, seconds, threads=clients)
        ours = run_wrk(base, _moving(cases, staff), clients, seconds, threads=clients)
    with engine.connect() as conn:
        broken = conn.execute(text("SELECT count(*) FROM cityops_verify_transitions() WHERE event_id = ANY(:ids)"),
                              {"ids": [c for c, _ in cases]}).scalar_one()  # fmt: skip
    console.print(f"transitions: {clients} cases, every answer 200 (no lost or doubled move); chains broken: {broken}")
    if broken:
        raise PlatformError(f"{broken} transitions do not fit their case's chain after the run")
    return [Row(f"POST …/transitions, {clients} clients on distinct cases: moves/s (p50 / p99 ms)",
                f"{ours.rps:,.0f} ({ours.p50_ms:,.1f} / {ours.p99_ms:,.1f})",
                f"{bare.rps:,.0f} ({bare.p50_ms:,.1f} / {bare.p99_ms:,.1f}) (one-row insert)",
                ours.rps / bare.rps, "≥ 0.4")]  # fmt: skip


# ---- 2. a city's history -------------------------------------------------------------------------
STEPS = {  # action: (from, to, role)
    "report": ("", "reported", None), "accept": ("reported", "accepted", "dispatcher"),
    "file": ("accepted", "filed", "dispatcher"), "dispatch": ("filed", "dispatched", "dispatcher"),
    "return": ("dispatched", "returned", "department_handler"), "redispatch": ("returned", "dispatched", "dispatcher"),
    "acknowledge": ("dispatched", "acknowledged", "department_handler"),
    "start": ("acknowledged", "handling", "department_handler"),
    "feedback": ("handling", "checking", "department_handler"), "rework": ("checking", "rework", "checker"),
    "restart": ("rework", "handling", "department_handler"),
    "refeedback": ("handling", "checking", "department_handler"),
    "close": ("checking", "closed", "checker"),
}  # fmt: skip


def _lifecycles(cases: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Transition rows for closed cases: a common path, 5 % returned once, 10 % reworked once, ~25 % handled late."""
    rng = np.random.default_rng(seed)
    n = len(cases)
    t0 = cases["filed_at"].to_numpy("datetime64[us]")
    limit = cases["deadline"].to_numpy("datetime64[us]") - t0
    returned, reworked = rng.random(n) < 0.05, rng.random(n) < 0.10
    minutes = lambda low, high: rng.integers(low, high, n) * MINUTE  # noqa: E731
    at = {"report": t0}
    at["accept"] = at["report"] + minutes(1, 40)
    at["file"] = at["accept"] + minutes(1, 90)
    at["dispatch"] = at["file"] + minutes(1, 60)
    at["return"] = at["dispatch"] + minutes(5, 60)
    at["redispatch"] = at["return"] + minutes(5, 30)
    handed = np.where(returned, at["redispatch"], at["dispatch"])
    at["acknowledge"] = handed + minutes(5, 150)
    at["start"] = at["acknowledge"] + minutes(1, 60)
    deadline = at["file"] + limit
    span = (deadline - at["start"]).astype("int64").clip(600_000_000)
    at["feedback"] = at["start"] + (span * rng.uniform(0.2, 1.3, n)).astype("int64").astype("timedelta64[us]")
    at["rework"] = at["feedback"] + minutes(30, 300)
    at["restart"] = at["rework"] + minutes(5, 60)
    at["refeedback"] = at["restart"] + minutes(60, 1440)
    last = np.where(reworked, at["refeedback"], at["feedback"])
    at["close"] = last + minutes(30, 480)
    taken = {"return": returned, "redispatch": returned, "rework": reworked, "restart": reworked,
             "refeedback": reworked}  # fmt: skip
    due = {"accept": at["report"] + 60 * MINUTE, "file": at["accept"] + 120 * MINUTE,
           "dispatch": at["file"] + 60 * MINUTE, "return": at["dispatch"] + 120 * MINUTE,
           "redispatch": at["return"] + 60 * MINUTE, "acknowledge": handed + 120 * MINUTE, "start": deadline,
           "feedback": deadline, "rework": at["feedback"] + 240 * MINUTE, "restart": deadline, "refeedback": deadline,
           "close": last + 240 * MINUTE}  # fmt: skip
    since = {"feedback": handed, "refeedback": handed, "close": at["file"]}
    frames = []
    previous = at["report"]
    for seq_action in STEPS:
        mask = taken.get(seq_action, np.ones(n, dtype=bool))
        from_state, to_state, role = STEPS[seq_action]
        action = {"redispatch": "dispatch", "restart": "start", "refeedback": "feedback"}.get(seq_action, seq_action)
        frames.append(pd.DataFrame({
            "event_id": cases["id"].to_numpy()[mask], "order": list(STEPS).index(seq_action), "action": action,
            "from_state": from_state, "to_state": to_state, "role": role, "at": at[seq_action][mask],
            "due": due.get(seq_action, np.full(n, np.datetime64("NaT"), "datetime64[us]"))[mask],
            "deadline": deadline[mask], "since": since.get(seq_action, previous)[mask],
            "department": cases["department"].to_numpy()[mask] if seq_action not in ("report", "accept", "file")
            else None, "grid_id": cases["grid_id"].to_numpy()[mask], "unit_id": cases["unit_id"].to_numpy()[mask],
        }))  # fmt: skip
        previous = np.where(mask, at[seq_action], previous)
    rows = pd.concat(frames, ignore_index=True).sort_values(["event_id", "order"], kind="stable")
    rows["seq"] = rows.groupby("event_id").cumcount() + 1
    rows["actor"] = np.where(rows["role"].isna(), "intake:hotline", "bench-" + rows["role"].fillna(""))
    return rows.drop(columns="order")


def _stamp(values: pd.Series) -> np.ndarray:
    """Times as the hash formats them (to_char … 'YYYY-MM-DD"T"HH24:MI:SS.US' in UTC); '' for none."""
    text_ = np.datetime_as_string(values.to_numpy("datetime64[us]"), unit="us")
    return np.where(values.isna().to_numpy(), "", text_)


def _chain(rows: pd.DataFrame) -> pd.DataFrame:
    """prev_hash and hash of every row, by cityops_transition_hash's formula (checked on a sample after)."""
    roles = np.where(rows["role"].isna(), "", rows["role"].fillna(""))
    unit = rows["unit_id"].astype(str).to_numpy()
    v2 = ("v2|" + roles + "|" + rows["department"].fillna("") + "|" + rows["grid_id"].astype(str) + "|"
          + _stamp(rows["due"]) + "|" + _stamp(rows["deadline"]) + "|" + _stamp(rows["since"]) + "|")  # fmt: skip
    rest = ("|" + rows["event_id"].astype(str) + "|" + rows["seq"].astype(str) + "|" + rows["action"] + "|"
            + rows["from_state"] + "|" + rows["to_state"] + "|" + rows["actor"] + "|" + roles + "|" + unit + "|"
            + _stamp(rows["at"]) + "|||" + "|" + v2).to_numpy()  # fmt: skip
    seqs = rows["seq"].to_numpy()
    prev, hashes = np.empty(len(rows), dtype=object), np.empty(len(rows), dtype=object)
    last, zero = "", "0" * 64
    for i in track(range(len(rows)), description="chaining transitions", transient=True):
        before = zero if seqs[i] == 1 else last
        last = hashlib.sha256((before + rest[i]).encode()).hexdigest()
        prev[i], hashes[i] = before, last
    return rows.assign(prev_hash=prev, hash=hashes)


COPY_COLUMNS = ("event_id", "seq", "action", "from_state", "to_state", "actor", "roles", "unit_id", "at", "note",
                "evidence", "prev_hash", "hash", "role", "department", "grid_id", "due", "deadline",
                "since")  # fmt: skip


TRIGGERS_PAUSED = ("case_transition_chain",)
COPY_SQL = (
    f"COPY case_transition ({', '.join(COPY_COLUMNS)}) FROM STDIN (FORMAT csv, FORCE_NOT_NULL (from_state, note))"
)


def _copy_transitions(settings: StoreSettings, rows: pd.DataFrame) -> None:
    """COPY in time order (the BRIN index on ``at`` stays tight) with the chain trigger paused."""
    rows = rows.sort_values("at", kind="stable")
    frame = pd.DataFrame({
        "event_id": rows["event_id"], "seq": rows["seq"], "action": rows["action"], "from_state": rows["from_state"],
        "to_state": rows["to_state"], "actor": rows["actor"],
        "roles": np.where(rows["role"].isna(), "{}", "{" + rows["role"].fillna("") + "}"), "unit_id": rows["unit_id"],
        "at": _stamp(rows["at"]) + "+00", "note": "", "evidence": "{}", "prev_hash": rows["prev_hash"],
        "hash": rows["hash"], "role": rows["role"], "department": rows["department"], "grid_id": rows["grid_id"],
        "due": np.where(rows["due"].isna(), None, _stamp(rows["due"]) + "+00"),
        "deadline": _stamp(rows["deadline"]) + "+00", "since": _stamp(rows["since"]) + "+00",
    })  # fmt: skip
    with psycopg.connect(libpq_url(settings)) as conn:
        for trigger in TRIGGERS_PAUSED:
            conn.execute(f"ALTER TABLE case_transition DISABLE TRIGGER {trigger}")
        with conn.cursor().copy(COPY_SQL) as copy:
            for start in track(range(0, len(frame), 200_000), description="writing transitions", transient=True):
                buffer = io.StringIO()
                frame.iloc[start : start + 200_000].to_csv(buffer, header=False, index=False)
                copy.write(buffer.getvalue())
        for trigger in TRIGGERS_PAUSED:
            conn.execute(f"ALTER TABLE case_transition ENABLE TRIGGER {trigger}")
        conn.execute("ANALYZE case_transition")


def ensure_history(settings: StoreSettings, engine: Engine, count: int, console: Console) -> int:
    """``count`` historic cases with transitions (kept between runs); returns the transition rows."""
    with engine.connect() as conn:
        have = conn.execute(text("SELECT count(*) FROM event e JOIN import_batch b ON b.id = e.import_batch_id "
                                 "WHERE b.source LIKE :p"), {"p": f"%{HISTORY_PREFIX}%"}).scalar_one()  # fmt: skip
    if have < count:
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / f"{HISTORY_PREFIX}-{uuid.uuid4().hex[:8]}.csv"
            write_history(engine, path, count - have, seed=29 + have)
            started = time.perf_counter()
            result = import_events(engine, path, actor="bench")
        console.print(f"imported {result.loaded:,} historic cases in {time.perf_counter() - started:.0f} s")
        with engine.connect() as conn:
            cases = pd.read_sql(text(
                "SELECT e.id, e.filed_at, e.deadline, e.grid_id, e.responsible_unit_id AS unit_id, "
                "e.departments[1] AS department FROM event e WHERE e.import_batch_id = :b"), conn,
                params={"b": result.batch_id})  # fmt: skip
        started = time.perf_counter()
        rows = _chain(_lifecycles(cases, seed=31 + have))
        _copy_transitions(settings, rows)
        console.print(
            f"wrote {len(rows):,} transitions of {len(cases):,} cases in {time.perf_counter() - started:.0f} s"
        )
    with engine.connect() as conn:
        sample = conn.execute(text(
            "SELECT count(*), count(*) FILTER (WHERE t.hash <> cityops_transition_hash(t)) FROM case_transition t "
            "WHERE t.event_id IN (SELECT e.id FROM event e JOIN import_batch b ON b.id = e.import_batch_id "
            "WHERE b.source LIKE :p ORDER BY e.id DESC LIMIT 500)"), {"p": f"%{HISTORY_PREFIX}%"}).one()  # fmt: skip
        total = conn.execute(text("SELECT count(*) FROM case_transition")).scalar_one()
    if sample[1]:
        raise PlatformError(f"{sample[1]} of {sample[0]} sampled generated transitions do not hash like the database")
    console.print(f"history: {max(have, count):,} historic cases, {total:,} transitions; "
                  f"hash formula checked on {sample[0]:,} sampled rows")  # fmt: skip
    return int(total)


async def _ours(settings: StoreSettings, city: int) -> tuple[float, dict[str, dict[str, float]]]:
    async with await psycopg.AsyncConnection.connect(libpq_url(settings)) as conn:
        await evaluate(conn, Period(city, *PERIOD, By.area))  # warm the cache like the baseline's second read
        started = time.perf_counter()
        result = await evaluate(conn, Period(city, *PERIOD, By.area))
        seconds = time.perf_counter() - started
    return seconds, {row["key"]: row for row in result["rows"]}  # type: ignore[index, union-attr]


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
    flags = pd.DataFrame({
        "district": frame["district"], "filed": frame["action"] == "file", "closed": frame["action"] == "close",
        "closed_on_time": (frame["action"] == "close") & on_time, "handled": frame["action"] == "feedback",
        "handled_on_time": (frame["action"] == "feedback") & on_time, "reworked": frame["action"] == "rework",
        "dispatched": frame["action"] == "dispatch", "returned": frame["action"] == "return",
    })  # fmt: skip
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
    differing = [code for code in set(ours) | set(theirs)
                 if any(int(ours.get(code, {}).get(k, 0)) != theirs.get(code, {}).get(k, 0)
                        for k in COUNTED)]  # fmt: skip
    console.print(f"evaluation: {len(ours)} districts; counts differing from pandas: {len(differing)}")
    if differing:
        raise PlatformError(f"evaluation and pandas disagree for {sorted(differing)}")
    return [
        Row(f"evaluation, city by district, {cases:,}+ cases / {total:,} transitions: s",
            f"{ours_s:.2f}", f"{base_s:.2f} (pandas from the same tables)", base_s / ours_s, "≥ 1"),
        Row("evaluation: seconds against the 3 s target", f"{ours_s:.2f}", "3.00", 3.0 / ours_s, "≥ 1.0"),
    ]  # fmt: skip


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
