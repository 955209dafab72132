"""The closed loop walked through the pages only, in headless Chromium (issue 17).

A grid worker reports with a photo on their phone page; the street accepts, files and dispatches
from its 待办 queue; the department's handler acknowledges, starts, asks an extension (approved
by the street: another hand), feeds back with a photo; the checker sends it to rework, the
handler feeds back again, the checker closes with an on-site photo; the case page shows every
photo. Two dispatchers acting on one case: the second sees the reload prompt. No step goes
through the API directly — only clicks, fields and files, as the people would.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page
from sqlalchemy import Engine, text

from command.users import create_user
from tests.conftest import tiny_png, void_open_cases
from tests.test_map_browser import PASSWORD, Watched, browser, inside, signed_in, wait_until  # noqa: F401

STREET, DISTRICT = "320102002", "320102"  # 玄武区 梅园新村街道
CATEGORY, DEPARTMENT = "010101", "水务局"  # 上水井盖: street tier, 水务局;供水公司
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
DESK = {"viewport": {"width": 1366, "height": 900}}


@pytest.fixture(scope="module")
def crew(nanjing: Engine) -> dict[str, str]:
    """The loop's people: a grid worker, two street dispatchers, a checker, the district's water handler."""
    with nanjing.begin() as conn:
        grid = conn.execute(
            text(
                "SELECT g.code FROM unit g JOIN unit s ON s.id = ANY(g.ancestors) WHERE s.code = :s AND g.tier "
                "= 'grid' "
                "ORDER BY ST_Area(g.geom) DESC OFFSET 1 LIMIT 1"
            ),
            {"s": STREET},
        ).scalar_one()
        names = {"grid": grid}
        for who, unit, roles, department in (
            ("worker", grid, ["grid_worker"], None),
            ("street", STREET, ["street"], None),
            ("street2", STREET, ["street"], None),
            ("checker", STREET, ["checker"], None),
            ("handler", DISTRICT, ["department_handler"], DEPARTMENT),
        ):
            names[who] = f"loop-{who}-{uuid.uuid4().hex[:6]}"
            create_user(
                conn, names[who], unit_code=unit, roles=roles, password=PASSWORD, actor="tests", department=department
            )
    return names


def photo(name: str) -> dict[str, object]:
    return {"name": name, "mimeType": "image/png", "buffer": tiny_png()}


def take(
    page: Page,
    case: str,
    action: str,
    state: str,
    *,
    note: str = "",
    department: str = "",
    extend_by: str = "",
    photos: int = 0,
) -> None:
    """Press the case card's action button, fill the form it opens, send it, and wait for the new state."""
    card = f"#case-{case}"
    page.click(f"{card} button[data-action={action}]")
    form = f"{card} form[data-action={action}]"
    page.wait_for_selector(form)
    if note:
        page.fill(f"{form} textarea[name=note]", note)
    if department:
        page.select_option(f"{form} select[name=department]", department)
    if extend_by:
        page.fill(f"{form} input[name=extend_by]", extend_by)
    if photos:
        page.set_input_files(f"{form} input[name=media]", [photo(f"{action}{i}.png") for i in range(photos)])
    page.click(f"{form} button[type=submit]")
    page.wait_for_selector(f'{card}[data-state="{state}"]', timeout=15_000)


def queue(watched: Watched, server: str, name: str, case: str) -> Page:
    page = watched.page
    page.goto(f"{server}/queue?q={name}")
    page.wait_for_selector(f"#case-{case}")
    return page


@pytest.mark.browser
def test_the_loop_through_the_pages_only(
    browser: Browser,  # noqa: F811 (the fixture imported from test_map_browser)
    server: str,
    artifacts: Path,
    nanjing: Engine,
    crew: dict[str, str],
) -> None:
    void_open_cases(nanjing, "units[2] = (SELECT id FROM unit WHERE code = :d)", {"d": DISTRICT})
    lon, lat = inside(nanjing, crew["grid"])
    worker = signed_in(browser, server, crew["worker"], "/map/worker", **PHONE)
    page = worker.page
    wait_until(page, "document.querySelectorAll('select[name=category] option').length > 10")
    page.evaluate(f"void cityopsMap.setView([{lat}, {lon}], 17)")
    wait_until(page, "cityopsMap.getZoom() === 17")
    point = page.evaluate(f"cityopsMap.latLngToContainerPoint([{lat}, {lon}])")
    box = page.locator(".folium-map").bounding_box()
    page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])  # type: ignore[index]
    page.select_option("select[name=category]", CATEGORY)
    page.fill("textarea[name=description]", f"上水井盖破损 {uuid.uuid4().hex[:6]}")
    page.set_input_files("input[name=photo]", photo("report.png"))
    page.click("#cityops-report button[type=submit]")
    wait_until(page, "window.cityopsReports.length === 1")
    case = page.evaluate("cityopsReports[0].case_id")

    street = signed_in(browser, server, crew["street"], "/queue?q=intake", **DESK)
    rival = signed_in(browser, server, crew["street2"], "/queue?q=intake", **DESK)
    first = queue(street, server, "intake", case)
    queue(rival, server, "intake", case)
    rival.page.click(f"#case-{case} button[data-action=accept]")  # both open the accept form …
    rival.page.wait_for_selector(f"#case-{case} form[data-action=accept]")
    take(first, case, "accept", "accepted")  # … one sends it first
    rival.page.click(f"#case-{case} form[data-action=accept] button[type=submit]")
    rival.page.wait_for_selector(f'#case-{case}[data-state="accepted"]')  # reloaded, not moved twice
    assert "此案件已被他人更新" in rival.page.inner_text("#toasts")
    rival.page.screenshot(path=str(artifacts / "loop-stale.png"))
    take(first, case, "file", "filed")
    take(first, case, "dispatch", "dispatched", department=DEPARTMENT)
    first.screenshot(path=str(artifacts / "loop-street-queue.png"))

    handler = signed_in(browser, server, crew["handler"], "/queue?q=handle", **PHONE)
    desk = queue(handler, server, "handle", case)
    take(desk, case, "acknowledge", "acknowledged")
    take(desk, case, "start", "handling")
    take(desk, case, "request_extension", "extension_requested", note="需更换井座", extend_by="1")
    take(queue(street, server, "approval", case), case, "approve_extension", "handling")
    desk = queue(handler, server, "handle", case)
    take(desk, case, "feedback", "checking", note="已更换井盖", photos=1)
    desk.screenshot(path=str(artifacts / "loop-handler-phone.png"))

    checker = signed_in(browser, server, crew["checker"], "/queue?q=check", **DESK)
    take(queue(checker, server, "check", case), case, "rework", "rework", note="井盖仍有松动")
    desk = queue(handler, server, "handle", case)
    take(desk, case, "start", "handling")
    take(desk, case, "feedback", "checking", note="已加固", photos=1)
    take(queue(checker, server, "check", case), case, "close", "closed", photos=1)

    sheet = checker.page
    sheet.goto(f"{server}/cases/{case}")
    wait_until(sheet, "[...document.querySelectorAll('.photos img')].every(i => i.complete && i.naturalWidth > 0)")
    assert sheet.locator(".photos img").count() == 4  # the report's, two feedbacks', the check's
    timeline = sheet.inner_text("ol.timeline")
    for words in ("受理", "立案", "派遣", "签收", "申请延期", "批准延期", "处置反馈", "退回返工", "核查结案"):
        assert words in timeline
    wait_until(sheet, "document.querySelectorAll('#inset path.leaflet-interactive').length >= 2")
    sheet.screenshot(path=str(artifacts / "loop-case-page.png"), full_page=True)
    with nanjing.connect() as conn:
        state, broken = conn.execute(
            text(
                "SELECT state, (SELECT count(*) FROM cityops_verify_transitions() WHERE case_id = e.id) "
                "FROM case_file e WHERE id = :c"
            ),
            {"c": int(case)},
        ).one()
    assert state == "closed" and broken == 0
    for watched in (worker, street, rival, handler, checker):
        watched.assert_offline(server)
        failed = [f for f in watched.failures if not f.endswith("ERR_ABORTED")]  # a page left ends what it loads
        assert failed == [], failed
