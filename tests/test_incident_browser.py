"""An incident's life in headless Chromium, as a district commander would live it: open it from the list by
placing its command post on the map, see the board (areas, cases, impact, timeline), draw a hot zone by
clicking its centre, link a case reported inside, escalate — in Chinese and in English, at a desk and on a
phone, with nothing loaded from outside the platform and no script errors."""

from __future__ import annotations

import random
import re
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page
from sqlalchemy import Engine

from command.users import create_user
from tests.test_incidents import XUANWU, report
from tests.test_map_browser import PASSWORD, browser, signed_in, wait_until  # noqa: F401  (browser: a fixture)

SIZES = {"desk": {"width": 1920, "height": 1080}, "phone": {"width": 390, "height": 844}}


def click_map_at(page: Page, map_name: str, lon: float, lat: float) -> None:
    """Click the map where ``lon, lat`` is drawn, as a person would (scrolled to it first, as on a phone)."""
    page.evaluate(f"window.{map_name}.getContainer().scrollIntoView({{block: 'center'}})")
    x, y = page.evaluate(
        f"(() => {{ const m = window.{map_name}; const p = m.latLngToContainerPoint([{lat}, {lon}]);"
        f" const r = m.getContainer().getBoundingClientRect(); return [r.left + p.x, r.top + p.y]; }})()"
    )
    hit = page.evaluate(
        f"document.elementFromPoint({x}, {y})?.getAttribute('class') || document.elementFromPoint({x}, {y})?.tagName"
    )
    assert "leaflet" in str(hit), f"the map is covered at that point by {hit!r}"
    page.mouse.click(x, y)


@pytest.mark.parametrize(("lang", "size"), [("zh-CN", "desk"), ("en", "phone")])
def test_an_incident_lived_through_the_board(
    browser: Browser,  # noqa: F811
    server: str,
    nanjing: Engine,
    client: TestClient,
    artifacts: Path,
    lang: str,
    size: str,
) -> None:
    name = f"board-{uuid.uuid4().hex[:6]}"
    with nanjing.begin() as conn:
        create_user(conn, name, unit_code="320102", roles=["district"], password=PASSWORD, actor="tests")
    watched = signed_in(browser, server, name, f"/incidents?lang={lang}", viewport=SIZES[size])
    page = watched.page
    # a Chinese title in either language: the wall of the Chinese screen test shows every active incident's title
    title = f"暴雨积水第{random.randint(1000, 9999)}号"
    page.fill("input[name=title]", title)
    page.select_option("select[name=class_code]", "natural_disaster.rainstorm_flood")
    page.evaluate("window.cityopsPickMap.setView([32.06, 118.80], 13, {animate: false})")
    click_map_at(page, "cityopsPickMap", *XUANWU)
    assert abs(float(page.input_value("#pick-lon")) - XUANWU[0]) < 0.001
    page.fill("input[name=radius_m]", "800")
    page.click("form.incident-open button[type=submit]")
    page.wait_for_url(f"{server}/incidents/*")
    wait_until(page, "window.cityopsReady === true && !!window.cityopsBoardMap")
    incident_id = page.url.rsplit("/", 1)[1].split("?")[0]
    assert title in page.inner_text("h1")
    # a spot of its own (a report near an older case of its kind would join that case, not flag this incident)
    case = report(
        client, XUANWU[0] + random.uniform(-0.004, 0.004), XUANWU[1] + random.uniform(-0.004, 0.004), "010103"
    )
    page.reload()
    wait_until(page, "!!window.cityopsBoardMap")
    flagged = page.locator(f".incident-cases li:has(a[href='/cases/{case}'])")
    assert flagged.count() == 1 and "link-flagged" in (flagged.get_attribute("class") or "")
    flagged.locator("button[value=linked]").click()
    wait_until(page, f"!!document.querySelector(\".incident-cases li.link-linked a[href='/cases/{case}']\")")
    page.select_option("#area-form select[name=kind]", "hot_zone")
    centre = (XUANWU[0] + 0.004, XUANWU[1] - 0.003)  # clear of the post's marker, which takes its own clicks
    click_map_at(page, "cityopsBoardMap", *centre)
    assert abs(float(page.input_value("#area-lon")) - centre[0]) < 0.001
    page.fill("#area-form input[name=radius_m]", "250")
    page.click("#area-form button[type=submit]")
    drawn_or_refused = "document.querySelectorAll('#incident-timeline + ol li').length >= 4"
    wait_until(page, f"{drawn_or_refused} || !!document.querySelector('.toast.error')")
    assert not page.locator(".toast.error").count(), page.inner_text("#toasts")
    page.select_option("form[hx-post$='/level'] select[name=level]", "III")
    page.click("form[hx-post$='/level'] button[type=submit]")
    wait_until(page, "document.querySelector('h1 .level-III') !== null")
    timeline = page.inner_text("#main .timeline")
    assert ("升级" if lang == "zh-CN" else "Escalated") in timeline
    state = client.get(f"/api/v1/incidents/{incident_id}").json()
    kinds = sorted(f["properties"]["kind"] for f in state["areas"]["features"])
    assert state["level"]["code"] == "III" and kinds == ["hot_zone", "perimeter"]
    page.screenshot(path=str(artifacts / f"incident-board-{lang}-{size}.png"), full_page=True)
    watched.assert_offline(server)
    assert not [line for line in watched.console if "error" in line.lower()], watched.console


def test_the_work_of_an_incident_in_the_browser(
    browser: Browser,  # noqa: F811
    server: str,
    nanjing: Engine,
    client: TestClient,
    artifacts: Path,
) -> None:
    """The rest of a life, each person in their own browser: the commander (desk) blows the whistle and sets a
    task; the summoned department's liaison (phone) reports in and moves the task to done; another district
    answers a request for sandbags from its inbox while the command accepts, deploys and releases them; the
    commander de-escalates, closes, and reads the after-action report."""
    department = f"水务局{random.randint(1000, 9999)}"
    names = {role: f"life-{role}-{uuid.uuid4().hex[:6]}" for role in ("commander", "liaison", "owner")}
    with nanjing.begin() as conn:
        create_user(conn, names["commander"], unit_code="320102", roles=["district"], password=PASSWORD, actor="t")
        create_user(
            conn,
            names["liaison"],
            unit_code="320102",
            roles=["department_handler"],
            password=PASSWORD,
            actor="t",
            department=department,
        )
        create_user(conn, names["owner"], unit_code="320104", roles=["district"], password=PASSWORD, actor="t")
    opened = client.post(
        "/api/v1/incidents",
        json={
            "title": "中山门隧道积水",
            "class_code": "natural_disaster.rainstorm_flood",
            "level": "III",
            "lon": XUANWU[0],
            "lat": XUANWU[1],
            "areas": [{"kind": "perimeter", "buffer_m": 600, "lon": XUANWU[0], "lat": XUANWU[1]}],
        },
    )
    assert opened.status_code == 201, opened.text
    board = f"/incidents/{opened.json()['id']}"
    commander = signed_in(browser, server, names["commander"], board, viewport=SIZES["desk"]).page

    def submit(page: Page, form: str, done: str) -> None:
        """Press the form's button and wait for the board htmx swaps in to show ``done`` (a JS condition)."""
        page.click(f"{form} button[type=submit]")
        wait_until(page, f"({done}) || !!document.querySelector('.toast.error')")
        assert not page.locator(".toast.error").count(), page.inner_text("#toasts")

    commander.fill("form[hx-post$='/summons'] input[name=departments]", department)
    submit(commander, "form[hx-post$='/summons']", f"document.body.innerText.includes('{department}')")
    liaison_view = signed_in(browser, server, names["liaison"], board, viewport=SIZES["phone"])
    liaison = liaison_view.page
    submit(liaison, "form[hx-post*='/report-in']", "document.body.innerText.includes('已报到')")

    commander.reload()
    wait_until(commander, "window.cityopsReady === true")
    commander.fill("form[hx-post$='/tasks'] input[name=title]", "抽排隧道积水")
    commander.fill("form[hx-post$='/tasks'] input[name=assignee]", department)
    submit(commander, "form[hx-post$='/tasks']", "document.body.innerText.includes('抽排隧道积水')")
    liaison.reload()
    wait_until(liaison, "window.cityopsReady === true")
    for state, word in (("acknowledged", "已接收"), ("in_progress", "处置中"), ("done", "已完成")):
        liaison.click(f"form.task-moves button[value={state}]")
        wait_until(liaison, f"!!document.querySelector('li.task-{state}') || !!document.querySelector('.toast.error')")
        assert not liaison.locator(".toast.error").count(), liaison.inner_text("#toasts")
        assert word in liaison.inner_text("li.task")
    assert liaison.locator(".toast.ok").count() == 1  # each confirmation replaces the one before
    liaison.screenshot(path=str(artifacts / "incident-task-done-phone.png"), full_page=True)

    commander.select_option("form.resource-ask select[name=resource_type]", "sandbags")
    commander.fill("form.resource-ask input[name=quantity]", "300")
    commander.fill("form.resource-ask input[name=to_unit]", "320104")
    submit(commander, "form.resource-ask", "!!document.querySelector('.resource-requests li')")
    (request,) = client.get(f"/api/v1{board}/resources").json()["requests"]
    owner = signed_in(browser, server, names["owner"], "/resource-requests", viewport=SIZES["desk"]).page

    def answer(page: Page, url: str, state: str) -> None:
        """Press the move's button; wait for the request's own line (the summary's headers say 已释放 too)."""
        page.reload()
        wait_until(page, "window.cityopsReady === true")
        line = ".resource-requests li" if url.startswith("/incidents") else ".resource-inbox tbody tr"
        submit(page, f"form[hx-post='{url}']", f"document.querySelector('{line}')?.innerText.includes('{state}')")

    answer(owner, f"/resource-requests/{request['id']}/offer", "已响应")
    answer(commander, f"{board}/resource-requests/{request['id']}/accept", "已确认")
    answer(owner, f"/resource-requests/{request['id']}/commit", "已承诺")
    answer(commander, f"{board}/resource-requests/{request['id']}/deploy", "已到场")
    answer(commander, f"{board}/resource-requests/{request['id']}/release", "已释放")
    answer(owner, f"/resource-requests/{request['id']}/return", "已归还")
    owner.screenshot(path=str(artifacts / "resource-inbox-zh-CN.png"), full_page=True)

    commander.reload()
    wait_until(commander, "window.cityopsReady === true")
    commander.select_option("form[hx-post$='/level'] select[name=level]", "IV")
    submit(commander, "form[hx-post$='/level']", "document.querySelector('h1 .level-IV') !== null")
    commander.fill("form[hx-post$='/close'] textarea[name=note]", "积水已排除")
    submit(commander, "form[hx-post$='/close']", "!!document.getElementById('after-action')")
    commander.screenshot(path=str(artifacts / "incident-closed-zh-CN.png"), full_page=True)
    commander.click("#after-action")
    commander.wait_for_load_state()
    report_text = commander.inner_text("body")
    assert department in report_text and "资源已释放" in report_text and "降级" in report_text
    assert not re.search(r"\b(de_escalated|resource_\w+|task_moved)\b", report_text)  # words, not codes
    state = client.get(f"/api/v1{board}").json()
    assert state["state"] == "closed" and state["level"]["code"] == "IV"
    liaison_view.assert_offline(server)
