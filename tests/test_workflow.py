"""The closed loop: full walks for every source, refusals, row versions under a race, the other-hand
rule, clocks (parking, extension), supervision, escalation up the chain, random action sequences,
and the hash chain of transitions under tampering."""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from command.deadline_watch import watch_once
from command.loop_settings import LoopSettings
from spatial.db import libpq_url
from spatial.settings import StoreSettings
from tests.conftest import Caller, upload_evidence, void_open_cases

CATEGORY = "010101"  # 上水井盖: street tier, 2 urgent hours, 水务局;供水公司
WALK = (
    ("accept", "accepted"),
    ("file", "filed"),
    ("dispatch", "dispatched"),
    ("acknowledge", "acknowledged"),
    ("start", "handling"),
)


GRID_WORKERS = """SELECT a.username FROM app_user a JOIN unit u ON u.id = a.unit_id JOIN user_role r ON r.user_id = a.id
WHERE u.code = :g AND r.role = 'grid_worker'"""


def new_case(client: TestClient, nanjing: Engine, source: str = "hotline", keep: tuple[int, ...] = ()) -> int:
    """A fresh case of its own at a random spot of 玄武区's centre (open cases nearby voided first), never
    within reach of the cases in ``keep`` (a test's earlier case would otherwise be voided by chance)."""
    while True:
        lon, lat = 118.79 + random.uniform(0, 0.02), 32.05 + random.uniform(0, 0.02)  # inside 玄武区 (320102)
        with nanjing.connect() as conn:
            clear = conn.execute(
                text(
                    "SELECT NOT EXISTS (SELECT FROM case_file WHERE id = ANY(:keep) AND ST_DWithin(geom::geography, "
                    "ST_MakePoint(:x, :y)::geography, 600))"
                ),
                {"keep": list(keep), "x": lon, "y": lat},
            ).scalar_one()
        if clear:
            break
    void_open_cases(
        nanjing,
        "category_code = :c AND ST_DWithin(geom::geography, ST_MakePoint(:x, :y)::geography, 500)",
        {"c": CATEGORY, "x": lon, "y": lat},
    )
    body = {"lon": lon, "lat": lat, "category": CATEGORY, "source": source, "description": f"井盖 {uuid.uuid4()}"}
    answer = client.post("/api/v1/reports", json=body)
    assert answer.status_code == 201, answer.text
    return int(answer.json()["case_id"])


def step(
    client: TestClient, case: int, action: str, version: int, headers: dict[str, str] | None = None, **extra: object
) -> httpx.Response:
    return client.post(
        f"/api/v1/cases/{case}/transitions",
        json={"action": action, "version": version, **extra},
        headers=headers or {},
    )


def walk(client: TestClient, case: int, moves: tuple[tuple[str, str], ...] = WALK, **extra: object) -> int:
    """Take the moves in order as the default (city) caller; the version after the last."""
    version = client.get(f"/api/v1/cases/{case}/transitions").json()["version"]
    for action, state in moves:
        moved = step(client, case, action, version, **(extra if action == "dispatch" else {}))
        assert moved.status_code == 200, moved.text
        assert moved.json()["state"] == state and moved.json()["version"] == version + 1
        version += 1
    return version


def problems(nanjing: Engine, case: int) -> list[str]:
    with nanjing.connect() as conn:
        return list(
            conn.execute(
                text("SELECT problem FROM cityops_verify_transitions() WHERE case_id = :e"), {"e": case}
            ).scalars()
        )


@pytest.mark.parametrize("source", ["hotline", "grid_worker", "citizen_app", "sensor", "department"])
def test_a_case_walks_the_loop_from_every_source(
    client: TestClient, nanjing: Engine, caller: Caller, source: str
) -> None:
    case = new_case(client, nanjing, source)
    first = client.get(f"/api/v1/cases/{case}/transitions").json()
    assert first["state"] == "reported" and first["transitions"][0]["action"] == "report"
    assert first["transitions"][0]["actor"] == f"intake:{source}" and first["due_at"] is not None
    version = walk(client, case, department="供水公司")
    photo = upload_evidence(client, case)
    fed = step(client, case, "feedback", version, note="已修复", evidence=[photo], lon=118.79, lat=32.05).json()
    assert fed["state"] == "checking" and set(fed["next"]) == {"close", "rework", "supervise"}
    own = step(client, case, "close", fed["version"])
    assert own.status_code == 403 and "another hand" in own.json()["detail"]
    checker = caller(["checker"], "320100")
    if source == "grid_worker":  # the grid's own worker checks on site
        with nanjing.connect() as conn:
            grid = conn.execute(
                text("SELECT u.code FROM case_file e JOIN unit u ON u.id = e.grid_id WHERE e.id = :e"), {"e": case}
            ).scalar_one()
        checker = caller(["grid_worker"], grid)
        on_site = client.get(f"/api/v1/cases/{case}/transitions").json()["checkers_on_site"]
        with nanjing.connect() as conn:  # other tests may have workers in the same grid: each listed one is of it
            of_grid = set(conn.execute(text(GRID_WORKERS), {"g": grid}).scalars())
        assert any(name.startswith("t-gridw-") for name in on_site) and set(on_site) <= of_grid
    closed = step(client, case, "close", fed["version"], checker, lon=118.79, lat=32.05).json()
    assert closed["state"] == "closed" and closed["next"] == [] and closed["due_at"] is None  # a checker may not reopen
    listed = client.get(f"/api/v1/cases/{case}/transitions").json()
    assert [t["seq"] for t in listed["transitions"]] == list(range(1, 9)) and listed["state"] == "closed"
    feedback, close = listed["transitions"][6], listed["transitions"][7]
    assert feedback["evidence"] == [photo] and feedback["department"] == "供水公司" and listed["next"] == ["reopen"]
    assert close["role"] == ("grid_worker" if source == "grid_worker" else "checker")
    assert close["actor"] != feedback["actor"] and close["lon"] == 118.79
    assert problems(nanjing, case) == []
    with nanjing.connect() as conn:
        queued = conn.execute(text("SELECT channel, outcome FROM follow_up WHERE case_id = :e"), {"e": case}).all()
    assert queued == [(source, "closed")]


def test_refusals_say_what_to_do(client: TestClient, nanjing: Engine, caller: Caller) -> None:
    case = new_case(client, nanjing)
    illegal = step(client, case, "close", 0)
    assert illegal.status_code == 409 and "allowed: accept, supervise, void" in illegal.json()["detail"]
    assert step(client, case, "void", 0).status_code == 422  # voiding needs a note
    assert step(client, case, "void", 0, note="bad\x00note").status_code == 422  # unstorable, nothing written
    street = step(client, case, "accept", 0, caller(["checker"], "320100"))
    assert street.status_code == 403 and "needs permission cases:dispatch" in street.json()["detail"]
    assert step(client, case, "accept", 0).status_code == 200
    stale = step(client, case, "file", 0)
    assert stale.status_code == 409 and "changed since version 0 (now 1, accepted)" in stale.json()["detail"]
    assert step(client, case, "file", 1, extend_by=2).status_code == 422  # extend_by belongs to request_extension
    version = walk(client, case, WALK[1:2])
    wrong = step(client, case, "dispatch", version, department="公安局")
    assert wrong.status_code == 422 and "水务局" in wrong.json()["detail"]
    version = walk(client, case, WALK[2:])
    assert "needs evidence" in step(client, case, "feedback", version).json()["detail"]
    assert step(client, case, "feedback", version, evidence=["not-a-hash"]).status_code == 422
    never = hashlib.sha256(b"never uploaded").hexdigest()
    fake = step(client, case, "feedback", version, evidence=[never])
    assert fake.status_code == 422 and never in fake.json()["detail"]  # a hash is not a photo
    unknown = step(client, case, "teleport", version)
    assert unknown.status_code == 422 and "unknown action 'teleport'" in unknown.json()["detail"]
    assert step(client, case, "supervise", version, caller(["street"], "320102")).status_code == 403
    assert client.get("/api/v1/cases/999999999999/transitions").status_code == 404
    assert problems(nanjing, case) == []


def test_two_dispatchers_at_once_one_wins_no_lost_update(
    server: str, client: TestClient, nanjing: Engine, staff: dict[str, str]
) -> None:
    case = new_case(client, nanjing)

    def accept(_: int) -> int:
        with httpx.Client(base_url=server, headers=staff, timeout=30) as http:
            return http.post(f"/api/v1/cases/{case}/transitions", json={"action": "accept", "version": 0}).status_code

    with ThreadPoolExecutor(max_workers=10) as pool:
        codes = sorted(pool.map(accept, range(20)))
    assert codes.count(200) == 1 and codes.count(409) == 19
    with nanjing.connect() as conn:
        assert (
            conn.execute(
                text("SELECT count(*) FROM case_transition WHERE case_id = :e AND action = 'accept'"), {"e": case}
            ).scalar_one()
            == 1
        )


def _clocks(nanjing: Engine, case: int) -> dict[str, object]:
    with nanjing.connect() as conn:
        return dict(
            conn.execute(
                text(
                    "SELECT deadline, due_at, review_at, parked_remaining_s, supervised, version "
                    "FROM case_file e JOIN case_clock k ON k.case_id = e.id WHERE id = :e"
                ),
                {"e": case},
            )
            .mappings()
            .one()
        )


def test_parking_pauses_the_clock_and_an_extension_moves_it(
    client: TestClient, nanjing: Engine, caller: Caller
) -> None:
    case = new_case(client, nanjing)
    version = walk(client, case)
    handling = _clocks(nanjing, case)
    assert handling["due_at"] == handling["deadline"]  # handling stages are due at the handling deadline
    asked = step(client, case, "request_extension", version, note="需更换管件", extend_by=1).json()
    assert asked["state"] == "extension_requested"
    approver = caller(["dispatcher"], "320100")
    approved = step(client, case, "approve_extension", asked["version"], approver).json()
    extended = _clocks(nanjing, case)
    assert approved["state"] == "handling" and extended["deadline"] - handling["deadline"] == timedelta(hours=1)
    parked = step(client, case, "request_parking", approved["version"], note="待燃气迁改")
    parked = step(client, case, "approve_parking", parked.json()["version"], approver).json()
    at_parking = _clocks(nanjing, case)
    assert parked["state"] == "parked" and at_parking["due_at"] is None and at_parking["review_at"] is not None
    left = at_parking["parked_remaining_s"]
    assert 0 < left <= 3 * 3600  # 2 urgent hours + 1 hour extension, minus the seconds gone
    resumed = step(client, case, "resume", parked["version"]).json()
    after = _clocks(nanjing, case)
    assert resumed["state"] == "handling" and after["parked_remaining_s"] is None
    assert abs((after["deadline"] - datetime.now(UTC)).total_seconds() - left) < 60


def test_supervision_flags_without_touching_the_clock(client: TestClient, nanjing: Engine) -> None:
    case = new_case(client, nanjing)
    version = walk(client, case, WALK[:3])
    before = _clocks(nanjing, case)
    assert step(client, case, "supervise", version).status_code == 422  # 督办 says why
    flagged = step(client, case, "supervise", version, note="市领导督办").json()
    after = _clocks(nanjing, case)
    assert flagged["state"] == "dispatched" and after["supervised"] is True
    assert (after["deadline"], after["due_at"]) == (before["deadline"], before["due_at"])


def test_an_overdue_case_climbs_the_chain_to_the_city(
    client: TestClient, nanjing: Engine, nanjing_settings: StoreSettings
) -> None:
    case = new_case(client, nanjing)
    with nanjing.connect() as conn:
        chain = (
            conn.execute(
                text(
                    "SELECT u.code FROM case_file e JOIN unit g ON g.id = e.grid_id "
                    "JOIN unit u ON u.id = ANY(g.ancestors || g.id) WHERE e.id = :e "
                    "ORDER BY cardinality(u.ancestors) DESC"
                ),
                {"e": case},
            )
            .scalars()
            .all()
        )
        responsible = conn.execute(
            text("SELECT u.code FROM case_file e JOIN unit u ON u.id = e.responsible_unit_id WHERE e.id = :e"),
            {"e": case},
        ).scalar_one()
    climb = chain[chain.index(responsible) :]
    assert len(climb) == 3  # street → district → city
    settings = LoopSettings(_env_file=None, escalation_step_minutes=1)  # type: ignore[call-arg]
    with psycopg.connect(libpq_url(nanjing_settings), autocommit=True) as listener:
        listener.execute("LISTEN cityops_events")
        with nanjing.begin() as conn:  # the acceptance stage ran out a minute ago
            conn.execute(
                text(
                    "UPDATE case_clock SET due_at = now() - interval '1 minute', escalate_at = now() - "
                    "interval '1 minute' WHERE case_id = :e"
                ),
                {"e": case},
            )
        now = datetime.now(UTC)
        for hop in range(len(climb)):  # one tier per step; at the city it stays overdue, not escalated again
            client.portal.call(
                watch_once,
                client.app.state.pool,
                settings,
                client.app.state.rules,  # type: ignore[union-attr]
                now + timedelta(minutes=2 * hop),
            )
        feed = []  # this case's notices (others in the shared city may escalate in the same rounds)
        for notice in listener.notifies(timeout=5):
            item = json.loads(notice.payload)
            if item.get("case_id") == str(case) and item.get("type") == "escalated":
                feed.append(item)
            if len(feed) == len(climb) - 1:
                break
    history = client.get(f"/api/v1/cases/{case}/transitions").json()
    escalations = [t for t in history["transitions"] if t["action"] == "escalate"]
    assert [(t["detail"]["from_unit"], t["detail"]["to_unit"]) for t in escalations] == list(itertools.pairwise(climb))
    assert all(t["from_state"] == t["to_state"] == "reported" and t["actor"] == "system:scheduler" for t in escalations)
    assert [(f["type"], f["to_unit"]) for f in feed] == [("escalated", code) for code in climb[1:]]
    assert history["escalations"] == len(climb) - 1 and problems(nanjing, case) == []
    overdue = client.get("/api/v1/deadlines", params={"state": "overdue", "limit": 1000}).json()["items"]
    assert str(case) in [row["id"] for row in overdue]  # soonest due first: other tests' older overdue cases lead


def test_transitions_are_append_only_and_tampering_is_found(client: TestClient, nanjing: Engine) -> None:
    case = new_case(client, nanjing)
    walk(client, case, WALK[:3])
    with nanjing.begin() as conn:
        refused = conn.begin_nested()
        try:
            conn.execute(text("UPDATE case_transition SET note = 'x' WHERE case_id = :e"), {"e": case})
            raise AssertionError("an UPDATE went through")
        except Exception as error:
            assert "append-only" in str(error)
            refused.rollback()
    with nanjing.begin() as conn:  # around the trigger, as an intruder with the owner's rights would
        conn.execute(text("ALTER TABLE case_transition DISABLE TRIGGER case_transition_append_only"))
        conn.execute(text("UPDATE case_transition SET note = '改过' WHERE case_id = :e AND seq = 3"), {"e": case})
        conn.execute(text("ALTER TABLE case_transition ENABLE TRIGGER case_transition_append_only"))
    assert problems(nanjing, case) == ["its content was changed"]
    with nanjing.begin() as conn:
        conn.execute(text("ALTER TABLE case_transition DISABLE TRIGGER case_transition_append_only"))
        conn.execute(text("UPDATE case_transition SET note = '' WHERE case_id = :e AND seq = 3"), {"e": case})
        conn.execute(
            text("UPDATE case_transition SET due = due + interval '1 hour' WHERE case_id = :e AND seq = 4"),
            {"e": case},
        )
        conn.execute(text("ALTER TABLE case_transition ENABLE TRIGGER case_transition_append_only"))
    assert problems(nanjing, case) == ["its content was changed"]  # the clock columns are in the hash too
    with nanjing.connect() as intruder:  # one session: the removed row waits in its temporary table
        with intruder.begin():
            intruder.execute(text("ALTER TABLE case_transition DISABLE TRIGGER case_transition_append_only"))
            intruder.execute(
                text("UPDATE case_transition SET due = due - interval '1 hour' WHERE case_id = :e AND seq = 4"),
                {"e": case},
            )
            intruder.execute(
                text("CREATE TEMP TABLE removed AS SELECT * FROM case_transition WHERE case_id = :e AND seq = 2"),
                {"e": case},
            )
            intruder.execute(text("DELETE FROM case_transition WHERE case_id = :e AND seq = 2"), {"e": case})
            intruder.execute(text("ALTER TABLE case_transition ENABLE TRIGGER case_transition_append_only"))
        assert problems(nanjing, case) == ["a row before it was changed, removed or inserted"]
        with intruder.begin():  # put the row back as it was: the chain fits again (and the database stays whole)
            intruder.execute(text("ALTER TABLE case_transition DISABLE TRIGGER case_transition_chain"))
            intruder.execute(text("INSERT INTO case_transition OVERRIDING SYSTEM VALUE SELECT * FROM removed"))
            intruder.execute(text("ALTER TABLE case_transition ENABLE TRIGGER case_transition_chain"))
            intruder.execute(text("DROP TABLE removed"))
    assert problems(nanjing, case) == []


ACTIONS = (
    "accept",
    "void",
    "file",
    "dispatch",
    "acknowledge",
    "return",
    "start",
    "feedback",
    "request_extension",
    "approve_extension",
    "deny_extension",
    "request_parking",
    "approve_parking",
    "deny_parking",
    "resume",
    "close",
    "rework",
    "reopen",
    "supervise",
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=st.lists(st.tuples(st.sampled_from(ACTIONS), st.integers(0, 2), st.booleans()), min_size=5, max_size=25))
def test_random_action_sequences_never_reach_an_inconsistent_state(
    client: TestClient, nanjing: Engine, caller: Caller, plan: list[tuple[str, int, bool]]
) -> None:
    """Any order of actions by any of three hands: refused ones change nothing, accepted ones follow the machine."""
    hands = [{}, caller(["dispatcher", "checker"], "320100"), caller(["street"], "320102")]
    case = new_case(client, nanjing)
    photo = upload_evidence(client, case)  # named by every move: refused ones stay refused for their own reasons
    with nanjing.connect() as conn:
        machine = {(f, a): t for f, a, t in conn.execute(text("SELECT from_state, action, to_state FROM case_action"))}
    for action, who, stale in plan:
        before = client.get(f"/api/v1/cases/{case}/transitions").json()
        version = before["version"] - 1 if stale and before["version"] > 0 else before["version"]
        answer = step(client, case, action, version, hands[who], note="随机", evidence=[photo], extend_by=None)
        after = client.get(f"/api/v1/cases/{case}/transitions").json()
        if answer.status_code == 200:
            assert (before["state"], action) in machine and after["state"] == machine[(before["state"], action)]
            assert after["version"] == before["version"] + 1 and version == before["version"]
            assert len(after["transitions"]) == len(before["transitions"]) + 1
        else:
            assert answer.status_code in (403, 409, 422), answer.text
            assert after["version"] == before["version"] and after["transitions"] == before["transitions"]
        assert after["transitions"][-1]["to_state"] == after["state"]
    assert problems(nanjing, case) == []
