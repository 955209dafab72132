"""The change log, its pull feed and webhook subscriptions (issue 24, item 3).

A city of its own (the shared apps' delivery loops must not reach these subscriptions) with an app whose
webhooks may reach 127.0.0.1 and retry quickly. A receiver under uvicorn records what it is sent and can
be told to fail or to be slow; a port nothing listens on is a subscriber that is down.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema_rs
import orjson
import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cityops.app import create_app
from command.users import create_api_key, create_user
from exchange.changes import TYPES
from exchange.settings import ExchangeSettings
from spatial.embedded import EmbeddedCluster, free_port
from spatial.settings import StoreSettings
from tests.conftest import QUIET_LOOP, api_settings, city_of_its_own, eventually, grid_point
from tests.test_workflow import step

PASSWORD = "changes screen password"
STREET = "320102002"  # a street of 玄武区 the street-level integration is confined to


@dataclass
class Receiver:
    """What each hook was sent (headers, body) and how it answers: ok, fail (500) or slow."""

    base: str
    got: dict[str, list[tuple[dict[str, str], bytes]]] = field(default_factory=lambda: defaultdict(list))
    mode: dict[str, str] = field(default_factory=dict)
    tried: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def url(self, name: str) -> str:
        return f"{self.base}/hook/{name}"

    def events(self, name: str) -> list[dict[str, Any]]:
        return [event for _, body in self.got[name] for event in orjson.loads(body)]


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    port = free_port(19100)
    state = Receiver(f"http://127.0.0.1:{port}")

    async def hook(request: Request) -> Response:
        name = request.path_params["name"]
        state.tried[name].append(time.monotonic())
        body = await request.body()
        mode = state.mode.get(name, "ok")
        if mode == "slow":  # longer than the platform waits: its try ends in a timeout
            await asyncio.sleep(4)
        if mode == "fail":
            return Response("down for maintenance", status_code=500)
        state.got[name].append((dict(request.headers), body))
        return Response(status_code=204)

    server = uvicorn.Server(
        uvicorn.Config(
            Starlette(routes=[Route("/hook/{name}", hook, methods=["POST"])]), port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    eventually(lambda: server.started, 10)
    yield state
    server.should_exit = True
    thread.join(timeout=10)


@dataclass(frozen=True)
class City:
    engine: Engine
    settings: StoreSettings
    api: TestClient
    city: dict[str, str]  # a city-wide integration's headers
    street: dict[str, str]  # an integration confined to STREET


def _key(engine: Engine, name: str, roles: list[str], unit: str) -> dict[str, str]:
    with engine.begin() as conn:
        create_user(conn, name, unit_code=unit, roles=roles, password=None, actor="tests")
        return {"X-API-Key": create_api_key(conn, name, "changes tests", actor="tests")}


@pytest.fixture(scope="module")
def city(cluster: EmbeddedCluster, data_dir: Path, db_port: int, nanjing_manifest: Path) -> Iterator[City]:
    exchange = ExchangeSettings(
        _env_file=None,  # type: ignore[call-arg]
        webhook_allow_hosts=["127.0.0.1"],
        webhook_backoff_s=0.3,
        webhook_attempts=4,
        webhook_timeout_s=1.0,
        change_interval_s=0.05,
    )
    with city_of_its_own(cluster, data_dir, db_port, nanjing_manifest, "nanjing_changes") as (engine, settings):
        app = create_app(settings, api_settings(), loop_settings=QUIET_LOOP, exchange_settings=exchange)
        staff = _key(engine, "changes-staff", ["city_commander", "dispatcher"], "320100")
        with TestClient(app, raise_server_exceptions=False, headers=staff) as api:
            yield City(
                engine,
                settings,
                api,
                _key(engine, "changes-city", ["integration"], "320100"),
                _key(engine, "changes-street", ["integration"], STREET),
            )


def _report(city: City, district: str, offset: int) -> int:
    lon, lat = grid_point(city.engine, district, offset)
    body = {"lon": lon, "lat": lat, "category": "010101", "source": "hotline", "description": f"井盖 {uuid.uuid4()}"}
    answer = city.api.post("/api/v1/reports", json=body)
    assert answer.status_code == 201, answer.text
    return int(answer.json()["case_id"])


def _subscribe(city: City, headers: dict[str, str], url: str, types: list[str] | None = None) -> dict[str, Any]:
    body = {"name": f"测试系统 {uuid.uuid4().hex[:6]}", "url": url, "types": types or ["case.created", "case.moved"]}
    answer = city.api.post("/api/v1/subscriptions", json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    return answer.json()


def _street_case(city: City, grid: int) -> int:
    with city.engine.connect() as conn:
        lon, lat = conn.execute(
            text(
                "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM unit "
                "WHERE code LIKE :s AND tier = 'grid' ORDER BY code OFFSET :o LIMIT 1) g"
            ),
            {"s": f"{STREET}%", "o": grid},
        ).one()
    body = {"lon": lon, "lat": lat, "category": "020102", "source": "hotline", "description": f"垃圾 {uuid.uuid4()}"}
    answer = city.api.post("/api/v1/reports", json=body)
    assert answer.status_code == 201, answer.text
    return int(answer.json()["case_id"])


def test_deliveries_are_signed_ordered_per_case_and_within_the_owners_jurisdiction(
    city: City, receiver: Receiver
) -> None:
    wide = _subscribe(city, city.city, receiver.url("wide"))
    narrow = _subscribe(city, city.street, receiver.url("narrow"))
    assert (
        wide["secret"].startswith("whsec_")
        and "secret" not in city.api.get("/api/v1/subscriptions", headers=city.city).json()[0]
    )
    elsewhere = _report(city, "320115", 7)  # 江宁区: not the street's
    inside = _street_case(city, 0)
    version = 0
    for action in ("accept", "file"):
        moved = step(city.api, inside, action, version)
        assert moved.status_code == 200, moved.text
        version = moved.json()["version"]
    subjects = lambda name: [e["subject"] for e in receiver.events(name)]  # noqa: E731
    eventually(lambda: subjects("wide").count(f"case/{inside}") == 3 and f"case/{elsewhere}" in subjects("wide"))
    eventually(lambda: subjects("narrow").count(f"case/{inside}") == 3)
    assert f"case/{elsewhere}" not in subjects("narrow")  # the street's system sees the street's cases only
    for name, secret in (("wide", wide["secret"]), ("narrow", narrow["secret"])):
        for headers, body in receiver.got[name]:
            Webhook(secret).verify(body, headers)  # raises on a bad signature or a stale timestamp
            assert headers["content-type"] == "application/cloudevents-batch+json"
        with pytest.raises(WebhookVerificationError):
            headers, body = receiver.got[name][0]
            Webhook(secret).verify(body.replace(b"case", b"casE", 1), headers)
    moves = [e for e in receiver.events("wide") if e["subject"] == f"case/{inside}"]
    assert [e["data"]["state"] for e in moves] == ["reported", "accepted", "filed"]
    assert [e["type"] for e in moves] == ["cn.cityops.case.created", "cn.cityops.case.moved", "cn.cityops.case.moved"]
    sequences = [int(e["sequence"]) for e in receiver.events("wide")]
    assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)
    for event in moves:  # each event is what its published schema says
        jsonschema_rs.validate(orjson.loads(city.api.get(event["dataschema"]).content), event)
        assert "description" not in event["data"] and "reporter" not in event["data"]


def test_a_failing_subscriber_is_retried_with_backoff_then_dead_lettered_and_delays_nobody(
    city: City, receiver: Receiver
) -> None:
    receiver.mode["broken"] = "fail"
    receiver.mode["slow"] = "slow"
    broken = _subscribe(city, city.city, receiver.url("broken"))
    _subscribe(city, city.city, receiver.url("slow"))
    down = _subscribe(city, city.city, f"http://127.0.0.1:{free_port(19300)}/nobody")
    healthy = _subscribe(city, city.city, receiver.url("healthy"))
    started = time.monotonic()
    case = _report(city, "320104", 5)
    eventually(lambda: any(e["subject"] == f"case/{case}" for e in receiver.events("healthy")), 5)
    assert time.monotonic() - started < 3  # neither the failing, the slow nor the down one held it up
    letters = eventually(
        lambda: city.api.get(f"/api/v1/subscriptions/{broken['id']}/dead-letters", headers=city.city).json(), 20
    )
    assert letters[0]["attempts"] == 4 and "HTTP 500" in letters[0]["last_error"]
    tries = receiver.tried["broken"][:4]
    gaps = [b - a for a, b in itertools.pairwise(tries)]
    assert len(gaps) == 3 and gaps[0] >= 0.25 and gaps[2] > gaps[0]  # waits double: 0.3, 0.6, 1.2 s
    assert eventually(
        lambda: city.api.get(f"/api/v1/subscriptions/{down['id']}/dead-letters", headers=city.city).json(), 20
    )[0]["last_error"].startswith("ConnectError")
    held = city.api.get(f"/api/v1/subscriptions/{broken['id']}", headers=city.city).json()
    assert held["cursor"] >= letters[0]["last_seq"] and held["attempts"] == 0  # past the dead letter
    receiver.mode["broken"] = "ok"
    retried = city.api.post(
        f"/api/v1/subscriptions/{broken['id']}/dead-letters/{letters[0]['id']}/retry", headers=city.city
    )
    assert retried.status_code == 200, retried.text
    eventually(lambda: any(e["subject"] == f"case/{case}" for e in receiver.events("broken")), 10)
    assert city.api.get(f"/api/v1/subscriptions/{healthy['id']}/dead-letters", headers=city.city).json() == []


def test_a_replay_delivers_again_in_order_from_the_cursor(city: City, receiver: Receiver) -> None:
    hook = _subscribe(city, city.city, receiver.url("replayed"), ["case.created"])
    cases = [_report(city, "320106", 3 + n) for n in range(3)]
    eventually(lambda: len(receiver.events("replayed")) == 3)
    first = receiver.events("replayed")
    again = city.api.post(
        f"/api/v1/subscriptions/{hook['id']}/replay", json={"cursor": int(first[0]["sequence"]) - 1}, headers=city.city
    )
    assert again.status_code == 200
    eventually(lambda: len(receiver.events("replayed")) == 6)
    assert [e["id"] for e in receiver.events("replayed")] == [e["id"] for e in first] * 2
    assert [e["data"]["case_id"] for e in first] == cases
    stopped = city.api.delete(f"/api/v1/subscriptions/{hook['id']}", headers=city.city)
    assert stopped.status_code == 200 and stopped.json()["active"] is False
    _report(city, "320106", 9)
    time.sleep(1)
    assert len(receiver.events("replayed")) == 6  # a stopped subscription is sent nothing


def test_webhook_urls_into_the_platform_or_private_networks_are_refused(city: City) -> None:
    app = create_app(city.settings, api_settings(), loop_settings=QUIET_LOOP)  # the default: nothing allowed
    with TestClient(app, raise_server_exceptions=False, headers=city.city) as strict:
        for url in (
            "http://127.0.0.1:8000/hook",
            "http://localhost/x",
            "http://10.1.2.3/x",
            "http://169.254.169.254/latest",
            "http://192.168.1.10/x",
            "http://[::1]/x",
        ):
            answer = strict.post("/api/v1/subscriptions", json={"name": "内网", "url": url, "types": ["case.created"]})
            assert answer.status_code == 422 and "CITYOPS_WEBHOOK_ALLOW_HOSTS" in answer.text, (url, answer.text)
        for body, says in (
            ({"name": "x", "url": "ftp://example.org/", "types": ["case.created"]}, "url"),
            ({"name": "x", "url": "https://example.org/", "types": ["case.exploded"]}, "unknown change type"),
            ({"name": "x", "url": "https://example.org/", "types": []}, "types"),
        ):
            answer = strict.post("/api/v1/subscriptions", json=body)
            assert answer.status_code == 422 and says in answer.text, answer.text
    worker = _key(city.engine, f"changes-worker-{uuid.uuid4().hex[:6]}", ["grid_worker"], STREET)
    assert (
        city.api.post(
            "/api/v1/subscriptions",
            json={"name": "x", "url": "https://example.org/", "types": ["case.created"]},
            headers=worker,
        ).status_code
        == 403
    )
    assert city.api.get(f"/api/v1/subscriptions/{10**9}", headers=city.city).status_code == 404


def _count(city: City, sql: str) -> int:
    with city.engine.connect() as conn:
        return int(conn.execute(text(sql)).scalar_one())


def _page_through(city: City, headers: dict[str, str], cursor: int, limit: int) -> tuple[list[dict[str, Any]], int]:
    seen: list[dict[str, Any]] = []
    while True:
        page = city.api.get("/api/v1/changes", params={"cursor": cursor, "limit": limit}, headers=headers)
        assert page.status_code == 200, page.text
        seen += page.json()["events"]
        if page.json()["next_cursor"] == cursor:
            return seen, cursor
        cursor = page.json()["next_cursor"]


def test_the_pull_feed_pages_through_every_change_once_within_the_callers_jurisdiction(city: City) -> None:
    start = _count(city, "SELECT coalesce(max(seq), 0) FROM change_event")
    made = [_report(city, "320113", 10 * n) for n in range(4)] + [_street_case(city, 5)]
    eventually(lambda: _count(city, "SELECT count(*) FROM change_event WHERE seq IS NULL") == 0)
    seen, _ = _page_through(city, city.city, start, 2)
    ids = [e["id"] for e in seen]
    assert len(ids) == len(set(ids))
    assert len(seen) == _count(city, f"SELECT count(*) FROM change_event WHERE seq > {int(start)}")
    assert {f"case/{c}" for c in made} <= {e["subject"] for e in seen}  # each a case of its own (none joined)
    mine, _ = _page_through(city, city.street, start, 2)
    assert {e["subject"] for e in mine} == {f"case/{made[-1]}"}
    assert city.api.get("/api/v1/changes", params={"types": "case.exploded"}, headers=city.city).status_code == 422
    assert city.api.get("/api/v1/changes", params={"cursor": -1}, headers=city.city).status_code == 422
    assert (
        city.api.get(
            "/api/v1/changes", headers=_key(city.engine, f"changes-w-{uuid.uuid4().hex[:6]}", ["grid_worker"], STREET)
        ).status_code
        == 403
    )
    for change_type in TYPES:
        assert city.api.get(f"/api/v1/changes/schemas/{change_type}").json()["title"] == f"cn.cityops.{change_type}"


def test_the_subscriptions_screen_registers_shows_failures_and_sends_dead_letters_again(
    city: City, receiver: Receiver
) -> None:
    name = f"changes-operator-{uuid.uuid4().hex[:6]}"
    with city.engine.begin() as conn:
        create_user(conn, name, unit_code="320100", roles=["integration"], password=PASSWORD, actor="tests")
    browser = TestClient(city.api.app, raise_server_exceptions=False, headers={"X-Requested-With": "htmx"})
    assert browser.post("/api/v1/auth/session", data={"username": name, "password": PASSWORD}).status_code == 200
    assert "数据订阅" in browser.get("/subscriptions").text
    refused = browser.post(
        "/subscriptions", data={"name": "内网", "url": "http://10.9.9.9/x", "types": ["case.created"]}
    )
    assert refused.status_code == 422 and "CITYOPS_WEBHOOK_ALLOW_HOSTS" in refused.headers["hx-trigger"]
    blank = browser.post("/subscriptions", data={"name": " ", "url": "水务局"})  # each field's reason in words
    said = str(orjson.loads(blank.headers["hx-trigger"]))
    assert blank.status_code == 422 and "系统名称：至少 1 个字符" in said and "接收地址：应为网址（URL）" in said, said
    assert "订阅的变化：至少 1 项" in said and "should" not in said, said  # each field by its label on the form
    receiver.mode["screen"] = "fail"
    form = {"name": "水务工单系统", "url": receiver.url("screen"), "types": ["case.created"]}
    added = browser.post("/subscriptions", data=form)
    assert added.status_code == 200 and "whsec_" in added.text  # the secret, this once
    assert "whsec_" not in browser.get("/subscriptions").text
    case = _report(city, "320111", 4)

    def failing() -> str | None:
        shown = browser.get("/subscriptions").text
        return shown if "HTTP 500" in shown else None

    assert "推送失败" in eventually(failing)
    letter = eventually(
        lambda: (
            _count(
                city,
                "SELECT coalesce(max(d.id), 0) FROM dead_letter d JOIN subscription s ON s.id = d.subscription_id "
                f"WHERE s.owner = '{name}'",
            )
            or None
        )
    )
    sub = _count(city, f"SELECT id FROM subscription WHERE owner = '{name}'")
    receiver.mode["screen"] = "ok"
    assert browser.post(f"/subscriptions/{sub}/dead-letters/{letter}/retry").status_code == 200
    eventually(lambda: any(e["subject"] == f"case/{case}" for e in receiver.events("screen")))
    assert browser.post(f"/subscriptions/{sub}/stop").status_code == 200
    assert "已停止" in browser.get("/subscriptions").text
