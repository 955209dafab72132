"""API and background work apart (issue 20.4): each loop once across processes, taken over when its holder dies.

Real processes on a city database of this module's own: two ``cityops serve``, one ``cityops worker``,
then ``cityops serve --workers 2`` driven through login, intake, a transition, a read and the live
stream. Each loop's lock connection names itself in ``pg_stat_activity`` (``cityops loop <name>
@<pid> #<rounds>`` or ``… waiting``), which is how the rounds each process did are counted.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from rich.console import Console
from sqlalchemy import Engine, text

from bench.harness import print_table
from bench.intake import bench_workers
from command.users import create_user
from spatial.audit import record
from spatial.db import libpq_url, session_options
from spatial.embedded import EmbeddedCluster, free_port
from spatial.embedded_pooler import EmbeddedPooler
from spatial.loops import BACKOFF_CAP_S, LOCK_CLASS, Singleton, backoff, every
from spatial.settings import StoreSettings
from tests.conftest import city_of_its_own
from tests.processes import serving, start, stop
from tests.test_stream import stream
from web.counter_store import EmbeddedCounters

PASSWORD = "worker-test-password-1"
CATEGORY = "010101"  # 上水井盖 (水务局;供水公司)
INTAKE_LIMIT = 8
XUANWU = (118.79, 32.05, 118.81, 32.07)
# short intervals, so a few seconds hold many rounds: the follow-up sender runs every sixth of the deadline sweep
INTERVALS = {"audit-sealer": 1.0, "dispatch-sweeper": 0.5, "deadline-watch": 0.6, "follow-up-sender": 0.1}
FAST = {"CITYOPS_SWEEP_INTERVAL_S": "0.5", "CITYOPS_DEADLINE_SWEEP_S": "0.6"}
LOCK_SESSIONS = """
SELECT a.application_name, l.granted FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.classid = :c AND l.database = (SELECT oid FROM pg_database
                                                                   WHERE datname = current_database())
"""
NAMED = re.compile(r"cityops loop (\S+) @(\d+) (?:#(\d+)|waiting)")


@dataclass
class City:
    """The module's own city database and a user with a password who may report, move and read cases."""

    cluster: EmbeddedCluster
    settings: StoreSettings
    engine: Engine
    user: str


@pytest.fixture(scope="module")
def city(cluster: EmbeddedCluster, data_dir: Path, db_port: int, nanjing_manifest: Path) -> Iterator[City]:
    with city_of_its_own(cluster, data_dir, db_port, nanjing_manifest, "worker_city") as (engine, settings):
        with engine.begin() as conn:
            create_user(
                conn,
                "worker-commander",
                unit_code="320100",
                roles=["city_commander", "dispatcher"],
                password=PASSWORD,
                actor="tests",
            )
        yield City(cluster, settings, engine, "worker-commander")


def _start(city: City, args: list[str], log: Path, **env_overrides: str) -> subprocess.Popen[bytes]:
    """``cityops <args>`` on the module's city, with the short loop intervals (and ``env_overrides``)."""
    return start(city.settings, args, log, **(FAST | env_overrides))


@dataclass(frozen=True)
class Locks:
    """Per loop: the holder (its process id and rounds done) and the processes waiting to take over."""

    holders: dict[str, list[tuple[int, int]]]
    waiting: dict[str, list[int]]


def _locks(engine: Engine) -> Locks:
    holders: dict[str, list[tuple[int, int]]] = {name: [] for name in INTERVALS}
    waiting: dict[str, list[int]] = {name: [] for name in INTERVALS}
    with engine.connect() as conn:
        rows = conn.execute(text(LOCK_SESSIONS), {"c": LOCK_CLASS}).all()
    for name, granted in rows:
        found = NAMED.fullmatch(name or "")
        if found is None or found[1] not in INTERVALS:
            continue
        if granted and found[3] is not None:
            holders[found[1]].append((int(found[2]), int(found[3])))
        elif not granted:
            waiting[found[1]].append(int(found[2]))
    return Locks(holders, waiting)


def _settled(engine: Engine, processes: int, timeout_s: float = 90) -> Locks:
    """The locks once every loop has one holder that has done a round and ``processes - 1`` copies waiting."""
    deadline = time.monotonic() + timeout_s
    while True:
        locks = _locks(engine)
        if all(
            len(locks.holders[n]) == 1 and locks.holders[n][0][1] > 0 and len(locks.waiting[n]) == processes - 1
            for n in INTERVALS
        ):
            return locks
        if time.monotonic() > deadline:
            raise AssertionError(f"the loops did not settle on one holder each: {locks}")
        time.sleep(0.25)


def test_each_loop_works_once_across_two_servers_and_a_worker_and_is_taken_over(city: City, tmp_path: Path) -> None:
    """Three processes start the four loops: one copy of each works (its rounds match its interval, not three
    times it), two wait; the holder killed with -9, a waiting copy takes its loops over within seconds."""
    log = tmp_path / "processes.log"
    ports = [free_port(18960), free_port(18980)]
    servers = [_start(city, ["serve", "--port", str(port)], log) for port in ports]
    worker = _start(city, ["worker"], log)
    processes = [*servers, worker]
    try:
        for server, port in zip(servers, ports, strict=True):
            serving(server, port, log)
        before = _settled(city.engine, processes=3)
        pids = {p.pid for p in processes}
        assert {holder for n in INTERVALS for holder, _ in before.holders[n]} <= pids
        assert all(set(before.waiting[n]) | {before.holders[n][0][0]} == pids for n in INTERVALS)  # one copy each
        started = time.monotonic()
        with city.engine.begin() as conn:
            entry = record(conn, "tests", "probe", "worker-seal")
        time.sleep(5)
        after = _locks(city.engine)
        window = time.monotonic() - started
        for name, interval in INTERVALS.items():
            assert [pid for pid, _ in after.holders[name]] == [before.holders[name][0][0]], (name, after)
            done = after.holders[name][0][1] - before.holders[name][0][1]
            # one copy at work: at most a round per interval (three copies would do three times as many)
            assert 1 <= done <= window / interval + 2, (name, done, window)
        with city.engine.connect() as conn:  # the sealer's work: the entry is on the chain
            assert conn.execute(text("SELECT seq IS NOT NULL FROM audit_log WHERE id = :i"), {"i": entry}).scalar()

        holder = before.holders["dispatch-sweeper"][0][0]
        killed = next(p for p in processes if p.pid == holder)
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=10)
        taken = _settled(city.engine, processes=2, timeout_s=20)
        survivors = pids - {holder}
        assert all(taken.holders[n][0][0] in survivors for n in INTERVALS), taken
        assert all(set(taken.waiting[n]) | {taken.holders[n][0][0]} == survivors for n in INTERVALS)
    finally:
        stop(*processes)
    assert _locks(city.engine) == Locks({n: [] for n in INTERVALS}, {n: [] for n in INTERVALS})  # all let go


def _token(base: str, username: str) -> str:
    answer = httpx.post(f"{base}/api/v1/auth/token", data={"username": username, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def test_serve_with_two_workers_answers_the_api(city: City, tmp_path: Path) -> None:
    """`cityops serve --workers 2`: two processes, the loops once across them, and the API as one: login, intake,
    a transition and a read, with the live stream (on whichever process it landed) telling both changes."""
    log, port = tmp_path / "serve.log", free_port(19000)
    limit = f"{INTAKE_LIMIT}/minute"  # per address: every report of this test comes from 127.0.0.1
    server = _start(city, ["serve", "--workers", "2", "--port", str(port)], log, CITYOPS_RATE_INTAKE_PER_CLIENT=limit)
    try:
        base = serving(server, port, log)
        locks = _settled(city.engine, processes=2)
        children = {locks.holders["audit-sealer"][0][0], *locks.waiting["audit-sealer"]}
        assert len(children) == 2 and server.pid not in children  # two app processes under the one command

        headers = {"Authorization": f"Bearer {_token(base, city.user)}"}
        with stream(base, headers) as live:
            lon, lat = random.uniform(XUANWU[0], XUANWU[2]), random.uniform(XUANWU[1], XUANWU[3])
            body = {
                "lon": lon,
                "lat": lat,
                "category": CATEGORY,
                "source": "hotline",
                "description": f"井盖 {uuid.uuid4()}",
            }
            filed = httpx.post(f"{base}/api/v1/reports", json=body, headers={**headers, "Idempotency-Key": "w-1"})
            assert filed.status_code == 201, filed.text
            case = str(filed.json()["case_id"])
            again = httpx.post(f"{base}/api/v1/reports", json=body, headers={**headers, "Idempotency-Key": "w-1"})
            assert again.status_code in (200, 201) and str(again.json()["case_id"]) == case  # whichever process
            assert live.cases_until(case, timeout_s=15)[case]["state"] == "reported"

            version = httpx.get(f"{base}/api/v1/cases/{case}/transitions", headers=headers).json()["version"]
            moved = httpx.post(
                f"{base}/api/v1/cases/{case}/transitions",
                headers=headers,
                json={"action": "accept", "version": version},
            )
            assert moved.status_code == 200 and moved.json()["state"] == "accepted", moved.text
            read = httpx.get(f"{base}/api/v1/cases/{case}", headers=headers)
            assert read.status_code == 200 and read.json()["state"] == "accepted", read.text
            seen = live.cases_until(case, timeout_s=15)
            while seen[case]["state"] != "accepted":
                seen = live.cases_until(case, timeout_s=15)
        refused = httpx.get(f"{base}/api/v1/cases/{case}")
        assert refused.status_code == 401  # permissions as in one process

        # the two processes count against one limit (the platform's Redis): two reports were filed above
        answers = [
            httpx.post(f"{base}/api/v1/reports", json={**body, "description": f"第{n}次"}, headers=headers).status_code
            for n in range(INTAKE_LIMIT)  # each on a connection of its own: either process may take it
        ]
        assert answers.count(429) == 2 and answers[-2:] == [429, 429], answers
        assert EmbeddedCounters(city.settings).keys("*intake*")  # counted there, not in either process
    finally:
        stop(server)
        EmbeddedCounters(city.settings).stop()  # the server stops it on a clean exit; not if it had to be killed


def test_backoff_doubles_with_each_failure_up_to_the_cap() -> None:
    assert [backoff(0.5, n) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 8.0, BACKOFF_CAP_S]
    assert backoff(60, 3) == 60  # a loop slower than the cap waits its own interval, never less


def test_a_failing_round_backs_off_a_bug_does_not_end_the_loop_and_cancel_stops_it(city: City) -> None:
    """Rounds failing on a database that does not answer wait longer each time; the first good round returns
    to the interval; an exception that is no database's is logged and the loop goes on; cancel ends it."""
    calls: list[float] = []
    closed = f"host=127.0.0.1 port={free_port(19100)} dbname=none connect_timeout=2"
    working = libpq_url(city.settings, api=True)

    async def job() -> None:
        calls.append(time.monotonic())
        if len(calls) <= 3:  # a real refusal: nothing listens there
            await psycopg.AsyncConnection.connect(closed)
        if len(calls) == 4:
            raise ValueError("a bug in one round")
        async with await psycopg.AsyncConnection.connect(working, **session_options(city.settings, api=True)) as c:
            await c.execute("SELECT 1")

    async def main() -> None:
        task = asyncio.create_task(every(0.05, job, "test-backoff"))
        while len(calls) < 8:
            await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(asyncio.wait_for(main(), 30))
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert gaps[0] >= 0.1 and gaps[1] >= 0.2 and gaps[2] >= 0.4  # 0.05 doubled after each failure in a row
    assert gaps[3] >= 0.8  # the bug is a fourth failure in a row: doubled once more
    assert all(gap < 0.35 for gap in gaps[4:7])  # good rounds again: back to the interval


def test_a_singleton_loop_runs_in_one_copy_and_passes_on_when_cancelled(city: City) -> None:
    """Two copies of one loop in one process (two lock connections): one works; cancelled, the other takes over."""
    singleton = Singleton(libpq_url(city.settings, api=True), session_options(city.settings, api=True))
    name = f"test-{uuid.uuid4().hex[:8]}"
    rounds = {"first": 0, "second": 0}

    def counting(copy: str):  # type: ignore[no-untyped-def]
        async def job() -> None:
            rounds[copy] += 1

        return job

    async def main() -> tuple[dict[str, int], dict[str, int]]:
        first = asyncio.create_task(every(0.05, counting("first"), name, singleton=singleton))
        await asyncio.sleep(0.5)  # the first has the lock before the second asks
        second = asyncio.create_task(every(0.05, counting("second"), name, singleton=singleton))
        await asyncio.sleep(1.5)
        alone = dict(rounds)
        first.cancel()
        await asyncio.gather(first, return_exceptions=True)
        deadline = time.monotonic() + 5
        while rounds["second"] == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        handed = dict(rounds)
        second.cancel()
        await asyncio.gather(second, return_exceptions=True)
        return alone, handed

    alone, handed = asyncio.run(main())
    assert alone["first"] >= 10 and alone["second"] == 0
    assert handed["second"] > 0 and handed["first"] <= alone["first"] + 1  # at most the round under way


def test_the_workers_benchmark_runs_small(city: City) -> None:
    console = Console(record=True, width=200)
    try:
        rows = bench_workers(city.settings, city.engine, seconds=1, clients=4, workers=2, console=console)
    finally:
        EmbeddedPooler(city.settings).stop()  # started by the pooled server, left running as the database is
    print_table(rows, console)
    output = console.export_text()
    assert [row.measure.split(",")[0] for row in rows] == ["POST /api/v1/reports"] * 2
    assert "serve --workers 2" in rows[0].measure and rows[0].ratio > 0
    assert "through PgBouncer" in rows[1].measure and "(directly)" in rows[1].baseline and rows[1].ratio > 0
    assert "lost 0 · duplicated 0" in output and "cores" in output  # the machine is named beside the figures
