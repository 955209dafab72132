"""The command map in headless Chromium at 1920×1080, in Chinese and in English (issue 18, a legible map):
a legend of everything drawn, words instead of codes, cases above forces and clickable under them,
colours with ≥ 3:1 contrast, unit names at their zoom, counts per unit when zoomed out with forces
off, every time in Beijing time, a network failure said in words."""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Browser, Page
from sqlalchemy import Engine, text

from command.users import create_user
from tests.conftest import Caller, add_force, void_open_cases
from tests.test_map_browser import PASSWORD, Watched, browser, inside, signed_in, wait_until
from web.i18n import Catalogue

__all__ = ["browser"]  # the Chromium fixture, shared with the other map tests
STREET = "320102002"
DISTRICT = "320102"
CATEGORY = "010101"
HD = {"width": 1920, "height": 1080}
BEIJING = ZoneInfo("Asia/Shanghai")
CITY_CENTRE = (32.05, 118.79)
MESSAGES = Path(__file__).resolve().parent.parent / "web" / "messages"
COMMON = json.loads((MESSAGES / "zh-CN" / "common.json").read_text(encoding="utf-8"))
STATES = [k.split(".", 1)[1] for k in COMMON if k.startswith("state.")]
ACTIONS = [k.split(".", 1)[1] for k in COMMON if k.startswith("action.") and k.count(".") == 1]
LANGUAGES = ["zh-CN", "en"]


@pytest.fixture(scope="module")
def users(nanjing: Engine) -> dict[str, str]:
    """A street commander, a district commander and a city commander (usernames)."""
    names = {}
    with nanjing.begin() as conn:
        for who, unit, roles in (
            ("street", STREET, ["street"]),
            ("district", DISTRICT, ["district"]),
            ("city", "320100", ["city_commander"]),
        ):
            names[who] = f"map-{who}-{uuid.uuid4().hex[:6]}"
            create_user(conn, names[who], unit_code=unit, roles=roles, password=PASSWORD, actor="tests")
    return names


@pytest.fixture(scope="module")
def case_under_force(server: str, caller: Caller, nanjing: Engine) -> dict[str, object]:
    """An open case in the street with a force standing exactly on it."""
    lon, lat = inside(nanjing, STREET)
    lon, lat = lon + 0.0021, lat - 0.0013  # apart from the other map tests' spot at the street's point on surface
    void_open_cases(nanjing, "ST_DWithin(geom::geography, ST_MakePoint(:x, :y)::geography, 400)", {"x": lon, "y": lat})
    answer = httpx.post(
        f"{server}/api/v1/reports",
        headers=caller(["city_commander"], "320100"),
        json={"lon": lon, "lat": lat, "category": CATEGORY, "source": "hotline", "description": "井盖缺失"},
    )
    assert answer.status_code == 201, answer.text
    force_id, code = add_force(nanjing, STREET, ["drainage"], at=(lon, lat))
    return {"case": str(answer.json()["case_id"]), "force": str(force_id), "code": code, "lon": lon, "lat": lat}


def open_map(browser: Browser, server: str, username: str, lang: str) -> Watched:
    return signed_in(browser, server, username, "/map" if lang == "zh-CN" else "/map?lang=en", viewport=HD)


def go(page: Page, lat: float, lon: float, zoom: int) -> None:
    """Move the view and wait until everything of the new view is read (cases, forces, names)."""
    page.evaluate("window.cityopsReady = false")
    page.evaluate(f"void cityopsMap.setView([{lat}, {lon}], {zoom}, {{animate: false}})")
    wait_until(page, f"window.cityopsReady && cityopsMap.getZoom() === {zoom} && cityopsLabels.zoom === {zoom}")


def open_panel(page: Page, case: dict[str, object]) -> None:
    go(page, case["lat"], case["lon"], 16)  # type: ignore[arg-type]
    wait_until(page, f"!!window.cityopsCases['{case['case']}']")
    page.evaluate(f"void cityopsCases['{case['case']}'].marker.fire('click')")
    wait_until(page, "!!document.querySelector('.cityops-timeline li')", timeout_s=15)


def luminance(colour: str) -> float:
    """WCAG 2 relative luminance of #rrggbb."""
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.browser
@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_map_speaks_the_pages_language_with_a_legend_and_no_codes(
    browser: Browser,
    server: str,
    artifacts: Path,
    users: dict[str, str],
    case_under_force: dict[str, object],
    lang: str,
) -> None:
    words = Catalogue(lang)
    view = open_map(browser, server, users["street"], lang)
    page = view.page
    legend = page.inner_text("#cityops-legend")
    for key in (
        "command.legend.title",
        "command.legend.cases",
        "command.legend.forces",
        "command.legend.overdue",
        "command.legend.bubble",
        "command.legend.units",
        "command.group.new",
        "command.group.handling",
    ):
        assert words(key) in legend, key
    assert all(words.label("state", s) in legend for s in ("reported", "handling", "checking", "parked"))
    assert all(words.label("severity", s) in legend for s in ("I", "II", "III", "IV"))
    overlays = page.inner_text(".leaflet-control-layers-overlays")
    assert words("command.layer.counts") in overlays and words.label("tier", "district") in overlays
    open_panel(page, case_under_force)
    side = page.inner_text("#cityops-side")
    assert words.label("state", "reported") in side and words.label("severity", "IV") in side
    assert words("command.trace") in side and words("command.timeline") in side
    assert words("command.trace.limit.urgent_hours", n=2) in side  # the limit as a sentence, not JSON
    timeline = page.locator(".cityops-timeline li").all_inner_texts()
    assert (
        words("command.step", action=words.label("action", "report"), state=words.label("state", "reported"))
        in timeline[0]
    )
    page.evaluate(f"void cityopsForces['{case_under_force['force']}'].marker.openTooltip()")  # its status in words
    assert words.label("force", "available") in " ".join(page.locator(".leaflet-tooltip").all_inner_texts())
    page.screenshot(path=str(artifacts / f"command-map-case-{lang}.png"))
    shown = page.inner_text("body")
    assert not re.search(r"[{}]|\"kind\"|\bworking_days\b|\burgent_hours\b|\b8[0-9a-f]{14}\b", shown)  # no JSON, H3 ids
    assert CATEGORY not in shown  # the category by its name, never its code
    codes = [c for c in STATES + ACTIONS if "_" in c] if lang == "en" else STATES + ACTIONS
    assert not [c for c in codes if re.search(rf"(?<![\w-]){c}(?![\w-])", shown)]
    if lang == "en":  # English words may spell a code ("closed"); where a code would show, its label shows
        assert page.inner_text("#cityops-side tr:first-child td").startswith(words.label("state", "reported"))
    view.assert_offline(server)


@pytest.mark.browser
def test_a_case_under_a_force_is_clickable_and_drawn_above_everything(
    browser: Browser,
    server: str,
    artifacts: Path,
    users: dict[str, str],
    case_under_force: dict[str, object],
) -> None:
    view = open_map(browser, server, users["street"], "zh-CN")
    page = view.page
    case_id, force_id = case_under_force["case"], case_under_force["force"]
    go(page, case_under_force["lat"], case_under_force["lon"], 17)  # type: ignore[arg-type]
    wait_until(page, f"!!window.cityopsCases['{case_id}'] && !!window.cityopsForces['{force_id}']")
    panes = page.evaluate(
        "['cityops-units', 'cityops-hexes', 'cityops-labels', 'cityops-counts', 'cityops-forces', "
        "'cityops-cases'].map(n => Number(cityopsMap.getPane(n).style.zIndex))"
    )
    assert panes[-1] > max(panes[:-1])  # cases above forces, names, counts, hexagons and boundaries
    point = page.evaluate(f"cityopsMap.latLngToContainerPoint([{case_under_force['lat']}, {case_under_force['lon']}])")
    box = page.locator(".folium-map").bounding_box()
    x, y = box["x"] + point["x"], box["y"] + point["y"]  # type: ignore[index]
    stacked = page.evaluate(
        f"document.elementsFromPoint({x}, {y}).map(e => e.closest('.cityops-force') ? 'force' : "
        f"e.closest('.leaflet-cityops-cases-pane') ? 'case' : e.tagName)"
    )
    assert "force" in stacked and stacked.index("case") < stacked.index("force")  # the force lies under the case
    page.mouse.click(x, y)
    wait_until(page, "!document.querySelector('#cityops-side').hidden")
    wait_until(page, "!!document.querySelector('.cityops-timeline li')", timeout_s=15)
    assert Catalogue("zh-CN")("command.case_number", id=case_id) in page.inner_text("#cityops-side h3")
    page.screenshot(path=str(artifacts / "command-map-case-over-force.png"))
    view.assert_offline(server)


@pytest.mark.browser
def test_the_palette_the_page_draws_with_stands_out_from_the_map(
    browser: Browser,
    server: str,
    users: dict[str, str],
    case_under_force: dict[str, object],
) -> None:
    view = open_map(browser, server, users["street"], "zh-CN")
    page = view.page
    palette = page.evaluate("window.cityopsPalette")
    background = page.evaluate("getComputedStyle(document.querySelector('.leaflet-container')).backgroundColor")
    assert background == "rgb(244, 241, 234)" and palette["background"] == "#f4f1ea"
    drawn = [*palette["cases"].values(), *palette["forces"].values(), palette["bubble"], palette["overdue"]]
    weak = {c: round(contrast(c, palette["background"]), 2) for c in drawn if contrast(c, palette["background"]) < 3}
    assert weak == {}, weak
    assert len(set(palette["cases"].values())) == len(palette["cases"])  # each state group its own hue
    go(page, case_under_force["lat"], case_under_force["lon"], 16)  # type: ignore[arg-type]
    wait_until(page, f"!!window.cityopsCases['{case_under_force['case']}']")
    fill = page.evaluate(f"cityopsCases['{case_under_force['case']}'].marker.getElement().getAttribute('fill')")
    assert fill == palette["cases"]["new"]  # a reported case, drawn with the palette's own colour
    shape = page.evaluate(f"cityopsForces['{case_under_force['force']}'].marker.getElement().className")
    assert "cityops-force" in shape  # forces are diamonds (their own element), cases SVG circles
    view.assert_offline(server)


@pytest.mark.browser
@pytest.mark.parametrize("lang", LANGUAGES)
def test_unit_names_appear_at_their_zoom(
    browser: Browser, server: str, artifacts: Path, users: dict[str, str], nanjing: Engine, lang: str
) -> None:
    view = open_map(browser, server, users["city"], lang)
    page = view.page
    go(page, *CITY_CENTRE, 10)
    assert page.locator(".cityops-label-district").count() >= 10
    assert page.locator(".cityops-label-street").count() == 0
    with nanjing.connect() as conn:
        xuanwu = conn.execute(text("SELECT name FROM unit WHERE code = :c"), {"c": DISTRICT}).scalar_one()
    assert xuanwu in page.locator(".leaflet-cityops-labels-pane").inner_text()
    page.screenshot(path=str(artifacts / f"command-map-city-{lang}.png"))
    go(page, *CITY_CENTRE, 13)
    assert page.locator(".cityops-label-street").count() > 0 and page.locator(".cityops-label-district").count() == 0
    assert page.evaluate("getComputedStyle(cityopsMap.getPane('cityops-labels')).pointerEvents") == "none"
    page.screenshot(path=str(artifacts / f"command-map-streets-{lang}.png"))
    go(page, 32.045, 118.785, 16)
    assert page.locator(".cityops-label-grid").count() > 0
    view.assert_offline(server)


@pytest.mark.browser
def test_zoomed_out_cases_are_counts_per_unit_and_forces_are_off(
    browser: Browser,
    server: str,
    artifacts: Path,
    users: dict[str, str],
    caller: Caller,
    nanjing: Engine,
    case_under_force: dict[str, object],
) -> None:
    view = open_map(browser, server, users["district"], "zh-CN")
    page = view.page
    go(page, *CITY_CENTRE, 12)
    counts = page.evaluate("window.cityopsUnitCounts")
    assert counts["tier"] == "street" and counts["units"]
    with nanjing.connect() as conn:  # the district commander's streets, each counted as the database counts
        for unit in counts["units"]:
            expected = conn.execute(
                text(
                    "SELECT count(*) FROM case_file WHERE state NOT IN ('closed', 'void') "
                    "AND units @> ARRAY[(SELECT id "
                    "FROM "
                    "unit WHERE code = :u)]"
                ),
                {"u": unit["code"]},
            ).scalar_one()
            assert unit["open"] == expected and unit["code"].startswith(DISTRICT)
    bubbles = page.locator(".cityops-bubble").all_inner_texts()
    assert sorted(int(b) for b in bubbles) == sorted(u["open"] for u in counts["units"] if u["open"] > 0)
    assert any(u["code"] == STREET and u["open"] >= 1 for u in counts["units"])
    assert page.locator(".cityops-force").count() == 0 and page.evaluate("Object.keys(cityopsForces).length") == 0
    forces_box = page.locator(
        ".leaflet-control-layers-overlays label", has_text=Catalogue("zh-CN")("command.layer.forces")
    )
    assert not forces_box.locator("input").is_checked()
    assert page.locator(".leaflet-cityops-cases-pane path").count() == 0  # counts, not dots
    kpi = page.inner_text("#cityops-kpi")
    assert f"{counts['total']['open']} 件" in kpi and "%" in kpi
    page.screenshot(path=str(artifacts / "command-map-district-counts.png"))
    forces_box.locator("input").check()  # the commander may still turn them on: hexagon counts at this zoom
    wait_until(page, "document.querySelectorAll('.leaflet-cityops-hexes-pane path').length > 0")
    go(page, case_under_force["lat"], case_under_force["lon"], 16)  # type: ignore[arg-type]
    wait_until(page, f"!!window.cityopsForces['{case_under_force['force']}']")
    view.assert_offline(server)


@pytest.mark.browser
@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_time_shown_is_beijing_time(
    browser: Browser, server: str, users: dict[str, str], caller: Caller, case_under_force: dict[str, object], lang: str
) -> None:
    view = open_map(browser, server, users["street"], lang)
    page = view.page
    open_panel(page, case_under_force)
    stamps = page.evaluate(
        "[...document.querySelectorAll('#cityops-side time[datetime]')]"
        ".map(t => [t.getAttribute('datetime'), t.textContent])"
    )
    assert stamps
    for value, shown in stamps:
        at = datetime.fromisoformat(value).astimezone(BEIJING)
        assert shown == at.strftime("%m/%d %H:%M" if lang == "zh-CN" else "%m/%d, %H:%M"), (value, shown)
    detail = httpx.get(f"{server}/api/v1/cases/{case_under_force['case']}", headers=caller(["street"], STREET)).json()
    deadline = datetime.fromisoformat(detail["deadline"]).astimezone(BEIJING)
    assert deadline.strftime("%H:%M") in page.inner_text("#cityops-side table")
    view.assert_offline(server)


@pytest.mark.browser
def test_a_network_failure_is_said_in_words(
    browser: Browser, server: str, users: dict[str, str], case_under_force: dict[str, object]
) -> None:
    view = open_map(browser, server, users["street"], "zh-CN")
    page = view.page
    go(page, case_under_force["lat"], case_under_force["lon"], 16)  # type: ignore[arg-type]
    wait_until(page, f"!!window.cityopsCases['{case_under_force['case']}']")
    page.route("**/api/v1/cases/**", lambda route: route.abort())  # the network drops as the case is opened
    page.evaluate(f"void cityopsCases['{case_under_force['case']}'].marker.fire('click')")
    wait_until(page, "!!document.querySelector('#cityops-side [role=alert]')")
    said = page.inner_text("#cityops-side")
    assert Catalogue("zh-CN")("error.network") in said and "Failed to fetch" not in said
