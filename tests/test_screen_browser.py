"""The wall display (issue 18, 大屏) in headless Chromium: at 1920×1080 and 3840×2160, in Chinese and English,
every part drawn in words and Beijing time, live without a hand on it, bounded after an hour of traffic."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser
from sqlalchemy import Engine, text

from bench.screen import GROWTH_LIMIT, run_day, traffic_for
from command.users import create_user
from tests.test_map_browser import PASSWORD, browser, signed_in, wait_until
from tests.test_workflow import new_case, step

__all__ = ["browser"]  # the Chromium fixture, shared with the other map tests
BEIJING = ZoneInfo("Asia/Shanghai")
READY = "window.cityopsScreenReady === true"
HOUR = 2500  # events: an hour of the benchmark's day (24 h in 10 min at 100 events/s)
SIZES = {"1080p": {"width": 1920, "height": 1080}, "4k": {"width": 3840, "height": 2160}}
CODES = re.compile(
    r"\b(reported|accepted|filed|dispatched|acknowledged|handling|checking|closed|void|available|"
    r"en_route|on_scene|off_duty|null|undefined|NaN|screen\.\w+|\d{6})\b"
)


@pytest.fixture(scope="module")
def wall(nanjing: Engine) -> str:
    """A wall account: a city commander (the city's wall shows every district)."""
    name = f"wall-{uuid.uuid4().hex[:6]}"
    with nanjing.begin() as conn:
        create_user(conn, name, unit_code="320100", roles=["city_commander"], password=PASSWORD, actor="tests")
    return name


def test_the_wall_is_behind_login(server: str) -> None:
    answer = httpx.get(f"{server}/screen")
    assert answer.status_code == 303 and answer.headers["location"] == "/login?next=/screen"


@pytest.mark.browser
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_every_part_is_drawn_in_words_and_beijing_time(
    browser: Browser,
    server: str,
    client: TestClient,
    nanjing: Engine,
    wall: str,
    artifacts: Path,
    size: str,
    lang: str,
    demo_forces: object,
) -> None:
    new_case(client, nanjing)  # the ticker has a line at least
    path = "/screen" + ("?lang=en" if lang == "en" else "")
    watched = signed_in(browser, server, wall, path, viewport=SIZES[size])
    page = watched.page
    wait_until(page, READY, 60)
    figures = client.get("/api/v1/screen/figures", params={"lang": lang}).json()
    assert page.evaluate("document.documentElement.lang") == lang
    table = page.evaluate(
        "Array.from(document.querySelectorAll('#screen-table tbody tr'), r => "
        "Array.from(r.children, c => c.textContent))"
    )
    assert [row[0] for row in table] == [d["name"] for d in figures["districts"]]  # 江北新区 among them
    assert page.evaluate("document.querySelector('#screen-table tfoot th').textContent") == (
        "合计" if lang == "zh-CN" else "Total"
    )
    points = page.evaluate("document.querySelector('#screen-chart polyline.received').getAttribute('points')")
    assert len(points.split()) == figures["days"] == 30
    names = page.evaluate("Array.from(document.querySelectorAll('#screen-categories .name'), e => e.textContent)")
    assert names == [c["name"] for c in figures["categories"]] and names
    lines = page.evaluate("Array.from(document.querySelectorAll('#screen-ticker li'), e => e.textContent)")
    assert 1 <= len(lines) <= 12
    first_time = page.evaluate("document.querySelector('#screen-ticker li time').getAttribute('datetime')")
    shown = page.evaluate("document.querySelector('#screen-ticker li time').textContent")
    assert shown == datetime.fromisoformat(first_time).astimezone(BEIJING).strftime("%H:%M:%S")
    clock = page.evaluate("document.getElementById('screen-clock').textContent")
    now = datetime.now(BEIJING)
    assert any((now - timedelta(seconds=s)).strftime("%H:%M:%S") in clock for s in range(4)), clock
    assert now.strftime("%Y") in clock and (now.strftime("%m") in clock or str(now.month) in clock)
    words = page.evaluate("document.body.innerText")
    assert not CODES.search(words), CODES.search(words)  # no raw state, status, category code or key
    assert lang == "en" or not re.search(r"[A-Za-z]{2,}", words), words  # Chinese: not a Latin word anywhere
    if lang == "en":
        assert "Received today" in words and "New" in words and "今日受理" not in words
    else:
        assert "今日受理" in words and "新上报" in words
    fits = page.evaluate(
        "document.documentElement.scrollHeight <= window.innerHeight + 1 && "
        "document.documentElement.scrollWidth <= window.innerWidth + 1"
    )
    assert fits, "the wall scrolls: it must fit its screen"
    bubbles = page.evaluate("document.querySelectorAll('.screen-bubble').length")
    assert bubbles == len(figures["districts"])
    page.screenshot(path=str(artifacts / f"screen-{size}-{lang}.png"))
    watched.assert_offline(server)
    page.context.close()


@pytest.mark.browser
def test_a_new_case_appears_in_the_ticker_and_on_the_map_and_leaves_when_voided(
    browser: Browser,
    server: str,
    client: TestClient,
    nanjing: Engine,
    wall: str,
) -> None:
    watched = signed_in(browser, server, wall, "/screen", viewport=SIZES["1080p"])
    page = watched.page
    wait_until(page, READY, 60)
    case = new_case(client, nanjing)
    wait_until(page, f"window.cityopsScreenShows('{case}')", 10)
    wait_until(page, f"document.querySelector('#screen-ticker li[data-key=\"{case}:0\"]') !== null", 10)
    with nanjing.connect() as conn:
        category = conn.execute(
            text("SELECT c.name FROM case_file e JOIN category c ON c.code = e.category_code WHERE e.id = :e"),
            {"e": case},
        ).scalar_one()
    line = page.evaluate(f"document.querySelector('#screen-ticker li[data-key=\"{case}:0\"]').textContent")
    assert category in line and "新上报" in line
    voided = step(client, case, "void", 0, note="重复上报")
    assert voided.status_code == 200, voided.text
    wait_until(page, f"!window.cityopsScreenShows('{case}')", 10)  # a closed or voided case leaves the map
    page.context.close()


@pytest.mark.browser
def test_an_hour_of_traffic_keeps_the_wall_bounded(
    browser: Browser, server: str, nanjing: Engine, wall: str, demo_forces: object
) -> None:
    """An hour of the benchmark's day, sent as fast as the platform takes it (at most 4 minutes)."""
    watched = signed_in(browser, server, wall, "/screen", viewport=SIZES["1080p"])
    page = watched.page
    wait_until(page, READY, 60)
    with httpx.Client(base_url=server, timeout=60) as http:
        day = run_day(page, traffic_for(nanjing, server, http), minutes=4, rate=60, events=HOUR)
    drawn = sum(1 for ms in day.latencies_ms if ms < 5000)
    assert day.events == HOUR and drawn >= 0.95 * len(day.latencies_ms), (day.seconds, drawn)
    assert day.heap_growth <= GROWTH_LIMIT, (day.start, day.end)
    assert day.dom_growth <= GROWTH_LIMIT and day.end[1] <= GROWTH_LIMIT * day.start[1], (day.start, day.end)
    stats = page.evaluate("window.cityopsScreenStats()")
    assert stats["ticker"] <= 12 and stats["cases"] <= 3000 and stats["forces"] <= 3000
    watched.assert_offline(server)
    page.context.close()
