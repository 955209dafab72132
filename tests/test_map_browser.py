"""The map pages in headless Chromium (issue 7): behind login, live without reloading, scoped, offline."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, sync_playwright
from sqlalchemy import Engine, text

from command.historic_import import import_events
from command.users import create_user
from tests.conftest import Caller, add_force, void_open_cases

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
PASSWORD = "map viewer password"
STREET = "320102002"
CATEGORY = "010101"


@pytest.fixture(scope="module")
def people(nanjing: Engine) -> dict[str, str]:
    """Usernames: a street commander, a grid worker of one of its grids, a planner, a commander elsewhere."""
    with nanjing.begin() as conn:
        grid = conn.execute(
            text(
                "SELECT g.code FROM unit g JOIN unit s ON s.id = ANY(g.ancestors) WHERE s.code = :s AND g.tier "
                "= 'grid' "
                "ORDER BY ST_Area(g.geom) DESC LIMIT 1"
            ),
            {"s": STREET},
        ).scalar_one()
        names = {}
        accounts = (
            ("commander", STREET, ["street"]),
            ("worker", grid, ["grid_worker"]),
            ("planner", "320100", ["planner"]),
            ("elsewhere", "320115", ["district"]),
        )
        for who, unit, roles in accounts:
            names[who] = f"{who}-{uuid.uuid4().hex[:6]}"
            create_user(conn, names[who], unit_code=unit, roles=roles, password=PASSWORD, actor="tests")
        names["grid"] = grid
    return names


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield chromium
        chromium.close()


def wait_until(page: Page, expression: str, timeout_s: float = 20) -> float:
    """Poll ``expression`` from outside the page (its Content-Security-Policy forbids the eval
    Playwright's ``wait_for_function`` needs); the seconds it took."""
    started = time.monotonic()
    while not page.evaluate(expression):
        if time.monotonic() - started > timeout_s:
            raise TimeoutError(f"still false after {timeout_s} s: {expression}")
        time.sleep(0.05)
    return time.monotonic() - started


class Watched:
    """A signed-in page with every request, failure and console line recorded."""

    def __init__(self, context: BrowserContext) -> None:
        self.page = context.new_page()
        self.requests: list[str] = []
        self.failures: list[str] = []
        self.console: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("requestfailed", lambda r: self.failures.append(f"{r.url} {r.failure}"))
        self.page.on("console", lambda m: self.console.append(m.text))

    def assert_offline(self, server: str) -> None:
        origins = {urlparse(url).netloc for url in self.requests if not url.startswith(("data:", "blob:"))}
        assert origins == {urlparse(server).netloc}, f"requests left the platform: {origins}"
        assert not [line for line in self.console if "Content Security Policy" in line], self.console


def signed_in(browser: Browser, server: str, username: str, path: str, **context: object) -> Watched:
    """A new browser context that signs in at /login and lands on ``path``."""
    watched = Watched(browser.new_context(**context))  # type: ignore[arg-type]
    page = watched.page
    page.goto(f"{server}{path}")
    page.wait_for_selector("#cityops-signin input[name=username]")
    assert urlparse(page.url).path == "/login"
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server}{path}")
    wait_until(page, "window.cityopsReady === true")
    return watched


def inside(nanjing: Engine, code: str) -> tuple[float, float]:
    """A point inside the unit ``code``."""
    with nanjing.connect() as conn:
        return conn.execute(
            text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p FROM unit WHERE code = :c) x"),
            {"c": code},
        ).one()  # type: ignore[return-value]


def test_pages_are_behind_login_and_their_permission(server: str, people: dict[str, str]) -> None:
    for path in ("/map", "/map/worker", "/map/planner"):
        answer = httpx.get(f"{server}{path}")
        assert answer.status_code == 303 and answer.headers["location"] == f"/login?next={path}"
    assert httpx.get(f"{server}/login").status_code == 200
    with httpx.Client(base_url=server) as browser_like:
        signed = browser_like.post("/api/v1/auth/session", data={"username": people["commander"], "password": PASSWORD})
        assert signed.status_code == 200 and "access_token" not in signed.text  # the tokens stay in HttpOnly cookies
        assert browser_like.get("/map").status_code == 200
        assert browser_like.get("/map/planner").status_code == 403  # a street commander is no planner
        assert browser_like.get("/api/v1/auth/me").json()["username"] == people["commander"]
        forged = browser_like.post(
            "/api/v1/reports",
            json={"lon": 118.8, "lat": 32.05, "category": CATEGORY, "source": "hotline", "description": "x"},
        )
        assert forged.status_code == 403 and "X-Requested-With" in forged.json()["detail"]
        browser_like.post("/api/v1/auth/session/end", headers={"X-Requested-With": "cityops"})
        assert browser_like.get("/map").status_code == 303


@pytest.mark.browser
def test_command_view_shows_layers_kpis_and_stays_offline(
    browser: Browser, server: str, artifacts: Path, people: dict[str, str]
) -> None:
    view = signed_in(browser, server, people["commander"], "/map", viewport={"width": 1280, "height": 800})
    page = view.page
    # tiers, then cases, their counts per unit, case hexagons, place names and forces (issue 18), incidents (21)
    assert page.locator(".leaflet-control-layers-overlays label").count() == 6 + 8  # and sensors, warnings (22)
    assert "突发事件" in page.inner_text(".leaflet-control-layers-overlays")
    wait_until(page, "document.querySelectorAll('.leaflet-tile-loaded').length > 0")
    assert "在办案件" in page.inner_text("#cityops-kpi")
    page.screenshot(path=str(artifacts / "map-command.png"))
    view.assert_offline(server)
    assert view.failures == []


@pytest.mark.browser
def test_a_worker_tags_an_incident_and_the_command_view_shows_it_without_reload(
    browser: Browser, server: str, artifacts: Path, people: dict[str, str], nanjing: Engine
) -> None:
    lon, lat = inside(nanjing, people["grid"])
    void_open_cases(nanjing, "ST_DWithin(geom::geography, ST_MakePoint(:x, :y)::geography, 800)", {"x": lon, "y": lat})
    command = signed_in(browser, server, people["commander"], "/map", viewport={"width": 1280, "height": 800})
    command.page.evaluate(f"void cityopsMap.setView([{lat}, {lon}], 16)")
    wait_until(command.page, "window.cityopsReady && cityopsMap.getZoom() === 16")
    worker = signed_in(
        browser,
        server,
        people["worker"],
        "/map/worker",
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
    )
    page = worker.page
    wait_until(page, "document.querySelectorAll('select[name=category] option').length > 10")
    page.evaluate(f"void cityopsMap.setView([{lat}, {lon}], 17)")
    time.sleep(0.5)
    point = page.evaluate(f"cityopsMap.latLngToContainerPoint([{lat}, {lon}])")
    box = page.locator(".folium-map").bounding_box()
    page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])  # type: ignore[index]
    page.select_option("select[name=category]", CATEGORY)
    page.fill("textarea[name=description]", f"井盖破损 {uuid.uuid4().hex[:6]}")
    page.screenshot(path=str(artifacts / "map-worker.png"))
    page.click("#cityops-report button[type=submit]")
    wait_until(page, "window.cityopsReports.length === 1")
    sent = time.monotonic()
    case_id = page.evaluate("cityopsReports[0].case_id")
    wait_until(command.page, f"!!window.cityopsCases['{case_id}']", timeout_s=5)
    assert time.monotonic() - sent < 2.0  # on the commander's map within 2 s, no reload
    command.page.screenshot(path=str(artifacts / "map-command-new-case.png"))
    wait_until(page, f"document.querySelector('#cityops-tasks li[data-case=\"{case_id}\"]') !== null")
    for watched in (command, worker):
        watched.assert_offline(server)


@pytest.mark.browser
def test_the_grid_outline_arriving_late_leaves_a_view_the_worker_chose(
    server: str, browser: Browser, people: dict[str, str]
) -> None:
    """On a slow network the grid's outline may arrive after the worker zoomed to a place: it is drawn, and the
    map stays where they put it (it used to frame the grid then, moving the place from under their finger)."""
    phone = {"width": 390, "height": 844}
    # the page's service worker keeps the outline for offline use and would answer it past the held route
    worker = signed_in(browser, server, people["worker"], "/map/worker", viewport=phone, service_workers="block")
    page = worker.page
    held: list[Route] = []
    page.route("**/api/v1/units/*", lambda route: held.append(route))  # the outline waits until released
    page.reload()
    wait_until(page, "document.querySelectorAll('select[name=category] option').length > 10")
    assert held and not page.evaluate("window.cityopsGrid === true")
    page.evaluate("void cityopsMap.setView([32.0412, 118.7845], 17, {animate: false})")  # away from the grid
    for route in held:
        route.continue_()
    wait_until(page, "window.cityopsGrid === true")
    page.wait_for_timeout(300)
    centre = page.evaluate("[cityopsMap.getCenter().lat, cityopsMap.getCenter().lng, cityopsMap.getZoom()]")
    assert centre[2] == 17 and abs(centre[0] - 32.0412) < 1e-5 and abs(centre[1] - 118.7845) < 1e-5, centre


@pytest.mark.browser
def test_a_position_moves_the_force_marker_and_dispatch_assigns_it(
    browser: Browser, server: str, artifacts: Path, people: dict[str, str], caller: Caller, nanjing: Engine
) -> None:
    lon, lat = inside(nanjing, STREET)
    void_open_cases(nanjing, "ST_DWithin(geom::geography, ST_MakePoint(:x, :y)::geography, 800)", {"x": lon, "y": lat})
    earlier = datetime.now(UTC) - timedelta(minutes=10)  # the move below is then a believable speed
    # ~30 m from the case once moved, apart from its marker on screen
    force_id, code = add_force(nanjing, STREET, ["drainage"], at=(lon + 0.0006, lat), fixed_at=earlier)
    answer = httpx.post(
        f"{server}/api/v1/reports",
        headers=caller(["city_commander"], "320100"),
        json={"lon": lon, "lat": lat, "category": CATEGORY, "source": "hotline", "description": "井盖缺失"},
    )
    case_id = str(answer.json()["case_id"])
    command = signed_in(browser, server, people["commander"], "/map", viewport={"width": 1280, "height": 800})
    page = command.page
    page.evaluate(f"void cityopsMap.setView([{lat}, {lon}], 16)")
    wait_until(page, f"!!window.cityopsForces['{force_id}'] && !!window.cityopsCases['{case_id}']")
    moved = lon + 0.0003
    fix = {"id": code, "lon": moved, "lat": lat + 0.0001, "time": datetime.now(UTC).isoformat()}
    sent = time.monotonic()
    tracker = caller(["tracker"], "320100")
    assert httpx.post(f"{server}/api/v1/forces/positions", json={"fixes": [fix]}, headers=tracker).status_code == 200
    wait_until(page, f"Math.abs(cityopsForces['{force_id}'].item.lon - {moved}) < 1e-7", timeout_s=5)
    assert time.monotonic() - sent < 2.0
    # the case's own marker is clicked (a pixel click may land on another test's force drawn over it)
    page.evaluate(f"void cityopsCases['{case_id}'].marker.fire('click')")
    wait_until(page, "!!document.querySelector('.cityops-dispatch')", timeout_s=10)
    page.screenshot(path=str(artifacts / "map-case-panel.png"))
    assert "派单依据" in page.inner_text("#cityops-side") and "处置过程" in page.inner_text("#cityops-side")
    # the nearest available force gets the first button (other tests leave forces about this street too)
    chosen = int(page.get_attribute(".cityops-dispatch", "data-force"))  # type: ignore[arg-type]
    page.click(f".cityops-dispatch[data-force='{chosen}']")
    wait_until(page, "!!window.cityopsDispatched")
    booked = httpx.get(f"{server}/api/v1/cases/{case_id}/assignments", headers=caller(["street"], STREET))
    assert [a["force_id"] for a in booked.json()["items"]] == [chosen]
    wait_until(page, f"cityopsForces['{chosen}'].item.status === 'assigned'", timeout_s=5)  # live, no reload
    command.assert_offline(server)


@pytest.mark.browser
def test_a_commander_sees_only_their_jurisdiction(
    browser: Browser, server: str, people: dict[str, str], caller: Caller, nanjing: Engine
) -> None:
    lon, lat = 118.7925, 32.0525  # 玄武区, not 江宁区
    void_open_cases(nanjing, "ST_DWithin(geom::geography, ST_MakePoint(:x, :y)::geography, 800)", {"x": lon, "y": lat})
    other = signed_in(browser, server, people["elsewhere"], "/map", viewport={"width": 1280, "height": 800})
    other.page.evaluate(f"void cityopsMap.setView([{lat}, {lon}], 16)")
    wait_until(other.page, "window.cityopsReady && cityopsMap.getZoom() === 16")
    answer = httpx.post(
        f"{server}/api/v1/reports",
        headers=caller(["city_commander"], "320100"),
        json={"lon": lon, "lat": lat, "category": CATEGORY, "source": "hotline", "description": "井盖缺失"},
    )
    case_id = str(answer.json()["case_id"])
    time.sleep(2.0)
    other.page.evaluate("void cityopsMap.setView([32.0526, 118.7926], 16)")  # reload the view's cases too
    time.sleep(1.0)
    assert other.page.evaluate(f"!!window.cityopsCases['{case_id}']") is False
    assert other.page.evaluate("Object.keys(cityopsCases).length") == 0


@pytest.mark.browser
def test_planner_view_draws_hexagons_with_filters(
    browser: Browser, server: str, artifacts: Path, people: dict[str, str], nanjing: Engine, tmp_path: Path
) -> None:
    view = signed_in(browser, server, people["planner"], "/map/planner", viewport={"width": 1280, "height": 800})
    page = view.page
    wait_until(page, "cityopsHexes.getLayers().length > 0")
    before = page.evaluate("cityopsHexes.getLayers().length")
    page.select_option("select[name=state]", "open")
    wait_until(page, "!!document.querySelector('#cityops-legend .cityops-legend-total')")
    page.screenshot(path=str(artifacts / "map-planner.png"))
    assert before > 0 and page.inner_text("#cityops-legend .cityops-legend-total")
    page.select_option("select[name=steps]", "4")
    page.click("button[name=hotspots]")
    wait_until(page, "document.querySelector('.cityops-spots').dataset.done === 'true'", timeout_s=120)
    assert page.inner_text(".cityops-spots b")  # the summary (its words: tests/test_planner_browser.py)
    drawn = page.evaluate("cityopsSpots.getLayers().map(function (l) { return l.feature.properties['class']; })")
    assert all(kind in ("hot", "cold", "not_significant") for kind in drawn)
    page.screenshot(path=str(artifacts / "map-planner-hotspots.png"))
    when = datetime.now(UTC) - timedelta(days=3)  # a lamp reported three times at one corner
    rows = [
        f"118.7551,32.0702,010102,{(when + timedelta(hours=h)).isoformat()},closed,lamp-{uuid.uuid4().hex[:8]}"
        for h in range(3)
    ]
    (tmp_path / "lamp.csv").write_text("lon,lat,category,reported_at,state,id\n" + "\n".join(rows) + "\n")
    assert import_events(nanjing, tmp_path / "lamp.csv").loaded == 3
    page.click("button[name=recurrences]")
    wait_until(page, "document.querySelector('.cityops-proposals').dataset.done === 'true'")
    listed = page.locator(".cityops-proposals li").count()
    assert listed >= 1 and page.evaluate("cityopsProposals.getLayers().length") == listed
    assert page.locator(".cityops-proposals button[data-d]").count() == 0  # a planner proposes, command decides
    view.assert_offline(server)


@pytest.mark.browser
def test_api_docs_render_offline(server: str, browser: Browser, artifacts: Path) -> None:
    view = Watched(browser.new_context())
    page = view.page
    page.goto(f"{server}/docs")
    page.wait_for_selector(".swagger-ui .information-container .title", timeout=20_000)
    assert "cityops" in page.inner_text(".swagger-ui .information-container .title")
    page.wait_for_selector(".opblock-tag", timeout=10_000)
    spec = page.evaluate("fetch('/openapi.json').then((r) => r.json())")
    tags = {tag for path in spec["paths"].values() for operation in path.values() for tag in operation["tags"]}
    wait_until(page, f"document.querySelectorAll('.opblock-tag').length === {len(tags)}")  # every tag, folded
    page.click("#operations-tag-incidents")  # unfolded, a tag lists each of its operations
    incidents = sum("incidents" in operation["tags"] for path in spec["paths"].values() for operation in path.values())
    wait_until(page, f"document.querySelectorAll('.opblock').length === {incidents}")
    page.screenshot(path=str(artifacts / "api-docs.png"))
    view.assert_offline(server)
