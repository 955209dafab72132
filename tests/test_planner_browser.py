"""The planner's page read by a person (issue 18, point 7), in Chinese and in English: hexagons and hot
spots named by place and category, never by cell id or code; legend classes that are distinct ranges;
KPI trend charts dated in Beijing time; and the class-break function on awkward counts."""

from __future__ import annotations

import itertools
import json
import random
import re
import string
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import h3
import pytest
from playwright.sync_api import Browser, Page
from sqlalchemy import Engine, text

from command.historic_import import import_events
from command.users import create_user
from tests.test_map_browser import PASSWORD, browser, signed_in, wait_until  # noqa: F401  (browser: a fixture)
from tests.test_planner_readable import COVERING

BEIJING = ZoneInfo("Asia/Shanghai")
MESSAGES = Path(__file__).resolve().parent.parent / "web" / "messages"
CELL_ID = re.compile(r"\b[0-9a-f]{15}\b")
CODE = re.compile(r"(?<![\d,.:/])\d{6}(?![\d,.:/])")  # a category or unit code; numbers are written 1,234
CLOSEST_IN_CITY = """
SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_ClosestPoint(geom, ST_SetSRID(ST_Point(:lon, :lat), 4326)) AS p
                          FROM unit WHERE code = '320100') AS closest
"""
NAMES = {8: ("street", "community"), 6: ("district", "street"), 0: ("district",)}  # command.place_names.SAID


@pytest.fixture(scope="module")
def planner(nanjing: Engine) -> str:
    """A city planner (the whole city's hexagons and trends, its districts to choose from)."""
    name = "planner-" + "".join(random.choices(string.ascii_lowercase, k=8))  # no digits: CODE reads the page
    with nanjing.begin() as conn:
        create_user(conn, name, unit_code="320100", roles=["planner"], password=PASSWORD, actor="tests")
    return name


@pytest.fixture(scope="module")
def cases(nanjing: Engine, tmp_path_factory: pytest.TempPathFactory) -> int:
    """Closed cases of the last four weeks: a cluster at one corner of 玄武区 (a hot spot) and a scatter over
    the city, of a few categories (closed, so no queue of another test sees them)."""
    rng, now, batch = random.Random(7), datetime.now(BEIJING), uuid.uuid4().hex[:8]
    spots = [(118.795 + rng.gauss(0, 0.002), 32.055 + rng.gauss(0, 0.002)) for _ in range(60)]
    spots += [(rng.uniform(118.70, 118.90), rng.uniform(31.95, 32.12)) for _ in range(240)]
    rows = [
        f"{lon:.6f},{lat:.6f},{rng.choice(('010101', '020106', '010102'))},"
        f"{(now - timedelta(hours=rng.uniform(1, 27 * 24))).isoformat()},closed,planner-{batch}-{i}"
        for i, (lon, lat) in enumerate(spots)
    ]
    path = tmp_path_factory.mktemp("planner") / "cases.csv"
    path.write_text("lon,lat,category,reported_at,state,id\n" + "\n".join(rows) + "\n")
    return import_events(nanjing, path).loaded


@pytest.fixture(scope="module")
def page(browser: Browser, server: str, planner: str, cases: int) -> Iterator[Page]:  # noqa: F811
    assert cases == 300
    view = signed_in(browser, server, planner, "/map/planner", viewport={"width": 1440, "height": 900})
    yield view.page
    view.assert_offline(server)
    view.page.context.close()


def words(language: str) -> dict[str, str]:
    return json.loads((MESSAGES / language / "planner.json").read_text("utf-8"))


def classes(page: Page, values: list[int]) -> list[list[int]]:
    return page.evaluate("values => cityopsClasses(values, 6)", values)


def assert_good_classes(values: list[int], found: list[list[int]]) -> None:
    """Distinct, increasing, non-empty ranges covering every value, as many as the distinct values allow."""
    assert len(found) == min(6, len(set(values)))
    assert all(low <= high for low, high in found)
    assert all(a[1] < b[0] for a, b in itertools.pairwise(found))
    assert all(any(low <= v <= high for v in values) for low, high in found)
    assert all(sum(low <= v <= high for low, high in found) == 1 for v in values)


def test_class_breaks_on_awkward_counts(page: Page) -> None:
    assert classes(page, []) == []
    assert classes(page, [3, 3, 3, 3]) == [[3, 3]]
    assert classes(page, [1, 1, 2, 2, 2, 5]) == [[1, 1], [2, 2], [5, 5]]  # few distinct: a class each
    assert classes(page, [1, 2, 3, 4, 5, 6]) == [[1, 1], [2, 2], [3, 3], [4, 4], [5, 5], [6, 6]]
    tail = [1] * 1000 + [2] * 100 + [3] * 50 + [4] * 20 + [5] * 10 + list(range(6, 11)) * 2 + [500]
    found = classes(page, tail)
    assert_good_classes(tail, found)
    assert found[0] == [1, 1] and found[-1][1] == 500  # the ones alone; the rare big count still has its class
    uniform = list(range(1, 121))
    found = classes(page, uniform)
    assert_good_classes(uniform, found)
    assert max(h - lo + 1 for lo, h in found) <= 2 * min(h - lo + 1 for lo, h in found)  # about equal shares
    rng = random.Random(18)
    for _ in range(40):
        values = [int(rng.paretovariate(1.2)) for _ in range(rng.randint(1, 400))]
        assert_good_classes(values, classes(page, values))


def open_named_popup(page: Page, layer: str, index: int) -> dict[str, object]:
    """Open the popup of a layer's ``index``-th shape and wait until its place is named; its text and feature."""
    loading = page.evaluate("cityops.t('planner.place_loading')")
    page.evaluate(f"void {layer}.getLayers()[{index}].openPopup()")
    wait_until(
        page,
        f"(document.querySelector('.leaflet-popup-content .cityops-place') || {{}}).textContent "
        f"&& document.querySelector('.leaflet-popup-content .cityops-place').textContent !== '{loading}'",
    )
    feature = page.evaluate(f"{layer}.getLayers()[{index}].feature.properties")
    return {
        "place": page.inner_text(".leaflet-popup-content .cityops-place"),
        "text": page.inner_text(".leaflet-popup-content"),
        "properties": feature,
    }


def expected_place(nanjing: Engine, cell: str) -> str:
    lat, lon = h3.cell_to_latlng(cell)
    with nanjing.connect() as conn:
        names = dict(conn.execute(text(COVERING), {"lon": lon, "lat": lat}).all())
        if not names:  # a centre outside the city: the cell is named where the city comes closest to it
            lon, lat = conn.execute(text(CLOSEST_IN_CITY), {"lon": lon, "lat": lat}).one()
            names = dict(conn.execute(text(COVERING), {"lon": lon, "lat": lat}).all())
    tiers = next(said for finest, said in NAMES.items() if h3.get_resolution(cell) >= finest)
    return " · ".join(names[t] for t in tiers if t in names)


def beijing_date(day: date, language: str) -> str:
    """How Intl writes a date in the page's language (the format cityops.beijing uses for "date")."""
    return f"{day:%Y/%m/%d}" if language == "zh-CN" else f"{day:%m/%d/%Y}"


def assert_readable(page: Page, language: str) -> None:
    shown = page.inner_text("body")
    assert not CELL_ID.findall(shown), CELL_ID.findall(shown)[:5]
    assert not CODE.findall(shown), CODE.findall(shown)[:5]
    assert "planner." not in shown  # no catalogue key left unread
    assert ("每个六边形" in shown) is (language == "zh-CN")


@pytest.mark.browser
@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_planner_names_places_and_categories_and_draws_trends(
    page: Page, server: str, nanjing: Engine, artifacts: Path, language: str
) -> None:
    said = words(language)
    page.goto(f"{server}/map/planner?lang={language}")
    wait_until(page, "window.cityopsReady === true && cityopsHexes.getLayers().length > 0", timeout_s=60)
    assert page.evaluate("document.documentElement.lang") == language
    # the legend: distinct ranges, none reading "2–2"
    legend = [t.strip() for t in page.locator("#cityops-legend .cityops-class").all_inner_texts()]
    assert legend and len(set(legend)) == len(legend)
    for entry in legend:
        bounds = [int(n.replace(",", "")) for n in re.findall(r"[\d,]+", entry)]
        assert len(bounds) == 1 or bounds[0] < bounds[1], entry
    assert page.inner_text("#cityops-legend b") == said["planner.legend_title"]
    # a hexagon's popup: its place and its category by name
    popup = open_named_popup(page, "cityopsHexes", 0)
    props = popup["properties"]
    assert popup["place"] == expected_place(nanjing, str(props["h3"]))  # type: ignore[index]
    with nanjing.connect() as conn:
        name, name_en = conn.execute(
            text("SELECT name, coalesce(name_en, name) FROM category WHERE code = :c"), {"c": props["top_category"]}
        ).one()  # type: ignore[index]
    assert name in popup["text"] or name_en in popup["text"]  # type: ignore[operator]
    assert str(props["h3"]) not in popup["text"] and str(props["top_category"]) not in popup["text"]  # type: ignore[index, operator]
    page.screenshot(path=str(artifacts / f"planner-popup-{language}.png"))
    page.evaluate("void cityopsMap.closePopup()")
    # hot spots: listed and drawn by place
    page.click("button[name=hotspots]")
    wait_until(page, "document.querySelector('.cityops-spots').dataset.done === 'true'", timeout_s=180)
    assert page.evaluate("cityopsSpots.getLayers().length") > 0
    spot = open_named_popup(page, "cityopsSpots", 0)
    assert spot["place"] == expected_place(nanjing, str(spot["properties"]["h3"]))  # type: ignore[index]
    assert CELL_ID.search(str(spot["text"])) is None
    listed = page.locator(".cityops-spots li").all_inner_texts()
    assert listed and all(" · " in item or "：" in item or ": " in item for item in listed)
    page.evaluate("void cityopsMap.closePopup()")
    page.focus(".cityops-spots li button")  # the list is the keyboard's way to a hot spot
    page.keyboard.press("Enter")
    shown = "(document.querySelector('.leaflet-popup-content .cityops-place') || {}).textContent"
    wait_until(page, f"!!{shown} && {json.dumps(listed[0])}.startsWith({shown})")  # the first spot's popup opens
    page.evaluate("void cityopsMap.closePopup()")
    # the trends: four charts, a Beijing date at each end; a 30-day window is daily up to today
    page.select_option("select[name=days]", "30")
    wait_until(
        page, "window.cityopsTrendsReady === true && document.querySelectorAll('.cityops-chart svg').length === 4"
    )
    today = datetime.now(BEIJING).date()
    dates = page.locator(".cityops-chart .cityops-date").all_text_contents()
    assert dates[:2] == [beijing_date(today - timedelta(days=29), language), beijing_date(today, language)]
    captions = page.locator(".cityops-chart figcaption").all_inner_texts()
    assert captions[0].startswith(said["planner.series.filed"]) and len(captions) == 4
    assert page.locator(".cityops-chart rect").count() >= 3 * 30  # a bar a day in each of the three count charts
    # a district chosen: its streets offered, its trends drawn
    page.select_option("select[name=part]", index=1)
    district = page.evaluate("document.querySelector('select[name=part]').selectedOptions[0].textContent")
    wait_until(
        page,
        f"window.cityopsTrendsReady === true && document.querySelector('.cityops-trend-note')"
        f".textContent.includes({json.dumps(district)})",
    )
    assert page.locator("select[name=sub] option").count() > 1
    page.screenshot(path=str(artifacts / f"planner-trends-{language}.png"))
    assert_readable(page, language)
