"""The command board's situation-report editor and alert composer, through the pages as a browser uses them."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from fastapi.testclient import TestClient
from playwright.sync_api import Browser
from sqlalchemy import Engine

from command.users import create_user
from tests.test_accessibility import violations
from tests.test_incidents import XUANWU
from tests.test_map_browser import PASSWORD as BROWSER_PASSWORD
from tests.test_map_browser import browser, wait_until  # noqa: F401
from tests.test_map_browser import signed_in as browser_signed_in
from tests.test_work_pages import person, signed_in

BEIJING = ZoneInfo("Asia/Shanghai")


def open_board(commander: httpx.Client, title: str) -> str:
    """Open an incident from the list's form (a 400 m perimeter in 玄武区); its board's address."""
    opened = commander.post(
        "/incidents",
        data={
            "title": title,
            "class_code": "natural_disaster.rainstorm_flood",
            "level": "III",
            "lon": XUANWU[0],
            "lat": XUANWU[1],
            "radius_m": 400,
        },
    )
    assert opened.status_code == 204, opened.text
    return opened.headers["HX-Redirect"]


def toast(answer: httpx.Response) -> dict[str, str]:
    """The toast a form's answer asks the page to show (its words and kind)."""
    return json.loads(answer.headers["HX-Trigger"])["cityops:toast"]


def _minute(at: datetime) -> str:
    return at.astimezone(BEIJING).strftime("%Y-%m-%dT%H:%M")


def _report(kind: str, body: str, **figures: int) -> dict[str, object]:
    return {"kind": kind, "body": body, "figures_at": _minute(datetime.now(BEIJING)), **figures}


def test_a_report_is_drafted_approved_by_another_and_issued_and_stale_or_own_approvals_are_refused(
    server: str, nanjing: Engine, client: TestClient
) -> None:
    author = signed_in(server, person(nanjing, "320102", ["district"]))
    other = signed_in(server, person(nanjing, "320102", ["district"]))
    board_url = open_board(author, "中山门积水")
    incident_id = board_url.rsplit("/", 1)[1]
    board = author.get(board_url)
    assert board.status_code == 200 and "下一份首报应于" in board.text and "data-due=" in board.text
    drafted = author.post(f"{board_url}/sitreps", data=_report("first", "中山门下穿积水 40 厘米", affected=120))
    assert drafted.status_code == 200 and "中山门下穿积水 40 厘米" in drafted.text and "草稿" in drafted.text
    (report,) = client.get(f"/api/v1/incidents/{incident_id}/sitreps").json()["sitreps"]
    assert report["figures"]["affected"] == 120 and report["author"] in drafted.text
    assert f"/sitreps/{report['id']}/approve" not in drafted.text  # the author is not offered approval
    own = author.post(f"{board_url}/sitreps/{report['id']}/approve", data={"version": report["version"]})
    assert own.status_code == 403 and toast(own)["kind"] == "error"
    edited = other.post(
        f"{board_url}/sitreps/{report['id']}",
        data={
            **_report("first", "积水 35 厘米，已转移 30 人", affected=120, evacuated=30),
            "version": report["version"],
        },
    )
    assert edited.status_code == 200 and "已转移 30 人" in edited.text
    stale = author.post(
        f"{board_url}/sitreps/{report['id']}",
        data={**_report("first", "旧版本的修改"), "version": report["version"]},
    )
    assert stale.status_code == 409 and "已为您重新载入" in toast(stale)["text"]
    assert "已转移 30 人" in stale.text and "旧版本的修改" not in stale.text  # the board as it stands
    version = report["version"] + 1
    assert f"/sitreps/{report['id']}/approve" in other.get(board_url).text
    approved = other.post(f"{board_url}/sitreps/{report['id']}/approve", data={"version": version})
    assert approved.status_code == 200 and "已审核" in approved.text
    issued = author.post(f"{board_url}/sitreps/{report['id']}/issue", data={"version": version + 1})
    assert issued.status_code == 200 and "第1期" in issued.text and "下一份续报应于" in issued.text
    assert f"/api/v1/sitreps/{report['id']}.pdf" in issued.text
    (final,) = client.get(f"/api/v1/incidents/{incident_id}/sitreps").json()["sitreps"]
    assert final["state"] == "issued" and final["seq"] == 1 and final["approved_by"] != final["author"]
    english = author.get(f"{board_url}?lang=en")
    assert "Situation reports" in english.text and "No. 1" in english.text and "Report issued" in english.text
    assert "First report" in english.text and "incident.area.first" not in english.text  # the timeline's kind
    assert "Compose an alert" in english.text and "下一份" not in english.text


def test_an_alert_is_composed_approved_published_updated_and_cancelled_from_the_board(
    server: str, nanjing: Engine, client: TestClient
) -> None:
    author = signed_in(server, person(nanjing, "320102", ["district"]))
    other = signed_in(server, person(nanjing, "320102", ["district"]))
    board_url = open_board(author, "玄武湖暴雨内涝")
    incident_id = board_url.rsplit("/", 1)[1]
    words = {
        "headline": "玄武湖周边暴雨内涝橙色预警",
        "event": "暴雨内涝",
        "instruction": "请勿进入积水区域",
        "urgency": "Immediate",
        "certainty": "Observed",
        "response_type": "Avoid",
        "expires": _minute(datetime.now(BEIJING) + timedelta(hours=6)),
        "en_headline": "Flooding around Xuanwu Lake",
        "en_event": "Urban flooding",
        "en_instruction": "Keep out of flooded streets",
    }
    composed = author.post(f"{board_url}/alerts", data=words)
    assert composed.status_code == 200 and "玄武湖周边暴雨内涝橙色预警" in composed.text
    (alert,) = client.get(f"/api/v1/incidents/{incident_id}/alerts").json()["alerts"]
    assert alert["state"] == "draft" and f"/alerts/{alert['id']}/approve" not in composed.text
    own = author.post(f"{board_url}/alerts/{alert['id']}/approve", data={"version": alert["version"]})
    assert own.status_code == 403 and toast(own)["kind"] == "error"
    approved = other.post(f"{board_url}/alerts/{alert['id']}/approve", data={"version": alert["version"]})
    assert approved.status_code == 200 and "已审核" in approved.text
    published = author.post(f"{board_url}/alerts/{alert['id']}/publish")
    assert published.status_code == 200 and f"/api/v1/alerts/{alert['identifier']}.xml" in published.text
    assert "<msgType>Alert</msgType>" in httpx.get(f"{server}/api/v1/alerts/{alert['identifier']}.xml").text
    updated = author.post(f"{board_url}/alerts/{alert['id']}/update", data={**words, "headline": "内涝范围扩大"})
    assert updated.status_code == 200 and "内涝范围扩大" in updated.text
    update = client.get(f"/api/v1/incidents/{incident_id}/alerts").json()["alerts"][1]
    assert update["msg_type"] == "Update" and update["references_id"] == alert["id"]
    assert other.post(f"{board_url}/alerts/{update['id']}/approve", data={"version": update["version"]}).is_success
    assert author.post(f"{board_url}/alerts/{update['id']}/publish").is_success
    cancelled = author.post(f"{board_url}/alerts/{update['id']}/cancel", data={"note": "积水已退"})
    assert cancelled.status_code == 200
    cancel = client.get(f"/api/v1/incidents/{incident_id}/alerts").json()["alerts"][2]
    assert cancel["msg_type"] == "Cancel" and cancel["references_id"] == update["id"]
    assert other.post(f"{board_url}/alerts/{cancel['id']}/approve", data={"version": cancel["version"]}).is_success
    done = author.post(f"{board_url}/alerts/{cancel['id']}/publish")
    assert done.status_code == 200 and "Cancel" in done.text
    xml = httpx.get(f"{server}/api/v1/alerts/{cancel['identifier']}.xml").text
    assert "<msgType>Cancel</msgType>" in xml and update["identifier"] in xml
    english = author.get(f"{board_url}?lang=en")
    assert "Flooding around Xuanwu Lake" in english.text and "Published" in english.text


def test_the_board_drafts_a_report_in_the_browser(
    server: str,
    nanjing: Engine,
    browser: Browser,  # noqa: F811
    artifacts: Path,
) -> None:
    commander = f"district-{uuid.uuid4().hex[:6]}"  # signs in at /login with the browser tests' password
    with nanjing.begin() as conn:
        create_user(conn, commander, unit_code="320102", roles=["district"], password=BROWSER_PASSWORD, actor="tests")
    board_url = open_board(signed_in(server, person(nanjing, "320102", ["district"])), "太平门燃气泄漏")
    for lang in ("zh-CN", "en"):
        watched = browser_signed_in(
            browser, server, commander, f"{board_url}?lang={lang}", viewport={"width": 1920, "height": 1080}
        )
        page = watched.page
        page.fill("#sitrep-new-body", f"浏览器起草的报告 {lang}")
        page.fill("#sitrep-new-affected", "42")
        page.click("#sitrep-form button[type=submit]")
        wait_until(page, f"document.body.innerText.includes('浏览器起草的报告 {lang}')")
        wait_until(page, "document.querySelector('#incident-sitreps ~ p .due').textContent.length > 0")
        page.screenshot(path=f"{artifacts}/incident-board-reports-{lang}.png", full_page=True)
        assert violations(page) == []  # axe: the forms labelled, the page operable
        watched.assert_offline(server)
        assert not [line for line in watched.console if "rror" in line], watched.console
        assert not watched.failures, watched.failures
        page.context.close()
