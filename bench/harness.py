"""What every benchmark shares: the result row, the table, random points, a served app, the machine."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import psutil
import shapely
from rich.console import Console
from rich.table import Table
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Engine, text

from command.historic_import import import_events
from command.users import key_holder
from spatial.errors import PlatformError
from spatial.settings import StoreSettings


@dataclass
class Row:
    """One line of the results table."""

    measure: str
    ours: str
    baseline: str
    ratio: float
    target: str

    @property
    def verdict(self) -> str:
        """Whether the target is met (the ratio is always 'ours per baseline, higher is better'); none: "—"."""
        if self.target == "—":
            return ""
        threshold = float(self.target.split()[-1].rstrip("×"))
        return "met" if self.ratio >= threshold else "missed"


def print_table(rows: list[Row], console: Console) -> None:
    """The results, one line per measure, ratio and verdict last."""
    table = Table("measure", "ours", "baseline", "ratio (ours/baseline)", "target", "")
    for row in rows:
        table.add_row(row.measure, row.ours, row.baseline, f"{row.ratio:.2f}", row.target, row.verdict)
    console.print(table)


def random_points_inside(area: BaseGeometry, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Uniform points inside ``area`` (rejection sampling, vectorised)."""
    rng = np.random.default_rng(seed)
    west, south, east, north = area.bounds
    shapely.prepare(area)
    xs, ys = [], []
    found = 0
    while found < count:
        x = rng.uniform(west, east, 2 * count)
        y = rng.uniform(south, north, 2 * count)
        keep = shapely.contains_xy(area, x, y)
        xs.append(x[keep])
        ys.append(y[keep])
        found += int(keep.sum())
    return np.concatenate(xs)[:count], np.concatenate(ys)[:count]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def bench_caller(
    engine: Engine, name: str, roles: list[str], unit: str, department: str | None = None
) -> dict[str, str]:
    """Headers of a benchmark user (kept between runs; a fresh API key each run)."""
    return key_holder(engine, name, roles, unit, actor="bench", purpose="benchmark", department=department)


def resident_mb(base: str) -> float:
    """Resident memory of the process serving ``base`` (found by its listening port), in MB."""
    port = int(base.rsplit(":", 1)[1])
    for connection in psutil.net_connections("tcp"):
        address = connection.laddr
        if connection.status == psutil.CONN_LISTEN and address and address.port == port and connection.pid:
            return psutil.Process(connection.pid).memory_info().rss / 2**20
    raise PlatformError(f"nothing listens on port {port}")


def refusals(log: Path, last: int = 5) -> str:
    """The last requests the server answered with an error, and its warnings (JSON log lines)."""
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    failed = [line for line in lines if re.search(r'"status": ?[45]\d\d|"level": ?"(warning|error)"', line)]
    return "\n".join(failed[-last:]) or "(none logged)"


SMOKE = "CITYOPS_BENCH_SMOKE"  # "1": a smoke run (the test suite's): every step runs, its figures are not the point


def smoke_run() -> bool:
    """Whether this is a smoke run (``SMOKE``): servers measured once they answer, nothing warmed or drained first."""
    return os.environ.get(SMOKE) == "1"


@contextmanager
def served(
    settings: StoreSettings,
    command: tuple[str, ...] = ("cityops", "serve"),
    *,
    compiled: bool | None = None,
    env: Mapping[str, str] | None = None,
) -> Iterator[str]:
    """The real service in a subprocess on a free port (its own CPU, as in production); yields its URL.

    ``command``: the module run with ``python -m`` and its arguments (another app: uvicorn and its
    factory; it must answer ``/healthz/ready`` the same way); ``env``: variables added to its environment.

    Yields once the service is ready, its analytics kernels compiled (the compile takes a core for
    ~40 s: measuring during it would measure the compiler) and its locate index loaded (before,
    locate asks the database: another path than measured); ``compiled=False`` (by default in a smoke
    run, see ``smoke_run``): once it answers. Intake rate limits are set out
    of reach: a benchmark measures throughput (the limiter still counts every request), not refusals.
    """
    compiled = not smoke_run() if compiled is None else compiled
    port = free_port()
    log = tempfile.NamedTemporaryFile("w+", suffix=".log", encoding="utf-8")  # noqa: SIM115 (closed in the finally below)
    environment = {
        **os.environ,
        "CITYOPS_DATA_DIR": str(settings.data_dir),
        "CITYOPS_CITY": settings.city,
        "CITYOPS_LOG_JSON": "true",
        "CITYOPS_RATE_INTAKE_PER_CLIENT": "100000000/minute",
        "CITYOPS_RATE_INTAKE_PER_CALLER": "100000000/minute",
        **(env or {}),
    }
    if settings.database_url:
        environment["CITYOPS_DATABASE_URL"] = settings.database_url
    server = subprocess.Popen(
        [sys.executable, "-m", *command, "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=environment,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                answer = httpx.get(f"{base}/healthz/ready", timeout=2)
                state = answer.json() if answer.status_code == 200 else {}
                if state and (
                    not compiled or {state.get("analytics"), state.get("locate_index", "ready")} == {"ready"}
                ):
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise PlatformError("the benchmark server did not start")
            time.sleep(0.2)
        yield base
    except PlatformError as error:  # failed requests: say which and why, from the server's own log
        raise PlatformError(f"{error}\nthe server's refusals:\n{refusals(Path(log.name))}") from error
    finally:
        log.close()
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:  # a request still hanging keeps uvicorn's graceful shutdown waiting
            server.kill()
            server.wait()


def ensure_cases(engine: Engine, count: int, console: Console, *, prefix: str = "map", seed: int = 41) -> int:
    """Top the open cases up to ``count``: filed in the last 30 days at random places (state reported).

    Loaded through the historic-import path; their external ids start with ``prefix-``.
    """
    from bench.intake import write_history  # bench.intake imports this module

    with engine.connect() as conn:
        have = conn.execute(text("SELECT count(*) FROM case_file WHERE state NOT IN ('closed', 'void')")).scalar_one()
    if have < count:
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / f"{prefix}-{uuid.uuid4().hex[:8]}.csv"
            start = pd.Timestamp.now(tz="Asia/Shanghai").floor("s") - pd.Timedelta(days=30)
            write_history(engine, path, count - have, seed=seed, state="reported", start=start, days=30)
            result = import_events(engine, path)
        console.print(f"imported {result.loaded:,} open cases ({result.seconds:.1f} s)")
        have += result.loaded
    return int(have)


@dataclass(frozen=True)
class WrkResult:
    """What wrk measured."""

    rps: float
    p50_ms: float
    p99_ms: float

    def averaged(self, other: WrkResult) -> WrkResult:
        """The mean of two equally long runs."""
        return WrkResult((self.rps + other.rps) / 2, (self.p50_ms + other.p50_ms) / 2, (self.p99_ms + other.p99_ms) / 2)


def _found(pattern: str, output: str) -> re.Match[str]:
    """``pattern`` in wrk's output: a wrk that printed something else failed, it measured nothing."""
    match = re.search(pattern, output)
    if match is None:
        raise PlatformError(f"wrk printed no {pattern!r}:\n{output}")
    return match


def _ms(output: str, label: str) -> float:
    value, unit = _found(rf"{label}\s+([\d.]+)(us|ms|s)\b", output).groups()
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def run_wrk(base: str, lua: str, clients: int, seconds: float, threads: int = 1, timeout_s: int = 2) -> WrkResult:
    """Drive ``base`` with wrk (C, so the load generator is not the bottleneck) running the ``lua`` script.

    ``threads``: wrk threads; a script that keeps state per connection runs one thread per client.
    ``timeout_s``: a request slower than this counts as failed (slow baselines get longer).
    """
    if shutil.which("wrk") is None:
        raise PlatformError("the HTTP benchmarks drive load with wrk: apt-get install wrk")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False, encoding="utf-8") as script:
        script.write(lua)
    try:
        result = subprocess.run(
            [
                "wrk",
                f"-t{threads}",
                f"-c{clients}",
                f"-d{max(1, round(seconds))}s",
                f"--timeout={timeout_s}s",
                "--latency",
                "-s",
                script.name,
                base,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        Path(script.name).unlink()
    if result.stderr.strip():  # a Lua error, for one: wrk still exits 0
        raise PlatformError(f"wrk: {result.stderr.strip()}")
    if "Non-2xx" in result.stdout or "Socket errors" in result.stdout:
        raise PlatformError(f"benchmark requests failed:\n{result.stdout}")
    rps = float(_found(r"Requests/sec:\s+([\d.]+)", result.stdout).group(1))
    return WrkResult(rps, _ms(result.stdout, "50%"), _ms(result.stdout, "99%"))


def warm(base: str, lua: str, clients: int, seconds: float = 1, **options: int) -> None:
    """Run ``lua`` unmeasured, so pools, plans and caches are warm for the measure after it as for its baseline
    (not in a smoke run: see ``smoke_run``); ``options``: ``run_wrk``'s."""
    if not smoke_run():
        run_wrk(base, lua, clients, seconds, **options)


def lua_headers(headers: dict[str, str]) -> str:
    """A Lua table literal of request headers."""
    return "{" + ", ".join(f'["{k}"] = "{v}"' for k, v in headers.items()) + "}"


def cycling_gets(paths: list[str], headers: dict[str, str] | None = None) -> str:
    """A wrk script that GETs ``paths`` in turn (with ``headers``: credentials)."""
    listed = ",\n".join(f'"{p}"' for p in paths)
    return f"""local paths = {{\n{listed}\n}}
local headers = {lua_headers(headers or {})}
local i = 0
request = function()
  i = i % #paths + 1
  return wrk.format('GET', paths[i], headers)
end
"""


# The append-only stories a benchmark's reset reaches through the cases' foreign keys (a previous
# dispatch benchmark leaves assignments behind, so the cascade reaches their story too).
APPEND_ONLY = (("case_transition", "case_transition_no_truncate"), ("assignment_event", "assignment_event_append_only"))


def scratch_city(settings: StoreSettings, suffix: str = "_bench", *, empty: bool = True) -> StoreSettings:
    """A database of its own (the demo hierarchy), so benchmark reports never mix with real ones; with
    ``CITYOPS_DATABASE_URL`` set, that database as it is.

    ``empty``: each run starts from an empty case table (the workflow benchmark keeps its history
    in a database of its own instead, as generating a city's year takes minutes).
    """
    from fixtures.demo import load_demo
    from spatial.cli import prepared

    if settings.database_url:
        return settings
    settings = settings.model_copy(update={"city": f"{settings.city}{suffix}"})
    owner = prepared(settings)
    load_demo(settings)
    if empty:
        with owner.begin() as conn:  # the stories are append-only: the owner lifts that for the reset
            for table, trigger in APPEND_ONLY:
                conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}"))
            conn.execute(text("TRUNCATE case_file, report, report_media, case_merge, import_batch CASCADE"))
            for table, trigger in APPEND_ONLY:
                conn.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}"))
    return settings
