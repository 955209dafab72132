"""What stands behind the endpoint rules: row-level security on the API's own database sessions,
personal data masked in every output and audited when shown, rate and size limits, CORS, and
hostile strings in every parameter."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from cityops.app import create_app
from command.users import create_user
from spatial.db import libpq_url
from spatial.errors import TooManyRequestsError, UnauthenticatedError
from spatial.settings import StoreSettings
from tests.conftest import Caller, api_settings, served
from tests.test_access import api_routes
from web.deps import SESSION_SCOPE
from web.throttle import SweptMemory, Throttle

PHONE, NAME = "13712345678", "赵六"
INSIDE = {"lon": 118.80, "lat": 32.06}  # 玄武区
OUTSIDE = {"lon": 118.7903, "lat": 32.0007}  # 秦淮区


def file_report(client: TestClient, where: dict[str, float], description: str) -> dict[str, Any]:
    body = {
        **where,
        "category": "020106",
        "source": "hotline",
        "description": description,
        "reporter": {"name": NAME, "phone": PHONE},
    }
    response = client.post("/api/v1/reports", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def unit_id(engine: Engine, code: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT id FROM unit WHERE code = :c"), {"c": code}).scalar_one())


def district_of(client: TestClient, where: dict[str, float]) -> str:
    chain = client.get("/api/v1/locate", params=where).json()["chain"]
    return next(u["code"] for u in chain if u["tier"] == "district")


# ---- row-level security ------------------------------------------------------------------------------
def test_raw_sql_on_the_api_session_sees_only_the_scope(client: TestClient, nanjing: Engine) -> None:
    file_report(client, INSIDE, "RLS 里面"), file_report(client, OUTSIDE, "RLS 外面")
    district = district_of(client, INSIDE)
    with nanjing.connect() as owner:  # the owner, unbound: counts by a different path (grid ancestry)
        total = owner.execute(text("SELECT count(*) FROM case_file")).scalar_one()
        expected = owner.execute(
            text(
                "SELECT count(*) FROM case_file e JOIN unit g ON g.id = e.grid_id "
                "JOIN unit d ON d.id = ANY(g.ancestors) "
                "WHERE d.code = :d"
            ),
            {"d": district},
        ).scalar_one()
    api = client.app.state.read_engine  # type: ignore[attr-defined]
    with api.connect() as conn:
        assert conn.execute(text("SELECT current_user")).scalar_one() == "cityops_api"
        assert conn.execute(text("SELECT count(*) FROM case_file")).scalar_one() == 0  # no scope: nothing at all
        conn.exec_driver_sql(SESSION_SCOPE, (str(unit_id(nanjing, district)), ""))
        seen = conn.execute(text("SELECT count(*) FROM case_file")).scalar_one()
        assert seen == expected and 0 < seen < total
        reports_outside = conn.execute(text("SELECT count(*) FROM report WHERE description = 'RLS 外面'")).scalar_one()
        assert reports_outside == 0
        # nothing the session can run lifts the policy
        conn.execute(text("RESET ROLE"))
        assert conn.execute(text("SELECT count(*) FROM case_file")).scalar_one() == seen
        conn.exec_driver_sql(SESSION_SCOPE, ("", ""))


def test_the_api_role_cannot_write_outside_its_scope_or_change_the_schema(
    client: TestClient, nanjing: Engine, nanjing_settings: StoreSettings
) -> None:
    outside = file_report(client, OUTSIDE, "RLS 写入")
    district = unit_id(nanjing, district_of(client, INSIDE))
    with psycopg.connect(libpq_url(nanjing_settings, api=True), autocommit=True) as conn:
        conn.execute(SESSION_SCOPE, (str(district), ""))
        updated = conn.execute("UPDATE case_file SET state = 'void' WHERE id = %s", (int(outside["case_id"]),))
        assert updated.rowcount == 0  # invisible rows cannot be updated
        grid = conn.execute("SELECT id FROM unit WHERE tier = 'grid' AND code LIKE '320104%' LIMIT 1").fetchone()
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            conn.execute(
                """INSERT INTO case_file (category_code, severity, geom, cell, grid_id, responsible_unit_id,
                            departments, filed_at, deadline, routing_trace, description)
                            VALUES ('020106', 'IV', ST_SetSRID(ST_MakePoint(118.79, 32.0), 4326), 1, %s, %s, '{}',
                                    now(), now(), '{}', 'forged')""",
                (grid[0], grid[0]),
            )  # type: ignore[index]
        for statement in (
            "DELETE FROM case_file",
            "DROP TABLE report",
            "TRUNCATE audit_log",
            "UPDATE unit SET name = 'x'",
            "INSERT INTO audit_log (actor, action, prev_hash, hash) VALUES ('x', 'y', 'z', 'w')",
            "ALTER TABLE case_file DISABLE ROW LEVEL SECURITY",
            "SET ROLE cityops",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
    with nanjing.connect() as owner:
        assert (
            owner.execute(
                text("SELECT state FROM case_file WHERE id = :i"), {"i": int(outside["case_id"])}
            ).scalar_one()
            == "reported"
        )


# ---- personal data -----------------------------------------------------------------------------------
def _outputs(client: TestClient, headers: dict[str, str], filed: dict[str, Any]) -> dict[str, str]:
    """Every output a reporter's contact could appear in, as text."""
    box = f"{INSIDE['lon'] - 0.0005},{INSIDE['lat'] - 0.0005},{INSIDE['lon'] + 0.0005},{INSIDE['lat'] + 0.0005}"
    out = {
        "case json": client.get(f"/api/v1/cases/{filed['case_id']}", headers=headers).text,
        "report json": client.get(f"/api/v1/reports/{filed['report_id']}", headers=headers).text,
        "open311 json": client.get(f"/open311/v2/requests/{filed['report_id']}.json").text,
        "open311 xml": client.get(f"/open311/v2/requests/{filed['report_id']}.xml").text,
        "open311 list": client.get("/open311/v2/requests.json").text,
    }
    for fmt in ("json", "geojson", "csv"):
        response = client.get("/api/v1/reports", params={"format": fmt, "bbox": box}, headers=headers)
        assert response.status_code == 200, response.text
        out[f"report list {fmt}"] = response.text
    return out


def test_contact_is_masked_in_every_output_without_clearance(client: TestClient, caller: Caller) -> None:
    filed = file_report(client, INSIDE, "掩码测试")
    checker = caller(["checker"], "320100")  # may read cases, not personal data
    for name, body in _outputs(client, checker, filed).items():
        assert PHONE not in body and NAME not in body, f"{name} shows the contact unmasked"
        if not name.startswith("open311"):
            assert "137****5678" in body, f"{name} lacks the masked contact"
        else:
            assert "137****5678" not in body, f"{name} (public) carries contact at all"
    rows = list(csv.DictReader(io.StringIO(_outputs(client, checker, filed)["report list csv"].lstrip("\ufeff"))))
    assert {r["reporter_phone"] for r in rows if r["id"] == filed["report_id"]} == {"137****5678"}


def test_unmasked_reads_are_audited(client: TestClient, caller: Caller, nanjing: Engine) -> None:
    filed = file_report(client, INSIDE, "审计测试")
    chain = client.get("/api/v1/locate", params=INSIDE).json()["chain"]
    street = next(u["code"] for u in chain if u["tier"] == "street")
    commander = caller(["street"], street)  # personal:read
    with nanjing.connect() as conn:
        before = conn.execute(text("SELECT max(id) FROM audit_log")).scalar_one()
    outputs = _outputs(client, commander, filed)
    for name in ("case json", "report json", "report list json", "report list geojson", "report list csv"):
        assert PHONE in outputs[name], f"{name} masks the contact for a user with clearance"
    assert PHONE not in outputs["open311 json"] + outputs["open311 list"]
    with nanjing.connect() as conn:
        entries = conn.execute(
            text("SELECT actor, detail FROM audit_log WHERE id > :b AND action = 'personal.read' ORDER BY id"),
            {"b": before},
        ).all()
    vias = [detail["via"] for actor, detail in entries if int(filed["report_id"]) in detail["reports"]]
    assert len(vias) == 5 and {actor for actor, _ in entries} == {entries[0][0]}, vias


# ---- limits ------------------------------------------------------------------------------------------
@pytest.fixture
def strict(nanjing: Engine, nanjing_settings: StoreSettings) -> Iterator[TestClient]:
    """An app with tight limits and one allowed cross-origin caller."""
    settings = api_settings(
        rate_intake_per_client="3/minute",
        rate_intake_per_caller="2/minute",
        rate_login_failures="3/15 minutes",
        rate_login_failures_per_client="6/15 minutes",
        cors_origins=["https://ops.nanjing.example"],
    )
    with TestClient(create_app(nanjing_settings, settings), raise_server_exceptions=False) as strict_client:
        yield strict_client


def test_intake_is_rate_limited_per_caller_and_per_client(strict: TestClient, caller: Caller) -> None:
    body = {**OUTSIDE, "category": "020106", "source": "citizen_app", "description": "限流"}
    first, second = caller(["integration"], "320100"), caller(["integration"], "320100")
    assert [strict.post("/api/v1/reports", json=body, headers=first).status_code for _ in range(2)] == [201, 201]
    refused = strict.post("/api/v1/reports", json=body, headers=first)
    assert refused.status_code == 429 and 1 <= int(refused.headers["retry-after"]) <= 60
    assert "account" in refused.json()["detail"]
    # another key from the same address: its own allowance, but the address is spent after 3
    assert strict.post("/api/v1/reports", json=body, headers=second).status_code == 429
    assert "address" in strict.post("/api/v1/reports", json=body, headers=second).json()["detail"]


def test_login_pauses_an_account_after_failures(strict: TestClient, nanjing: Engine) -> None:
    name = f"throttle-{uuid.uuid4().hex[:8]}"
    with nanjing.begin() as conn:
        create_user(conn, name, unit_code="320100", roles=["planner"], password="right password 123", actor="t")
    statuses = [
        strict.post("/api/v1/auth/token", data={"username": name, "password": "wrong"}).status_code for _ in range(4)
    ]
    assert statuses == [401, 401, 401, 429]
    paused = strict.post("/api/v1/auth/token", data={"username": name, "password": "right password 123"})
    assert paused.status_code == 429 and int(paused.headers["retry-after"]) > 60
    # spraying: one wrong guess at each of many accounts from one address
    sprayed = [
        strict.post("/api/v1/auth/token", data={"username": f"nobody-{i}", "password": "guess"}).status_code
        for i in range(4)
    ]
    assert (
        sprayed[-1] == 429
        and "address"
        in strict.post("/api/v1/auth/token", data={"username": "someone", "password": "x"}).json()["detail"]
    )


def test_parallel_guesses_are_counted_before_the_password_is_checked(strict: TestClient, nanjing: Engine) -> None:
    """Issue 19.1: 40 parallel wrong passwords got 40 × 401 — each checked the limit before any was counted."""
    name = f"parallel-{uuid.uuid4().hex[:8]}"
    with nanjing.begin() as conn:
        create_user(conn, name, unit_code="320100", roles=["planner"], password="right password 123", actor="t")
    with ThreadPoolExecutor(12) as pool:
        statuses = list(
            pool.map(
                lambda _: strict.post("/api/v1/auth/token", data={"username": name, "password": "wrong"}).status_code,
                range(12),
            )
        )
    assert sorted(statuses) == [401] * 3 + [429] * 9, statuses  # the limit is 3 per account and address


@pytest.mark.parametrize("path", ["/api/v1/auth/token", "/api/v1/auth/session"])
def test_control_characters_in_a_login_are_refused_in_words(client: TestClient, path: str) -> None:
    """Issue 19.2: a NUL byte in the name was a plain-text 500 from the database driver."""
    for username, password in (("demo\x00admin", "whatever 123"), ("demo-admin", "pass\x00word"), ("a\x1bb", "x")):
        answer = client.post(path, data={"username": username, "password": password})
        assert answer.status_code == 422, answer.text
        assert "control characters" in answer.json()["detail"] and answer.json()["message"]
        assert answer.headers["x-content-type-options"] == "nosniff"  # the platform's answer, headers and all


async def _attempt(throttle: Throttle, client: str, right: bool, account: str = "owner") -> str:
    """One login attempt through the throttle: "in", "wrong" or "paused"."""
    try:
        async with throttle.login_attempt(account, client):
            if not right:
                raise UnauthenticatedError("wrong username or password")
        return "in"
    except UnauthenticatedError:
        return "wrong"
    except TooManyRequestsError:
        return "paused"


def test_a_guesser_elsewhere_slows_an_account_down_but_cannot_lock_its_owner_out() -> None:
    """Issue 19.8: five wrong passwords from anywhere locked the owner out for 15 minutes."""
    limits = {"rate_login_failures": "2/15 minutes", "rate_login_failures_per_client": "100/15 minutes"}
    throttle = Throttle(api_settings(**limits, login_slowdown_after=3))

    async def timed(client: str, right: bool) -> tuple[str, float]:
        started = time.monotonic()
        return await _attempt(throttle, client, right), time.monotonic() - started

    async def story() -> list[tuple[str, float]]:
        guesses = [await timed("10.0.0.66", right=False) for _ in range(3)]  # the guesser's pair pauses
        owner = await timed("10.0.0.7", right=True)  # the owner, from their own address, gets in
        await timed("10.0.0.67", right=False)  # a third failure of the account, from a second address
        new_device = await timed("10.0.0.8", right=True)  # over the slowdown threshold: held, but let in
        known = await timed("10.0.0.7", right=True)  # where the owner signed in before: not held
        return [*guesses, owner, new_device, known]

    answers = asyncio.run(story())
    assert [answer for answer, _ in answers] == ["wrong", "wrong", "paused", "in", "in", "in"]
    assert 0.9 <= answers[4][1] < 5 and answers[5][1] < 0.5  # 2**0 s for the new address; none for the known


def test_many_addresses_guessing_one_account_get_its_cap_exactly_and_its_owner_still_gets_in() -> None:
    """64 guessers on 64 addresses: each pair's limit let 64 × 5 guesses through; the account's cap holds."""
    limits = {
        "rate_login_failures": "5/15 minutes",
        "rate_login_failures_per_client": "100/15 minutes",
        "rate_login_failures_per_account": "7/15 minutes",
    }
    throttle = Throttle(api_settings(**limits, login_slowdown_after=1000))

    async def story() -> tuple[str, list[str], str, str]:
        owner = await _attempt(throttle, "10.1.0.1", right=True)  # the owner's usual address
        guesses = await asyncio.gather(*(_attempt(throttle, f"10.2.0.{n % 64}", right=False) for n in range(128)))
        stranger = await _attempt(throttle, "10.3.0.1", right=True)  # the right password from a new address
        return owner, guesses, stranger, await _attempt(throttle, "10.1.0.1", right=True)

    owner, guesses, stranger, owner_again = asyncio.run(story())
    assert owner == "in" and sorted(guesses).count("wrong") == 7 and guesses.count("paused") == 121
    assert stranger == "paused" and owner_again == "in"  # new addresses wait out the window; the owner's do not


def test_slowed_attempts_queue_one_after_another() -> None:
    """Parallel guessers each waited out the same delay side by side: 64 of them got 64 guesses per delay."""
    limits = {
        "rate_login_failures": "5/15 minutes",
        "rate_login_failures_per_client": "100/15 minutes",
        "rate_login_failures_per_account": "100/15 minutes",
    }
    throttle = Throttle(api_settings(**limits, login_slowdown_after=1))

    async def story() -> tuple[float, list[str]]:
        await _attempt(throttle, "10.4.0.1", right=False)  # the account is past the threshold now
        started = time.monotonic()
        answers = await asyncio.gather(*(_attempt(throttle, f"10.4.1.{n}", right=False) for n in range(6)))
        return time.monotonic() - started, answers

    took, answers = asyncio.run(story())
    # places at +1, +3 (1 + 2), +7, +15, +31 s: the fifth and sixth are over 30 s away and refused at once
    assert answers.count("wrong") == 4 and answers.count("paused") == 2
    assert 14.5 <= took < 20, took  # one after another (side by side it would have been 1 s)


def test_a_stalled_upload_is_answered_408_not_held_open(nanjing_settings: StoreSettings, caller: Caller) -> None:
    """Issue 19.5: Content-Length 300,000,000 and 6 bytes sent kept the request open for good."""
    key = caller(["integration"], "320100")["X-API-Key"]
    with served(nanjing_settings, 18700, api_options={"body_read_timeout_s": 1.0}) as base:
        host, port = base.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=90) as raw:
            head = f"POST /api/v1/reports HTTP/1.1\r\nHost: {host}\r\nX-API-Key: {key}\r\n"
            upload = "Content-Type: multipart/form-data; boundary=cut\r\nContent-Length: 3000000\r\n\r\n--cut\r\n"
            raw.sendall((head + upload).encode())  # a photo upload announced, a few bytes sent, then silence
            started = time.monotonic()
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
                chunk = raw.recv(65536)
                if not chunk:
                    break
                answer += chunk
    waited = time.monotonic() - started
    status, _, body = answer.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 408"), answer[:300]
    assert b"stalled" in body and 0.9 <= waited < 60, (waited, body)  # 1 s, plus a start-up that may hold the GIL


def test_an_upload_announcing_more_than_the_total_bound_is_refused_at_once(client: TestClient, caller: Caller) -> None:
    """Issue 19.5: one upload could announce 9 files × 200 MiB (1.8 GB), each file within its own limit."""
    headers = {
        **caller(["integration"], "320100"),
        "Content-Type": "multipart/form-data; boundary=cut",
        "Content-Length": str(300_000_000),
    }
    refused = client.post("/api/v1/reports", content=b"--cut\r\n", headers=headers)
    assert refused.status_code == 413 and "269,484,032" in refused.json()["detail"]  # 256 MiB of files + 1 MiB of form


def test_request_bodies_over_the_limit_are_refused_before_reading(client: TestClient) -> None:
    big = b"x" * (2 << 20)
    declared = client.post("/api/v1/auth/refresh", content=big, headers={"content-type": "application/json"})
    assert declared.status_code == 413 and "limit" in declared.json()["detail"]

    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(40):
            yield b"y" * 65536

    streamed = client.post("/api/v1/auth/refresh", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413


def test_cors_only_for_configured_origins(strict: TestClient, client: TestClient) -> None:
    preflight = {"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"}
    allowed = strict.options("/api/v1/cases", headers={"Origin": "https://ops.nanjing.example", **preflight})
    assert allowed.headers["access-control-allow-origin"] == "https://ops.nanjing.example"
    other = strict.options("/api/v1/cases", headers={"Origin": "https://evil.example", **preflight})
    assert "access-control-allow-origin" not in other.headers
    default = client.get("/healthz", headers={"Origin": "https://ops.nanjing.example"})
    assert "access-control-allow-origin" not in default.headers


# ---- hostile strings in every parameter ----------------------------------------------------------------
HOSTILE = [
    "' OR '1'='1",
    "1; DROP TABLE case_file; --",
    "../../../../etc/passwd",
    "..%2f..%2fetc%2fpasswd",
    "%00",
    "320100' UNION SELECT password_hash FROM app_user --",
    "\\..\\..\\windows\\win.ini",
]


def _string_parameters(client: TestClient) -> list[tuple[str, str, str, str]]:
    """(method, path template, where, name) of every string parameter of every GET endpoint."""
    found = []
    for path, route in api_routes(client.app.routes):  # type: ignore[attr-defined]
        if "GET" not in route.methods or not isinstance(route, APIRoute):
            continue
        for where, params in (("path", route.dependant.path_params), ("query", route.dependant.query_params)):
            found += [("GET", path, where, p.name) for p in params if p.field_info.annotation in (str, str | None)]
        for sub in route.dependant.dependencies:
            found += [
                ("GET", path, "query", p.name) for p in sub.query_params if p.field_info.annotation in (str, str | None)
            ]
    return found


def test_injection_and_traversal_in_every_string_parameter(client: TestClient, nanjing: Engine) -> None:
    targets = _string_parameters(client)
    assert len(targets) >= 8, targets  # the parameters are really found
    with nanjing.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM case_file")).scalar_one()
    failures = []
    for _, path, where, name in targets:
        for payload in HOSTILE:
            url, params = path, {}
            for other in ("case_id", "report_id", "code", "service_code", "service_request_id", "token", "sha256"):
                url = url.replace("{" + other + "}", payload if (where, name) == ("path", other) else "1")
            url = url.replace("{fmt}", payload if (where, name) == ("path", "fmt") else "json")
            if where == "query":
                params[name] = payload
            response = client.get(url, params=params)
            leaked = "root:x:" in response.text or "$argon2" in response.text or "[fonts]" in response.text
            if response.status_code >= 500 or leaked:
                failures.append(f"{url} {params}: {response.status_code} {response.text[:100]}")
    assert not failures, "\n".join(failures)
    with nanjing.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM case_file")).scalar_one() >= before
        assert conn.execute(text("SELECT to_regclass('case_file') IS NOT NULL")).scalar_one()


def test_a_nul_character_in_a_report_is_refused_and_nothing_is_written(client: TestClient, nanjing: Engine) -> None:
    with nanjing.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM report")).scalar_one()
    body = {**OUTSIDE, "category": "020106", "source": "hotline", "description": "堆物\u0000; DROP TABLE report"}
    response = client.post("/api/v1/reports", json=body)
    assert response.status_code == 422 and "NUL" in response.json()["detail"]
    with nanjing.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM report")).scalar_one() == before


def test_in_process_counts_start_no_threads_and_are_swept() -> None:
    throttle = Throttle(api_settings(rate_intake_per_client="5/second", rate_intake_per_caller="100000/minute"))
    threads = threading.active_count()
    for n in range(200):  # limits' MemoryStorage started a sweeper thread 10 ms after each change
        with contextlib.suppress(TooManyRequestsError):
            throttle.intake(f"10.0.0.{n % 50}", "one caller")
    assert threading.active_count() <= threads
    storage = throttle._storage
    assert isinstance(storage, SweptMemory) and storage.events
    time.sleep(1.1)
    storage.sweep()
    kept = {key: len(window) for key, window in storage.events.items() if window}
    assert not [key for key in kept if key.startswith("LIMITER/intake/client")]  # their second has passed
    assert [key for key in kept if key.startswith("LIMITER/intake/caller")]  # its minute has not
