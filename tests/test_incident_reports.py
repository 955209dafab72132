"""Situation reports (续报) and the after-action report: drafted, approved by another hand, issued and
numbered; a stale edit loses with a 409 instead of overwriting; when the next report is due and how late;
the printable page and the PDF carry the Chinese title and the figures; the after-action report of a
closed incident from its tables, empty or not."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy import Engine, text

from tests.conftest import Caller
from tests.test_incidents import open_incident

FIGURES = {"affected": 1234, "evacuated": 321, "injured": 5, "dead": 0, "damage_cny": 2_500_000}


def sitrep(kind: str = "first", body: str = "玄武区多处积水，已转移群众。", **figures: int) -> dict:
    at = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    return {"kind": kind, "body": body, "figures": {**FIGURES, **figures}, "figures_at": at}


def pdf_text(content: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def issued(client: TestClient, approver: dict[str, str], incident_id: int, body: dict) -> dict:
    drafted = client.post(f"/api/v1/incidents/{incident_id}/sitreps", json=body)
    assert drafted.status_code == 201, drafted.text
    report = drafted.json()
    approved = client.post(
        f"/api/v1/sitreps/{report['id']}/approve", json={"version": report["version"]}, headers=approver
    )
    assert approved.status_code == 200, approved.text
    out = client.post(f"/api/v1/sitreps/{report['id']}/issue", json={"version": approved.json()["version"]})
    assert out.status_code == 200, out.text
    return out.json()


def test_a_sitrep_is_approved_by_another_hand_and_issued_in_order(client: TestClient, caller: Caller) -> None:
    incident = open_incident(client)
    drafted = client.post(f"/api/v1/incidents/{incident['id']}/sitreps", json=sitrep())
    assert drafted.status_code == 201 and drafted.json()["state"] == "draft" and drafted.json()["seq"] is None
    report = drafted.json()
    own = client.post(f"/api/v1/sitreps/{report['id']}/approve", json={"version": report["version"]})
    assert own.status_code == 403 and "another commander" in own.json()["detail"]
    street = caller(["street"], "320102002")
    by_street = client.post(f"/api/v1/sitreps/{report['id']}/approve", json={"version": 1}, headers=street)
    assert by_street.status_code == 403
    early = client.post(f"/api/v1/sitreps/{report['id']}/issue", json={"version": report["version"]})
    assert early.status_code == 409 and "approved" in early.json()["detail"]
    other = caller(["city_commander"], "320100")
    approved = client.post(
        f"/api/v1/sitreps/{report['id']}/approve", json={"version": report["version"]}, headers=other
    )
    assert approved.status_code == 200 and approved.json()["approved_by"] != report["author"]
    first = client.post(f"/api/v1/sitreps/{report['id']}/issue", json={"version": approved.json()["version"]})
    assert first.status_code == 200 and first.json()["seq"] == 1 and first.json()["state"] == "issued"
    again = client.post(f"/api/v1/incidents/{incident['id']}/sitreps", json=sitrep("first"))
    refused = client.post(
        f"/api/v1/sitreps/{again.json()['id']}/approve", json={"version": again.json()["version"]}, headers=other
    )
    second_first = client.post(
        f"/api/v1/sitreps/{again.json()['id']}/issue", json={"version": refused.json()["version"]}
    )
    assert second_first.status_code == 409 and "update or the final" in second_first.json()["detail"]
    update = issued(client, other, incident["id"], sitrep("update", affected=2000))
    assert update["seq"] == 2 and update["figures"]["affected"] == 2000
    listed = client.get(f"/api/v1/incidents/{incident['id']}/sitreps").json()
    assert [s["seq"] for s in listed["sitreps"] if s["state"] == "issued"] == [1, 2]
    assert listed["due"]["issued"] == 2 and listed["due"]["late"] is False
    due = datetime.fromisoformat(listed["due"]["next_due_at"])
    assert abs(due - (datetime.fromisoformat(update["issued_at"]) + timedelta(minutes=240))) < timedelta(seconds=1)
    future = client.post(
        f"/api/v1/incidents/{incident['id']}/sitreps",
        json={**sitrep(), "figures_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat()},
    )
    assert future.status_code == 422 and "future" in future.json()["detail"]
    negative = client.post(f"/api/v1/incidents/{incident['id']}/sitreps", json=sitrep(dead=-1))
    assert negative.status_code == 422
    actions = [e["action"] for e in client.get(f"/api/v1/incidents/{incident['id']}/timeline").json()["entries"]]
    assert actions.count("sitrep_issued") == 2 and "sitrep_approved" in actions


def test_two_commanders_editing_one_draft_one_wins(client: TestClient) -> None:
    incident = open_incident(client)
    report = client.post(f"/api/v1/incidents/{incident['id']}/sitreps", json=sitrep()).json()
    url = f"/api/v1/sitreps/{report['id']}"
    mine = client.put(url, json={**sitrep(body="第一位指挥员的修改"), "version": report["version"]})
    theirs = client.put(url, json={**sitrep(body="第二位指挥员的修改"), "version": report["version"]})
    assert mine.status_code == 200 and mine.json()["version"] == report["version"] + 1
    assert theirs.status_code == 409 and "reload" in theirs.json()["detail"]
    kept = [s for s in client.get(f"/api/v1/incidents/{incident['id']}/sitreps").json()["sitreps"]]
    assert kept[0]["body"] == "第一位指挥员的修改" and kept[0]["version"] == report["version"] + 1


def test_the_first_report_is_due_after_opening_and_lateness_is_told(client: TestClient, nanjing: Engine) -> None:
    incident = open_incident(client)
    fresh = client.get(f"/api/v1/incidents/{incident['id']}/sitreps").json()["due"]
    opened = datetime.fromisoformat(incident["opened_at"])
    assert datetime.fromisoformat(fresh["next_due_at"]) - opened == timedelta(minutes=60)
    assert fresh["late"] is False and fresh["next_kind"] == "first"
    with nanjing.begin() as conn:  # the incident opened 90 minutes ago: its first report is 30 minutes late
        conn.execute(
            text("UPDATE incident SET opened_at = now() - interval '90 minutes' WHERE id = :i"), {"i": incident["id"]}
        )
    late = client.get(f"/api/v1/incidents/{incident['id']}/sitreps").json()["due"]
    assert late["late"] is True and 29 <= late["late_minutes"] <= 31


def test_the_printed_report_and_pdf_carry_the_chinese_title_and_figures(client: TestClient, caller: Caller) -> None:
    incident = open_incident(client)
    report = issued(client, caller(["city_commander"], "320100"), incident["id"], sitrep())
    page = client.get(f"/api/v1/sitreps/{report['id']}.html")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert incident["title"] in page.text and "首报" in page.text and "1,234" in page.text and "北京时间" in page.text
    printed = client.get(f"/api/v1/sitreps/{report['id']}.pdf")
    assert printed.status_code == 200 and printed.headers["content-type"] == "application/pdf"
    words = pdf_text(printed.content).replace(" ", "")
    assert incident["title"].replace(" ", "") in words and "首报" in words and "受灾人数" in words
    assert "1,234" in words and "2,500,000" in words
    assert client.get(f"/api/v1/sitreps/{report['id']}.doc").status_code == 422
    assert client.get("/api/v1/sitreps/987654321.html").status_code == 404


def test_after_action_report_from_the_tables_at_close(client: TestClient, caller: Caller, nanjing: Engine) -> None:
    incident = open_incident(client)
    url = f"/api/v1/incidents/{incident['id']}/after-action"
    early = client.get(f"{url}.json")
    assert early.status_code == 409 and "still active" in early.json()["detail"]
    with nanjing.begin() as conn:  # a department summoned and reporting in late, a task done on time
        conn.execute(
            text(
                "INSERT INTO incident_summons (incident_id, department, summoned_by, summoned_at, due_at, liaison, "
                "reported_at) VALUES (:i, '水务局', 'tests', now() - interval '50 minutes', "
                "now() - interval '20 minutes', 'liaison', now() - interval '10 minutes')"
            ),
            {"i": incident["id"]},
        )
        conn.execute(
            text(
                "INSERT INTO incident_task (incident_id, title, department, due_at, state, created_by, done_at) "
                "VALUES (:i, '排水', '水务局', now() + interval '1 hour', 'done', 'tests', now())"
            ),
            {"i": incident["id"]},
        )
    issued(client, caller(["city_commander"], "320100"), incident["id"], sitrep())
    version = client.get(f"/api/v1/incidents/{incident['id']}").json()["version"]
    closed = client.post(f"/api/v1/incidents/{incident['id']}/close", json={"version": version, "note": "积水已退"})
    assert closed.status_code == 200, closed.text
    report = client.get(f"{url}.json").json()
    assert report["summons"][0]["department"] == "水务局" and report["summons"][0]["on_time"] is False
    assert 39 <= report["summons"][0]["minutes"] <= 41
    assert report["tasks"] == {"total": 1, "done": 1, "with_deadline": 1, "done_on_time": 1, "late": 0, "blocked": 0}
    assert report["resources"] == [] and report["first_on_scene"]["minutes"] is None  # empty tables: empty parts
    assert len(report["sitreps"]) == 1 and report["timeline"][-1]["action"] == "closed"
    page = client.get(f"{url}.html")
    assert page.status_code == 200 and "总结评估报告" in page.text and "水务局" in page.text
    words = pdf_text(client.get(f"{url}.pdf").content).replace(" ", "")
    assert "总结评估报告" in words and "水务局" in words
