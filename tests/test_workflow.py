"""The closed loop's state machine (issue 6 groundwork): a full walk, refusals, row versions under a
race, the other-hand rule, and the hash chain of transitions under tampering."""

from __future__ import annotations

import hashlib
import random
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.conftest import Caller, void_open_cases

CATEGORY = "010101"


def new_case(client: TestClient, nanjing: Engine) -> int:
    """A fresh case of its own at a random spot of 玄武区's centre (open cases nearby voided first)."""
    lon, lat = 118.78 + random.uniform(0, 0.02), 32.04 + random.uniform(0, 0.02)
    void_open_cases(nanjing, "category_code = :c AND ST_DWithin(geom::geography, ST_MakePoint(:x, :y)::geography, "
                    "500)", {"c": CATEGORY, "x": lon, "y": lat})  # fmt: skip
    body = {"lon": lon, "lat": lat, "category": CATEGORY, "source": "hotline", "description": f"井盖 {uuid.uuid4()}"}
    return int(client.post("/api/v1/reports", json=body).json()["case_id"])


def step(client: TestClient, case: int, action: str, version: int, headers: dict[str, str] | None = None,
         **extra: object) -> httpx.Response:  # fmt: skip
    return client.post(f"/api/v1/events/{case}/transitions", json={"action": action, "version": version, **extra},
                       headers=headers or {})  # fmt: skip


def problems(nanjing: Engine, case: int) -> list[str]:
    with nanjing.connect() as conn:
        return list(conn.execute(text("SELECT problem FROM cityops_verify_transitions() WHERE event_id = :e"),
                                 {"e": case}).scalars())  # fmt: skip


def test_a_case_walks_the_loop_and_a_second_hand_closes_it(client: TestClient, nanjing: Engine,
                                                           caller: Caller) -> None:  # fmt: skip
    case = new_case(client, nanjing)
    photo = hashlib.sha256(b"after").hexdigest()
    version = 0
    for action, state in (("accept", "accepted"), ("file", "filed"), ("dispatch", "dispatched"),
                          ("acknowledge", "acknowledged"), ("start", "handling")):  # fmt: skip
        moved = step(client, case, action, version)
        assert moved.status_code == 200, moved.text
        assert moved.json()["state"] == state and moved.json()["version"] == version + 1
        version += 1
    fed = step(client, case, "feedback", version, note="已修复", evidence=[photo], lon=118.79, lat=32.05).json()
    assert fed["state"] == "checking" and set(fed["next"]) == {"close", "rework"}
    own = step(client, case, "close", fed["version"])
    assert own.status_code == 403 and "another hand" in own.json()["detail"]
    checker = caller(["checker"], "320102")
    closed = step(client, case, "close", fed["version"], checker).json()
    assert closed["state"] == "closed" and closed["next"] == []  # a checker may not reopen
    listed = client.get(f"/api/v1/events/{case}/transitions").json()
    assert [t["seq"] for t in listed["transitions"]] == list(range(1, 8)) and listed["state"] == "closed"
    assert listed["transitions"][5]["evidence"] == [photo] and listed["next"] == ["reopen"]
    assert problems(nanjing, case) == []


def test_refusals_say_what_to_do(client: TestClient, nanjing: Engine, caller: Caller) -> None:
    case = new_case(client, nanjing)
    illegal = step(client, case, "close", 0)
    assert illegal.status_code == 409 and "allowed: accept, void" in illegal.json()["detail"]
    assert step(client, case, "void", 0).status_code == 422  # voiding needs a note
    street = step(client, case, "accept", 0, caller(["checker"], "320102"))
    assert street.status_code == 403 and "needs permission cases:dispatch" in street.json()["detail"]
    assert step(client, case, "accept", 0).status_code == 200
    stale = step(client, case, "file", 0)
    assert stale.status_code == 409 and "changed since version 0 (now 1, accepted)" in stale.json()["detail"]
    for action in ("file", "dispatch", "acknowledge", "start"):
        version = client.get(f"/api/v1/events/{case}/transitions").json()["version"]
        step(client, case, action, version)
    version = client.get(f"/api/v1/events/{case}/transitions").json()["version"]
    assert "needs evidence" in step(client, case, "feedback", version).json()["detail"]
    assert step(client, case, "feedback", version, evidence=["not-a-hash"]).status_code == 422
    unknown = step(client, case, "teleport", version)
    assert unknown.status_code == 422 and "unknown action 'teleport'" in unknown.json()["detail"]
    assert client.get("/api/v1/events/999999999999/transitions").status_code == 404


def test_two_dispatchers_at_once_one_wins_no_lost_update(server: str, client: TestClient, nanjing: Engine,
                                                          staff: dict[str, str]) -> None:  # fmt: skip
    case = new_case(client, nanjing)

    def accept(_: int) -> int:
        with httpx.Client(base_url=server, headers=staff, timeout=30) as http:
            return http.post(f"/api/v1/events/{case}/transitions", json={"action": "accept", "version": 0}).status_code

    with ThreadPoolExecutor(max_workers=10) as pool:
        codes = sorted(pool.map(accept, range(20)))
    assert codes.count(200) == 1 and codes.count(409) == 19
    with nanjing.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM case_transition WHERE event_id = :e"),
                            {"e": case}).scalar_one() == 1  # fmt: skip


def test_transitions_are_append_only_and_tampering_is_found(client: TestClient, nanjing: Engine) -> None:
    case = new_case(client, nanjing)
    for version, action in enumerate(("accept", "file", "dispatch")):
        step(client, case, action, version)
    with nanjing.begin() as conn:
        refused = conn.begin_nested()
        try:
            conn.execute(text("UPDATE case_transition SET note = 'x' WHERE event_id = :e"), {"e": case})
            raise AssertionError("an UPDATE went through")
        except Exception as error:
            assert "append-only" in str(error)
            refused.rollback()
    with nanjing.begin() as conn:  # around the trigger, as an intruder with the owner's rights would
        conn.execute(text("ALTER TABLE case_transition DISABLE TRIGGER case_transition_append_only"))
        conn.execute(text("UPDATE case_transition SET note = '改过' WHERE event_id = :e AND seq = 2"), {"e": case})
        conn.execute(text("ALTER TABLE case_transition ENABLE TRIGGER case_transition_append_only"))
    assert problems(nanjing, case) == ["its content was changed"]
    with nanjing.begin() as conn:
        conn.execute(text("ALTER TABLE case_transition DISABLE TRIGGER case_transition_append_only"))
        conn.execute(text("UPDATE case_transition SET note = '' WHERE event_id = :e AND seq = 2"), {"e": case})
        conn.execute(text("ALTER TABLE case_transition ENABLE TRIGGER case_transition_append_only"))
        conn.execute(text("UPDATE event SET state = 'closed' WHERE id = :e"), {"e": case})
    assert problems(nanjing, case) == ["the case is not in the state its last transition left it in"]
    with nanjing.begin() as conn:
        conn.execute(text("UPDATE event SET state = 'dispatched' WHERE id = :e"), {"e": case})
    assert problems(nanjing, case) == []
