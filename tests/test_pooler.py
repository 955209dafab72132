"""PgBouncer in front of the embedded cluster: started by the project, the API role only, a cap on server
connections, and an API behind it that answers as it does directly — the caller's scope, the city's zone.

The contract suite (``tests/test_contract.py``) runs its two server processes through it as well.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from cityops.app import create_app
from cityops.serving import connections_per_process, through_pooler
from spatial.database import Database
from spatial.embedded import EmbeddedCluster
from spatial.embedded_pooler import EmbeddedPooler
from spatial.errors import ConfigurationError
from spatial.settings import StoreSettings, sqlalchemy_url
from tests.conftest import QUIET_LOOP, Caller, api_settings, grid_point

CLIENTS = 60  # more than the pooler's server connections (pooler_connections, 40)
MAX_CONNECTIONS = 200  # the embedded cluster's (spatial.embedded)


@pytest.fixture(scope="module")
def pooler(cluster: EmbeddedCluster, nanjing: Engine, nanjing_settings: StoreSettings) -> Iterator[EmbeddedPooler]:
    bouncer = EmbeddedPooler(nanjing_settings)
    bouncer.start()
    yield bouncer
    bouncer.stop()


def test_the_pooler_admits_the_api_role_only(pooler: EmbeddedPooler, cluster: EmbeddedCluster) -> None:
    with psycopg.connect(pooler.url("nanjing"), prepare_threshold=None) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("cityops_api",)
    owner = cluster.url("nanjing").replace(f":{cluster.port}/", f":{pooler.port}/")
    with pytest.raises(psycopg.OperationalError, match="authentication failed"):
        psycopg.connect(owner, connect_timeout=5)


def test_more_clients_than_server_connections_are_all_served(
    pooler: EmbeddedPooler, nanjing_settings: StoreSettings
) -> None:
    def backend() -> int:
        with psycopg.connect(pooler.url("nanjing"), prepare_threshold=None, autocommit=True) as conn:
            row = conn.execute("SELECT pg_backend_pid() FROM pg_sleep(0.3)").fetchone()
            assert row is not None
            return int(row[0])

    with ThreadPoolExecutor(CLIENTS) as clients:
        backends = list(clients.map(lambda _: backend(), range(CLIENTS)))
    assert len(backends) == CLIENTS
    assert len(set(backends)) <= nanjing_settings.pooler_connections


def test_the_api_through_the_pooler_answers_as_it_does_directly(
    pooler: EmbeddedPooler, nanjing: Engine, nanjing_settings: StoreSettings, caller: Caller
) -> None:
    worker, commander = caller(["grid_worker"], "320104"), caller(["city_commander"], "320100")
    lon, lat = grid_point(nanjing, "320104", 3)
    report = {"lon": lon, "lat": lat, "category": "020102", "source": "grid_worker", "description": "井盖缺失"}
    far_lon, far_lat = grid_point(nanjing, "320106", 3)  # outside the worker's district
    far = {**report, "lon": far_lon, "lat": far_lat, "source": "hotline"}
    pooled = nanjing_settings.model_copy(update={"pooler_url": sqlalchemy_url(pooler.url("nanjing"))})
    answers = {}
    for name, settings in (("pooled", pooled), ("direct", nanjing_settings)):
        app = create_app(settings, api_settings(), loop_settings=QUIET_LOOP)
        with TestClient(app, raise_server_exceptions=False) as client:
            assert app.state.database.pooled is (name == "pooled")
            filed = {}
            for who, headers, filing in (("worker", worker, report), ("commander", commander, far)):
                answer = client.post("/api/v1/reports", headers=headers, json=filing)
                assert answer.status_code == 201, answer.text
                filed[who] = str(answer.json()["case_id"])
            listed = {
                who: client.get("/api/v1/cases?limit=1000", headers=headers).json()["items"]
                for who, headers in (("worker", worker), ("commander", commander))
            }
            assert all(row["filed_at"].endswith("+08:00") for row in listed["worker"])  # the city's zone
            answers[name] = seen = {who: {row["id"] for row in rows} for who, rows in listed.items()}
            assert filed["worker"] in seen["worker"] and filed["worker"] in seen["commander"]
            assert filed["commander"] in seen["commander"] and filed["commander"] not in seen["worker"]
            refused = client.post("/api/v1/reports", headers=worker, json={**report, "lon": 200})
            assert refused.status_code == 422
    assert answers["pooled"] == answers["direct"]  # the caller's scope through the pooler, as directly


def test_a_pooler_that_logs_in_as_another_role_is_refused(cluster: EmbeddedCluster, nanjing_settings: StoreSettings):
    as_owner = nanjing_settings.model_copy(update={"pooler_url": sqlalchemy_url(cluster.url("nanjing"))})
    with pytest.raises(ConfigurationError, match="must log in as cityops_api"):
        asyncio.run(Database.open(as_owner, zone="Asia/Shanghai", size=2, wait_s=5))


def test_serve_goes_through_the_pooler_once_its_processes_would_crowd_the_server(
    pooler: EmbeddedPooler, nanjing_settings: StoreSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CITYOPS_POOLER_URL", raising=False)
    api = api_settings()
    half = MAX_CONNECTIONS // 2  # the processes' share of the embedded cluster's connections
    fitting = half // connections_per_process(nanjing_settings, api)
    assert through_pooler(nanjing_settings, api, fitting, None).pooler_url is None
    crowded = through_pooler(nanjing_settings, api, fitting + 1, None)
    assert crowded.pooler_url == sqlalchemy_url(pooler.url("nanjing"))
    assert os.environ["CITYOPS_POOLER_URL"] == pooler.url("nanjing")  # what the processes read
    assert through_pooler(crowded, api, fitting + 1, False).pooler_url is None  # --direct
    assert "CITYOPS_POOLER_URL" not in os.environ
