"""`cityops bench faults`: a database stop and start under probing, and parallel login guessing.

Outage: the platform and the minimal app (bench.bare_app: the same framework, driver and pool
class, at its defaults) each answer ``SELECT 1`` through their pool, probed every 20 ms while the
database is stopped for a few seconds and started again. Measured: from the stop to the first
refusal, the longest wait for an answer during the outage, and from the start to the first 2xx.
Both run against a cluster of the benchmark's own (stopping the platform's would stop its users).

Login guessing: parallel wrong passwords for one account, from one address and then from as many
addresses as guessers (uvicorn trusts X-Forwarded-For from 127.0.0.1, as behind a local proxy).
Counted: guesses whose password was checked (401), against the minimal app's login without any
throttle, where every guess is checked.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from fastapi import FastAPI, Form, Response
from rich.console import Console
from starlette.concurrency import run_in_threadpool

from bench.bare_app import BareApp, json_response
from bench.harness import Row, free_port, print_table, served
from bench.machine import describe
from command.taxonomy import read_categories, write_categories
from command.users import create_user
from fixtures.geo.generate_nanjing import ensure_generated
from grid.load import load_manifest
from spatial.db import make_engine
from spatial.embedded import EmbeddedCluster
from spatial.migrate import upgrade
from spatial.settings import StoreSettings
from web.settings import ApiSettings

PROBE_EVERY_S = 0.02
TARGET_S = 2.0
GUESSED = "bench-guessed"
PASSWORD = "bench-guessed-password-1"


# ---- the minimal app: readiness through a default pool, a login without a throttle ------------------------------
def minimal_app() -> FastAPI:
    """``/bare/ready`` (``SELECT 1`` through psycopg_pool at its defaults) and ``/bare/token`` (Argon2 check)."""
    bare = BareApp({}, pool_size=4)
    hasher = PasswordHasher()

    @bare.app.get("/bare/ready")
    async def ready() -> Response:
        async with bare.connection() as conn:
            await (await conn.execute("SELECT 1")).fetchone()
        return json_response({"status": "ready"})

    @bare.app.post("/bare/token")
    async def token(username: str = Form(), password: str = Form()) -> Response:
        async with bare.connection() as conn:
            row = await (
                await conn.execute("SELECT password_hash FROM app_user WHERE username = %s", (username,))
            ).fetchone()
        try:
            await run_in_threadpool(hasher.verify, row[0] if row else "", password)
        except (VerificationError, ValueError):
            return Response(status_code=401)
        return json_response({"access_token": "-"})

    return bare.app


# ---- outage -----------------------------------------------------------------------------------------------------
@dataclass
class Probe:
    """Answers to one readiness URL: (sent, answered, status or 0 for no answer)."""

    url: str
    answers: list[tuple[float, float, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        """Probe until stopped (each probe waits for its answer, however long)."""
        with httpx.Client(timeout=120) as client:
            while not self._stop.is_set():
                sent = time.monotonic()
                try:
                    status = client.get(self.url).status_code
                except httpx.TransportError:
                    status = 0
                self.answers.append((sent, time.monotonic(), status))
                time.sleep(PROBE_EVERY_S)

    def stop(self) -> None:
        """End the probing after the probe under way."""
        self._stop.set()

    def first_refusal(self, after: float) -> float:
        """Seconds from ``after`` to the first answer that was not a 2xx (or no answer)."""
        return (
            min(
                (done for sent, done, status in self.answers if done >= after and not 200 <= status < 300),
                default=float("nan"),
            )
            - after
        )

    def longest_wait(self, start: float, end: float) -> float:
        """The longest time a probe sent between ``start`` and ``end`` waited for its answer."""
        return max((done - sent for sent, done, _ in self.answers if start <= sent <= end), default=float("nan"))

    def first_success(self, after: float) -> float:
        """Seconds from ``after`` to the first 2xx of a probe sent after it."""
        return (
            min(
                (done for sent, done, status in self.answers if sent >= after and 200 <= status < 300),
                default=float("nan"),
            )
            - after
        )


def measure_outage(cluster: EmbeddedCluster, urls: dict[str, str], down_s: float, console: Console) -> dict[str, dict]:
    """Stop the cluster for ``down_s`` under the probes, start it; each URL's three figures."""
    probes = {name: Probe(url) for name, url in urls.items()}
    threads = [threading.Thread(target=probe.run) for probe in probes.values()]
    for thread in threads:
        thread.start()
    time.sleep(2)
    console.print(f"stopping the database for {down_s:.0f} s")
    stopped = time.monotonic()
    cluster.stop()
    time.sleep(down_s)
    cluster.start()
    back = time.monotonic()
    deadline = back + 60  # the baseline may need a while to come back
    while time.monotonic() < deadline and any(p.first_success(back) != p.first_success(back) for p in probes.values()):
        time.sleep(0.2)
    for probe in probes.values():
        probe.stop()
    for thread in threads:
        thread.join(timeout=130)
    return {
        name: {
            "refusal": p.first_refusal(stopped),
            "longest": p.longest_wait(stopped, back),
            "success": p.first_success(back),
        }
        for name, p in probes.items()
    }


# ---- login guessing ---------------------------------------------------------------------------------------------
def guess(url: str, account: str, guessers: int, seconds: float, spread: bool) -> dict[int, int]:
    """``guessers`` in parallel posting wrong passwords for ``account`` for ``seconds``; statuses counted.
    ``spread``: each guesser from an address of its own."""
    counts: dict[int, int] = {}
    lock = threading.Lock()
    until = time.monotonic() + seconds

    def guesser(number: int) -> None:
        headers = {"X-Forwarded-For": f"10.0.{number // 250}.{number % 250 + 1}"} if spread else {}
        with httpx.Client(timeout=60) as client:
            while time.monotonic() < until:
                data = {"username": account, "password": f"wrong-{uuid.uuid4().hex[:8]}"}
                try:
                    status = client.post(url, data=data, headers=headers).status_code
                except httpx.TransportError:
                    status = 0
                with lock:
                    counts[status] = counts.get(status, 0) + 1

    with ThreadPoolExecutor(guessers) as pool:
        list(pool.map(guesser, range(guessers)))
    return counts


# ---- the run ----------------------------------------------------------------------------------------------------
@contextmanager
def own_city(fixtures: Path, console: Console) -> Iterator[tuple[EmbeddedCluster, StoreSettings]]:
    """A cluster and a Nanjing demo of the benchmark's own (the hierarchy and categories), removed afterwards;
    ``fixtures``: where the generated demo tiers are cached (the installation's own)."""
    root = Path(tempfile.mkdtemp(prefix="cityops-faults-", dir="/tmp"))
    root.chmod(0o755)
    settings = StoreSettings(
        _env_file=None,
        database_url=None,
        data_dir=root / "data",
        db_port=free_port(),
        city="faults",
        db_durable=False,
        pool_size=4,
    )
    cluster = EmbeddedCluster(settings)
    try:
        with console.status("a cluster and the Nanjing demo of the benchmark's own"):
            cluster.start()
            cluster.ensure_database()
            engine = make_engine(settings)
            upgrade(engine)
            load_manifest(engine, ensure_generated(fixtures), settings)
            with engine.begin() as conn:
                write_categories(conn, read_categories())
            engine.dispose()
        yield cluster, settings
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def _guessed_accounts(settings: StoreSettings) -> dict[bool, str]:
    """An account for each case (spread over addresses or not), fresh each run: no failures counted yet."""
    accounts = {spread: f"{GUESSED}-{uuid.uuid4().hex[:8]}" for spread in (False, True)}
    engine = make_engine(settings)
    with engine.begin() as conn:
        for name in accounts.values():
            create_user(conn, name, unit_code="320104006", roles=["street"], password=PASSWORD, actor="bench")
    engine.dispose()
    return accounts


def run(
    cluster: EmbeddedCluster,
    settings: StoreSettings,
    *,
    down_s: float,
    guessers: int,
    guess_s: float,
    console: Console,
) -> list[Row]:
    """Both measures against the platform and the minimal app on ``cluster`` (which this stops and starts), one
    table; the rows (the smoke test reads them)."""
    console.print(f"machine: {describe()}")
    accounts = _guessed_accounts(settings)
    settings_now = ApiSettings()
    limits = {
        False: f"{settings_now.rate_login_failures} per account and address",
        True: f"{settings_now.rate_login_failures_per_account} per account from unknown addresses",
    }
    rows: list[Row] = []
    env = {"CITYOPS_DB_PORT": str(settings.db_port), "CITYOPS_DB_DURABLE": "false"}
    bare_command = ("uvicorn", "--factory", "bench.faults:minimal_app", "--log-level", "warning")
    with (
        served(settings, env=env) as ours,
        served(settings, bare_command, env=env) as bare,
    ):
        for spread in (False, True):
            where = f"{guessers} addresses" if spread else "one address"
            checked = guess(f"{ours}/api/v1/auth/token", accounts[spread], guessers, guess_s, spread)
            unthrottled = guess(f"{bare}/bare/token", accounts[spread], guessers, guess_s, spread)
            allowed, baseline = checked.get(401, 0), unthrottled.get(401, 0)
            rows.append(
                Row(
                    f"{guessers} parallel guessers, {where}, {guess_s:.0f} s: passwords checked (limit "
                    f"{limits[spread]}; "
                    f"answers {dict(sorted(checked.items()))}; ratio: baseline / ours)",
                    f"{allowed}",
                    f"{baseline} no throttle, minimal app",
                    baseline / max(allowed, 1),
                    "—",
                )
            )
        figures = measure_outage(
            cluster, {"ours": f"{ours}/healthz/ready", "bare": f"{bare}/bare/ready"}, down_s, console
        )
    for key, measure in (
        ("refusal", "stop → first refusal"),
        ("longest", "longest wait during the outage"),
        ("success", "start → first 2xx"),
    ):
        ours_s, bare_s = figures["ours"][key], figures["bare"][key]
        target = "" if key == "longest" else f"target ≤ {TARGET_S:.0f} s: {'met' if ours_s <= TARGET_S else 'MISSED'}; "
        rows.append(
            Row(
                f"database down {down_s:.0f} s: {measure} ({target}ratio: baseline / ours)",
                f"{ours_s:.2f} s",
                f"{bare_s:.2f} s default pool, minimal app",
                bare_s / ours_s if ours_s > 0 else float("inf"),
                "—",
            )
        )
    print_table(rows, console)
    return rows
