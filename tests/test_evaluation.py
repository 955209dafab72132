"""Evaluation: every metric of a hand-built period checked against numbers worked out by hand, the
three groupings, CSV, `cityops report`, and refusals (zone, order, jurisdiction)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from cityops.cli import app as cli
from tests.conftest import Caller, upload_evidence
from tests.test_workflow import new_case, step, walk


def _version(client: TestClient, case: int) -> int:
    return client.get(f"/api/v1/cases/{case}/transitions").json()["version"]


@pytest.fixture(scope="module")
def period(client: TestClient, nanjing: Engine, caller: Caller) -> tuple[datetime, datetime, dict[str, int]]:
    """Three cases in 玄武区 within a period no other test writes in.

    A: handled and closed on time, rated 满意. B: its deadline passes before feedback; the check sends
    it back (rework), it is handled again late and closed late. C: dispatched, returned, dispatched again.
    """
    start = datetime.now(UTC)  # the same clock as the database's: transitions after it are this fixture's
    checker = caller(["checker"], "320100")
    a = new_case(client, nanjing)  # each case is made once the one before is closed (a new case voids open ones near)
    fed = step(client, a, "feedback", walk(client, a), evidence=[upload_evidence(client, a)]).json()
    assert step(client, a, "close", fed["version"], checker).status_code == 200
    b = new_case(client, nanjing)
    version = walk(client, b)
    with nanjing.begin() as conn:  # the handling deadline ran out an hour ago
        conn.execute(text("UPDATE case_file SET deadline = now() - interval '1 hour' WHERE id = :e"), {"e": b})
        conn.execute(text("UPDATE case_clock SET due_at = now() - interval '1 hour' WHERE case_id = :e"), {"e": b})
    photo = upload_evidence(client, b)
    fed = step(client, b, "feedback", version, evidence=[photo]).json()
    back = step(client, b, "rework", fed["version"], checker, note="仍有缺口").json()
    again = step(client, b, "start", back["version"]).json()
    fed = step(client, b, "feedback", again["version"], evidence=[photo]).json()
    assert step(client, b, "close", fed["version"], checker).status_code == 200
    c = new_case(client, nanjing)
    version = walk(client, c, (("accept", "accepted"), ("file", "filed"), ("dispatch", "dispatched")))
    returned = step(client, c, "return", version, note="不属本单位").json()
    assert step(client, c, "dispatch", returned["version"], department="供水公司").status_code == 200
    with nanjing.connect() as conn:
        token = conn.execute(text("SELECT token::text FROM report WHERE case_id = :e"), {"e": a}).scalar_one()
    assert client.post("/api/v1/ratings", json={"token": token, "rating": "satisfied"}).status_code == 201
    return start, datetime.now(UTC) + timedelta(seconds=1), {"a": a, "b": b, "c": c}


def evaluation(client: TestClient, start: datetime, end: datetime, **params: str) -> dict:  # type: ignore[type-arg]
    answer = client.get("/api/v1/evaluation", params={"from": start.isoformat(), "to": end.isoformat(), **params})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_every_metric_matches_the_hand_computed_figures(client: TestClient, nanjing: Engine, period: tuple) -> None:  # type: ignore[type-arg]
    start, end, cases = period
    result = evaluation(client, start, end, unit="320100", by="area")
    with nanjing.connect() as conn:
        districts = conn.execute(
            text(
                "SELECT DISTINCT d.code FROM case_file e JOIN unit d ON d.id = e.units[2] "
                "WHERE e.id = ANY(:ids) ORDER BY 1"
            ),
            {"ids": list(cases.values())},
        )
        assert [row["key"] for row in result["rows"]] == list(districts.scalars()) == ["320102"]
    total = result["total"]
    expected_counts = {
        "filed": 3,
        "closed": 2,
        "closed_on_time": 1,
        "handled": 3,
        "handled_on_time": 1,
        "checked": 3,
        "reworked": 1,
        "dispatched": 4,
        "returned": 1,
        "reopened": 0,
        "escalated": 0,
        "satisfied": 1,
        "basically_satisfied": 0,
        "unsatisfied": 0,
    }
    assert {k: total[k] for k in expected_counts} == expected_counts
    assert total["late_moves"] == 3  # B's first feedback, its restart after rework, its second feedback
    assert total["closure_rate"] == round(2 / 3, 4) and total["on_time_closure_rate"] == 0.5
    assert total["on_time_handling_rate"] == round(1 / 3, 4) and total["rework_rate"] == round(1 / 3, 4)
    assert total["return_rate"] == 0.25 and total["repeat_case_rate"] == 0 and total["satisfaction_rate"] == 1
    assert total["overdue"] == 3 and 0 < total["handling_s"] < 120  # three feedbacks within the test's minute
    assert total["mean_handling_hours"] == round(total["handling_s"] / 3 / 3600, 2)
    assert set(result["formulas"]) >= {"closure_rate", "on_time_closure_rate", "satisfaction_rate"}


def test_by_department_and_by_role(client: TestClient, period: tuple) -> None:  # type: ignore[type-arg]
    start, end, _ = period
    departments = {row["key"]: row for row in evaluation(client, start, end, by="department")["rows"]}
    assert departments["水务局"]["handled"] == 3 and departments["水务局"]["closed"] == 2
    assert departments["供水公司"]["dispatched"] == 1  # C's second dispatch went to 供水公司
    roles = {row["key"]: row for row in evaluation(client, start, end, by="role")["rows"]}
    assert roles["checker"]["checked"] == 3 and roles["checker"]["closed"] == 2 and roles["checker"]["reworked"] == 1
    assert roles["city_commander"]["filed"] == 3 and roles["intake"]["filed"] == 0


def test_csv_and_the_report_command(client: TestClient, period: tuple, env: dict[str, str]) -> None:  # type: ignore[type-arg]
    start, end, _ = period
    answer = client.get(
        "/api/v1/evaluation", params={"from": start.isoformat(), "to": end.isoformat(), "format": "csv"}
    )
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert answer.headers["content-type"].startswith("text/csv") and rows[-1]["key"] == "total"
    assert rows[-1]["closure_rate"] == str(round(2 / 3, 4)) and rows[-1]["filed"] == "3"
    printed = CliRunner().invoke(
        cli, ["report", "--unit", "320100", "--from", start.isoformat(), "--to", end.isoformat()]
    )
    assert printed.exit_code == 0, printed.output
    assert "玄武区" in printed.output and "66.7%" in printed.output
    assert "closure_rate = closed / filed" in printed.output


def test_refusals(client: TestClient, caller: Caller) -> None:
    naive = client.get("/api/v1/evaluation", params={"from": "2026-11-01T00:00:00"})
    assert naive.status_code == 422 and "time zone" in naive.json()["detail"]
    backwards = client.get(
        "/api/v1/evaluation", params={"from": "2026-11-02T00:00:00+08:00", "to": "2026-11-01T00:00:00+08:00"}
    )
    assert backwards.status_code == 422 and "before" in backwards.json()["detail"]
    assert client.get("/api/v1/evaluation", params={"by": "mood"}).status_code == 422
    assert client.get("/api/v1/evaluation", params={"unit": "999999"}).status_code == 404
    district = caller(["district"], "320102")
    outside = client.get("/api/v1/evaluation", params={"unit": "320104"}, headers=district)
    assert outside.status_code == 403 and "outside your jurisdiction" in outside.json()["detail"]
    assert client.get("/api/v1/evaluation", headers=caller(["street"], "320102")).status_code == 403
