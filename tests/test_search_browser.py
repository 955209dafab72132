"""The search box of the map pages in headless Chromium: type, pick with the keyboard, the map flies there.

Each kind of target (a unit by 汉字 and by pinyin initials, a building by code, a case by number) is
picked from the list and the map's centre ends inside it, outlined; a query that matches nothing
reads 未找到 (Not found in English), never an error; the box is labelled and keyboard operable.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page
from sqlalchemy import Engine, text

from command.users import create_user
from tests.test_map_browser import PASSWORD, browser, signed_in, wait_until  # noqa: F401  (browser: a fixture)

BOX = "#cityops-search-input"


@pytest.fixture(scope="module")
def commander(nanjing: Engine) -> str:
    name = f"search-{uuid.uuid4().hex[:6]}"
    with nanjing.begin() as conn:
        create_user(conn, name, unit_code="320100", roles=["city_commander"], password=PASSWORD, actor="tests")
    return name


def search(page: Page, q: str) -> list[dict]:
    """Type ``q`` as a person would and wait for the list (or 未找到) to answer it."""
    page.evaluate("window.cityopsSearch = null")
    page.fill(BOX, "")
    page.type(BOX, q, delay=20)
    wait_until(page, "window.cityopsSearch !== null && window.cityopsSearch !== undefined")
    return page.evaluate("window.cityopsSearch.hits")


def pick_with_keys(page: Page, index: int) -> dict:
    """Arrow down to the ``index``-th option, Enter; wait until the map has flown; the chosen hit."""
    for _ in range(index + 1):
        page.keyboard.press("ArrowDown")
    assert page.get_attribute(BOX, "aria-activedescendant") == f"cityops-search-option-{index}"
    page.keyboard.press("Enter")
    wait_until(page, "window.cityopsSearch.flown === true")
    return page.evaluate("window.cityopsSearch.chosen")


def centre_inside(page: Page, bbox: list[float]) -> bool:
    west, south, east, north = bbox
    centre = page.evaluate("(() => { const c = window.cityopsMap.getCenter(); return [c.lng, c.lat]; })()")
    return west <= centre[0] <= east and south <= centre[1] <= north


def outlined(page: Page) -> bool:
    """The chosen place is outlined on the map (the canvas renderer draws it: no DOM element to count)."""
    return page.evaluate("window.cityopsMap.hasLayer(window.cityopsSearch.outline)")


def test_each_kind_of_target_is_found_and_flown_to(
    browser: Browser,  # noqa: F811
    server: str,
    commander: str,
    nanjing: Engine,
    client: TestClient,
    artifacts: Path,
) -> None:
    with nanjing.connect() as conn:
        street = conn.execute(text("SELECT code, name FROM unit WHERE code = '320102002'")).one()
        building = conn.execute(text("SELECT code FROM unit WHERE tier = 'building' ORDER BY random() LIMIT 1")).one()
        lon, lat = conn.execute(
            text(
                "SELECT ST_X(p), ST_Y(p) FROM unit g, ST_PointOnSurface(g.geom) p "
                "WHERE g.code LIKE '320105%' AND g.tier = 'grid' LIMIT 1"
            )
        ).one()
    case = client.post(
        "/api/v1/reports",
        json={"lon": lon, "lat": lat, "category": "020104", "source": "hotline", "description": "路面油污"},
    ).json()["case_id"]
    watched = signed_in(browser, server, commander, "/map")
    page = watched.page
    label = page.locator(f"label[for='{BOX[1:]}']")
    assert label.inner_text() == "搜索案件、地点或楼宇"
    assert page.get_attribute(BOX, "role") == "combobox" and page.get_attribute(BOX, "aria-expanded") == "false"
    for q, kind, wanted in (
        (street.name, "unit", street.code),
        ("myxcjd", "unit", street.code),
        (building.code, "building", building.code),
        (case, "case", case),
    ):
        found = search(page, q)
        index = next(i for i, hit in enumerate(found) if hit["id"] == wanted)
        assert page.get_attribute(BOX, "aria-expanded") == "true"
        assert page.locator("#cityops-search-list [role=option]").count() == len(found)
        chosen = pick_with_keys(page, index)
        assert (chosen["kind"], chosen["id"]) == (kind, wanted)
        assert centre_inside(page, chosen["bbox"]), (q, chosen["bbox"])
        assert outlined(page) and page.get_attribute(BOX, "aria-expanded") == "false"
    page.screenshot(path=str(artifacts / "search-case.png"))
    assert not [line for line in watched.console if "rror" in line], watched.console
    watched.assert_offline(server)


def test_no_match_reads_not_found_and_escape_closes(
    browser: Browser,  # noqa: F811
    server: str,
    commander: str,
    artifacts: Path,
) -> None:
    for lang, words in (("zh-CN", "未找到"), ("en", "Not found")):
        watched = signed_in(browser, server, commander, "/map")
        page = watched.page
        page.goto(f"{server}/map?lang={lang}")
        wait_until(page, "window.cityopsReady === true")
        assert search(page, "不存在的地方名字") == []
        assert page.inner_text("#cityops-search-status") == words
        assert page.get_attribute(BOX, "aria-expanded") == "false"
        found = search(page, "玄武")
        assert found and page.get_attribute(BOX, "aria-expanded") == "true"
        option = page.locator("#cityops-search-option-0").inner_text()
        assert ("区" if lang == "zh-CN" else "District") in option and "district" not in option  # the tier in words
        page.keyboard.press("Escape")
        assert page.get_attribute(BOX, "aria-expanded") == "false"
        page.keyboard.press("Escape")
        assert page.input_value(BOX) == ""
        page.screenshot(path=str(artifacts / f"search-none-{lang}.png"))
        watched.page.context.close()
