"""Work under an incident's command (issue 21.2, 21.3): 吹哨报到 — departments summoned, reporting in on time
and late (the summons watch escalates one tier above the whistle-blower, on the timeline), tasks for
summoned departments only, their life with a block and a photo, stale versions and two commanders at
once, forces held by an incident and unified dispatch (a street dispatcher refused naming the
incident, the command allowed), and a street commanding only inside its street."""

from __future__ import annotations

import io
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import Engine, text

from incidents.summons import escalate_once
from tests.conftest import Caller, add_force
from tests.test_dispatch import new_capability, responsible
from tests.test_dispatch import report as dispatch_report
from tests.test_incidents import open_incident, point_in, report

STREET = "320102002"  # 梅园新村街道, 玄武区
FAR_STREET = "320104001"  # 秦淮区


def _department(tag: str) -> str:
    """A department name of this test alone (the shared city holds every test's summons)."""
    return f"{tag}-{uuid.uuid4().hex[:6]}"


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (12, 12), (10, 120, 200)).save(out, format="PNG")
    return out.getvalue()


def _timeline(client: TestClient, incident_id: int) -> list[dict]:
    return client.get(f"/api/v1/incidents/{incident_id}/timeline").json()["entries"]


def test_departments_report_in_on_time_and_late_ones_are_escalated(
    client: TestClient, caller: Caller, nanjing: Engine
) -> None:
    street = caller(["street"], STREET)
    incident = open_incident(client, areas=[{"kind": "perimeter", "units": [STREET]}])
    water, order = _department("水务局"), _department("城管局")
    summoned = client.post(
        f"/api/v1/incidents/{incident['id']}/summons",
        json={"departments": [water, order], "note": "积水"},
        headers=street,
    )
    assert summoned.status_code == 201, summoned.text
    by_name = {s["department"]: s for s in summoned.json()["summons"]}
    due = datetime.fromisoformat(by_name[water]["due_at"]) - datetime.fromisoformat(by_name[water]["summoned_at"])
    assert timedelta(minutes=29) < due <= timedelta(minutes=30, seconds=1)  # incident_setting report_in
    again = client.post(f"/api/v1/incidents/{incident['id']}/summons", json={"departments": [water]}, headers=street)
    assert again.status_code == 409 and water in again.json()["detail"]

    liaison = caller(["department_handler"], "320102", water)
    assert client.get(f"/api/v1/incidents/{incident['id']}", headers=liaison).status_code == 200  # summoned: sees it
    queue = client.get("/api/v1/me/summons", headers=liaison).json()["summons"]
    assert [s["id"] for s in queue] == [by_name[water]["id"]] and queue[0]["late"] is False
    other = caller(["department_handler"], "320102", order)
    refused = client.post(f"/api/v1/summons/{by_name[water]['id']}/report-in", json={}, headers=other)
    assert refused.status_code == 403 and water in refused.json()["detail"]
    stranger = caller(["department_handler"], "320102", _department("交通局"))
    hidden = client.post(f"/api/v1/summons/{by_name[water]['id']}/report-in", json={}, headers=stranger)
    assert hidden.status_code == 404
    came = client.post(f"/api/v1/summons/{by_name[water]['id']}/report-in", json={"note": "已进驻"}, headers=liaison)
    assert came.status_code == 200, came.text
    assert came.json()["stationed"] and came.json()["late"] is False and came.json()["liaison"]["username"]
    twice = client.post(f"/api/v1/summons/{by_name[water]['id']}/report-in", json={}, headers=liaison)
    assert twice.status_code == 409 and "already" in twice.json()["detail"]

    # 城管局's half hour runs out without it: escalated once, one tier above the street that blew the whistle
    with nanjing.begin() as conn:
        conn.execute(
            text("UPDATE incident_summons SET due_at = now() - interval '1 minute' WHERE id = :s"),
            {"s": by_name[order]["id"]},
        )
    first = client.portal.call(escalate_once, client.app.state.pool)
    assert [r[2] for r in first.rows if r[1] == incident["id"]] == [order]
    second = client.portal.call(escalate_once, client.app.state.pool)
    assert [r for r in second.rows if r[1] == incident["id"]] == []
    board = {s["department"]: s for s in client.get(f"/api/v1/incidents/{incident['id']}/summons").json()["summons"]}
    assert board[order]["late"] is True and not board[order]["stationed"] and board[order]["escalated_at"]
    assert board[order]["escalated_to"]["code"] == "320102" and board[water]["escalated_to"] is None
    assert board[water]["stationed"] and board[water]["liaison"]["username"] and board[water]["late"] is False
    late = [e for e in _timeline(client, incident["id"]) if e["action"] == "report_in_late"]
    assert [(e["actor"], e["detail"]["department"], e["detail"]["escalated_to"]) for e in late] == [
        ("system:summons", order, "玄武区")
    ]
    answered = client.post(f"/api/v1/summons/{board[order]['id']}/report-in", json={}, headers=other)
    assert answered.status_code == 200 and answered.json()["late"] is True and answered.json()["stationed"]
    actions = [e["action"] for e in _timeline(client, incident["id"])]
    assert actions.count("reported_in") == 2 and actions.count("summoned") == 1


def _summoned_incident(client: TestClient, department: str) -> dict:
    incident = open_incident(client, areas=[{"kind": "perimeter", "units": [STREET]}])
    summoned = client.post(f"/api/v1/incidents/{incident['id']}/summons", json={"departments": [department]})
    assert summoned.status_code == 201, summoned.text
    return incident


def test_a_task_goes_its_way_with_a_block_and_a_photo(client: TestClient, caller: Caller) -> None:
    water = _department("水务局")
    incident = _summoned_incident(client, water)
    tasks = f"/api/v1/incidents/{incident['id']}/tasks"
    unsummoned = _department("城管局")
    refused = client.post(tasks, json={"title": "清障", "department": unsummoned})
    assert refused.status_code == 409 and f"summon {unsummoned} first" in refused.json()["detail"]
    both = client.post(tasks, json={"title": "x", "department": water, "unit": STREET})
    assert both.status_code == 422 and "exactly one" in both.json()["detail"]
    due = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    made = client.post(tasks, json={"title": "排涝", "department": water, "priority": "urgent", "due_at": due})
    assert made.status_code == 201, made.text
    task = made.json()
    assert (
        task["state"] == "assigned"
        and task["version"] == 1
        and task["assignee"]
        == {
            "kind": "department",
            "name": water,
        }
    )
    moves = f"{tasks}/{task['id']}/moves"
    liaison = caller(["department_handler"], "320102", water)
    ack = client.post(moves, json={"state": "acknowledged", "version": 1}, headers=liaison)
    assert ack.status_code == 200 and ack.json()["version"] == 2, ack.text
    stale = client.post(moves, json={"state": "in_progress", "version": 1}, headers=liaison)
    assert stale.status_code == 409 and "reload" in stale.json()["detail"]
    skipped = client.post(moves, json={"state": "done", "version": 2}, headers=liaison)
    assert skipped.status_code == 409 and "acknowledged" in skipped.json()["detail"]
    started = client.post(moves, json={"state": "in_progress", "version": 2}, headers=liaison)
    no_reason = client.post(moves, json={"state": "blocked", "version": 3}, headers=liaison)
    assert started.status_code == 200 and no_reason.status_code == 422 and "reason" in no_reason.json()["detail"]
    blocked = client.post(moves, json={"state": "blocked", "version": 3, "reason": "泵车未到"}, headers=liaison)
    assert blocked.status_code == 200 and blocked.json()["blocked_reason"] == "泵车未到"
    back = client.post(moves, json={"state": "in_progress", "version": 4, "note": "泵车到场"})  # the command unblocks
    assert back.status_code == 200 and back.json()["blocked_reason"] is None
    photo = client.post(
        f"{tasks}/{task['id']}/photos",
        data={"note": "现场"},
        files=[("media", ("site.png", _png(), "image/png"))],
        headers=liaison,
    )
    assert photo.status_code == 201, photo.text
    shot = photo.json()["updates"][-1]
    assert shot["note"] == "现场" and shot["state"] == "in_progress" and len(shot["media"]) == 1
    fetched = client.get(shot["media"][0]["url"], headers=liaison)
    assert fetched.status_code == 200 and fetched.headers["content-type"] == "image/png"
    done = client.post(moves, json={"state": "done", "version": 5}, headers=liaison)
    assert done.status_code == 200 and done.json()["state"] == "done" and done.json()["done_at"]
    reopened = client.post(moves, json={"state": "in_progress", "version": 6})
    assert reopened.status_code == 409 and "done" in reopened.json()["detail"]
    other = caller(["department_handler"], "320102", _department("交通局"))  # not summoned: never sees it
    assert client.post(moves, json={"state": "blocked", "version": 6, "reason": "x"}, headers=other).status_code == 404
    listed = client.get(tasks, headers=liaison).json()["tasks"]
    assert [t["state"] for t in listed] == ["done"] and [u["state"] for u in listed[0]["updates"]] == [
        "assigned",
        "acknowledged",
        "in_progress",
        "blocked",
        "in_progress",
        "in_progress",
        "done",
    ]
    actions = [e["action"] for e in _timeline(client, incident["id"])]
    assert actions.count("task_assigned") == 1 and actions.count("task_moved") == 5 and "task_photos" in actions


def test_two_commanders_move_a_task_at_once_and_one_wins(
    server: str, client: TestClient, staff: dict[str, str], caller: Caller
) -> None:
    water = _department("水务局")
    incident = _summoned_incident(client, water)
    task = client.post(f"/api/v1/incidents/{incident['id']}/tasks", json={"title": "巡查", "unit": STREET}).json()
    district = caller(["district"], "320102")

    def move(headers: dict[str, str]) -> httpx.Response:
        with httpx.Client(base_url=server, headers=headers, timeout=30) as http:
            url = f"/api/v1/incidents/{incident['id']}/tasks/{task['id']}/moves"
            return http.post(url, json={"state": "acknowledged", "version": task["version"]})

    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(move, [staff, district]))
    assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
    updates = client.get(f"/api/v1/incidents/{incident['id']}/tasks").json()["tasks"][0]["updates"]
    assert [u["state"] for u in updates] == ["assigned", "acknowledged"]  # one move, no lost or double update


def test_forces_held_by_an_incident_obey_unified_dispatch(client: TestClient, nanjing: Engine, caller: Caller) -> None:
    lon, lat = point_in(nanjing, STREET)
    incident = open_incident(client, title="暴雨内涝 统一调度", areas=[{"kind": "perimeter", "units": [STREET]}])
    held, held_code = add_force(nanjing, STREET, ["drainage"], at=(lon, lat))
    spare, _ = add_force(nanjing, STREET, ["drainage"], at=(lon, lat))
    forces = f"/api/v1/incidents/{incident['id']}/forces"
    committed = client.post(forces, json={"force_ids": [held, spare]})
    assert committed.status_code == 201 and {f["force_id"] for f in committed.json()["forces"]} == {held, spare}
    rival = open_incident(client, areas=[{"kind": "perimeter", "units": [STREET]}])
    taken = client.post(f"/api/v1/incidents/{rival['id']}/forces", json={"force_ids": [held]})
    assert taken.status_code == 409 and incident["code"] in taken.json()["detail"]
    task = client.post(f"/api/v1/incidents/{rival['id']}/tasks", json={"title": "x", "force_id": held})
    assert task.status_code == 409 and "commit it first" in task.json()["detail"]

    case = report(client, lon, lat)
    dispatcher = caller(["dispatcher"], STREET)
    refused = client.post(f"/api/v1/cases/{case}/assignments", json={"force_ids": [held]}, headers=dispatcher)
    assert refused.status_code == 409, refused.text
    assert refused.json()["detail"] == (
        f"force {held_code} is committed to incident {incident['code']} (暴雨内涝 统一调度): its commander decides"
    )
    allowed = client.post(f"/api/v1/cases/{case}/assignments", json={"force_ids": [held]})  # the city commands it
    assert allowed.status_code == 201, allowed.text

    released = client.post(f"{forces}/release", json={"force_ids": [spare], "note": "归建"})
    assert released.status_code == 200 and [f["force_id"] for f in released.json()["forces"]] == [held]
    again = client.post(f"{forces}/release", json={"force_ids": [spare]})
    assert again.status_code == 409 and "not held" in again.json()["detail"]
    free = client.post(f"/api/v1/cases/{case}/assignments", json={"force_ids": [spare]}, headers=dispatcher)
    assert free.status_code == 201, free.text
    history = client.get(forces, params={"history": "true"}).json()["forces"]
    assert {(f["force_id"], f["released_at"] is None) for f in history} == {(held, True), (spare, False)}
    actions = [e["action"] for e in _timeline(client, incident["id"])]
    assert "forces_committed" in actions and "forces_released" in actions
    version = client.get(f"/api/v1/incidents/{incident['id']}").json()["version"]
    assert (
        client.post(f"/api/v1/incidents/{incident['id']}/close", json={"version": version, "note": "雨停"}).status_code
        == 200
    )
    assert client.get(forces).json()["forces"] == []  # closing released the rest
    retaken = client.post(f"/api/v1/incidents/{rival['id']}/forces", json={"force_ids": [held]})
    assert retaken.status_code == 201


def test_the_sweeper_never_reoffers_a_force_an_incident_holds(client: TestClient, nanjing: Engine) -> None:
    """An offer not accepted in time goes to the next candidate — never to a nearer force an incident holds."""
    lon, lat = point_in(nanjing, STREET)
    case = dispatch_report(client, lon, lat, nanjing)
    _, own = responsible(nanjing, case)
    capability = new_capability(nanjing)
    first, _ = add_force(nanjing, own, [capability], at=(lon, lat))
    held, _ = add_force(nanjing, own, [capability], at=(lon + 0.001, lat))  # nearer than the next
    second, _ = add_force(nanjing, own, [capability], at=(lon + 0.003, lat))
    incident = open_incident(client, areas=[{"kind": "perimeter", "units": [STREET]}])
    assert client.post(f"/api/v1/incidents/{incident['id']}/forces", json={"force_ids": [held]}).status_code == 201
    booked = client.post(f"/api/v1/cases/{case}/assignments", json={"force_ids": [first], "capabilities": [capability]})
    assert booked.status_code == 201, booked.text
    assignment = booked.json()["assignments"][0]["id"]
    with nanjing.begin() as conn:  # the deadline passes (the service's sweeper runs every 5 s)
        conn.execute(
            text("UPDATE assignment SET accept_by = now() - interval '1 second' WHERE id = :a"), {"a": assignment}
        )
    deadline, items = time.monotonic() + 20, []
    while time.monotonic() < deadline and len(items) < 2:
        time.sleep(0.5)
        items = client.get(f"/api/v1/cases/{case}/assignments").json()["items"]
    assert [a["force_id"] for a in items] == [second, first]  # newest first: the held force was passed over
    assert items[0]["assigned_by"] == "system:redispatch"


def test_a_street_commands_only_inside_its_street(client: TestClient, caller: Caller, nanjing: Engine) -> None:
    incident = open_incident(client, areas=[{"kind": "perimeter", "units": [STREET]}])
    inside, far = caller(["street"], STREET), caller(["street"], FAR_STREET)
    summons = f"/api/v1/incidents/{incident['id']}/summons"
    water = _department("水务局")
    assert client.post(summons, json={"departments": [water]}, headers=far).status_code == 404
    assert client.post(summons, json={"departments": [water]}, headers=inside).status_code == 201
    task = {"title": "疏导", "unit": FAR_STREET}
    outside_unit = client.post(f"/api/v1/incidents/{incident['id']}/tasks", json=task, headers=inside)
    assert outside_unit.status_code == 409 and "does not reach" in outside_unit.json()["detail"]
    liaison = caller(["department_handler"], "320102", water)
    assert client.post(summons, json={"departments": ["x"]}, headers=liaison).status_code == 403
    # the city commands everywhere: an incident in 秦淮区 too
    post = point_in(nanjing, FAR_STREET)
    elsewhere = open_incident(client, areas=[{"kind": "perimeter", "units": [FAR_STREET]}], lon=post[0], lat=post[1])
    city = client.post(f"/api/v1/incidents/{elsewhere['id']}/summons", json={"departments": [water]})
    assert city.status_code == 201
    assert (
        client.post(
            f"/api/v1/incidents/{elsewhere['id']}/summons", json={"departments": ["y"]}, headers=inside
        ).status_code
        == 404
    )
