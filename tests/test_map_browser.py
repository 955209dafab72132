"""The map page in headless Chromium: it draws the hierarchy and asks nothing of other origins."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Browser, sync_playwright

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-quic"]  # fmt: skip


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.mark.browser
def test_map_shows_the_hierarchy_offline(server: str, browser: Browser, artifacts: Path) -> None:
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    failures: list[str] = []
    page.on("requestfailed", lambda request: failures.append(request.url))
    page.goto(f"{server}/map")
    page.wait_for_function("window.cityopsLayers && window.cityopsLayers[1].loaded >= 11", timeout=20_000)
    page.screenshot(path=str(artifacts / "map-city.png"))
    assert page.locator(".leaflet-control-layers-overlays label").count() == 6
    page.evaluate("cityopsMap.setView([32.045, 118.785], 15)")
    page.wait_for_function("window.cityopsLayers[4].loaded > 20", timeout=20_000)  # grids drawn
    page.mouse.click(600, 400)
    page.wait_for_selector(".cityops-popup", timeout=10_000)
    popup = page.inner_text(".cityops-popup")
    assert "grid" in popup and "南京市" in popup
    page.screenshot(path=str(artifacts / "map-grids-popup.png"))
    origins = {urlparse(url).netloc for url in requests if not url.startswith("data:")}
    assert origins == {urlparse(server).netloc}, f"requests left the platform: {origins}"
    assert failures == []
    page.close()
