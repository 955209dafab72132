"""The board's work in the browser's terms (issue 21.3, 21.4): the assignee moves a task from the board
(acknowledge, start, block with its reason), a block without a reason refused in words; the command asks
another district for sandbags on the board, that district answers from its inbox ``/resource-requests``
(offer, commit, confirm the return) and the command accepts, reports them deployed and releases them there —
each step a form post that answers with the page, as htmx swaps it."""

from __future__ import annotations

import re
import uuid

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.test_incident_board_reports import open_board, toast
from tests.test_work_pages import person, signed_in


def form_after(page: str, action: str) -> dict[str, str]:
    """The hidden version of the form posting to ``action`` (as the browser would send it)."""
    form = re.search(rf'hx-post="{re.escape(action)}"[^>]*>\s*<input type="hidden" name="version" value="(\d+)"', page)
    assert form, f"no form posting to {action}"
    return {"version": form.group(1)}


def test_the_assignee_moves_a_task_on_the_board(server: str, nanjing: Engine, client: TestClient) -> None:
    water = f"水务局-{uuid.uuid4().hex[:6]}"
    commander = signed_in(server, person(nanjing, "320102", ["district"]))
    board_url = open_board(commander, "中山门内涝")
    incident_id = int(board_url.rsplit("/", 1)[1])
    assert commander.post(f"{board_url}/summons", data={"departments": water}).status_code == 200
    tasked = commander.post(f"{board_url}/tasks", data={"title": "抽排积水", "assignee": water, "due_minutes": 60})
    assert tasked.status_code == 200 and "抽排积水" in tasked.text
    task_id = client.get(f"/api/v1/incidents/{incident_id}/tasks").json()["tasks"][0]["id"]
    moves = f"{board_url}/tasks/{task_id}/moves"

    liaison = signed_in(server, person(nanjing, "320102", ["department_handler"], water))
    other = signed_in(server, person(nanjing, "320102", ["department_handler"], f"城管局-{uuid.uuid4().hex[:6]}"))
    page = liaison.get(board_url)
    assert page.status_code == 200 and "签收" in page.text and f'hx-post="{moves}"' in page.text
    assert f'hx-post="{moves}"' not in other.get(board_url).text  # not theirs: no buttons
    refused = other.post(moves, data={"to": "acknowledged", **form_after(page.text, moves)})
    assert refused.status_code == 404 and "no task" in toast(refused)["text"]  # not in their reach at all
    acknowledged = liaison.post(moves, data={"to": "acknowledged", **form_after(page.text, moves)})
    assert acknowledged.status_code == 200 and "已接收" in acknowledged.text and "开始处置" in acknowledged.text
    stale = liaison.post(moves, data={"to": "in_progress", **form_after(page.text, moves)})  # the old version
    assert stale.status_code == 409
    started = liaison.post(moves, data={"to": "in_progress", **form_after(acknowledged.text, moves)})
    assert started.status_code == 200 and "处置中" in started.text
    unexplained = liaison.post(moves, data={"to": "blocked", **form_after(started.text, moves)})
    assert unexplained.status_code == 422 and "needs a reason" in toast(unexplained)["text"]
    blocked = liaison.post(moves, data={"to": "blocked", "reason": "泵车未到", **form_after(started.text, moves)})
    assert blocked.status_code == 200 and "受阻：泵车未到" in blocked.text
    task = client.get(f"/api/v1/incidents/{incident_id}/tasks").json()["tasks"][0]
    assert task["state"] == "blocked" and task["blocked_reason"] == "泵车未到"
    assert [u["state"] for u in task["updates"]] == ["assigned", "acknowledged", "in_progress", "blocked"]


def test_another_district_answers_a_resource_request_from_its_inbox(
    server: str, nanjing: Engine, client: TestClient
) -> None:
    commander = signed_in(server, person(nanjing, "320102", ["district"]))
    board_url = open_board(commander, "中山门内涝")
    incident_id = int(board_url.rsplit("/", 1)[1])
    wrong = commander.post(
        f"{board_url}/resources", data={"resource_type": "sandbags", "quantity": 5, "to_unit": "999999"}
    )
    assert wrong.status_code == 422 and "999999" in toast(wrong)["text"]
    asked = commander.post(
        f"{board_url}/resources",
        data={"resource_type": "sandbags", "quantity": 800, "to_unit": " 320104 ", "note": "堵口"},
    )
    assert asked.status_code == 200 and "已申请" in asked.text
    request_id = next(r["id"] for r in client.get(f"/api/v1/incidents/{incident_id}/resources").json()["requests"])

    owner = signed_in(server, person(nanjing, "320104", ["district"]))  # 秦淮区: another district
    inbox = owner.get("/resource-requests")
    assert inbox.status_code == 200 and "资源请求" in inbox.text and "堵口" in inbox.text
    offer = f"/resource-requests/{request_id}/offer"
    offered = owner.post(offer, data={"quantity": 600, **form_after(inbox.text, offer)})
    assert offered.status_code == 200 and "可提供 600" in offered.text

    board = commander.get(board_url)
    accept = f"{board_url}/resource-requests/{request_id}/accept"
    assert "确认接收" in board.text
    assert commander.post(accept, data=form_after(board.text, accept)).status_code == 200

    inbox = owner.get("/resource-requests")
    commit = f"/resource-requests/{request_id}/commit"
    too_many = owner.post(commit, data={"quantity": 700, **form_after(inbox.text, commit)})
    assert too_many.status_code == 422  # more than offered: said in words, nothing changed
    assert owner.post(commit, data={"quantity": 600, **form_after(inbox.text, commit)}).status_code == 200

    for action in ("deploy", "release"):
        board = commander.get(board_url)
        url = f"{board_url}/resource-requests/{request_id}/{action}"
        assert commander.post(url, data=form_after(board.text, url)).status_code == 200, action
    inbox = owner.get("/resource-requests")
    back = f"/resource-requests/{request_id}/return"
    returned = owner.post(back, data=form_after(inbox.text, back))
    assert returned.status_code == 200 and "已归还" in returned.text
    summary = client.get(f"/api/v1/incidents/{incident_id}/resources").json()
    assert summary["requests"][0]["state"] == "returned"
    assert summary["summary"][0]["released"] == 600 and summary["summary"][0]["requested"] == 800
    messages = client.get(f"/api/v1/resource-requests/{request_id}").json()["messages"]
    assert [m["type"] for m in messages][:3] == [
        "RequestResource",
        "ResponseToRequestResource",
        "RequisitionResource",
    ]
