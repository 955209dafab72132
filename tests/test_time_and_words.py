"""The API's conventions for people (issue 18, point 1): every timestamp it answers carries the city's
offset (+08:00 for Nanjing), codes come with labels in zh-CN (English when asked), and every
refusal keeps its English ``detail`` and adds a ``message`` in the request's language."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.conftest import Caller, add_force, upload_evidence
from tests.test_stream import JIANGNING, report, stream
from tests.test_workflow import new_case, step, walk

STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
CHINESE = re.compile(r"[\u4e00-\u9fff]")


def stamps(value: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """Every timestamp string anywhere in a JSON value, with the path it was found at."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from stamps(inner, f"{where}.{key}")
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from stamps(inner, f"{where}[{index}]")
    elif isinstance(value, str) and STAMP.match(value):
        yield where, value


def assert_beijing(body: Any, at_least: int = 1) -> int:
    """Every timestamp of ``body`` ends with +08:00; how many there were (at least ``at_least``)."""
    found = list(stamps(body))
    wrong = [(where, value) for where, value in found if not value.endswith("+08:00")]
    assert not wrong, wrong
    assert len(found) >= at_least, found
    return len(found)


@pytest.fixture(scope="module")
def feedback(client: TestClient, nanjing: Engine) -> dict[str, Any]:
    """A case taken to handling, with evidence uploaded and named by a feedback: the feedback's answer."""
    case = new_case(client, nanjing)
    version = walk(client, case)
    photo = upload_evidence(client, case)
    moved = step(client, case, "feedback", version, note="已修复", evidence=[photo])
    assert moved.status_code == 200, moved.text
    return moved.json()


@pytest.fixture(scope="module")
def walked(feedback: dict[str, Any]) -> int:
    """The walked case's id."""
    return int(feedback["case_id"])


def test_every_timestamp_of_a_walked_case_is_in_beijing_time(
    client: TestClient, feedback: dict[str, Any], walked: int
) -> None:
    assert_beijing(feedback, at_least=3)  # the move's answer: deadline, due time, the transition's time
    case = client.get(f"/api/v1/cases/{walked}").json()
    assert_beijing(case, at_least=5)  # filed, deadline, created, updated, a report's created
    history = client.get(f"/api/v1/cases/{walked}/transitions").json()
    assert_beijing(history["transitions"], at_least=len(history["transitions"]))
    assert_beijing({k: v for k, v in history.items() if k != "transitions"})
    media = client.get(f"/api/v1/cases/{walked}/media").json()
    assert [n for item in media["items"] for n in item["named_by"]], media  # the feedback named the photo
    assert_beijing(media, at_least=2)


def test_lists_queues_and_public_views_answer_in_beijing_time(client: TestClient, walked: int) -> None:
    for path, params in (
        ("/api/v1/cases", {"limit": 20}),
        ("/api/v1/reports", {"limit": 20}),
        ("/api/v1/deadlines", {"state": "due_soon", "within_minutes": 7 * 1440}),
        ("/api/v1/queues/check", {}),
        ("/ogc/collections/cases/items", {"limit": 20}),
        ("/open311/v2/requests.json", {}),
        ("/api/v1/forces/counts", {}),
        ("/api/v1/route", {"lon": 118.8, "lat": 32.06, "category": "010101"}),
    ):
        answer = client.get(path, params=params)
        assert answer.status_code == 200, (path, answer.text)
        assert_beijing(answer.json()), path


def test_a_moved_case_on_the_live_stream_is_in_beijing_time(server: str, nanjing: Engine, caller: Caller) -> None:
    viewer = caller(["city_commander", "dispatcher"], "320100")
    with stream(server, viewer) as events:
        events.next("ready")
        case_id = report(server, viewer, JIANGNING, nanjing)  # not 玄武区: its spot would void the walked case
        seen = events.cases_until(case_id)
        assert_beijing(seen[case_id], at_least=2)  # the case's deadline and stage due time


def test_codes_come_with_chinese_labels_and_english_when_asked(client: TestClient, walked: int) -> None:
    case = client.get(f"/api/v1/cases/{walked}").json()
    assert case["state"] == "checking" and case["state_label"] == "待核查"
    assert case["category_name"] == "上水井盖" and case["responsible"]["tier_label"] == "街镇"
    assert case["source"] == "hotline" and case["source_label"] == "12345热线"
    assert case["routing_trace_text"] and all(CHINESE.search(s) for s in case["routing_trace_text"])
    assert not any(case["cell"] in s for s in case["routing_trace_text"])  # no H3 id for a person to read
    english = client.get(f"/api/v1/cases/{walked}", params={"lang": "en"}).json()
    assert english["state"] == "checking" and english["state_label"] == "Checking"
    assert english["category_name"] == case["category"]["name_en"]
    for sentence in english["routing_trace_text"]:  # place names stay Chinese; the words and punctuation are English
        assert sentence[0].isascii() and not re.search("[、，：。（）]", sentence), sentence
    by_header = client.get(f"/api/v1/cases/{walked}", headers={"Accept-Language": "en-GB,en;q=0.9,zh;q=0.5"}).json()
    assert by_header["state_label"] == "Checking"
    chinese_first = client.get(f"/api/v1/cases/{walked}", headers={"Accept-Language": "zh-CN,en;q=0.8"}).json()
    assert chinese_first["state_label"] == "待核查"
    unknown = client.get(f"/api/v1/cases/{walked}", params={"lang": "fr"}).json()
    assert unknown["state_label"] == "待核查"  # an unknown language falls back to zh-CN

    history = client.get(f"/api/v1/cases/{walked}/transitions").json()
    for t in history["transitions"]:
        assert CHINESE.search(t["action_label"]) and CHINESE.search(t["to_state_label"]), t
    assert history["state_label"] == "待核查" and len(history["next_labels"]) == len(history["next"])
    queued = client.get("/api/v1/queues/check").json()["items"]
    assert any(item["id"] == str(walked) and item["state_label"] == "待核查" for item in queued), queued
    listed = client.get("/api/v1/cases", params={"limit": 5, "lang": "en"}).json()["items"]
    assert listed and all(row["state_label"] and not CHINESE.search(row["state_label"]) for row in listed)
    assert all(not CHINESE.search(row["category_name"] or "") for row in listed if row["category_name_en"])


def test_forces_say_their_status_in_words(client: TestClient, nanjing: Engine) -> None:
    force_id, _ = add_force(nanjing, "320102002", ["drainage"], at=(118.8, 32.06))
    view = client.get(f"/api/v1/forces/{force_id}").json()
    assert CHINESE.search(view["status_label"]) and view["status_label"] != view["status"], view
    assert_beijing(view)  # its last fix
    english = client.get(f"/api/v1/forces/{force_id}", params={"lang": "en"}).json()
    assert english["status"] == view["status"] and not CHINESE.search(english["status_label"]), english
    listed = client.get("/api/v1/forces", params={"limit": 20}).json()["items"]
    assert listed and all(CHINESE.search(row["status_label"]) for row in listed)


def test_refusals_keep_their_detail_and_add_a_message(client: TestClient, anonymous: TestClient, walked: int) -> None:
    version = client.get(f"/api/v1/cases/{walked}/transitions").json()["version"]
    cases = (
        (client.get("/api/v1/cases/999999999999"), 404, "未找到："),
        (client.get("/api/v1/cases", params={"limit": 0}), 422, "请补充或更正："),
        (
            client.post(f"/api/v1/cases/{walked}/transitions", json={"action": "accept", "version": version}),
            409,
            "当前状态不允许此操作：",
        ),
        (step(client, walked, "accept", version - 1), 409, "当前状态不允许此操作："),
        (anonymous.get("/api/v1/cases"), 401, "请先登录："),
        (client.get("/api/v1/no-such-thing"), 404, "未找到："),
        (client.delete(f"/api/v1/cases/{walked}"), 405, "此地址不支持该请求方法："),
        (client.post("/api/v1/reports", json={"lon": "east"}), 422, "请补充或更正："),
    )
    for answer, status, opening in cases:
        body = answer.json()
        assert answer.status_code == status, answer.text
        assert body["detail"] and body["code"] and not CHINESE.search(body["detail"][:20]), body
        assert body["message"].startswith(opening), body
        if body["code"] != "invalid_input":  # a refused field's reason is in the person's words (below)
            assert body["detail"] in body["message"], body
    naive = client.get("/api/v1/cases", params={"since": "2026-12-01T08:00:00"})  # which zone? refused
    assert naive.status_code == 422 and naive.json()["message"].startswith("请补充或更正：since needs a time zone")
    same = [
        client.get("/api/v1/cases", params={"since": since, "limit": 1000}).json()["items"]
        for since in ("2026-12-01T00:00:00Z", "2026-12-01T08:00:00+08:00")
    ]  # any offset: the same instant
    assert same[0] == same[1]
    english = client.get("/api/v1/cases", params={"limit": 0, "lang": "en"}).json()
    assert english["message"].startswith("Please add or correct: ") and english["errors"], english
    by_header = client.get("/api/v1/cases/999999999999", headers={"Accept-Language": "en"}).json()
    assert by_header["message"].startswith("Not found: ")


def test_a_refused_field_reads_in_the_persons_words(client: TestClient) -> None:
    """pydantic's reasons in the catalogue's words, with the bound or the choices; the detail stays English."""
    cases = (
        ({"limit": 0}, "请补充或更正：limit：应不小于 1", "Please add or correct: limit: must be at least 1"),
        ({"limit": "many"}, "请补充或更正：limit：应为整数", "Please add or correct: limit: must be a whole number"),
    )
    for params, chinese, english in cases:
        zh = client.get("/api/v1/cases", params=params).json()
        en = client.get("/api/v1/cases", params={**params, "lang": "en"}).json()
        assert (zh["message"], en["message"]) == (chinese, english), (zh, en)
        assert zh["detail"] == en["detail"] and not CHINESE.search(zh["detail"]), zh
    body = client.post("/api/v1/reports", json={"lon": "east"}).json()
    assert "lon：应为数字" in body["message"] and "：必填" in body["message"], body
    assert "Input should be" not in body["message"], body  # no English reason left in a Chinese message


def test_the_pages_own_requests_speak_the_pages_language(client: TestClient) -> None:
    # a browser on the platform's pages sends its own Accept-Language; the pages are zh-CN unless switched
    browser = {"Sec-Fetch-Site": "same-origin", "Accept-Language": "en-US,en;q=0.9"}
    assert client.get("/api/v1/cases/999999999999", headers=browser).json()["message"].startswith("未找到")
    switched = httpx.Cookies({"cityops_lang": "en"})
    answer = client.get("/api/v1/cases/999999999999", headers=browser, cookies=switched)
    assert answer.json()["message"].startswith("Not found")
