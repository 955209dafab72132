"""Major incidents, the core: opening (and elevating cases), who commands by level (江北新区 for its
streets), areas drawn, buffered or joined from units and refused when broken or outside the city,
escalation and de-escalation on the timeline, cases flagged and proposed inside the area, impact
counts against plain ST_Intersects, closing, stale versions, and who sees and commands what."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from command.historic_import import import_events
from incidents.queries.impact import PLAIN, UNION_OF_AREAS
from tests.conftest import Caller
from tests.test_stream import stream
from tests.test_work_pages import person, signed_in

XUANWU = (118.80, 32.06)  # inside 玄武区 (320102)
BOWTIE = {
    "type": "Polygon",
    "coordinates": [[[118.79, 32.05], [118.81, 32.07], [118.81, 32.05], [118.79, 32.07], [118.79, 32.05]]],
}
OFFSHORE = {
    "type": "Polygon",
    "coordinates": [[[121.0, 31.0], [121.01, 31.0], [121.01, 31.01], [121.0, 31.01], [121.0, 31.0]]],
}


def point_in(nanjing: Engine, code: str) -> tuple[float, float]:
    """A point well inside unit ``code``."""
    with nanjing.connect() as conn:
        lon, lat = conn.execute(
            text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM unit WHERE code = :c) s"),
            {"c": code},
        ).one()
    return float(lon), float(lat)


def open_incident(client: TestClient, headers: dict[str, str] | None = None, **given: object) -> dict:
    body = {
        "title": f"暴雨内涝第{uuid.uuid4().int % 90000 + 10000}号",  # no Latin word, no six digits on the wall
        "class_code": "natural_disaster.rainstorm_flood",
        "level": "IV",
        "lon": XUANWU[0],
        "lat": XUANWU[1],
        **given,
    }
    answer = client.post("/api/v1/incidents", json=body, headers=headers or {})
    assert answer.status_code == 201, answer.text
    return answer.json()


def report(client: TestClient, lon: float, lat: float, category: str = "020404") -> int:
    body = {"lon": lon, "lat": lat, "category": category, "source": "hotline", "description": f"积水 {uuid.uuid4()}"}
    answer = client.post("/api/v1/reports", json=body)
    assert answer.status_code == 201, answer.text
    return int(answer.json()["case_id"])


def clear_of_open_cases(nanjing: Engine, lon: float, lat: float, category: str) -> tuple[float, float]:
    """The point nearest east of (lon, lat), in 50 m steps, with no open case of ``category`` within its
    duplicate radius: a report there opens a case of its own, whatever earlier tests or runs left nearby."""
    with nanjing.connect() as conn:
        for step in range(10):  # 450 m at most: still inside the 600 m incident area of the tests
            here = (lon + step * 0.0005, lat)
            taken = conn.execute(
                text(
                    "SELECT EXISTS (SELECT FROM case_file e JOIN category k ON k.code = e.category_code "
                    "WHERE e.category_code = :c AND e.state NOT IN ('closed', 'void') "
                    "AND ST_DWithin(e.geom::geography, ST_SetSRID(ST_MakePoint(:x, :y), 4326)::geography, "
                    "k.duplicate_radius_m + 1))"
                ),
                {"c": category, "x": here[0], "y": here[1]},
            ).scalar_one()
            if not taken:
                return here
    raise AssertionError(f"no point near ({lon}, {lat}) clear of open {category} cases")


def test_the_level_decides_who_commands_and_changes_are_on_the_timeline(client: TestClient, nanjing: Engine) -> None:
    opened = open_incident(client)
    assert opened["code"].startswith("INC-") and opened["state"] == "active" and opened["version"] >= 1
    assert opened["commanding_unit"]["code"] == "320102" and opened["level"]["name"] == "一般"
    up = client.post(f"/api/v1/incidents/{opened['id']}/level", json={"level": "II", "version": opened["version"]})
    assert up.status_code == 200, up.text
    assert up.json()["commanding_unit"]["tier"] == "city" and up.json()["level"]["code"] == "II"
    stale = client.post(f"/api/v1/incidents/{opened['id']}/level", json={"level": "III", "version": opened["version"]})
    assert stale.status_code == 409 and "reload" in stale.json()["detail"]
    down = client.post(
        f"/api/v1/incidents/{opened['id']}/level", json={"level": "III", "version": up.json()["version"]}
    )
    assert down.status_code == 200 and down.json()["commanding_unit"]["code"] == "320102"
    actions = [e["action"] for e in client.get(f"/api/v1/incidents/{opened['id']}/timeline").json()["entries"]]
    assert actions == ["opened", "area_set", "escalated", "de_escalated"]
    jiangbei = open_incident(client, lon=point_in(nanjing, "320111001")[0], lat=point_in(nanjing, "320111001")[1])
    assert jiangbei["commanding_unit"]["name"] == "江北新区"  # its streets are commanded by the management unit


def test_only_the_commanding_unit_or_above_opens_and_changes(client: TestClient, caller: Caller) -> None:
    district = caller(["district"], "320102")
    mine = open_incident(client, district)
    assert mine["commanding_unit"]["code"] == "320102"
    elsewhere = client.post(
        "/api/v1/incidents",
        json={"title": "x", "class_code": "accident.fire", "level": "IV", "lon": XUANWU[0], "lat": XUANWU[1]},
        headers=caller(["district"], "320104"),
    )
    assert elsewhere.status_code == 403 and "commanded by 玄武区" in elsewhere.json()["detail"]
    grave = client.post(
        f"/api/v1/incidents/{mine['id']}/level", json={"level": "I", "version": mine["version"]}, headers=district
    )
    assert grave.status_code == 200 and grave.json()["commanding_unit"]["tier"] == "city"
    back = client.post(
        f"/api/v1/incidents/{mine['id']}/level",
        json={"level": "IV", "version": grave.json()["version"]},
        headers=district,
    )
    assert back.status_code == 403  # now the city commands it: the district no longer changes its level
    reader = caller(["planner"], "320100")
    assert client.post("/api/v1/incidents", json={}, headers=reader).status_code == 403


def test_areas_are_checked_and_kept_inside_the_city(client: TestClient) -> None:
    incident = open_incident(client)
    areas = f"/api/v1/incidents/{incident['id']}/areas"
    bowtie = client.post(areas, json={"kind": "hot_zone", "geometry": BOWTIE})
    assert bowtie.status_code == 422 and "Self-intersection" in bowtie.json()["detail"]
    outside = client.post(areas, json={"kind": "evacuation", "geometry": OFFSHORE})
    assert outside.status_code == 422 and "outside the city" in outside.json()["detail"]
    two = client.post(areas, json={"kind": "staging", "buffer_m": 100, "units": ["320102"]})
    assert two.status_code == 422 and "exactly one" in two.json()["detail"]
    unknown = client.post(areas, json={"kind": "closure", "units": ["999999"]})
    assert unknown.status_code == 422 and "999999" in unknown.json()["detail"]
    street = client.post(areas, json={"kind": "perimeter", "units": ["320102002"], "label": "梅园新村街道"})
    assert street.status_code == 201 and street.json()["derived"] == "units" and street.json()["replaces"]
    zone = client.post(areas, json={"kind": "hot_zone", "buffer_m": 300, "lon": XUANWU[0], "lat": XUANWU[1]})
    assert zone.status_code == 201 and 250_000 < zone.json()["area_m2"] < 290_000  # π·300² ≈ 282,743 m²
    current = client.get(f"/api/v1/incidents/{incident['id']}").json()["areas"]["features"]
    assert sorted(f["properties"]["kind"] for f in current) == ["hot_zone", "perimeter"]
    assert client.delete(f"{areas}/{zone.json()['area_id']}").status_code == 204
    assert client.delete(f"{areas}/{zone.json()['area_id']}").status_code == 404


def test_cases_inside_are_flagged_proposed_linked_and_dismissed(
    client: TestClient, nanjing: Engine, tmp_path: Path
) -> None:
    lon, lat = 118.812, 32.052
    before = report(client, lon, lat + 0.0005, "020401")  # a related open case already there: proposed
    elevated = report(client, lon + 0.0005, lat)
    incident = open_incident(
        client,
        lon=lon,
        lat=lat,
        case_ids=[elevated],
        areas=[{"kind": "perimeter", "buffer_m": 400, "lon": lon, "lat": lat}],
    )
    after = report(client, lon - 0.0005, lat, "010103")  # reported inside after opening: flagged
    history = tmp_path / "history.csv"  # a historic import inside: cases that ended before it opened, not flagged
    week_ago = (datetime.now(UTC) - timedelta(days=7)).isoformat()
    history.write_text(
        f"lon,lat,category,reported_at,state,id\n{lon},{lat},010103,{week_ago},closed,old-{uuid.uuid4()}\n"
    )
    assert import_events(nanjing, history).loaded == 1
    cases = {c["case_id"]: c for c in client.get(f"/api/v1/incidents/{incident['id']}/cases").json()["cases"]}
    assert cases[str(elevated)]["link"] == "linked" and cases[str(elevated)]["how"] == "elevated"
    assert cases[str(after)]["link"] == "flagged" and cases[str(before)]["link"] == "proposed"
    assert len(cases) == 3  # the imported one is not among them
    decided = client.post(f"/api/v1/incidents/{incident['id']}/cases", json={"case_ids": [after, before]})
    assert decided.status_code == 200 and sorted(decided.json()["changed"]) == sorted([str(after), str(before)])
    dismissed = client.post(
        f"/api/v1/incidents/{incident['id']}/cases", json={"case_ids": [before], "decision": "dismissed"}
    )
    assert dismissed.status_code == 200
    links = {c["case_id"]: c["link"] for c in client.get(f"/api/v1/incidents/{incident['id']}/cases").json()["cases"]}
    assert links[str(after)] == "linked" and str(before) not in links
    missing = client.post(f"/api/v1/incidents/{incident['id']}/cases", json={"case_ids": [999999999999]})
    assert missing.status_code == 404 and "999999999999" in missing.json()["detail"]


def test_impact_counts_equal_plain_intersects(client: TestClient, nanjing: Engine) -> None:
    incident = open_incident(
        client, areas=[{"kind": "perimeter", "buffer_m": 1500, "lon": XUANWU[0], "lat": XUANWU[1]}]
    )
    report(client, XUANWU[0] + 0.001, XUANWU[1])
    answer = client.get(f"/api/v1/incidents/{incident['id']}/impact")
    assert answer.status_code == 200, answer.text
    found = answer.json()
    area = UNION_OF_AREAS.replace("%(id)s", str(int(incident["id"])))
    with nanjing.connect() as conn:
        plain = {name: conn.exec_driver_sql(sql.format(area=area)).scalar_one() for name, sql in PLAIN.items()}
    counts = found["counts"]
    units = counts["districts"] + counts["streets"] + counts["communities"] + counts["grids"]
    assert (units, counts["buildings"], counts["open_cases"], counts["forces"]) == (
        plain["units"],
        plain["buildings"],
        plain["cases"],
        plain["forces"],
    )
    assert counts["open_cases"] >= 1 and counts["buildings"] > 0 and found["units"]["district"][0]["code"] == "320102"


def test_who_sees_an_incident_and_closing_it(client: TestClient, caller: Caller) -> None:
    incident = open_incident(client, areas=[{"kind": "perimeter", "units": ["320102002"]}])
    inside = caller(["street"], "320102002")
    far = caller(["street"], "320104001")
    assert client.get(f"/api/v1/incidents/{incident['id']}", headers=inside).status_code == 200
    assert client.get(f"/api/v1/incidents/{incident['id']}", headers=far).status_code == 404
    listed = client.get("/api/v1/incidents", headers=far).json()["incidents"]
    assert incident["id"] not in [i["id"] for i in listed]
    street_close = client.post(
        f"/api/v1/incidents/{incident['id']}/close",
        json={"version": incident["version"] + 1, "note": "x"},
        headers=inside,
    )
    assert street_close.status_code in (403, 409)
    version = client.get(f"/api/v1/incidents/{incident['id']}").json()["version"]
    assert (
        client.post(f"/api/v1/incidents/{incident['id']}/close", json={"version": version, "note": ""}).status_code
        == 422
    )
    closed = client.post(f"/api/v1/incidents/{incident['id']}/close", json={"version": version, "note": "雨停水退"})
    assert closed.status_code == 200 and closed.json()["state"] == "closed" and closed.json()["closed_at"]
    again = client.post(
        f"/api/v1/incidents/{incident['id']}/level", json={"level": "III", "version": closed.json()["version"]}
    )
    assert again.status_code == 409 and "closed" in again.json()["detail"]


def test_the_board_opens_acts_and_refuses_in_words(server: str, nanjing: Engine, client: TestClient) -> None:
    """Through the pages as a browser would: open an incident from the list's form, draw an area, link a
    flagged case, escalate, and a stale form refused in words with nothing changed."""
    commander = signed_in(server, person(nanjing, "320102", ["district"]))
    listed = commander.get("/incidents")
    assert listed.status_code == 200 and "启动事件指挥" in listed.text
    opened = commander.post(
        "/incidents",
        data={
            "title": "玄武湖周边积水",
            "class_code": "natural_disaster.rainstorm_flood",
            "level": "IV",
            "lon": XUANWU[0],
            "lat": XUANWU[1],
            "radius_m": 600,
        },
    )
    assert opened.status_code == 204 and opened.headers["HX-Redirect"].startswith("/incidents/")
    board_url = opened.headers["HX-Redirect"]
    incident_id = int(board_url.rsplit("/", 1)[1])
    flagged = report(client, *clear_of_open_cases(nanjing, XUANWU[0] + 0.001, XUANWU[1] + 0.001, "010103"), "010103")
    board = commander.get(board_url)
    assert board.status_code == 200 and "玄武湖周边积水" in board.text and "范围内新上报" in board.text
    assert f"#{flagged}" in board.text and "一般（IV级）" in board.text
    label = "</script><script>alert(1)</script>"  # a typed label is data, never markup on the board
    zone = commander.post(
        f"{board_url}/areas",
        data={"kind": "hot_zone", "lon": XUANWU[0], "lat": XUANWU[1], "radius_m": 200, "label": label},
    )
    assert zone.status_code == 200 and "核心区" in zone.text and label not in zone.text
    assert "\\u003c/script\\u003e" in zone.text  # the areas' JSON escapes it inside its <script> element
    linked = commander.post(f"{board_url}/cases", data={"case_id": flagged, "decision": "linked"})
    assert linked.status_code == 200
    version = client.get(f"/api/v1/incidents/{incident_id}").json()["version"]
    up = commander.post(f"{board_url}/level", data={"level": "III", "version": version})
    assert up.status_code == 200 and "较大（III级）" in up.text
    stale = commander.post(f"{board_url}/level", data={"level": "II", "version": version})
    refusal = json.loads(stale.headers["HX-Trigger"])["cityops:toast"]
    assert stale.status_code == 409 and refusal["kind"] == "error" and "已为您重新载入" in refusal["text"]
    assert "较大（III级）" in stale.text  # the board as it stands now
    assert client.get(f"/api/v1/incidents/{incident_id}").json()["level"]["code"] == "III"
    english = commander.get(f"{board_url}?lang=en")
    assert "Timeline" in english.text and "Escalated" in english.text
    street = signed_in(server, person(nanjing, "320102002", ["street"]))
    seen = street.get(board_url)
    assert seen.status_code == 200 and "您可查看" in seen.text and "调整等级" not in seen.text


def test_incident_changes_reach_the_viewers_it_reaches_on_the_stream(server: str, caller: Caller) -> None:
    """A level change is on the change feed for a street its areas touch (the board reloads on it), not for
    a street elsewhere; the command map's layer lists the active incident for the one and not the other."""
    city = caller(["city_commander"], "320100")
    inside, far = caller(["street"], "320102002"), caller(["street"], "320104001")
    opened = httpx.post(
        f"{server}/api/v1/incidents",
        json={
            "title": "梅园新村燃气泄漏",
            "class_code": "accident.gas",
            "level": "IV",
            "lon": XUANWU[0],
            "lat": XUANWU[1],
            "areas": [{"kind": "perimeter", "units": ["320102002"]}],
        },
        headers=city,
    ).json()
    with stream(server, inside) as near, stream(server, far) as away:
        near.next("ready")
        away.next("ready")
        moved = httpx.post(
            f"{server}/api/v1/incidents/{opened['id']}/level",
            json={"level": "III", "version": opened["version"]},
            headers=city,
        )
        assert moved.status_code == 200, moved.text
        heard: list[dict] = []  # the opening's own notices may come first (read as it stood then): wait for III
        while not any(i["id"] == str(opened["id"]) and i["level"] == "III" for i in heard):
            heard += near.next("changes")[1]["incidents"]  # type: ignore[index]
        latest = [i for i in heard if i["id"] == str(opened["id"])][-1]
        assert latest["level"] == "III" and latest["code"] == opened["code"] and latest["last_entry"]
        with pytest.raises(TimeoutError):
            while True:
                assert str(opened["id"]) not in [i["id"] for i in away.next("changes", 2.0)[1]["incidents"]]  # type: ignore[index]
    layer = httpx.get(f"{server}/api/v1/incidents/map", headers=inside).json()["features"]
    assert opened["id"] in [f["id"] for f in layer] and layer[0]["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert opened["id"] not in [
        f["id"] for f in httpx.get(f"{server}/api/v1/incidents/map", headers=far).json()["features"]
    ]


def test_whistle_report_in_and_tasks_on_the_board(server: str, nanjing: Engine, client: TestClient) -> None:
    """吹哨报到 on the board: the commander summons 水务局, its liaison reports in with the board's button, the
    commander sets it a task; a task for a department never summoned is refused in words."""
    commander = signed_in(server, person(nanjing, "320102", ["district"]))
    incident = open_incident(client, headers=None)
    board_url = f"/incidents/{incident['id']}"
    summoned = commander.post(f"{board_url}/summons", data={"departments": "水务局", "due_minutes": 30})
    assert summoned.status_code == 200 and "水务局" in summoned.text and "待报到" in summoned.text
    liaison = signed_in(server, person(nanjing, "320102", ["department_handler"], department="水务局"))
    seen = liaison.get(board_url)
    assert seen.status_code == 200 and ">报到</button>" in seen.text
    summons_id = client.get(f"/api/v1/incidents/{incident['id']}/summons").json()["summons"][0]["id"]
    stationed = liaison.post(f"{board_url}/summons/{summons_id}/report-in")
    assert stationed.status_code == 200 and "已报到" in stationed.text and ">报到</button>" not in stationed.text
    task = commander.post(
        f"{board_url}/tasks", data={"title": "排涝泵站全开", "assignee": "水务局", "priority": "urgent"}
    )
    assert task.status_code == 200 and "排涝泵站全开" in task.text and "特急" in task.text
    stray = commander.post(f"{board_url}/tasks", data={"title": "清障", "assignee": "园林局"})
    assert stray.status_code == 409 and "园林局" in json.loads(stray.headers["HX-Trigger"])["cityops:toast"]["text"]
    english = commander.get(f"{board_url}?lang=en")
    assert "Departments summoned" in english.text and "Reported in" in english.text and "Urgent" in english.text
