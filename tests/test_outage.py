"""Faults under load: the database stopped and started (issue 19.3), the API killed and restarted.

Each test has a cluster and a city of its own, so stopping them disturbs no other test. Writers file
reports with Idempotency-Keys and retry a refused one with the same key, as a client should; what
the platform acknowledged must be stored exactly once, and nothing may answer 500.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, text

from command.users import create_user
from spatial.embedded import EmbeddedCluster, free_port
from spatial.settings import StoreSettings
from tests.conftest import load_city, served, settings_for

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
        create_user(conn, "outage-reporter", unit_code="320104006", roles=["grid_worker"], password=PASSWORD,
                    actor="tests")  # fmt: skip
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
        rows = conn.execute(text("SELECT idempotency_key, event_id FROM report WHERE idempotency_key = ANY(:k)"),
                            {"k": keys}).all()  # fmt: skip
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
    assert first_refusal - stopped <= 2.0 and first_success - back <= 2.0, figures
    after = [a for a in load.answers if a.at > first_success + 0.5]
    assert after and all(a.status in (200, 201) for a in after)  # no stale connection fails a request later
    stored = _stored(city.engine, list(load.acknowledged))
    assert {key: [case] for key, case in load.acknowledged.items()} == stored  # each acknowledged, once
