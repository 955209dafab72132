"""The streaming replica: started by the project, read-only, and never stale to the one who wrote."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from cityops.app import create_app
from spatial.embedded import EmbeddedCluster
from spatial.embedded_replica import EmbeddedReplica
from spatial.settings import StoreSettings
from tests.conftest import QUIET_LOOP, Caller, api_settings, eventually, grid_point

MAX_LAG_S = 1.0


@pytest.fixture(scope="module")
def replica(cluster: EmbeddedCluster, nanjing: Engine, nanjing_settings: StoreSettings) -> Iterator[EmbeddedReplica]:
    """A hot standby of the session's cluster, for this module only (other apps would read from it)."""
    standby = EmbeddedReplica(nanjing_settings)
    standby.start()
    yield standby
    standby.stop()


def on_replica(replica: EmbeddedReplica, sql: str, database: str = "nanjing") -> object:
    with psycopg.connect(replica.url(database, admin=True), autocommit=True) as conn:
        row = conn.execute(sql).fetchone()
    return row[0] if row else None


def test_the_replica_replays_the_primary_and_refuses_writes(replica: EmbeddedReplica, nanjing: Engine) -> None:
    assert on_replica(replica, "SELECT pg_is_in_recovery()") is True
    marker = f"replica-{time.time_ns()}"
    with psycopg.connect(replica.primary.url("nanjing", admin=True), autocommit=True) as primary:
        primary.execute(f"COMMENT ON DATABASE nanjing IS '{marker}'")  # a catalogue write: replicated too
    comment = "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = 'nanjing'"
    eventually(lambda: on_replica(replica, comment) == marker, timeout_s=10)
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        on_replica(replica, "CREATE TABLE nope (x int)")
    status = replica.status()
    assert status.running and status.replay_lag_bytes is not None


def test_a_write_then_a_read_by_the_writer_sees_it_while_the_replica_lags(
    replica: EmbeddedReplica, nanjing: Engine, nanjing_settings: StoreSettings, caller: Caller
) -> None:
    settings = nanjing_settings.model_copy(update={"replica_max_lag_s": MAX_LAG_S})
    writer, other = caller(["grid_worker"], "320104"), caller(["city_commander"], "320100")
    lon, lat = grid_point(nanjing, "320104", 91)
    app = create_app(settings, api_settings(), loop_settings=QUIET_LOOP)
    with TestClient(app, raise_server_exceptions=False) as client:
        reads = app.state.database.replica
        assert reads is not None  # the running embedded replica was found
        eventually(lambda: reads.usable_for(None))  # sampled, caught up: reads go to it
        on_replica(replica, "SELECT pg_wal_replay_pause()")
        try:
            filed = client.post(
                "/api/v1/reports",
                headers=writer,
                json={"lon": lon, "lat": lat, "category": "020102", "source": "grid_worker", "description": "副本测试"},
            )
            assert filed.status_code == 201, filed.text
            case = filed.json()["case_id"]
            before = reads.served.copy()
            listed = client.get("/api/v1/cases", params={"limit": 50}, headers=writer)
            assert case in [row["id"] for row in listed.json()["items"]]  # the writer sees it at once
            assert reads.served - before == {"primary": 2}  # filters and rows from the primary: the replica lacks it
            time.sleep(MAX_LAG_S + 0.3)
            before = reads.served.copy()
            client.get("/api/v1/cases", params={"limit": 1}, headers=other)
            assert reads.served - before == {"primary": 2}  # paused longer than allowed: nobody reads it
        finally:
            on_replica(replica, "SELECT pg_wal_replay_resume()")
        eventually(lambda: reads.usable_for("nobody"))
        before = reads.served.copy()
        listed = client.get("/api/v1/cases", params={"limit": 50}, headers=writer)
        assert case in [row["id"] for row in listed.json()["items"]]
        assert reads.served - before == {"replica": 2}  # caught up: the replica answers the writer too
