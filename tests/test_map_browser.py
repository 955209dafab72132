"""The map page in headless Chromium: it draws the hierarchy and asks nothing of other origins."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from sqlalchemy import Engine

from command.users import create_user

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-quic"]  # fmt: skip


MAP_PASSWORD = "map viewer password"


@pytest.fixture(scope="module")
def map_user(nanjing: Engine) -> str:
    """A street commander who signs in on the map."""
    name = f"map-{uuid.uuid4().hex[:8]}"
    with nanjing.begin() as conn:
        create_user(conn, name, unit_code="320102002", roles=["street"], password=MAP_PASSWORD, actor="tests")
    return name


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield chromium
        chromium.close()


def wait_until(page: Page, expression: str, timeout_s: float = 20) -> None:
    """Poll ``expression`` from outside the page: the page's Content-Security-Policy forbids eval,
    which Playwright's own ``wait_for_function`` needs, and the page must run under that policy."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise TimeoutError(f"still false after {timeout_s} s: {expression}")
        time.sleep(0.1)


@pytest.mark.browser
def test_map_shows_the_hierarchy_offline(server: str, browser: Browser, artifacts: Path, map_user: str) -> None:
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    failures: list[str] = []
    page.on("requestfailed", lambda request: failures.append(request.url))
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.goto(f"{server}/map")
    wait_until(page, "window.cityopsLayers && window.cityopsLayers[1].loaded >= 11")
    page.screenshot(path=str(artifacts / "map-city.png"))
    assert page.locator(".leaflet-control-layers-overlays label").count() == 6
    page.evaluate("cityopsMap.setView([32.045, 118.785], 15)")
    wait_until(page, "window.cityopsLayers[4].loaded > 20")  # grids drawn
    page.mouse.click(600, 400)  # locating needs a signed-in user: the platform asks first
    page.wait_for_selector("#cityops-signin", timeout=10_000)
    page.screenshot(path=str(artifacts / "map-signin.png"))
    page.fill("#cityops-signin input[name=username]", map_user)
    page.fill("#cityops-signin input[name=password]", "wrong password")
    page.click("#cityops-signin button")
    wait_until(page, "document.querySelector('.cityops-signin-error').textContent.length > 0")
    page.fill("#cityops-signin input[name=password]", MAP_PASSWORD)
    page.click("#cityops-signin button")
    page.wait_for_selector(".cityops-popup", timeout=10_000)
    assert page.is_hidden("#cityops-signin")
    popup = page.inner_text(".cityops-popup")
    assert "grid" in popup and "南京市" in popup
    page.screenshot(path=str(artifacts / "map-grids-popup.png"))
    origins = {urlparse(url).netloc for url in requests if not url.startswith("data:")}
    assert origins == {urlparse(server).netloc}, f"requests left the platform: {origins}"
    assert failures == []
    assert not [line for line in console if "Content Security Policy" in line]  # nothing the page does is blocked
    page.close()


@pytest.mark.browser
def test_api_docs_render_offline(server: str, browser: Browser, artifacts: Path) -> None:
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.goto(f"{server}/docs")
    page.wait_for_selector(".swagger-ui .information-container .title", timeout=20_000)
    assert "cityops" in page.inner_text(".swagger-ui .information-container .title")
    page.wait_for_selector(".opblock", timeout=10_000)
    assert page.locator(".opblock").count() >= 30  # every operation is listed
    page.screenshot(path=str(artifacts / "api-docs.png"))
    origins = {urlparse(url).netloc for url in requests if not url.startswith("data:")}
    assert origins == {urlparse(server).netloc}, f"the docs page left the platform: {origins}"
    assert not [line for line in console if "Content Security Policy" in line]
    page.close()
