"""Reporters hear back and rate: one follow-up per report (merged ones too) queued with the close,
delivered once by the sender (file or webhook, retried, then failed), ratings by report token,
and 不满意 reopening the case."""

from __future__ import annotations

import json
import random
import time
import uuid
from pathlib import Path

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from cityops.app import create_app
from command.follow_up import Outbox, send_due
from command.loop_settings import LoopSettings
from spatial.settings import StoreSettings
from tests.conftest import Caller, api_settings, upload_evidence, void_open_cases
from tests.test_workflow import CATEGORY, step, walk

REPORT = {"category": CATEGORY, "source": "hotline", "reporter": {"name": "李雷", "phone": "13800001111"}}


def closed_case_with_two_reports(client: TestClient, nanjing: Engine, caller: Caller) -> tuple[int, list[str]]:
    """Two citizens report one manhole; the case is handled and closed by a second hand. (case, tokens)"""
    lon, lat = 118.79 + random.uniform(0, 0.02), 32.05 + random.uniform(0, 0.02)  # inside 玄武区
    void_open_cases(
        nanjing,
        "category_code = :c AND ST_DWithin(geom::geography, ST_MakePoint(:x, :y)::geography, 500)",
        {"c": CATEGORY, "x": lon, "y": lat},
    )
    answers = [
        client.post(
            "/api/v1/reports", json={**REPORT, "lon": lon + i * 1e-5, "lat": lat, "description": f"井盖 {uuid.uuid4()}"}
        ).json()
        for i in range(2)
    ]
    case = int(answers[0]["case_id"])
    assert answers[1]["case_id"] == str(case) and answers[1]["merged"]
    version = walk(client, case)
    fed = step(client, case, "feedback", version, evidence=[upload_evidence(client, case)]).json()
    closed = step(client, case, "close", fed["version"], caller(["checker"], "320100"))
    assert closed.status_code == 200, closed.text
    return case, [a["token"] for a in answers]


def test_closing_queues_one_follow_up_per_report_and_the_sender_delivers_each_once(
    client: TestClient, nanjing: Engine, caller: Caller, tmp_path: Path
) -> None:
    case, _ = closed_case_with_two_reports(client, nanjing, caller)
    with nanjing.connect() as conn:
        queued = conn.execute(text("SELECT report_id, state FROM follow_up WHERE case_id = :e"), {"e": case}).all()
    assert len(queued) == 2 and {state for _, state in queued} == {"pending"}
    outbox = Outbox(LoopSettings(_env_file=None), tmp_path / "follow_up.jsonl")  # type: ignore[call-arg]
    pool = client.app.state.pool  # type: ignore[attr-defined]
    while client.portal.call(send_due, pool, outbox)[0]:  # type: ignore[union-attr]
        pass
    lines = [json.loads(line) for line in (tmp_path / "follow_up.jsonl").read_text().splitlines()]
    mine = [line for line in lines if line["case_id"] == str(case)]
    assert sorted(m["report_id"] for m in mine) == sorted(str(r) for r, _ in queued)
    assert all(m["outcome"] == "closed" and m["channel"] == "hotline" and "已办结" in m["message"] for m in mine)
    assert "13800001111" not in json.dumps(mine)  # the outcome travels without the reporter's contact
    with nanjing.connect() as conn:
        states = conn.execute(text("SELECT state FROM follow_up WHERE case_id = :e"), {"e": case}).scalars().all()
    assert states == ["sent", "sent"]
    assert client.portal.call(send_due, pool, outbox) == (0, 0)  # type: ignore[union-attr]


def test_an_unreachable_receiver_is_retried_then_marked_failed(
    client: TestClient, nanjing: Engine, caller: Caller, tmp_path: Path
) -> None:
    case, _ = closed_case_with_two_reports(client, nanjing, caller)
    settings = LoopSettings(_env_file=None, follow_up_webhook="http://127.0.0.1:9/", follow_up_attempts=2)  # type: ignore[call-arg]
    outbox = Outbox(settings, tmp_path / "unused.jsonl")
    pool = client.app.state.pool  # type: ignore[attr-defined]
    with nanjing.begin() as conn:  # only this case's follow-ups are due (others wait for the shared sender)
        conn.execute(
            text(
                "UPDATE follow_up SET next_attempt_at = now() + interval '1 hour' "
                "WHERE state = 'pending' AND case_id <> :e"
            ),
            {"e": case},
        )
    assert client.portal.call(send_due, pool, outbox) == (0, 2)  # type: ignore[union-attr]
    with nanjing.begin() as conn:
        rows = conn.execute(
            text("SELECT state, attempts, last_error IS NOT NULL FROM follow_up WHERE case_id = :e"), {"e": case}
        ).all()
        assert rows == [("pending", 1, True)] * 2
        conn.execute(text("UPDATE follow_up SET next_attempt_at = now() WHERE case_id = :e"), {"e": case})
    assert client.portal.call(send_due, pool, outbox) == (0, 2)  # type: ignore[union-attr]
    with nanjing.connect() as conn:
        states = conn.execute(text("SELECT state FROM follow_up WHERE case_id = :e"), {"e": case}).scalars().all()
    assert states == ["failed", "failed"] and not (tmp_path / "unused.jsonl").exists()


def test_the_apps_own_sender_drains_the_outbox(
    nanjing: Engine, nanjing_settings: StoreSettings, client: TestClient, caller: Caller
) -> None:
    case, _ = closed_case_with_two_reports(client, nanjing, caller)
    log = nanjing_settings.data_dir / "follow_up.jsonl"
    app = create_app(nanjing_settings, api_settings(), loop_settings=LoopSettings(_env_file=None, deadline_sweep_s=0.6))  # type: ignore[call-arg]
    with TestClient(app):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with nanjing.connect() as conn:
                states = (
                    conn.execute(text("SELECT state FROM follow_up WHERE case_id = :e"), {"e": case}).scalars().all()
                )
            if states == ["sent", "sent"]:
                break
            time.sleep(0.2)
    assert states == ["sent", "sent"]
    assert sum(json.loads(line)["case_id"] == str(case) for line in log.read_text().splitlines()) == 2


def test_ratings_by_token_and_an_unsatisfied_reporter_reopens_the_case(
    client: TestClient, anonymous: TestClient, nanjing: Engine, caller: Caller
) -> None:
    case, (first, second) = closed_case_with_two_reports(client, nanjing, caller)

    def rating(token: str, value: str, note: str = "") -> httpx.Response:
        return anonymous.post("/api/v1/ratings", json={"token": token, "rating": value, "note": note})

    happy = rating(first, "satisfied")
    assert happy.status_code == 201 and happy.json()["case_id"] == str(case)
    assert {k: happy.json()[k] for k in ("rating", "reopened", "state")} == {
        "rating": "satisfied",
        "reopened": False,
        "state": "closed",
    }
    again = rating(first, "unsatisfied")
    assert again.status_code == 409 and "already rated (satisfied)" in again.json()["detail"]
    unhappy = rating(second, "unsatisfied", "井盖仍松动")
    assert unhappy.status_code == 201 and unhappy.json()["reopened"] and unhappy.json()["state"] == "filed"
    last = client.get(f"/api/v1/cases/{case}/transitions").json()["transitions"][-1]
    assert last["action"] == "reopen" and last["actor"].startswith("reporter:report/") and "井盖仍松动" in last["note"]
    body = {**REPORT, "lon": 118.9, "lat": 32.1, "description": f"井盖 {uuid.uuid4()}"}
    early = rating(client.post("/api/v1/reports", json=body).json()["token"], "satisfied")
    assert early.status_code == 409 and "once it is closed" in early.json()["detail"]
    assert rating(str(uuid.uuid4()), "satisfied").status_code == 404
    assert rating(first, "meh").status_code == 422 and rating("not-a-token", "satisfied").status_code == 422
    assert rating(second, "satisfied", "bad\x00note").status_code == 422  # unstorable: the client's to fix
    with nanjing.connect() as conn:
        assert (
            conn.execute(
                text("SELECT count(*) FROM cityops_verify_transitions() WHERE case_id = :e"), {"e": case}
            ).scalar_one()
            == 0
        )
