"""Faults under load: the database stopped and started (issue 19.3), the API killed and restarted.

Each test has a cluster and a city of its own, so stopping them disturbs no other test. Writers file
reports with Idempotency-Keys and retry a refused one with the same key, as a client should; what
the platform acknowledged must be stored exactly once, and nothing may answer 500.
"""

from __future__ import annotations

import contextlib
import io
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from rich.console import Console
from sqlalchemy import Engine, text

from bench.faults import run
from command.users import create_user
from spatial.audit import verify
from spatial.embedded import EmbeddedCluster, free_port
from spatial.settings import StoreSettings
from tests.conftest import load_city, served, settings_for
from tests.processes import serving, start

REPORT = {"lon": 118.7844, "lat": 32.0415, "category": "020102", "source": "grid_worker", "description": "路口成堆垃圾"}
PASSWORD = "outage-test-password-1"
UNLIMITED = {"rate_intake_per_client": "100000/minute", "rate_intake_per_caller": "100000/minute"}


@dataclass
class City:
    """A cluster, its city database and a reporter's login name."""

    cluster: EmbeddedCluster
    settings: StoreSettings
    engine: Engine
    reporter: str


@pytest.fixture(scope="module")
def city(nanjing_manifest: Path) -> Iterator[City]:
    root = Path(tempfile.mkdtemp(prefix="cityops-outage-", dir="/tmp"))
    root.chmod(0o755)
    settings = settings_for(root / "data", free_port(57432), "outage")
    cluster = EmbeddedCluster(settings)
    cluster.start()
    engine = load_city(cluster, settings, nanjing_manifest)
    with engine.begin() as conn:
        create_user(
            conn, "outage-reporter", unit_code="320104006", roles=["grid_worker"], password=PASSWORD, actor="tests"
        )
    yield City(cluster, settings, engine, "outage-reporter")
    engine.dispose()
    cluster.stop()
    shutil.rmtree(root, ignore_errors=True)


@dataclass
class Answer:
    """One answer the load received: when (monotonic), how long it took, its status and body's code."""

    at: float
    took: float
    status: int
    code: str | None = None
    retry_after: str | None = None


@dataclass
class Load:
    """Writers filing reports (each retried with its key until acknowledged) and a readiness prober."""

    base: str
    token: str
    writers: int = 6
    answers: list[Answer] = field(default_factory=list)
    ready: list[Answer] = field(default_factory=list)
    acknowledged: dict[str, int] = field(default_factory=dict)  # Idempotency-Key → case id
    _stop: threading.Event = field(default_factory=threading.Event)

    def _write(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.base, timeout=30) as client:
            key = str(uuid.uuid4())
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    response = client.post("/api/v1/reports", json=REPORT, headers={**headers, "Idempotency-Key": key})
                except httpx.TransportError:
                    time.sleep(0.1)
                    continue
                self.answers.append(_answer(response, started))
                if response.status_code in (200, 201):
                    self.acknowledged[key] = int(response.json()["case_id"])
                    key = str(uuid.uuid4())
                else:
                    time.sleep(0.1)  # a client would honour Retry-After; the test retries sooner to see recovery

    def _probe(self) -> None:
        with httpx.Client(base_url=self.base, timeout=30) as client:
            while not self._stop.is_set():
                started = time.monotonic()
                with contextlib.suppress(httpx.TransportError):  # the API is down (killed): nothing answered
                    self.ready.append(_answer(client.get("/healthz/ready"), started))
                time.sleep(0.05)

    def __enter__(self) -> Load:
        self._threads = [threading.Thread(target=self._write) for _ in range(self.writers)]
        self._threads.append(threading.Thread(target=self._probe))
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)


def _answer(response: httpx.Response, started: float) -> Answer:
    is_json = response.headers.get("content-type", "").startswith("application/json")
    code = response.json().get("code") if is_json and response.status_code >= 400 else None
    return Answer(started, time.monotonic() - started, response.status_code, code, response.headers.get("retry-after"))


def _token(base: str, username: str) -> str:
    response = httpx.post(f"{base}/api/v1/auth/token", data={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def _stored(engine: Engine, keys: list[str]) -> dict[str, list[int]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT idempotency_key, case_id FROM report WHERE idempotency_key = ANY(:k)"), {"k": keys}
        ).all()
    stored: dict[str, list[int]] = {}
    for key, event in rows:
        stored.setdefault(key, []).append(event)
    return stored


def test_a_database_stop_and_start_under_load(city: City) -> None:
    """During the stop every request is answered 503 with Retry-After within the wait bound (it hung for the
    whole stop, and some got a plain-text 500); the first 503 comes at once, the first 2xx soon after the start;
    every acknowledged report is stored once."""
    wait_s = 2.0
    with (
        served(city.settings, 18900, api_options={"db_wait_s": wait_s, **UNLIMITED}) as base,
        Load(base, _token(base, city.reporter)) as load,
    ):
        time.sleep(2)
        stopped = time.monotonic()
        city.cluster.stop()
        time.sleep(5)
        city.cluster.start()
        back = time.monotonic()
        time.sleep(4)
    city.engine.dispose()  # its connections died with the stop

    everything = load.answers + load.ready
    assert everything and load.acknowledged
    assert {a.status for a in everything} <= {200, 201, 503}, sorted({a.status for a in everything})
    refused = [a for a in everything if a.status == 503]
    assert refused, "the stop was never noticed"
    assert all(a.code == "database_unavailable" and a.retry_after == "2" for a in refused)
    assert max(a.took for a in everything) < wait_s + 1.5  # bounded: nothing waits out the outage
    first_refusal = min(a.at + a.took for a in refused if a.at + a.took >= stopped)
    first_success = min(a.at + a.took for a in load.ready if a.status == 200 and a.at >= back)
    figures = f"stop → first 503 {first_refusal - stopped:.2f} s; start → first 2xx {first_success - back:.2f} s"
    # at once: not the pool's wait (it took 2.1 s once the change feed noticed the loss first); 2 s: the bench
    assert first_refusal - stopped <= 1 and first_success - back <= wait_s + 1, figures
    after = [a for a in load.answers if a.at > first_success + 0.5]
    assert after and all(a.status in (200, 201) for a in after)  # no stale connection fails a request later
    stored = _stored(city.engine, list(load.acknowledged))
    assert {key: [case] for key, case in load.acknowledged.items()} == stored  # each acknowledged, once


def _api_process(city: City, port: int, log: Path) -> subprocess.Popen[bytes]:
    """``cityops serve`` as its own process, started as this test is (root on CI), ready to answer."""
    process = start(city.settings, ["serve", "--port", str(port)], log)
    try:
        serving(process, port, log)
    except AssertionError:
        process.kill()
        raise
    return process


def _account_can_run_python(name: str) -> bool:
    account = pwd.getpwnam(name)
    try:
        probe = subprocess.run(
            [sys.executable, "-c", "import json"],
            user=account.pw_uid,
            group=account.pw_gid,
            capture_output=True,
            check=False,
        )
    except PermissionError:
        return False
    return probe.returncode == 0


def _effective_uid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[2])
    raise AssertionError(f"no Uid line for process {pid}")


def test_the_api_killed_under_load_loses_nothing_and_never_runs_as_root(city: City, tmp_path: Path) -> None:
    """`kill -9` of the API while reports arrive: what it acknowledged is stored once, nothing is half-written,
    the audit chain holds. Started as root, the API process runs as the service account (it ran as uid 0)."""
    port, log = free_port(18950), tmp_path / "api.log"
    base = f"http://127.0.0.1:{port}"
    first = _api_process(city, port, log)
    try:
        if os.geteuid() != 0:
            assert _effective_uid(first.pid) == os.geteuid()  # nothing to give up
        elif _account_can_run_python(city.settings.service_account):
            assert _effective_uid(first.pid) == pwd.getpwnam(city.settings.service_account).pw_uid
        else:  # a Python below /root (pyenv): it cannot give up root, and says so instead of failing later
            assert _effective_uid(first.pid) == 0 and "the API stays root" in log.read_text()
        with Load(base, _token(base, city.reporter), writers=4) as load:
            time.sleep(2)
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
            killed_at = len(load.acknowledged)
            second = _api_process(city, port, log)
            time.sleep(2)
    finally:
        first.kill()
    second.terminate()
    second.wait(timeout=20)

    assert killed_at > 0 and len(load.acknowledged) > killed_at  # writes went on after the restart
    assert {a.status for a in load.answers} <= {200, 201}, sorted({a.status for a in load.answers})
    assert _stored(city.engine, list(load.acknowledged)) == {k: [case] for k, case in load.acknowledged.items()}
    with city.engine.connect() as conn:
        orphans = conn.execute(
            text(
                "SELECT (SELECT count(*) FROM case_file e"
                " WHERE NOT EXISTS (SELECT FROM report r WHERE r.case_id = e.id)),"
                " (SELECT count(*) FROM report r WHERE NOT EXISTS (SELECT FROM case_file e WHERE e.id = r.case_id))"
            )
        ).one()
        verdict = verify(conn)
    assert tuple(orphans) == (0, 0)  # no case without its report, no report without its case
    assert verdict.first_bad is None and verdict.entries > 0, verdict.reason


def test_the_faults_benchmark_runs_small(city: City) -> None:
    """A smoke run of `cityops bench faults`: its figures exist and the platform meets the targets it prints."""
    rows = run(
        city.cluster,
        city.settings,
        down_s=2,
        guessers=4,
        guess_s=4,
        console=Console(file=io.StringIO()),
    )
    city.engine.dispose()
    by_measure = {row.measure.split(" (")[0]: row for row in rows}
    one_address = by_measure["4 parallel guessers, one address, 4 s: passwords checked"]
    assert "429:" in one_address.measure  # more guesses came than the limit lets through …
    assert one_address.ours == "5"  # … and exactly the limit was checked
    assert int(one_address.baseline.split()[0]) >= 1  # the minimal app checks every guess it has time for
    for measure in ("stop → first refusal", "start → first 2xx"):  # the 2 s target is the benchmark's to judge;
        assert float(by_measure[f"database down 2 s: {measure}"].ours.split()[0]) <= 3.0, rows  # bounded here
