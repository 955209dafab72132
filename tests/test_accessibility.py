"""Accessibility (issue 18, point 8): axe-core on every page, at desk and phone sizes, in Chinese and
English, with no serious or critical violation; and the work pages' whole task done with the keyboard
alone — sign in, open the queue, open a case, open an action form, send it — with focus always visible.

axe-core is vendored (``map_ui/vendor.json``) for these tests only: no page loads it; each test
injects it into the page it checks (the context bypasses the pages' Content-Security-Policy for that).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page
from sqlalchemy import Engine, text

from command.users import create_user
from tests.conftest import add_force, void_open_cases
from tests.test_map_browser import PASSWORD, browser, inside, wait_until  # noqa: F401

AXE = Path(__file__).parent.parent / "map_ui" / "static" / "vendor" / "axe-core" / "axe.min.js"
STREET = "320102002"
CATEGORY = "010101"
SIZES = {
    "desktop": {"viewport": {"width": 1920, "height": 1080}},
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "device_scale_factor": 3,
        "is_mobile": True,
        "has_touch": True,
    },
}
LANGUAGES = ("zh-CN", "en")
BLOCKING = ("serious", "critical")
WORK_PAGES = ("/login", "/queue", "/cases", "/cases/{case}")  # the templates whose punctuation follows the language
CHINESE_PUNCTUATION = "（）：、，。；"
# every page, and who opens it (the login page: nobody yet)
PAGES = (
    ("/login", None),
    ("/queue", "commander"),
    ("/cases", "commander"),
    ("/cases/{case}", "commander"),
    ("/map", "commander"),
    ("/map/planner", "commander"),
    ("/screen", "commander"),
    ("/incidents", "commander"),
    ("/resource-requests", "commander"),
    ("/alarms", "commander"),
    ("/scenarios", "city"),
    ("/subscriptions", "city"),
    ("/metro", "city"),
    ("/public", None),
    ("/map/worker", "worker"),
    ("/field", "field"),
)
# the bar's controls a user must always reach, and the page they are on (on a phone the pages scroll sideways
# on a row of their own, each name whole)
OUT_OF_SIGHT = """() => [...document.querySelectorAll(
    ".topbar .sign-out, .topbar .lang, .topbar .clock, .topbar nav [aria-current=page]")]
  .filter((e) => { const r = e.getBoundingClientRect();
                   return !r.width || r.left < 0 || r.right > innerWidth || r.bottom > innerHeight; })
  .map((e) => e.className || e.textContent)
  .concat([...document.querySelectorAll(".topbar nav a")]
    .filter((a) => a.scrollWidth > a.clientWidth + 1).map((a) => `cut: ${a.textContent}`))"""
RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,
                                        nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" "))}));
}"""
# the focused element and whether its focus can be seen (an outline or a ring drawn by box-shadow)
FOCUSED = """() => {
  const e = document.activeElement;
  if (!e || e === document.body) return null;
  const style = getComputedStyle(e);
  const seen = (style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0) || style.boxShadow !== "none";
  return {tag: e.tagName.toLowerCase(), name: e.getAttribute("name"), text: (e.innerText || e.value || "").trim(),
          action: e.dataset.action || null, href: e.getAttribute("href"), visible: seen,
          label: e.getAttribute("aria-label") || (e.labels && e.labels[0] ? e.labels[0].innerText.trim() : "")};
}"""


@pytest.fixture(scope="module")
def people(nanjing: Engine) -> dict[str, str]:
    """Usernames: a street commander who also plans, a grid worker of its street, a force's person."""
    with nanjing.begin() as conn:
        grid = conn.execute(
            text(
                "SELECT g.code FROM unit g JOIN unit s ON s.id = ANY(g.ancestors) WHERE s.code = :s AND g.tier "
                "= 'grid' "
                "ORDER BY ST_Area(g.geom) DESC LIMIT 1"
            ),
            {"s": STREET},
        ).scalar_one()
    _, force = add_force(nanjing, STREET, ["drainage"], at=inside(nanjing, grid))
    accounts = {
        "commander": (STREET, ["street", "planner"], None),
        "worker": (grid, ["grid_worker"], None),
        "field": (STREET, ["field_force"], force),
        "city": ("320100", ["city_commander"], None),
    }
    names = {}
    with nanjing.begin() as conn:
        for who, (unit, roles, force_code) in accounts.items():
            names[who] = f"a11y-{who}-{uuid.uuid4().hex[:6]}"
            create_user(
                conn,
                names[who],
                unit_code=unit,
                roles=roles,
                password=PASSWORD,
                force_code=force_code,
                display_name="王芳",
                actor="tests",
            )
    return names


def file_case(server: str, nanjing: Engine, headers: dict[str, str]) -> str:
    """A new case of the street (its spot cleared of open cases first), waiting in the street's intake queue."""
    lon, lat = inside(nanjing, STREET)
    void_open_cases(
        nanjing,
        "category_code = :c AND ST_DWithin(geom::geography, ST_MakePoint(:x, :y)::geography, 500)",
        {"c": CATEGORY, "x": lon, "y": lat},
    )
    body = {
        "lon": lon,
        "lat": lat,
        "category": CATEGORY,
        "source": "hotline",
        "description": f"井盖缺失 {uuid.uuid4()}",
    }
    answer = httpx.post(f"{server}/api/v1/reports", json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["case_id"])


@pytest.fixture(scope="module")
def case(server: str, nanjing: Engine, staff: dict[str, str]) -> str:
    return file_case(server, nanjing, staff)


def sign_in(context: BrowserContext, server: str, username: str | None) -> Page:
    """A page of ``context`` signed in as ``username`` (none: a page that has not signed in)."""
    page = context.new_page()
    if username is not None:
        page.goto(f"{server}/login")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(lambda url: urlparse(url).path != "/login")
    return page


def violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations of the page as it stands."""
    page.add_script_tag(path=str(AXE))
    return [v for v in page.evaluate(RUN_AXE) if v["impact"] in BLOCKING]


ENGLISH_TEXT = """() => {
    let text = document.body.innerText;
    for (const part of document.querySelectorAll('body [lang="zh-CN"]')) text = text.replace(part.innerText, "");
    return text;
}"""


@pytest.mark.parametrize(("path", "who"), PAGES, ids=[path for path, _ in PAGES])
def test_every_page_passes_axe_at_both_sizes_in_both_languages(
    browser: Browser,  # noqa: F811 (the fixture imported from test_map_browser)
    server: str,
    people: dict[str, str],
    case: str,
    artifacts: Path,
    path: str,
    who: str | None,
) -> None:
    found: dict[str, list[dict[str, Any]]] = {}
    thrown: list[str] = []  # a script that throws leaves part of the page dead: no page may throw
    hidden: list[str] = []
    name = "axe" + path.format(case="case").replace("/", "-")
    for size, options in SIZES.items():
        context = browser.new_context(bypass_csp=True, **options)  # type: ignore[arg-type]
        page = sign_in(context, server, people[who] if who else None)
        page.on("pageerror", lambda error, size=size, page=page: thrown.append(f"{size} {page.url}: {error}"))
        for language in LANGUAGES:
            page.goto(f"{server}{path.format(case=case)}?lang={language}")
            assert page.evaluate("document.documentElement.lang") == language
            title = page.title()
            assert title and not title.startswith(" ·"), title  # the page's own name comes first
            wait_until(page, "window.cityopsReady === true", timeout_s=30)
            if language == "en" and path in WORK_PAGES:  # names stay Chinese, the sentences around them do not
                shown = page.evaluate(ENGLISH_TEXT)  # (what the city wrote, marked lang="zh-CN", stays as written)
                assert not [c for c in CHINESE_PUNCTUATION if c in shown], shown
            hidden += [f"{size} {language}: {name}" for name in page.evaluate(OUT_OF_SIGHT)]
            if problems := violations(page):
                found[f"{size} {language}"] = problems
                page.screenshot(path=str(artifacts / f"{name}-{size}-{language}.png"))
        context.close()
    (artifacts / f"{name}.json").write_text(json.dumps(found, ensure_ascii=False, indent=1))
    assert not found, json.dumps(found, ensure_ascii=False, indent=1)
    assert not thrown, thrown
    assert not hidden, hidden


def press_tab_to(page: Page, wanted: str, most: int = 80) -> dict[str, Any]:
    """Press Tab until the focused element matches the CSS selector ``wanted``; every stop's focus is visible."""
    for _ in range(most):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        if focused is None:
            continue
        assert focused["visible"], f"focus not visible on {focused}"
        if page.evaluate("(s) => document.activeElement.matches(s)", wanted):
            return focused  # type: ignore[no-any-return]
    raise AssertionError(f"{wanted} not reached by Tab in {most} presses")


def test_the_work_pages_task_by_keyboard_alone(
    browser: Browser,  # noqa: F811 (the fixture imported from test_map_browser)
    server: str,
    nanjing: Engine,
    people: dict[str, str],
    staff: dict[str, str],
) -> None:
    case_id = file_case(server, nanjing, staff)
    context = browser.new_context(**SIZES["desktop"])  # type: ignore[arg-type]
    page = context.new_page()
    page.goto(f"{server}/queue?q=intake")
    assert urlparse(page.url).path == "/login"
    press_tab_to(page, "input[name=username]")
    page.keyboard.type(people["commander"])
    press_tab_to(page, "input[name=password]")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server}/queue?q=intake")
    wait_until(page, f"!!document.getElementById('case-{case_id}')")

    opened = press_tab_to(page, f"#case-{case_id} h3 a")  # the case's link, on the card in the queue
    assert opened["text"] and opened["href"] == f"/cases/{case_id}"
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server}/cases/{case_id}")
    accept = press_tab_to(page, f"#case-{case_id} button[data-action=accept]")
    assert accept["text"]  # a labelled button
    page.keyboard.press("Enter")
    page.wait_for_selector(f"#case-{case_id} form.action textarea[name=note]")
    note = press_tab_to(page, f"#case-{case_id} form.action textarea[name=note]")
    assert note["label"], note  # the form's fields are labelled
    page.keyboard.type("已核实，受理")
    press_tab_to(page, f"#case-{case_id} form.action button[type=submit]")
    page.keyboard.press(" ")  # Space works a button as Enter does
    wait_until(page, f"document.querySelector('#case-{case_id}')?.dataset.state === 'accepted'")
    with nanjing.connect() as conn:
        assert (
            conn.execute(text("SELECT state FROM case_file WHERE id = :i"), {"i": int(case_id)}).scalar_one()
            == "accepted"
        )
    context.close()
