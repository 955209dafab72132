"""Forces in the loop in headless Chromium (issue 17.3): a force's person receives an assignment on
``/field`` (phone width), accepts, arrives and completes while the commander's case panel on
``/map`` shows each step live; a timed-out assignment shows its re-offer on the commander's panel.
The server runs with a short accept deadline; nothing is loaded from another origin."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser
from sqlalchemy import Engine, text

from command.users import create_user
from forces.settings import ForceSettings
from spatial.settings import StoreSettings
from tests import test_map_browser
from tests.conftest import Caller, add_force, served, void_open_cases
from tests.test_map_browser import PASSWORD, Watched, signed_in, wait_until

STREET = "320102002"
CATEGORY = "010101"
ACCEPT_S = 25  # time to accept on a busy test machine; the timed-out test waits it out
browser = test_map_browser.browser  # the same headless Chromium fixture
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
DESKTOP = {"viewport": {"width": 1280, "height": 800}}


@pytest.fixture(scope="module")
def quick(nanjing: Engine, nanjing_settings: StoreSettings) -> Iterator[str]:
    """The app under uvicorn with a short accept deadline and a sweep every second."""
    forces = ForceSettings(_env_file=None, accept_timeout_s=ACCEPT_S, sweep_interval_s=1)  # type: ignore[call-arg]
    with served(nanjing_settings, 18500, force_settings=forces) as base:
        yield base


def spot(nanjing: Engine) -> tuple[float, float]:
    """A point of the street away from where other tests stand their forces (a grid's, not the street's)."""
    with nanjing.connect() as conn:
        return conn.execute(
            text(
                "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(g.geom) p FROM unit g JOIN unit s "
                "ON s.id = ANY(g.ancestors) WHERE s.code = :s AND g.tier = 'grid' ORDER BY g.code DESC LIMIT 1) q"
            ),
            {"s": STREET},
        ).one()  # type: ignore[return-value]


def capability(nanjing: Engine) -> str:
    code = f"t_{uuid.uuid4().hex[:10]}"
    with nanjing.begin() as conn:
        conn.execute(text("INSERT INTO capability (code, name, name_en) VALUES (:c, '测试', 'test')"), {"c": code})
    return code


def person_behind(nanjing: Engine, code: str) -> str:
    """A field_force user (with a password) standing behind the force ``code``."""
    name = f"field-{uuid.uuid4().hex[:8]}"
    with nanjing.begin() as conn:
        create_user(
            conn,
            name,
            unit_code=STREET,
            roles=["field_force"],
            password=PASSWORD,
            force_code=code,
            display_name="张队长",
            actor="tests",
        )
    return name


def commander(nanjing: Engine) -> str:
    name = f"cmd-{uuid.uuid4().hex[:8]}"
    with nanjing.begin() as conn:
        create_user(conn, name, unit_code=STREET, roles=["street"], password=PASSWORD, actor="tests")
    return name


def new_case(server: str, caller: Caller, nanjing: Engine, lon: float, lat: float) -> str:
    void_open_cases(nanjing, "ST_DWithin(geom::geography, ST_MakePoint(:x, :y)::geography, 800)", {"x": lon, "y": lat})
    answer = httpx.post(
        f"{server}/api/v1/reports",
        headers=caller(["city_commander"], "320100"),
        json={
            "lon": lon,
            "lat": lat,
            "category": CATEGORY,
            "source": "hotline",
            "description": "井盖缺失，路人绊倒",
            "reporter": {"name": "李四", "phone": "13900001111"},
        },
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["case_id"])


def open_case(watched: Watched, case_id: str, lon: float, lat: float) -> None:
    page = watched.page
    page.evaluate(f"void cityopsMap.setView([{lat}, {lon}], 16)")
    wait_until(page, f"!!window.cityopsCases['{case_id}']")
    page.evaluate(f"void cityopsCases['{case_id}'].marker.fire('click')")
    wait_until(page, "!!document.querySelector('.cityops-assignments')", timeout_s=10)


def stage_on_panel(watched: Watched, force_code: str, stage: str, step: str, timeout_s: float = 10) -> None:
    """Wait until the commander's panel shows the force's assignment at ``stage`` with ``step`` in its story."""
    wait_until(
        watched.page,
        f"[...document.querySelectorAll('.cityops-assignment[data-stage={stage}]')].some("
        f"e => e.textContent.includes('{force_code}') && e.querySelector('[data-step={step}]'))",
        timeout_s=timeout_s,
    )


@pytest.mark.browser
def test_a_force_accepts_arrives_and_completes_while_the_commander_watches(
    browser: Browser,
    quick: str,
    artifacts: Path,
    caller: Caller,
    nanjing: Engine,
) -> None:
    lon, lat = spot(nanjing)
    force_id, code = add_force(nanjing, STREET, ["drainage"], kind="team", at=(lon, lat))
    case_id = new_case(quick, caller, nanjing, lon, lat)
    field = signed_in(browser, quick, person_behind(nanjing, code), "/field", **PHONE)
    wait_until(field.page, "window.cityopsFieldReady === true")
    assert "暂无任务" in field.page.inner_text("#field")
    command = signed_in(browser, quick, commander(nanjing), "/map", **DESKTOP)
    open_case(command, case_id, lon, lat)
    command.page.click(f".cityops-dispatch[data-force='{force_id}']")
    wait_until(command.page, "!!document.querySelector('.cityops-note')")
    stage_on_panel(command, code, "offered", "offered")

    phone = field.page  # the assignment arrives by itself: no reload
    wait_until(phone, "!!document.querySelector('.field-card[data-stage=offered]')", timeout_s=10)
    wait_until(phone, "document.getElementById('toasts').textContent.includes('新任务')")  # announced, not just drawn
    card = phone.inner_text(".field-card")
    assert "井盖缺失，路人绊倒" in card and "李*" in card and "139****1111" in card and "请在" in card
    wait_until(phone, "/剩余/.test(document.querySelector('.field-card .due').textContent)")
    wait_until(phone, "!!document.querySelector('.field-map .leaflet-tile-loaded, .field-map canvas, .field-map svg')")
    phone.screenshot(path=str(artifacts / "field-offered-phone.png"))
    command.page.screenshot(path=str(artifacts / "field-commander-offered.png"))

    for button, stage, step in (("accept", "en_route", "accepted"), ("arrive", "on_scene", "on_scene")):
        phone.click(f"button.answer-{button}")
        wait_until(phone, f"!!document.querySelector('.field-card[data-stage={stage}]')", timeout_s=10)
        stage_on_panel(command, code, stage, step)
        command.page.screenshot(path=str(artifacts / f"field-commander-{stage}.png"))
    phone.screenshot(path=str(artifacts / "field-on-scene-phone.png"))
    phone.click("button.answer-complete")
    wait_until(phone, "!document.querySelector('.field-card') && !!document.querySelector('.field-ended li')")
    stage_on_panel(command, code, "released", "completed")
    assert "完成" in phone.inner_text(".field-ended")
    # the dispatch confirmation outlived every redraw of the panel, until the commander dismisses it
    assert "已派遣" in command.page.inner_text(".cityops-notes")
    command.page.screenshot(path=str(artifacts / "field-commander-completed.png"))
    command.page.click(".cityops-note button")
    wait_until(command.page, "!document.querySelector('.cityops-note')")
    field.assert_offline(quick)
    command.assert_offline(quick)


@pytest.mark.browser
def test_a_refusal_reads_in_words_and_unable_asks_a_reason_on_a_desktop(
    browser: Browser,
    quick: str,
    artifacts: Path,
    caller: Caller,
    nanjing: Engine,
) -> None:
    lon, lat = spot(nanjing)
    cap = capability(nanjing)  # no other force has it: the case is offered to no one else after "unable"
    force_id, code = add_force(nanjing, STREET, [cap], kind="vehicle", at=(lon, lat))
    case_id = new_case(quick, caller, nanjing, lon, lat)
    field = signed_in(browser, quick, person_behind(nanjing, code), "/field", **DESKTOP)
    wait_until(field.page, "window.cityopsFieldReady === true")
    booked = httpx.post(
        f"{quick}/api/v1/cases/{case_id}/assignments",
        headers=caller(["street"], STREET),
        json={"force_ids": [force_id], "capabilities": [cap]},
    )
    assert booked.status_code == 201, booked.text
    page = field.page
    wait_until(page, "!!document.querySelector('.field-card[data-stage=offered]')", timeout_s=10)
    page.click("summary.answer-unable")
    page.click("form:has(textarea) button.answer-unable")  # no reason: the browser asks for one
    assert page.evaluate("document.querySelector('textarea[name=reason]').validity.valueMissing")
    page.fill("textarea[name=reason]", "车辆故障")
    page.screenshot(path=str(artifacts / "field-unable-desktop.png"))
    page.click("form:has(textarea) button.answer-unable")
    wait_until(page, "!!document.querySelector('.field-ended li')", timeout_s=10)
    assert "车辆故障" in page.inner_text(".field-ended")
    field.assert_offline(quick)


@pytest.mark.browser
def test_a_timed_out_assignment_shows_its_re_offer_on_the_commanders_panel(
    browser: Browser,
    quick: str,
    artifacts: Path,
    caller: Caller,
    nanjing: Engine,
) -> None:
    lon, lat = spot(nanjing)
    cap = capability(nanjing)
    first, first_code = add_force(nanjing, STREET, [cap], kind="team", at=(lon, lat))
    _, second_code = add_force(nanjing, STREET, [cap], kind="team", at=(lon + 0.0005, lat))
    case_id = new_case(quick, caller, nanjing, lon, lat)
    late = signed_in(browser, quick, person_behind(nanjing, first_code), "/field", **PHONE)
    command = signed_in(browser, quick, commander(nanjing), "/map", **DESKTOP)
    open_case(command, case_id, lon, lat)
    booked = httpx.post(
        f"{quick}/api/v1/cases/{case_id}/assignments",
        headers=caller(["street"], STREET),
        json={"force_ids": [first], "capabilities": [cap]},
    )
    assert booked.status_code == 201, booked.text
    stage_on_panel(command, first_code, "offered", "offered")
    wait_until(late.page, "!!document.querySelector('.field-card[data-stage=offered]')", timeout_s=10)
    # nobody accepts: after the deadline the sweeper releases it and offers the case to the next force
    stage_on_panel(command, first_code, "released", "timed_out", timeout_s=ACCEPT_S + 10)
    wait_until(
        command.page,
        f"[...document.querySelectorAll('[data-step=reoffered]')].some(e => e.textContent.includes('{second_code}'))",
        timeout_s=5,
    )
    stage_on_panel(command, second_code, "offered", "offered")
    assert "超时未接受" in command.page.inner_text(".cityops-assignments")
    command.page.locator(".cityops-assignments").scroll_into_view_if_needed()
    command.page.screenshot(path=str(artifacts / "field-commander-reoffered.png"))
    # the late force's page says where the case went, in words
    wait_until(late.page, f"document.querySelector('.field-ended')?.textContent.includes('{second_code}')", 10)
    late.page.screenshot(path=str(artifacts / "field-timed-out-phone.png"))
    late.assert_offline(quick)
    command.assert_offline(quick)
