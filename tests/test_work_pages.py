"""The work pages over HTTP (issue 17): queues by role and urgency, the action forms, the case page.

Each person signs in with a browser session (cookies) against the real server and acts only
through the pages' own form handler (``POST /cases/{id}/act``), as the browser would; the API is
used only to set the scene (a reported case) and to read back what the database now holds.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from command.queues import Queue, check_queues
from command.users import create_user
from command.workflow import Rules
from command.working_time import WorkingCalendar
from spatial.db import libpq_url
from spatial.settings import StoreSettings
from tests.conftest import tiny_png
from tests.test_workflow import new_case

PASSWORD = "work pages password"
BEIJING = ZoneInfo("Asia/Shanghai")
DEPARTMENT = "水务局"  # one of 上水井盖 (010101)'s departments


def person(nanjing: Engine, unit: str, roles: list[str], department: str | None = None) -> str:
    name = f"{roles[0].replace('_', '-')}-{uuid.uuid4().hex[:6]}"
    with nanjing.begin() as conn:
        create_user(conn, name, unit_code=unit, roles=roles, password=PASSWORD, actor="tests", department=department)
    return name


def signed_in(server: str, username: str) -> httpx.Client:
    """A browser-like client: session cookies, and the same-origin header htmx sends on writes."""
    client = httpx.Client(base_url=server, headers={"X-Requested-With": "htmx"}, timeout=30)
    answer = client.post("/api/v1/auth/session", data={"username": username, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    return client


@pytest.fixture
def case(client: TestClient, nanjing: Engine) -> int:
    return new_case(client, nanjing)


@pytest.fixture
def team(case: int, nanjing: Engine, server: str) -> Iterator[dict[str, httpx.Client]]:
    """The people of the case's loop: its street's dispatcher and checker, its district's water handler."""
    with nanjing.connect() as conn:
        street, district = conn.execute(
            text(
                "SELECT s.code, d.code FROM case_file e JOIN unit s ON s.id = e.units[3] "
                "JOIN unit d ON d.id = e.units[2] "
                "WHERE e.id = :c"
            ),
            {"c": case},
        ).one()
    people = {
        "street": person(nanjing, street, ["street"]),
        "street2": person(nanjing, street, ["street"]),
        "checker": person(nanjing, street, ["checker"]),
        "handler": person(nanjing, district, ["department_handler"], DEPARTMENT),
        "other_handler": person(nanjing, district, ["department_handler"], "供水公司"),
    }
    clients = {who: signed_in(server, name) for who, name in people.items()}
    yield clients
    for client in clients.values():
        client.close()


def version_of(nanjing: Engine, case: int) -> int:
    with nanjing.connect() as conn:
        return conn.execute(text("SELECT version FROM case_file WHERE id = :c"), {"c": case}).scalar_one()


def act(
    client: httpx.Client, case: int, action: str, version: int, photos: list[bytes] = (), **fields: str
) -> httpx.Response:
    files = [("media", (f"photo{i}.png", photo, "image/png")) for i, photo in enumerate(photos)]
    data = {"action": action, "version": str(version), **fields}
    return client.post(f"/cases/{case}/act", data=data, files=files or None)


def move(client: httpx.Client, nanjing: Engine, case: int, action: str, state: str, **extra: object) -> None:
    answer = act(client, case, action, version_of(nanjing, case), **extra)  # type: ignore[arg-type]
    assert answer.status_code == 200, answer.text
    assert f'data-state="{state}"' in answer.text
    toast = json.loads(answer.headers["HX-Trigger"])["cityops:toast"]
    assert toast["kind"] == "ok" and f"案件 {case}" in toast["text"]


def state_of(nanjing: Engine, case: int) -> str:
    with nanjing.connect() as conn:
        return conn.execute(text("SELECT state FROM case_file WHERE id = :c"), {"c": case}).scalar_one()


def test_pages_need_a_session_and_refuse_in_words(server: str, nanjing: Engine, case: int) -> None:
    assert httpx.get(f"{server}/queue").headers["location"] == "/login?next=/queue"
    assert httpx.get(f"{server}/cases/{case}").headers["location"] == f"/login?next=/cases/{case}"
    planner = signed_in(server, person(nanjing, "320100", ["planner"]))
    queue = planner.get("/queue")  # a planner reads cases but works no queue
    assert (
        queue.status_code == 200 and "您的角色没有需要处理的队列" in queue.text and '<html lang="zh-CN">' in queue.text
    )
    elsewhere = signed_in(server, person(nanjing, "320115", ["district"]))
    hidden = elsewhere.get(f"/cases/{case}")  # 江宁区's commander: the case is not theirs to see
    assert hidden.status_code == 404 and "未找到" in hidden.text and "jurisdiction" in hidden.text
    english = elsewhere.get("/queue?lang=en")
    assert '<html lang="en">' in english.text and "Work queue" in english.text
    assert '<html lang="en">' in elsewhere.get("/queue").text  # the choice is remembered
    assert '<html lang="zh-CN">' in elsewhere.get("/queue?lang=xx").text  # unknown language: zh-CN
    integration = signed_in(server, person(nanjing, "320100", ["integration"]))
    refused = integration.get("/queue")
    assert refused.status_code == 403 and "无权访问" in refused.text and "cases:read" in refused.text


def test_queues_follow_roles_departments_and_urgency(
    client: TestClient, nanjing: Engine, case: int, team: dict[str, httpx.Client]
) -> None:
    new_case(client, nanjing, keep=(case,))  # another of the same category (it may fall in another street)
    with nanjing.begin() as conn:  # the first case's stage is overdue by an hour
        conn.execute(text("UPDATE case_clock SET due_at = now() - interval '1 hour' WHERE case_id = :c"), {"c": case})
    street = team["street"]
    counts = street.get("/api/v1/queues").json()["queues"]
    assert set(counts) >= {"intake", "filing", "dispatch", "approval", "parked"} and "handle" in counts
    assert counts["intake"]["cases"] >= 1 and counts["intake"]["late"] >= 1
    items = street.get("/api/v1/queues/intake?limit=200").json()["items"]
    assert items[0]["late"] is True  # overdue first
    dues = [datetime.fromisoformat(i["due"]) for i in items]
    assert dues == sorted(dues) and str(case) in [i["id"] for i in items]
    assert all(i["due"].endswith("+08:00") for i in items)
    page = street.get("/queue?q=intake").text
    assert f'id="case-{case}"' in page and 'data-action="accept"' in page and "受理" in page
    assert team["handler"].get("/api/v1/queues/intake").status_code == 403  # a handler has no intake queue
    assert team["handler"].get("/api/v1/queues/nonsense").status_code == 422
    for action, state in (("accept", "accepted"), ("file", "filed")):
        move(street, nanjing, case, action, state)
    move(street, nanjing, case, "dispatch", "dispatched", department=DEPARTMENT)
    handle = team["handler"].get("/api/v1/queues/handle?limit=200").json()["items"]
    assert str(case) in [i["id"] for i in handle] and {i["department"] for i in handle} == {DEPARTMENT}
    other = team["other_handler"].get("/api/v1/queues/handle?limit=200").json()["items"]
    assert str(case) not in [i["id"] for i in other]  # dispatched to 水务局, not to 供水公司


def test_a_case_walks_the_loop_through_the_forms(
    nanjing: Engine, case: int, team: dict[str, httpx.Client], artifacts: Path
) -> None:
    street, handler, checker = team["street"], team["handler"], team["checker"]
    form = street.get(
        f"/cases/{case}/form/void?version={version_of(nanjing, case)}"
    ).text  # each form asks what its action needs
    assert 'name="note"' in form and "required" in form and 'name="media"' not in form
    for action, state in (("accept", "accepted"), ("file", "filed")):
        move(street, nanjing, case, action, state)
    dispatch_form = street.get(f"/cases/{case}/form/dispatch?version={version_of(nanjing, case)}").text
    assert f"<option>{DEPARTMENT}</option>" in dispatch_form
    move(street, nanjing, case, "dispatch", "dispatched", department=DEPARTMENT)
    for action, state in (("acknowledge", "acknowledged"), ("start", "handling")):
        move(handler, nanjing, case, action, state)
    feedback_form = handler.get(f"/cases/{case}/form/feedback?version={version_of(nanjing, case)}").text
    assert 'name="media"' in feedback_form and "必传" in feedback_form
    move(handler, nanjing, case, "request_extension", "extension_requested", note="需更换管件", extend_by="1")
    assert act(handler, case, "approve_extension", version_of(nanjing, case)).status_code == 403  # own request
    move(street, nanjing, case, "approve_extension", "handling")
    move(handler, nanjing, case, "feedback", "checking", photos=[tiny_png()], note="已修复")
    move(checker, nanjing, case, "rework", "rework", note="井盖仍松动")
    move(handler, nanjing, case, "start", "handling")
    move(handler, nanjing, case, "feedback", "checking", photos=[tiny_png(), tiny_png()], note="已加固")
    move(checker, nanjing, case, "close", "closed", photos=[tiny_png()])
    with nanjing.connect() as conn:
        named = conn.execute(
            text(
                "SELECT action, evidence FROM case_transition WHERE case_id = :c AND "
                "cardinality(evidence) > 0 ORDER BY seq"
            ),
            {"c": case},
        ).all()
        stored = set(conn.execute(text("SELECT sha256 FROM case_media WHERE case_id = :c"), {"c": case}).scalars())
        broken = conn.execute(
            text("SELECT count(*) FROM cityops_verify_transitions() WHERE case_id = :c"), {"c": case}
        ).scalar_one()
        times = (
            conn.execute(text("SELECT at FROM case_transition WHERE case_id = :c ORDER BY seq"), {"c": case})
            .scalars()
            .all()
        )
    assert [a for a, _ in named] == ["feedback", "feedback", "close"] and broken == 0
    assert {h for _, hashes in named for h in hashes} == stored and len(stored) == 4
    page = checker.get(f"/cases/{case}")
    assert page.status_code == 200 and "已结案" in page.text and "处置单" in page.text
    assert len(re.findall(r'<img src="/api/v1/media/[0-9a-f]{64}"', page.text)) == 4
    for at in times:  # every step in Beijing time
        assert at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M") in page.text
    assert "派单规则" in page.text and "H3 单元" in page.text
    photo = checker.get(re.search(r'<img src="(/api/v1/media/[0-9a-f]{64})"', page.text)[1])  # type: ignore[index]
    assert photo.status_code == 200 and photo.headers["content-type"] == "image/png"
    (artifacts / "case-page.html").write_text(page.text, encoding="utf-8")


def test_refusals_are_sentences_and_leave_nothing_behind(
    nanjing: Engine, case: int, team: dict[str, httpx.Client], server: str
) -> None:
    street, handler = team["street"], team["handler"]
    no_note = act(street, case, "void", version_of(nanjing, case))
    assert no_note.status_code == 422 and "请补充或更正" in no_note.text and "note" in no_note.text
    wrong_role = act(handler, case, "accept", version_of(nanjing, case))
    assert wrong_role.status_code == 403 and "您无权执行此操作" in wrong_role.text
    move(street, nanjing, case, "accept", "accepted")
    seen = version_of(nanjing, case) - 1  # what a slower colleague's screen still shows
    reopened = street.get(f"/cases/{case}/form/file?version={seen}")
    assert reopened.status_code == 409 and reopened.headers["HX-Retarget"] == f"#case-{case}"
    assert "此案件已被他人更新" in json.loads(reopened.headers["HX-Trigger"])["cityops:toast"]["text"]
    stale = act(street, case, "file", seen)
    assert stale.status_code == 409 and 'data-state="accepted"' in stale.text  # the case, reloaded
    assert "此案件已被他人更新" in json.loads(stale.headers["HX-Trigger"])["cityops:toast"]["text"]
    move(street, nanjing, case, "file", "filed")
    move(street, nanjing, case, "dispatch", "dispatched", department=DEPARTMENT)
    for action, state in (("acknowledge", "acknowledged"), ("start", "handling")):
        move(handler, nanjing, case, action, state)
    without_photo = act(handler, case, "feedback", version_of(nanjing, case), note="已修复")
    assert without_photo.status_code == 422 and "evidence" in without_photo.text
    cut_short = act(handler, case, "feedback", version_of(nanjing, case), photos=[tiny_png()[:-16]])
    assert cut_short.status_code in (415, 422) and "操作未完成" not in cut_short.text
    forged = httpx.post(
        f"{server}/cases/{case}/act",
        cookies=handler.cookies,
        data={"action": "feedback", "version": str(version_of(nanjing, case))},
    )
    assert forged.status_code == 403
    with nanjing.connect() as conn:
        kept = conn.execute(text("SELECT count(*) FROM case_media WHERE case_id = :c"), {"c": case}).scalar_one()
    assert kept == 0 and state_of(nanjing, case) == "handling"


def test_two_people_act_at_once_one_wins(nanjing: Engine, case: int, team: dict[str, httpx.Client]) -> None:
    version = version_of(nanjing, case)
    answers: list[httpx.Response] = []
    clients = (team["street"], team["street2"])
    threads = [threading.Thread(target=lambda c=c: answers.append(act(c, case, "accept", version))) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.status_code for a in answers) == [200, 409]
    assert version_of(nanjing, case) == version + 1 and state_of(nanjing, case) == "accepted"


def test_queues_are_checked_against_the_state_machine(nanjing_settings: StoreSettings) -> None:
    async def load() -> Rules:
        async with await psycopg.AsyncConnection.connect(libpq_url(nanjing_settings)) as conn:
            return await Rules.load(conn, WorkingCalendar.china())

    rules = asyncio.run(load())
    check_queues(rules)  # the shipped queues fit the shipped machine
    with pytest.raises(RuntimeError, match="cases:check has no move from filed"):
        check_queues(rules, (Queue("wrong", "cases:check", ("filed",)),))
