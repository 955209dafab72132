"""The imported basemap on the command map in headless Chromium: drawn from /basemap/…, nothing from elsewhere."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page
from sqlalchemy import Engine

from command.users import create_user
from spatial.basemap import import_package
from tests import test_basemap, test_map_browser
from tests.test_map_browser import PASSWORD, STREET, signed_in, wait_until

browser = test_map_browser.browser  # the same headless Chromium fixture
built = test_basemap.built  # the packages built from the Nanjing outlines
served_dir = test_basemap.served_dir  # the city's basemap directory, emptied after each test

TILE_IMAGES = "Array.from(document.querySelectorAll('.leaflet-tile-pane img.leaflet-tile-loaded'))"


@pytest.fixture(scope="module")
def commander(nanjing: Engine) -> str:
    """A street commander of 玄武区 (the page opens on their street)."""
    name = f"basemap-{uuid.uuid4().hex[:6]}"
    with nanjing.begin() as conn:
        create_user(conn, name, unit_code=STREET, roles=["street"], password=PASSWORD, actor="tests")
    return name


def basemap_answers(page: Page) -> list[tuple[str, int]]:
    """The page's requests to /basemap/… with their HTTP status (the browser's resource timing)."""
    return [
        (entry["name"], entry["responseStatus"])
        for entry in page.evaluate(
            "performance.getEntriesByType('resource').map(function (e) { return {name: e.name, "
            "responseStatus: e.responseStatus}; })"
        )
        if "/basemap/" in entry["name"]
    ]


@pytest.mark.browser
def test_raster_package_drawn_under_the_hierarchy(
    browser: Browser, server: str, commander: str, built: dict, served_dir: Path, artifacts: Path
) -> None:
    import_package(built["paths"]["raster.mbtiles"], served_dir)
    view = signed_in(browser, server, commander, "/map", viewport={"width": 1280, "height": 800})
    page = view.page
    wait_until(page, "!!window.cityopsBasemap")
    wait_until(page, f"{TILE_IMAGES}.some(function (img) {{ return img.src.indexOf('/basemap/') >= 0; }})")
    wait_until(page, "!document.querySelector('.leaflet-tile-pane img:not(.leaflet-tile-loaded)')")
    tiles = [(url, status) for url, status in basemap_answers(page) if "/basemap/1" in url]
    assert tiles and all(status in (200, 304) for _, status in tiles), tiles
    assert page.evaluate("window.cityopsBasemap.active") == "package"
    assert page.evaluate("window.cityopsBasemap.kind") == "raster"
    chooser = page.locator(".cityops-basemap")
    assert chooser.locator(".cityops-basemap-title").inner_text() == "底图"
    assert chooser.locator("label", has_text="本地底图：南京 outlines").locator("input").is_checked()
    assert chooser.locator("label", has_text="无底图").count() == 1
    # the basemap lies in the tile pane, beneath the hierarchy's vector tiles (overlay pane) and the cases
    z_index = "Number(getComputedStyle(document.querySelector('.leaflet-{}-pane')).zIndex)"
    assert page.evaluate(f"{z_index.format('tile')} < {z_index.format('overlay')}")
    page.screenshot(path=str(artifacts / "map-basemap-raster.png"))
    chooser.locator("label", has_text="无底图").click()
    wait_until(page, f"{TILE_IMAGES}.every(function (img) {{ return img.src.indexOf('/basemap/') < 0; }})")
    assert page.evaluate("window.localStorage.getItem('cityops.basemap')") == "none"  # remembered on the device
    view.assert_offline(server)
    assert view.failures == []


@pytest.mark.browser
def test_vector_package_drawn_in_english(
    browser: Browser, server: str, commander: str, built: dict, served_dir: Path, artifacts: Path
) -> None:
    import_package(built["paths"]["vector.pmtiles"], served_dir)
    view = signed_in(browser, server, commander, "/map?lang=en", viewport={"width": 1280, "height": 800})
    page = view.page
    wait_until(page, "!!window.cityopsBasemap")
    wait_until(page, "document.querySelectorAll('.leaflet-tile-pane canvas.leaflet-tile-loaded').length > 0")
    pbf = [(url, status) for url, status in basemap_answers(page) if ".pbf?v=" in url]
    assert pbf and all(status in (200, 304) for _, status in pbf), pbf
    assert page.evaluate("window.cityopsBasemap.kind") == "vector"
    assert page.locator(".cityops-basemap .cityops-basemap-title").inner_text() == "Basemap"
    assert page.locator(".cityops-basemap label", has_text="Local basemap").locator("input").is_checked()
    page.screenshot(path=str(artifacts / "map-basemap-vector.png"))
    view.assert_offline(server)
    assert view.failures == []
