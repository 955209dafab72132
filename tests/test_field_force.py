"""Forces in the loop (issue 17.3): the people behind a force list and answer its assignments, the
deadline is kept (a late accept is told where the case went), "unable" re-offers, every step is
told in the assignment's story, and a force's people see its cases' summaries and nothing more."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from command.users import create_api_key, create_user
from spatial.errors import InvalidInputError, NotFoundError
from tests.conftest import Caller, add_force, void_open_cases
from tests.test_stream import EventStream, stream

CATEGORY = "010101"  # 上水井盖: a street's case
HOME = "320102002"  # a street of 玄武区, where the forces under test stand


def capability(nanjing: Engine) -> str:
    """A capability of the test's own, so a re-offer can only pick the test's forces."""
    code = f"t_{uuid.uuid4().hex[:10]}"
    with nanjing.begin() as conn:
        conn.execute(text("INSERT INTO capability (code, name, name_en) VALUES (:c, '测试', 'test')"), {"c": code})
    return code


def point_in(nanjing: Engine, unit: str) -> tuple[float, float]:
    with nanjing.connect() as conn:
        return conn.execute(
            text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM unit WHERE code = :u) q"),
            {"u": unit},
        ).one()


def other_district_street(nanjing: Engine) -> str:
    """A street of 秦淮区: outside the forces' own district (what a borrowed force is sent to)."""
    with nanjing.connect() as conn:
        return conn.execute(
            text("SELECT code FROM unit WHERE tier = 'street' AND code LIKE '320104%' ORDER BY code LIMIT 1")
        ).scalar_one()


def case_in(client: TestClient, nanjing: Engine, unit: str) -> int:
    """A new case in the unit, reported with the reporter's contact (which a force sees masked)."""
    lon, lat = point_in(nanjing, unit)
    void_open_cases(
        nanjing,
        "category_code = :c AND ST_DWithin(geom::geography, ST_MakePoint(:x, :y)::geography, 2000)",
        {"c": CATEGORY, "x": lon, "y": lat},
    )
    body = {
        "lon": lon,
        "lat": lat,
        "category": CATEGORY,
        "source": "hotline",
        "description": "井盖缺失，有人绊倒",
        "reporter": {"name": "李四", "phone": "13900001111"},
    }
    response = client.post("/api/v1/reports", json=body)
    assert response.status_code == 201, response.text
    return int(response.json()["case_id"])


def crew(
    nanjing: Engine,
    caps: list[str],
    people: int = 1,
    roles: tuple[str, ...] = ("field_force",),
    at: tuple[float, float] | None = None,
) -> tuple[int, str, list[dict[str, str]]]:
    """A force of the home street near ``at`` and ``people`` users behind it: (force id, code, their headers)."""
    force_id, code = add_force(nanjing, HOME, caps, kind="team", at=at or point_in(nanjing, HOME))
    headers = []
    with nanjing.begin() as conn:
        for _ in range(people):
            name = f"crew-{uuid.uuid4().hex[:10]}"
            create_user(conn, name, unit_code=HOME, roles=list(roles), password=None, force_code=code, actor="tests")
            headers.append({"X-API-Key": create_api_key(conn, name, "field phone", actor="tests")})
    return force_id, code, headers


def offer(client: TestClient, case: int, force_id: int, caps: list[str]) -> int:
    booked = client.post(f"/api/v1/cases/{case}/assignments", json={"force_ids": [force_id], "capabilities": caps})
    assert booked.status_code == 201, booked.text
    return int(booked.json()["assignments"][0]["id"])


def answer(client: TestClient, who: dict[str, str], assignment: int, given: str, reason: str = "") -> httpx.Response:
    return client.post(
        f"/api/v1/me/assignments/{assignment}/answer", headers=who, json={"answer": given, "reason": reason}
    )


def story(client: TestClient, case: int) -> dict[int, dict[str, Any]]:
    """The case's assignments by id (as the commander's panel reads them)."""
    response = client.get(f"/api/v1/cases/{case}/assignments")
    assert response.status_code == 200, response.text
    return {item["id"]: item for item in response.json()["items"]}


def steps(item: dict[str, Any]) -> list[str]:
    return [step["step"] for step in item["steps"]]


def expire(nanjing: Engine, assignment: int) -> None:
    with nanjing.begin() as conn:
        conn.execute(
            text("UPDATE assignment SET accept_by = now() - interval '1 second' WHERE id = :a"), {"a": assignment}
        )


# ---- who stands behind a force ------------------------------------------------------------------
def test_a_user_answers_for_a_force_of_their_own_unit(nanjing: Engine) -> None:
    _, code = add_force(nanjing, HOME, ["drainage"], kind="person")
    with nanjing.begin() as conn:
        with pytest.raises(InvalidInputError, match=f"--unit {HOME}"):
            create_user(
                conn,
                f"x-{uuid.uuid4().hex[:8]}",
                unit_code="320102",
                roles=["field_force"],
                password=None,
                force_code=code,
                actor="tests",
            )
        with pytest.raises(NotFoundError, match="no force"):
            create_user(
                conn,
                f"x-{uuid.uuid4().hex[:8]}",
                unit_code=HOME,
                roles=["field_force"],
                password=None,
                force_code="F-nobody",
                actor="tests",
            )
        permissions = conn.execute(
            text("SELECT name, permissions FROM role WHERE name IN ('field_force', 'grid_worker')")
        ).all()
    granted = dict(permissions)
    assert granted["field_force"] == ["assignments:answer"]
    assert "assignments:answer" in granted["grid_worker"]


def test_the_cli_links_a_new_user_to_a_force(nanjing: Engine, env: dict[str, str]) -> None:
    from typer.testing import CliRunner

    from cityops.cli import app

    _, code = add_force(nanjing, HOME, ["drainage"], kind="vehicle")
    name = f"cli-{uuid.uuid4().hex[:8]}"
    run = CliRunner().invoke(
        app, ["user", "add", name, "--unit", HOME, "--role", "field_force", "--force", code, "--no-password"]
    )
    assert run.exit_code == 0, run.output
    assert f"answering for force {code}" in " ".join(run.output.split())
    with nanjing.connect() as conn:
        linked = conn.execute(
            text("SELECT f.code FROM app_user u JOIN force f ON f.id = u.force_id WHERE u.username = :u"), {"u": name}
        ).scalar_one()
    assert linked == code


# ---- the answers --------------------------------------------------------------------------------
def test_accept_arrive_complete_each_moves_the_force_and_is_told(client: TestClient, nanjing: Engine) -> None:
    caps = [capability(nanjing)]
    force_id, code, (person,) = crew(nanjing, caps)
    case = case_in(client, nanjing, HOME)
    assignment = offer(client, case, force_id, caps)
    mine = client.get("/api/v1/me/assignments", headers=person).json()
    assert mine["force"]["code"] == code
    first = mine["items"][0]
    assert (first["id"], first["case_id"], first["stage"], first["answers"]) == (
        assignment,
        case,
        "offered",
        ["accept", "unable"],
    )
    assert first["accept_by"] and first["category"] == CATEGORY and first["category_name"]
    assert first["description"] == "井盖缺失，有人绊倒" and first["lon"] and first["lat"]
    assert first["reporter"] == {"name": "李*", "phone": "139****1111"}
    for given, stage, status in (
        ("accept", "en_route", "en_route"),
        ("arrive", "on_scene", "on_scene"),
        ("complete", "released", "available"),
    ):
        done = answer(client, person, assignment, given)
        assert done.status_code == 200, done.text
        assert done.json()["stage"] == stage and done.json()["force_status"] == status
    assert done.json()["release_reason"] == "completed" and done.json()["answers"] == []
    again = answer(client, person, assignment, "complete")
    assert again.status_code == 409 and "released" in again.json()["detail"]
    told = story(client, case)[assignment]
    assert steps(told) == ["offered", "accepted", "en_route", "on_scene", "completed"]
    assert [s["actor"] for s in told["steps"]][1:] == [told["steps"][1]["actor"]] * 4
    assert told["steps"][1]["actor"].startswith("crew-")


def test_answers_out_of_order_or_malformed_are_refused_in_words(client: TestClient, nanjing: Engine) -> None:
    caps = [capability(nanjing)]
    force_id, _, (person,) = crew(nanjing, caps)
    assignment = offer(client, case_in(client, nanjing, HOME), force_id, caps)
    early = answer(client, person, assignment, "arrive")
    assert early.status_code == 409 and "accept or unable" in early.json()["detail"]
    assert answer(client, person, assignment, "unable").status_code == 422  # no reason given
    assert answer(client, person, assignment, "sleep").status_code == 422
    assert answer(client, person, 987654321987, "accept").status_code == 404
    assert answer(client, person, assignment, "unable", "x" * 501).status_code == 422
    assert answer(client, person, assignment, "accept").status_code == 200


def test_an_accept_after_the_deadline_says_whom_the_case_was_offered_to(client: TestClient, nanjing: Engine) -> None:
    caps = [capability(nanjing)]
    late_id, _, (late,) = crew(nanjing, caps)
    next_id, next_code, _ = crew(nanjing, caps, at=point_in(nanjing, HOME))
    case = case_in(client, nanjing, HOME)
    assignment = offer(client, case, late_id, caps)
    expire(nanjing, assignment)
    refused = answer(client, late, assignment, "accept")
    assert refused.status_code == 409
    assert "re-offered" in refused.json()["detail"] and next_code in refused.json()["detail"]
    told = story(client, case)
    newest = max(told)
    assert told[newest]["force_id"] == next_id and told[newest]["assigned_by"] == "system:redispatch"
    assert told[newest]["reoffer_of"] == assignment and steps(told[newest]) == ["offered"]
    assert steps(told[assignment]) == ["offered", "timed_out", "reoffered"]
    reoffer = told[assignment]["steps"][-1]
    assert (reoffer["next_force_id"], reoffer["next_force_code"], reoffer["note"]) == (
        next_id,
        next_code,
        "accept_timeout",
    )
    mine = client.get("/api/v1/me/assignments", headers=late).json()["items"]
    assert mine[0]["id"] == assignment and mine[0]["reoffered_to_code"] == next_code and mine[0]["answers"] == []
    assert client.get(f"/api/v1/forces/{late_id}").json()["status"] == "available"


def test_unable_with_a_reason_releases_and_offers_the_case_to_the_next_force(
    client: TestClient, nanjing: Engine
) -> None:
    caps = [capability(nanjing)]
    first_id, _, (first,) = crew(nanjing, caps)
    second_id, second_code, (second,) = crew(nanjing, caps)
    case = case_in(client, nanjing, HOME)
    assignment = offer(client, case, first_id, caps)
    assert answer(client, first, assignment, "accept").status_code == 200
    unable = answer(client, first, assignment, "unable", "道路封闭，车辆无法通行")
    assert unable.status_code == 200, unable.text
    assert unable.json()["release_reason"] == "unable" and unable.json()["release_note"] == "道路封闭，车辆无法通行"
    assert unable.json()["force_status"] == "available"
    told = story(client, case)
    assert steps(told[assignment]) == ["offered", "accepted", "en_route", "unable", "reoffered"]
    assert told[assignment]["steps"][3]["note"] == "道路封闭，车辆无法通行"
    assert told[assignment]["steps"][4]["next_force_code"] == second_code
    offered = client.get("/api/v1/me/assignments", headers=second).json()["items"][0]
    assert offered["case_id"] == case and offered["stage"] == "offered"
    # the second is unable too: no one else of the unit has the capability, and the story says so
    assert answer(client, second, offered["id"], "unable", "人员不足").status_code == 200
    assert steps(story(client, case)[offered["id"]]) == ["offered", "unable", "not_reoffered"]
    assert story(client, case)[offered["id"]]["steps"][-1]["note"] == "no_candidate"
    assert len(story(client, case)) == 2 and second_id


def test_the_sweeper_tells_a_timed_out_assignment_and_its_re_offer(client: TestClient, nanjing: Engine) -> None:
    caps = [capability(nanjing)]
    first_id, _, _ = crew(nanjing, caps)
    second_id, second_code, _ = crew(nanjing, caps)
    case = case_in(client, nanjing, HOME)
    assignment = offer(client, case, first_id, caps)
    expire(nanjing, assignment)
    deadline = time.monotonic() + 15  # the service's sweeper runs every 5 s
    while time.monotonic() < deadline and len(told := story(client, case)) < 2:
        time.sleep(0.5)
    assert steps(told[assignment]) == ["offered", "timed_out", "reoffered"]
    timed_out, reoffered = told[assignment]["steps"][1:]
    assert timed_out["actor"] == "system:dispatch" and reoffered["actor"] == "system:redispatch"
    assert (reoffered["next_force_id"], reoffered["next_force_code"]) == (second_id, second_code)
    newest = told[max(told)]
    assert newest["force_id"] == second_id and newest["steps"][0]["note"] == f"re-offer of assignment {assignment}"


def test_the_story_is_append_only(nanjing: Engine) -> None:
    with nanjing.connect() as conn:
        writes = (
            conn.execute(
                text(
                    "SELECT has_table_privilege('cityops_api', 'assignment_event', p) "
                    "FROM unnest(ARRAY['INSERT', 'UPDATE', 'DELETE']) p"
                )
            )
            .scalars()
            .all()
        )
    assert writes == [False, False, False]  # the API only reads it; the trigger on assignment writes it
    for change in (
        "UPDATE assignment_event SET note = 'rewritten'",
        "DELETE FROM assignment_event",
        "TRUNCATE assignment_event",
    ):
        with pytest.raises(DBAPIError, match="append-only"), nanjing.begin() as conn:
            conn.execute(text(change))


def test_a_dispatcher_still_accepts_by_radio_and_the_deadline_holds_for_them(
    client: TestClient, nanjing: Engine
) -> None:
    caps = [capability(nanjing)]
    force_id, _, _ = crew(nanjing, caps)
    assignment = offer(client, case_in(client, nanjing, HOME), force_id, caps)
    expire(nanjing, assignment)
    late = client.post(f"/api/v1/assignments/{assignment}/accept")
    assert late.status_code == 409 and "not accepted in time" in late.json()["detail"]


# ---- who may answer, who sees what --------------------------------------------------------------
def test_a_borrowed_force_sees_its_case_summary_and_nothing_more(
    client: TestClient, nanjing: Engine, caller: Caller
) -> None:
    caps = [capability(nanjing)]
    force_id, _, (person,) = crew(nanjing, caps)
    _, _, (grid_worker,) = crew(nanjing, caps, roles=("grid_worker",))
    _, _, (stranger,) = crew(nanjing, caps)
    far = case_in(client, nanjing, other_district_street(nanjing))
    assignment = offer(client, far, force_id, caps)
    items = client.get("/api/v1/me/assignments", headers=person).json()["items"]
    assert [(i["id"], i["case_id"]) for i in items][:1] == [(assignment, far)]
    assert client.get(f"/api/v1/cases/{far}", headers=person).status_code == 403  # no cases:read at all
    assert client.get(f"/api/v1/cases/{far}", headers=grid_worker).status_code == 404  # outside their unit
    assert all(i["id"] != assignment for i in client.get("/api/v1/me/assignments", headers=stranger).json()["items"])
    refused = answer(client, stranger, assignment, "accept")
    assert refused.status_code == 403 and "you answer for force" in refused.json()["detail"]
    unlinked = caller(["grid_worker"], HOME)
    assert client.get("/api/v1/me/assignments", headers=unlinked).json()["force"] is None
    assert answer(client, unlinked, assignment, "accept").status_code == 403
    assert answer(client, caller(["street"], HOME), assignment, "accept").status_code == 403  # no assignments:answer
    assert answer(client, person, assignment, "accept").status_code == 200


def test_a_crew_accepting_at_once_books_one_accept(server: str, client: TestClient, nanjing: Engine) -> None:
    caps = [capability(nanjing)]
    force_id, _, people = crew(nanjing, caps, people=6)
    case = case_in(client, nanjing, HOME)
    assignment = offer(client, case, force_id, caps)
    url = f"{server}/api/v1/me/assignments/{assignment}/answer"

    def accept(headers: dict[str, str]) -> int:
        return httpx.post(url, headers=headers, json={"answer": "accept"}, timeout=30).status_code

    with ThreadPoolExecutor(len(people)) as pool:
        codes = sorted(pool.map(accept, people))
    assert codes == [200] + [409] * (len(people) - 1)
    assert steps(story(client, case)[assignment]) == ["offered", "accepted", "en_route"]


def assignment_on(viewer: EventStream, assignment: int, stage: str, blind: bool = False) -> dict[str, Any]:
    """The assignment as the stream tells it once it reaches ``stage`` (``blind``: no cases or forces come)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        _, data = viewer.next("changes", 10)
        if blind:
            assert data["cases"] == [] and data["forces"] == []
        for item in data["assignments"]:  # type: ignore[union-attr]
            if item["id"] == str(assignment) and item["stage"] == stage:
                return item  # type: ignore[no-any-return]
    raise TimeoutError(f"assignment {assignment} never reached {stage} on the stream")


def test_the_force_receives_its_assignment_on_its_stream_wherever_the_case_lies(
    server: str, client: TestClient, nanjing: Engine, caller: Caller
) -> None:
    caps = [capability(nanjing)]
    force_id, _, (person,) = crew(nanjing, caps)
    street = other_district_street(nanjing)
    far = case_in(client, nanjing, street)
    with stream(server, person) as mine, stream(server, caller(["street"], street)) as commander:
        assignment = offer(client, far, force_id, caps)
        seen = assignment_on(mine, assignment, "offered", blind=True)  # a force's person: their assignments only
        assert seen["case_id"] == str(far) and seen["accept_by"] and seen["force_id"] == str(force_id)
        assignment_on(commander, assignment, "offered")
        assert answer(client, person, assignment, "accept").status_code == 200
        assignment_on(commander, assignment, "en_route")
        assignment_on(mine, assignment, "en_route", blind=True)
    assert httpx.get(f"{server}/api/v1/stream", headers=caller(["admin"], "320100")).status_code == 403
