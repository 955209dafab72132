"""An incident's life in headless Chromium, as a district commander would live it: open it from the list by
placing its command post on the map, see the board (areas, cases, impact, timeline), draw a hot zone by
clicking its centre, link a case reported inside, escalate — in Chinese and in English, at a desk and on a
phone, with nothing loaded from outside the platform and no script errors."""

from __future__ import annotations

import random
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
    title = f"{'暴雨积水' if lang == 'zh-CN' else 'Flooding'} {uuid.uuid4().hex[:4]}"
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
