"""Resources for incidents in EDXL-RM terms: a cross-district request's whole life (request → offer →
accept → commit with forces → deployed → released → returned), a decline, moves the state does not
allow, stale versions, two answers at once, a force held by another incident, who sees what (the unit
asked sees the request, not the incident; a third district nothing), the summary, the nearest forces
for the whole area, and a smoke run of `cityops bench incidents`."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
from fastapi.testclient import TestClient
from rich.console import Console
from sqlalchemy import Engine, text

from bench import incidents as incidents_bench
from spatial.settings import StoreSettings
from tests.conftest import Caller, add_force
from tests.test_incidents import XUANWU, open_incident, point_in

NEEDED_BY = (datetime.now(UTC) + timedelta(hours=2)).isoformat()


def ask(client: TestClient, incident_id: int, headers: dict[str, str], **given: object) -> httpx.Response:
    body = {
        "resource_type": "rescue_team",
        "quantity": 3,
        "to_unit": "320104",
        "needed_by": NEEDED_BY,
        "lon": XUANWU[0],
        "lat": XUANWU[1],
        **given,
    }
    return client.post(f"/api/v1/incidents/{incident_id}/resources", json=body, headers=headers)


def move(client: TestClient, request: dict, action: str, headers: dict[str, str], **body: object) -> httpx.Response:
    return client.post(
        f"/api/v1/resource-requests/{request['id']}/{action}",
        json={"version": request["version"], **body},
        headers=headers,
    )


def moved(client: TestClient, request: dict, action: str, headers: dict[str, str], **body: object) -> dict:
    answer = move(client, request, action, headers, **body)
    assert answer.status_code == 200, answer.text
    return answer.json()


def held(nanjing: Engine, force_ids: list[int]) -> dict[int, bool]:
    """Each force's holding state: True held (not released), False released; absent: never held."""
    with nanjing.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT force_id, bool_or(released_at IS NULL) FROM incident_force WHERE force_id = ANY(:f) GROUP BY 1"
            ),
            {"f": force_ids},
        ).all()
    return dict(rows)


def summary_of(client: TestClient, incident_id: int, headers: dict[str, str]) -> dict[str, dict]:
    answer = client.get(f"/api/v1/incidents/{incident_id}/resources", headers=headers)
    assert answer.status_code == 200, answer.text
    return {row["resource_type"]: row for row in answer.json()["summary"]}


def test_a_cross_district_request_lives_its_whole_life(client: TestClient, nanjing: Engine, caller: Caller) -> None:
    commander = caller(["district"], "320102")  # 玄武区 commands the incident
    owner = caller(["district"], "320104")  # 秦淮区 owns rescue teams
    incident = open_incident(client, commander)
    teams = [
        add_force(nanjing, "320104", ["rescue", "first_aid"], "team", at=point_in(nanjing, "320104"))[0] for _ in "ab"
    ]
    asked = ask(client, incident["id"], commander, note="两支以上救援队")
    assert asked.status_code == 201, asked.text
    request = asked.json()
    assert request["state"] == "requested" and request["to_unit"]["code"] == "320104" and request["version"] == 1
    assert request["allowed"] == ["offer", "decline"]

    inbox = client.get("/api/v1/resource-requests", params={"asked": "true"}, headers=owner).json()["items"]
    assert request["id"] in [r["id"] for r in inbox]
    offered = moved(client, request, "offer", owner, quantity=2, note="可出两支")
    assert offered["state"] == "offered" and offered["offered"] == 2
    assert summary_of(client, incident["id"], commander)["rescue_team"]["offered"] == 2
    accepted = moved(client, offered, "accept", commander)
    too_many = move(client, accepted, "commit", owner, force_ids=teams, quantity=3)
    assert too_many.status_code == 422 and "no more than was offered" in too_many.json()["detail"]
    committed = moved(client, accepted, "commit", owner, force_ids=teams)
    assert committed["state"] == "committed" and committed["committed"] == 2 and committed["force_ids"] == sorted(teams)
    assert held(nanjing, teams) == {t: True for t in teams}
    assert summary_of(client, incident["id"], commander)["rescue_team"]["committed"] == 2
    deployed = moved(client, committed, "deploy", commander, note="已到场")
    assert summary_of(client, incident["id"], commander)["rescue_team"]["deployed"] == 2
    released = moved(client, deployed, "release", commander)
    assert held(nanjing, teams) == {t: False for t in teams}
    returned = moved(client, released, "return", owner)
    assert returned["state"] == "returned" and returned["allowed"] == []
    assert [m["type"] for m in returned["messages"]] == [
        "RequestResource",
        "ResponseToRequestResource",
        "RequisitionResource",
        "CommitResource",
        "ReportResourceDeploymentStatus",
        "ReleaseResource",
        "ResponseToRequestReturn",
    ]
    summary = summary_of(client, incident["id"], commander)["rescue_team"]
    assert (summary["requested"], summary["committed"], summary["deployed"], summary["released"]) == (3, 0, 0, 2)
    timeline = client.get(f"/api/v1/incidents/{incident['id']}/timeline", headers=commander).json()["entries"]
    actions = [e["action"] for e in timeline if e["action"].startswith("resource_")]
    assert actions == [
        "resource_requested",
        "resource_offered",
        "resource_accepted",
        "resource_committed",
        "resource_deployed",
        "resource_released",
        "resource_returned",
    ]
    assert [e["actor"] for e in timeline if e["action"] == "resource_committed"] != [
        e["actor"] for e in timeline if e["action"] == "resource_accepted"
    ]  # the owner's moves are on the timeline too, written by the owner


def test_a_decline_needs_a_reason_and_ends_the_request(client: TestClient, caller: Caller) -> None:
    commander, owner = caller(["district"], "320102"), caller(["district"], "320104")
    incident = open_incident(client, commander)
    request = ask(client, incident["id"], commander, resource_type="pump", quantity=4).json()
    bare = move(client, request, "decline", owner)
    assert bare.status_code == 422 and "reason" in bare.json()["detail"]
    declined = moved(client, request, "decline", owner, note="泵车均在本区使用")
    assert declined["state"] == "declined" and declined["messages"][-1]["note"] == "泵车均在本区使用"
    late = move(client, declined, "offer", owner, quantity=1)
    assert late.status_code == 409 and "no move is left" in late.json()["detail"]
    assert summary_of(client, incident["id"], commander)["pump"]["declined_requests"] == 1


def test_moves_the_state_does_not_allow_stale_versions_and_the_wrong_side(client: TestClient, caller: Caller) -> None:
    commander, owner = caller(["district"], "320102"), caller(["district"], "320104")
    incident = open_incident(client, commander)
    request = ask(client, incident["id"], commander, resource_type="sandbags", quantity=500).json()
    early = move(client, request, "commit", owner, quantity=10)
    assert early.status_code == 409 and "allowed: offer, decline" in early.json()["detail"]
    stale = move(client, {**request, "version": request["version"] + 5}, "offer", owner)
    assert stale.status_code == 409 and "reload" in stale.json()["detail"]
    self_answer = move(client, request, "offer", commander)
    assert self_answer.status_code == 403 and "unit asked" in self_answer.json()["detail"]
    offered = moved(client, request, "offer", owner, quantity=200)
    owner_accepts = move(client, offered, "accept", owner)
    assert owner_accepts.status_code == 403  # the owner does not see the incident: accepting is the command's
    with_forces = move(client, moved(client, offered, "accept", commander), "commit", owner, force_ids=[1])
    assert with_forces.status_code == 422 and "counted goods" in with_forces.json()["detail"]
    assert ask(client, incident["id"], commander, resource_type="helicopter").status_code == 422
    assert ask(client, incident["id"], commander, to_unit="999999").status_code == 422
    assert ask(client, incident["id"], commander, needed_by="2026-12-03T20:00:00").status_code == 422  # no offset
    past = ask(client, incident["id"], commander, needed_by="2020-01-01T08:00:00+08:00")
    assert past.status_code == 422 and "has passed" in past.json()["detail"]
    bad_move = client.post(f"/api/v1/resource-requests/{request['id']}/steal", json={"version": 1}, headers=owner)
    assert bad_move.status_code == 422


def test_two_owners_answering_at_once_one_wins(
    server: str, client: TestClient, caller: Caller, nanjing: Engine
) -> None:
    commander = caller(["district"], "320102")
    owners = [caller(["district"], "320104"), caller(["city_commander"], "320100")]
    incident = open_incident(client, commander)
    request = ask(client, incident["id"], commander, resource_type="generator", quantity=2).json()

    def answer(n: int) -> httpx.Response:
        action, body = (("offer", {"quantity": 2}), ("decline", {"note": "发电机检修中"}))[n % 2]
        with httpx.Client(base_url=server, headers=owners[n % 2], timeout=30) as http:
            return http.post(f"/api/v1/resource-requests/{request['id']}/{action}", json={"version": 1, **body})

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(answer, range(8)))
    codes = sorted(a.status_code for a in answers)
    assert codes.count(200) == 1 and codes.count(409) == 7, codes
    with nanjing.connect() as conn:
        messages = conn.execute(
            text("SELECT count(*) FROM resource_message WHERE request_id = :r"), {"r": request["id"]}
        ).scalar_one()
    assert messages == 2  # the request and the one answer that won


def test_a_force_held_by_another_incident_is_refused_naming_it(
    client: TestClient, caller: Caller, nanjing: Engine
) -> None:
    commander, owner = caller(["district"], "320102"), caller(["district"], "320104")
    qinhuai = point_in(nanjing, "320104")
    own_incident = open_incident(client, owner, lon=qinhuai[0], lat=qinhuai[1])  # 秦淮区's own incident
    team, _ = add_force(nanjing, "320104", ["rescue"], "team", at=qinhuai)
    first = ask(client, own_incident["id"], owner, to_unit="320104", quantity=1).json()
    first = moved(
        client, moved(client, moved(client, first, "offer", owner), "accept", owner), "commit", owner, force_ids=[team]
    )
    incident = open_incident(client, commander)
    second = ask(client, incident["id"], commander, quantity=1).json()
    second = moved(client, moved(client, second, "offer", owner), "accept", commander)
    taken = move(client, second, "commit", owner, force_ids=[team])
    assert taken.status_code == 409 and f"held by {own_incident['code']}" in taken.json()["detail"]
    xuanwu_team, _ = add_force(nanjing, "320102", ["rescue"], "team", at=XUANWU)
    foreign = move(client, second, "commit", owner, force_ids=[xuanwu_team])
    assert foreign.status_code == 422 and "not the asked unit's forces" in foreign.json()["detail"]
    assert held(nanjing, [team, xuanwu_team]) == {team: True}  # nothing half-written


def test_the_unit_asked_sees_the_request_not_the_incident_and_a_third_sees_nothing(
    client: TestClient, caller: Caller
) -> None:
    commander, owner = caller(["district"], "320102"), caller(["district"], "320104")
    third, owner_street = caller(["district"], "320105"), caller(["street"], "320104001")
    incident = open_incident(client, commander)
    request = ask(client, incident["id"], commander).json()
    assert client.get(f"/api/v1/resource-requests/{request['id']}", headers=owner).status_code == 200
    for path in ("", "/resources", "/timeline", "/impact"):
        assert client.get(f"/api/v1/incidents/{incident['id']}{path}", headers=owner).status_code == 404, path
    offered = moved(client, request, "offer", owner)
    owner_view = client.get(f"/api/v1/resource-requests/{request['id']}", headers=owner).json()
    assert owner_view["state"] == "offered" and owner_view["version"] == offered["version"]
    for outsider in (third, owner_street):
        assert client.get(f"/api/v1/resource-requests/{request['id']}", headers=outsider).status_code == 404
        listed = client.get("/api/v1/resource-requests", headers=outsider).json()["items"]
        assert request["id"] not in [r["id"] for r in listed]
        assert move(client, offered, "decline", outsider, note="x").status_code == 404
    assert ask(client, incident["id"], third).status_code == 404
    assert ask(client, incident["id"], owner_street).status_code == 404
    planner = caller(["planner"], "320102")
    assert ask(client, incident["id"], planner).status_code == 403  # reading is not commanding


def test_the_nearest_capable_forces_for_the_whole_area(client: TestClient, caller: Caller, nanjing: Engine) -> None:
    commander = caller(["district"], "320102")
    incident = open_incident(
        client, commander, areas=[{"kind": "perimeter", "buffer_m": 800, "lon": XUANWU[0], "lat": XUANWU[1]}]
    )
    inside, _ = add_force(nanjing, "320102", ["rescue"], "team", at=(XUANWU[0] + 0.003, XUANWU[1]))
    near = f"/api/v1/incidents/{incident['id']}/resources/nearest"
    # k = 50: other tests' rescue forces near this spot may rank ahead of ours (their district's, nearer the centre)
    answer = client.get(near, params={"resource_type": "rescue_team", "k": 50}, headers=commander)
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert found["capability"] == "rescue" and 1 <= len(found["candidates"]) <= 50
    ours = next(card for card in found["candidates"] if card["id"] == inside)  # inside: no force is nearer
    assert ours["distance_m"] == 0 and ours["eta_s"] == 0 and ours["distance_to_centre_m"] > 200
    for card in found["candidates"]:
        assert "rescue" in card["capabilities"] and card["status"] == "available"
        assert card["distance_m"] <= card["distance_to_centre_m"]
    with nanjing.connect() as conn:  # each the geodesic distance to the area (0 inside), as plain PostGIS says
        for card in found["candidates"]:
            plain = conn.execute(
                text(
                    "SELECT ST_Distance(p.geom::geography, a.geom::geography) FROM force_position p, incident_area a "
                    "WHERE p.force_id = :f AND a.incident_id = :i AND a.retired_at IS NULL AND a.kind = 'perimeter'"
                ),
                {"f": card["id"], "i": incident["id"]},
            ).scalar_one()
            assert abs(card["distance_m"] - plain) < 1
    ranked = [(c["tier"], c["distance_to_centre_m"]) for c in found["candidates"]]
    assert ranked == sorted(ranked)  # the commanding unit's own first, then by distance from the area's centre
    goods = client.get(near, params={"resource_type": "sandbags"}, headers=commander)
    assert goods.status_code == 422 and "counted goods" in goods.json()["detail"]


def test_bench_incidents_smoke(nanjing: Engine, nanjing_settings: StoreSettings) -> None:
    console = Console(record=True, width=240)
    rows = incidents_bench.run(nanjing_settings, cases=300, forces=60, km2=2.0, rounds=2, console=console)
    output = console.export_text()
    assert [row.measure.split(":")[0] for row in rows] == ["board ready", "board ready", "impact query", "impact query"]
    assert all(row.ratio > 0 for row in rows)
    assert "300 linked cases and 60 forces placed inside" in output and "cores" in output
    assert "equal counts" in output
