"""Across city lines (issue 24, item 5): two instances hand a case over the line and follow it to closed.

Nanjing (a database of its own, so no other test's report lands in a neighbour) and a generated Ma'anshan
beside it, each served by uvicorn with its own key, register each other from ``/api/v1/peers/self``. A
report just over the line goes to Ma'anshan while Ma'anshan is down, arrives once it is back, is routed
there as its own and walked to closed while Nanjing is down; both sides end with the case closed. Forged,
stale and replayed messages are refused with 401; a peer answering with another city's unit is refused
with why.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from playwright.sync_api import Browser
from shapely import wkt
from shapely.geometry import box, mapping
from sqlalchemy import Engine, text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from command.users import create_api_key, create_user
from exchange.peers import PeerIn, add, signed_headers
from exchange.publication_key import public_pem, signing_key
from exchange.settings import ExchangeSettings
from fixtures.geo.generate_neighbour import generate
from spatial.db import libpq_url
from spatial.embedded import EmbeddedCluster, free_port
from spatial.settings import StoreSettings
from tests.conftest import city_of_its_own, eventually, served, upload_evidence
from tests.test_map_browser import PASSWORD, Watched, browser, wait_until  # noqa: F401 (the browser fixture)
from tests.test_workflow import step, walk

FAST = ExchangeSettings(
    _env_file=None,  # type: ignore[call-arg]
    peer_interval_s=0.2,
    peer_backoff_s=0.2,
    peer_backoff_cap_s=1.0,
    peer_timeout_s=2.0,
)
NANJING_PORT, MAANSHAN_PORT = 19300, 19400
CHUZHOU = box(118.05, 32.30, 118.55, 32.75)  # north-west of Nanjing, where Chuzhou lies (a fake peer here)


@pytest.fixture(scope="module")
def maanshan_manifest(nanjing_manifest: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(nanjing_manifest.parent / "city.parquet", tmp_path_factory.mktemp("maanshan"))


@pytest.fixture(scope="module")
def nanjing_side(
    cluster: EmbeddedCluster, data_dir: Path, db_port: int, nanjing_manifest: Path
) -> Iterator[tuple[Engine, StoreSettings]]:
    with city_of_its_own(cluster, data_dir, db_port, nanjing_manifest, "nanjing_peers") as city:
        yield city


@pytest.fixture(scope="module")
def maanshan_side(
    cluster: EmbeddedCluster, data_dir: Path, db_port: int, maanshan_manifest: Path
) -> Iterator[tuple[Engine, StoreSettings]]:
    with city_of_its_own(cluster, data_dir, db_port, maanshan_manifest, "maanshan") as city:
        yield city


@contextmanager
def up(settings: StoreSettings, port: int) -> Iterator[str]:
    """The city's app on exactly ``port`` (a peer knows it by its address), its loops sending quickly."""
    with served(settings, port, exchange_settings=FAST) as base:
        assert base.endswith(f":{port}"), f"port {port} was taken"
        yield base


def staff(engine: Engine, unit: str, roles: list[str]) -> dict[str, str]:
    name = f"peer-{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        create_user(conn, name, unit_code=unit, roles=roles, password=None, actor="tests")
        return {"X-API-Key": create_api_key(conn, name, "handover tests", actor="tests")}


def register(settings: StoreSettings, described: dict[str, Any]) -> None:
    async def work() -> None:
        async with await psycopg.AsyncConnection.connect(libpq_url(settings), autocommit=True) as conn:
            await add(conn, PeerIn.model_validate(described), "tests")

    with ThreadPoolExecutor(1) as apart:  # Playwright's sync API runs a loop in this thread once a browser started
        apart.submit(asyncio.run, work()).result()


def handover(base: str, headers: dict[str, str], handover_id: int, direction: str = "out") -> dict[str, Any]:
    listed = httpx.get(f"{base}/api/v1/handovers", headers=headers, timeout=10).json()["handovers"]
    return next(h for h in listed if h["id"] == handover_id and h["direction"] == direction)


def over_the_line(maanshan: Engine) -> tuple[float, float]:
    """A point inside a grid of the neighbour (so outside Nanjing), nearest Nanjing's side."""
    with maanshan.connect() as conn:
        row = conn.execute(
            text(
                "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p FROM unit WHERE tier = 'grid' "
                "ORDER BY ST_XMax(geom) DESC LIMIT 1) g"
            )
        ).one()
    return float(row[0]), float(row[1])


@pytest.fixture(scope="module")
def peers(
    nanjing_side: tuple[Engine, StoreSettings], maanshan_side: tuple[Engine, StoreSettings]
) -> dict[str, dict[str, str]]:
    """Each side registers the other from its own description; the callers each side acts as."""
    with up(nanjing_side[1], NANJING_PORT) as nanjing, up(maanshan_side[1], MAANSHAN_PORT) as maanshan:
        register(maanshan_side[1], httpx.get(f"{nanjing}/api/v1/peers/self").json())
        register(nanjing_side[1], httpx.get(f"{maanshan}/api/v1/peers/self").json())
    return {
        "nanjing": staff(nanjing_side[0], "320100", ["city_commander", "dispatcher"]),
        "maanshan": staff(maanshan_side[0], "340500", ["city_commander", "dispatcher"]),
        "maanshan_checker": staff(maanshan_side[0], "340500", ["checker"]),
    }


def test_a_case_crosses_the_line_and_comes_back_closed_with_each_side_down_for_a_while(
    nanjing_side: tuple[Engine, StoreSettings],
    maanshan_side: tuple[Engine, StoreSettings],
    peers: dict[str, dict[str, str]],
) -> None:
    lon, lat = over_the_line(maanshan_side[0])
    body = {"lon": lon, "lat": lat, "category": "010101", "source": "hotline", "description": "界河桥头井盖缺失"}
    with up(nanjing_side[1], NANJING_PORT) as nanjing:  # Ma'anshan is down
        filed = httpx.post(f"{nanjing}/api/v1/reports", json=body, headers=peers["nanjing"], timeout=10)
        assert filed.status_code == 202, filed.text
        sent = filed.json()
        assert sent["handed_over_to"]["code"] == "340500" and sent["state"] == "pending"
        waiting = eventually(
            lambda: (h := handover(nanjing, peers["nanjing"], sent["handover"]))["attempts"] >= 2 and h
        )
        assert waiting["state"] == "pending" and "ConnectError" in waiting["last_error"]
        with up(maanshan_side[1], MAANSHAN_PORT) as maanshan:
            accepted = eventually(
                lambda: (h := handover(nanjing, peers["nanjing"], sent["handover"]))["state"] != "pending" and h
            )
            assert accepted["state"] == "accepted" and accepted["remote_unit"].startswith("3405"), accepted
            theirs = handover(maanshan, peers["maanshan"], accepted["remote_id"], direction="in")
    case = int(theirs["case_id"])
    with maanshan_side[0].connect() as conn:
        trace, source_ = conn.execute(
            text("SELECT routing_trace, source::text FROM case_file WHERE id = :c"), {"c": case}
        ).one()
    assert source_ == "hotline" and trace["rule"]  # routed there as its own report
    with up(maanshan_side[1], MAANSHAN_PORT) as maanshan:  # now Nanjing is down while Ma'anshan works the case
        with httpx.Client(base_url=maanshan, headers=peers["maanshan"], timeout=10) as client:
            version = walk(client, case, department="供水公司")  # type: ignore[arg-type]
            evidence = [upload_evidence(client, case)]  # type: ignore[arg-type]
            fed = step(client, case, "feedback", version, note="已修复", evidence=evidence).json()  # type: ignore[arg-type]
            closed = step(client, case, "close", fed["version"], peers["maanshan_checker"])  # type: ignore[arg-type]
            assert closed.status_code == 200, closed.text
        stuck = eventually(lambda: (h := handover(maanshan, peers["maanshan"], theirs["id"], "in"))["attempts"] and h)
        assert stuck["state"] == "closed" and stuck["last_error"]
        with up(nanjing_side[1], NANJING_PORT) as nanjing:
            done = eventually(
                lambda: (h := handover(nanjing, peers["nanjing"], sent["handover"]))["state"] == "closed" and h
            )
    events = [entry["event"] for entry in done["trace"]]
    assert events[:2] == ["outside", "accepted"] and events.count("moved") >= 6 and done["remote_seq"] >= 7
    with nanjing_side[0].connect() as conn:
        waiting = conn.execute(text("SELECT count(*) FROM peer_outbox WHERE delivered_at IS NULL")).scalar_one()
    assert waiting == 0


@pytest.mark.browser
def test_the_metropolitan_screen_shows_both_cities_and_the_handovers(
    nanjing_side: tuple[Engine, StoreSettings],
    browser: Browser,  # noqa: F811 (the fixture imported from test_map_browser)
    artifacts: Path,
) -> None:
    engine, settings = nanjing_side
    name = f"metro-{uuid.uuid4().hex[:6]}"
    with engine.begin() as conn:
        create_user(conn, name, unit_code="320100", roles=["city_commander"], password=PASSWORD, actor="tests")
    with up(settings, NANJING_PORT) as base:
        for language, heading in (("zh-CN", "移交邻市"), ("en", "Handed to neighbours")):
            view = Watched(browser.new_context(viewport={"width": 1280, "height": 900}))
            errors: list[str] = []
            view.page.on("pageerror", lambda error: errors.append(str(error)))  # noqa: B023 (read at once)
            view.page.goto(f"{base}/login?next=/metro%3Flang%3D{language}")
            view.page.fill("input[name=username]", name)
            view.page.fill("input[name=password]", PASSWORD)
            view.page.click("button[type=submit]")
            view.page.wait_for_url(f"{base}/metro?lang={language}")
            # both boundaries and at least one handover's point drawn
            wait_until(view.page, "document.querySelectorAll('#metro-map path').length >= 3")
            assert heading in view.page.inner_text("#metro-out") and not errors, errors
            view.page.screenshot(path=str(artifacts / f"metro-{language}.png"), full_page=True)
            view.assert_offline(base)
            view.page.context.close()


def _send(base: str, city: str, key: Ed25519PrivateKey, body: dict[str, Any], **tweak: Any) -> httpx.Response:
    raw = orjson.dumps(body)
    headers = signed_headers(key, tweak.get("message_id", f"test-{uuid.uuid4().hex}"), raw, tweak.get("now"))
    return httpx.post(f"{base}/api/v1/peers/{city}/handovers", content=raw, headers=headers, timeout=10)


def test_forged_stale_and_replayed_messages_are_refused(
    nanjing_side: tuple[Engine, StoreSettings],
    maanshan_side: tuple[Engine, StoreSettings],
    peers: dict[str, dict[str, str]],
) -> None:
    lon, lat = over_the_line(maanshan_side[0])
    body = {
        "handover": 900_000 + int(time.time()) % 1000,
        "service_code": "010101",
        "severity": "IV",
        "source": "hotline",
        "lat": lat,
        "long": lon,
        "description": "签名测试",
        "requested_datetime": "2026-12-05T08:00:00+08:00",
    }
    nanjing_key = signing_key(nanjing_side[1].data_dir, nanjing_side[1].city)
    with up(maanshan_side[1], MAANSHAN_PORT) as maanshan:
        forged = _send(maanshan, "nanjing_peers", Ed25519PrivateKey.generate(), body)
        assert forged.status_code == 401 and "does not hold" in forged.json()["detail"]
        stale = _send(maanshan, "nanjing_peers", nanjing_key, body, now=time.time() - 3600)
        assert stale.status_code == 401 and "timestamp" in stale.json()["detail"]
        stranger = _send(maanshan, "someone_else", nanjing_key, body)
        assert stranger.status_code == 401
        unsigned = httpx.post(f"{maanshan}/api/v1/peers/nanjing_peers/handovers", json=body)
        assert unsigned.status_code == 401
        good = _send(maanshan, "nanjing_peers", nanjing_key, body, message_id="once-only")
        assert good.status_code == 201 and good.json()["unit"].startswith("3405"), good.text
        replayed = _send(maanshan, "nanjing_peers", nanjing_key, body, message_id="once-only")
        assert replayed.status_code == 401 and "replay" in replayed.json()["detail"]
        again = _send(maanshan, "nanjing_peers", nanjing_key, body)  # sent again, a new message: the same case
        assert again.status_code == 200 and again.json()["case"] == good.json()["case"]
        bad = _send(maanshan, "nanjing_peers", nanjing_key, {**body, "service_code": "01"})
        assert bad.status_code == 422 and "service_code" in bad.json()["detail"]


@pytest.fixture
def fake_peer() -> Iterator[str]:
    """A 'city' answering every handover with a Nanjing unit: not one of its own."""

    async def answer(request: Request) -> JSONResponse:
        return JSONResponse({"case": 5, "state": "reported", "unit": "320102001", "unit_name": "别人的街道"}, 201)

    port = free_port(19500)
    server = uvicorn.Server(
        uvicorn.Config(Starlette(routes=[Route("/api/v1/peers/{city}/handovers", answer, methods=["POST"])]), port=port)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    eventually(lambda: server.started, 10)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_a_peer_answering_with_another_citys_unit_is_refused_with_why(
    nanjing_side: tuple[Engine, StoreSettings], peers: dict[str, dict[str, str]], fake_peer: str
) -> None:
    engine, settings = nanjing_side
    with engine.connect() as conn:
        nanjing = conn.execute(text("SELECT ST_AsText(ST_Union(geom)) FROM unit WHERE parent_id IS NULL")).scalar_one()
    area = CHUZHOU.difference(wkt.loads(nanjing))
    described = {
        "city": "chuzhou_fake",
        "name": "滁州市",
        "code": "341100",
        "url": fake_peer,
        "public_key": public_pem(Ed25519PrivateKey.generate()),
        "boundary": mapping(area),
    }
    register(settings, described)
    point = area.representative_point()
    body = {"lon": point.x, "lat": point.y, "category": "010101", "source": "hotline", "description": "越界测试"}
    with up(settings, NANJING_PORT) as base:
        keyed = {**peers["nanjing"], "Idempotency-Key": f"over-{uuid.uuid4().hex}"}
        filed = httpx.post(f"{base}/api/v1/reports", json=body, headers=keyed, timeout=10)
        again = httpx.post(f"{base}/api/v1/reports", json=body, headers=keyed, timeout=10)  # a retry: no second one
        assert filed.status_code == again.status_code == 202, filed.text
        assert again.json()["handover"] == filed.json()["handover"] and again.json()["replayed"]
        refused = eventually(
            lambda: (h := handover(base, peers["nanjing"], filed.json()["handover"]))["state"] == "refused" and h
        )
        far = httpx.post(f"{base}/api/v1/reports", json={**body, "lon": 100.0, "lat": 30.0}, headers=peers["nanjing"])
    why = refused["trace"][-1]["why"]
    assert "unit 320102001" in why and "3411" in why
    assert far.status_code == 422  # outside every known city: refused as before
