"""POST /api/v1/reports: a routed case from any channel, once, whatever the retries."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from spatial.china_coords import wgs84_to_gcj02
from spatial.settings import StoreSettings
from tests.conftest import Caller

QINHUAI = {"lon": 118.7844, "lat": 32.0415}
REPORT = {
    **QINHUAI,
    "category": "020102",
    "source": "grid_worker",
    "description": "路口成堆垃圾",
    "reporter": {"name": "张三", "phone": "13812345678"},
}


def counts(engine: Engine, key: str | None = None) -> tuple[int, int]:
    with engine.connect() as conn:
        if key is None:
            totals = "SELECT (SELECT count(*) FROM case_file), (SELECT count(*) FROM report)"
            return tuple(conn.execute(text(totals)).one())
        by_key = "SELECT count(DISTINCT case_id), count(*) FROM report WHERE idempotency_key = :k"
        return tuple(conn.execute(text(by_key), {"k": key}).one())


def test_a_report_becomes_a_routed_case(client: TestClient, nanjing: Engine) -> None:
    response = client.post("/api/v1/reports", json={**REPORT, "category": "020105"})  # no other test uses it
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["merged"] is False and body["report_count"] == 1
    preview = client.get("/api/v1/route", params={**QINHUAI, "category": "020105"}).json()
    assert body["responsible"]["code"] == preview["responsible"]["code"] == "320104006"
    assert body["responsible"]["departments"] == ["城市管理局"] and body["state"] == "reported"
    assert body["deadline"].endswith("+08:00")  # in the working calendar's zone, as the preview is
    assert "13812345678" not in response.text  # personal data is stored, not echoed
    with nanjing.connect() as conn:
        row = conn.execute(
            text(
                "SELECT e.category_code, g.code, r.reporter->>'phone', r.source::text, e.report_count "
                "FROM case_file e JOIN report r ON r.case_id = e.id JOIN unit g ON g.id = e.grid_id WHERE e.id = :id"
            ),
            {"id": int(body["case_id"])},
        ).one()
    assert row[0] == "020105" and row[1].startswith("320104006") and row[2] == "13812345678"
    assert row[3] == "grid_worker" and row[4] == 1


def test_geojson_point_and_gcj02_are_accepted(client: TestClient) -> None:
    gcj_lon, gcj_lat = wgs84_to_gcj02(QINHUAI["lon"], QINHUAI["lat"])
    body = {k: v for k, v in REPORT.items() if k not in ("lon", "lat")}
    point = {"type": "Point", "coordinates": [float(gcj_lon), float(gcj_lat)]}
    response = client.post("/api/v1/reports", json={**body, "crs": "gcj02", "location": point})
    assert response.status_code == 201 and response.json()["responsible"]["code"] == "320104006"


def test_a_retry_with_the_same_key_returns_the_same_case(client: TestClient, nanjing: Engine) -> None:
    key = uuid.uuid4().hex
    first = client.post("/api/v1/reports", json=REPORT, headers={"Idempotency-Key": key})
    again = client.post("/api/v1/reports", json=REPORT, headers={"Idempotency-Key": key})
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert first.json()["case_id"] == again.json()["case_id"]
    assert counts(nanjing, key) == (1, 1)


def test_the_same_key_with_another_body_is_a_conflict(client: TestClient, nanjing: Engine) -> None:
    key = uuid.uuid4().hex
    assert client.post("/api/v1/reports", json=REPORT, headers={"Idempotency-Key": key}).status_code == 201
    before = counts(nanjing)
    changed = client.post("/api/v1/reports", json={**REPORT, "description": "另一处"}, headers={"Idempotency-Key": key})
    assert changed.status_code == 409 and "different report" in changed.json()["detail"]
    assert counts(nanjing) == before


def test_a_key_is_its_callers_own(client: TestClient, nanjing: Engine, caller: Caller) -> None:
    """Issue 19.7: another caller replaying a key got the first report's answer, its rating token included."""
    key = uuid.uuid4().hex
    first = client.post("/api/v1/reports", json=REPORT, headers={"Idempotency-Key": key})
    other = client.post(
        "/api/v1/reports", json=REPORT, headers={"Idempotency-Key": key, **caller(["city_commander"], "320100")}
    )
    assert first.status_code == other.status_code == 201, other.text
    assert "Idempotent-Replayed" not in other.headers and other.json()["token"] != first.json()["token"]
    assert counts(nanjing, key) == (1, 2)  # two reports under one key, one per caller (both join the one case)
    again = client.post("/api/v1/reports", json=REPORT, headers={"Idempotency-Key": key})
    assert again.headers["Idempotent-Replayed"] == "true" and again.json()["token"] == first.json()["token"]


def test_numbers_that_json_does_not_have_are_refused(client: TestClient, nanjing: Engine) -> None:
    """Issue 19.9: a 3-D point with a NaN altitude was stored as given."""
    before = counts(nanjing)
    for number in ("NaN", "Infinity", "-Infinity"):
        given = {k: v for k, v in REPORT.items() if k not in ("lon", "lat")}
        body = json.dumps({**given, "location": {"type": "Point", "coordinates": [118.79, 32.05, 0]}})
        body = body.replace('"coordinates": [118.79, 32.05, 0]', f'"coordinates": [118.79, 32.05, {number}]')
        answer = client.post("/api/v1/reports", content=body, headers={"content-type": "application/json"})
        assert answer.status_code == 422 and "coordinates" in answer.json()["detail"], answer.text
    assert counts(nanjing) == before


def test_fifty_parallel_identical_submissions_store_one_report(
    server: str, nanjing: Engine, staff: dict[str, str]
) -> None:
    key = uuid.uuid4().hex

    def post(_: int) -> tuple[int, str]:
        response = httpx.post(
            f"{server}/api/v1/reports", json=REPORT, headers={"Idempotency-Key": key, **staff}, timeout=30
        )
        return response.status_code, response.json()["case_id"]

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(post, range(50)))
    assert {status for status, _ in results} == {201}
    assert len({case for _, case in results}) == 1
    assert counts(nanjing, key) == (1, 1)


def test_new_cases_are_announced(client: TestClient, nanjing_settings: StoreSettings) -> None:
    from spatial.db import libpq_url

    with psycopg.connect(libpq_url(nanjing_settings), autocommit=True) as listener:
        listener.execute("LISTEN cityops_events")
        case_id = client.post("/api/v1/reports", json=REPORT).json()["case_id"]
        notes = list(listener.notifies(timeout=5, stop_after=1))
    assert notes and json.loads(notes[0].payload)["case_id"] == case_id
    assert json.loads(notes[0].payload)["type"] in ("case.created", "case.report_joined")


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"category": "999999"}, 422, "valid codes: 010101"),
        ({"severity": "V"}, 422, "not one of IV"),
        ({"lon": 121.47, "lat": 31.23}, 422, "outside the jurisdiction"),
        ({"lon": float("nan")}, 422, "finite"),
        ({"lat": 118.78, "lon": 32.04}, 422, "swapped"),
        ({"lon": None, "lat": None}, 422, "give the position once"),
        ({"location": {"type": "Point", "coordinates": [118.78, 32.04]}}, 422, "give the position once"),
        ({"description": "垃" * 4001}, 422, "at most 4000 characters"),
        ({"source": "pigeon"}, 422, "source: Input should be"),
        ({"crs": "mars"}, 422, "use one of: wgs84"),
        ({"reporter": {"phone": "call me"}}, 422, "reporter.phone"),
        ({"unexpected": 1}, 422, "Extra inputs are not permitted"),
    ],
)
def test_bad_reports_are_refused_and_nothing_is_written(
    client: TestClient, nanjing: Engine, change: dict, status: int, message: str
) -> None:
    before = counts(nanjing)
    body = {k: v for k, v in {**REPORT, **change}.items() if v is not None}
    # json.dumps, unlike httpx, writes NaN: a client bug the API must refuse clearly
    response = client.post("/api/v1/reports", content=json.dumps(body), headers={"content-type": "application/json"})
    assert response.status_code == status, response.text
    assert message in response.json()["detail"]
    assert counts(nanjing) == before


def test_markup_is_stored_inert(client: TestClient, nanjing: Engine) -> None:
    script = '<script>alert("x")</script>'
    case_id = client.post("/api/v1/reports", json={**REPORT, "description": script}).json()["case_id"]
    with nanjing.connect() as conn:
        stored = conn.execute(
            text("SELECT description FROM report WHERE case_id = :id ORDER BY id DESC LIMIT 1"), {"id": int(case_id)}
        ).scalar_one()
    assert stored == script  # kept verbatim as text; every HTML output escapes it


# ---- duplicate merging ---------------------------------------------------------------------------
SPOT = {"lon": 118.7600, "lat": 32.0500}  # 鼓楼区, away from the points above
METRE = 1 / 94_000  # degrees of longitude per metre at Nanjing's latitude


def report_at(metres_east: float, category: str = "020106") -> dict:  # 乱堆物堆料: 50 m, 72 h
    return {**REPORT, "category": category, "lon": SPOT["lon"] + metres_east * METRE, "lat": SPOT["lat"]}


def test_a_report_within_the_radius_joins_the_open_case(client: TestClient) -> None:
    first = client.post("/api/v1/reports", json=report_at(0)).json()
    second = client.post("/api/v1/reports", json=report_at(30)).json()
    assert second["case_id"] == first["case_id"] and second["merged"] is True
    assert second["report_count"] == first["report_count"] + 1
    far = client.post("/api/v1/reports", json=report_at(150)).json()
    assert far["case_id"] != first["case_id"] and far["merged"] is False
    other = client.post("/api/v1/reports", json=report_at(0, category="020105")).json()
    assert other["case_id"] != first["case_id"]


def test_an_old_case_does_not_absorb_new_reports(client: TestClient, nanjing: Engine) -> None:
    first = client.post("/api/v1/reports", json=report_at(2_000)).json()
    with nanjing.begin() as conn:  # the case is older than the category's 72 h window
        conn.execute(
            text("UPDATE case_file SET created_at = now() - interval '73 hours' WHERE id = :id"),
            {"id": int(first["case_id"])},
        )
    later = client.post("/api/v1/reports", json=report_at(2_010)).json()
    assert later["case_id"] != first["case_id"]


def test_simultaneous_reports_of_one_incident_make_one_case(
    server: str, nanjing: Engine, staff: dict[str, str]
) -> None:
    def post(offset: int) -> str:
        response = httpx.post(f"{server}/api/v1/reports", json=report_at(4_000 + offset), headers=staff, timeout=30)
        assert response.status_code == 201, response.text
        return response.json()["case_id"]

    with ThreadPoolExecutor(max_workers=20) as pool:
        cases = set(pool.map(post, range(20)))  # 20 reports, up to 19 m apart
    assert len(cases) == 1
    with nanjing.connect() as conn:
        count = conn.execute(text("SELECT report_count FROM case_file WHERE id = :id"), {"id": int(cases.pop())})
        assert count.scalar_one() == 20
