"""The field app on a phone with a bad network (issue 18.6), in headless Chromium at 390×844 with touch:
reports (one with a photo) filed offline wait in the outbox as 「待发送 2」 and become exactly two
cases when the network is back; the same queued item sent again files nothing new; a point outside
the worker's grid is refused on the phone before anything is sent; every control is labelled and at
least 44 px; the page opens offline after one online visit (service worker); an answer to an
assignment given offline is sent when back online; English shows no Chinese UI words and no codes."""

from __future__ import annotations

import json
import re
import shutil
import uuid
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page
from sqlalchemy import Engine, text

from command.users import create_user
from map_ui import field
from tests import test_map_browser
from tests.conftest import Caller, add_force, tiny_png, void_open_cases
from tests.test_field_browser import PHONE, capability, new_case, person_behind
from tests.test_map_browser import PASSWORD, Watched, signed_in, wait_until

STREET = "320102002"
FIRST, SECOND = "010101", "020106"  # two categories: two reports never join one case as duplicates
browser = test_map_browser.browser
HAN = re.compile(r"[\u3400-\u9fff]")
STATES = ("reported", "registered", "dispatched", "handling", "handled", "verified", "closed", "void")
CONTROLS = "a[href], button, input, select, textarea, summary"


@pytest.fixture(scope="module")
def grid(nanjing: Engine) -> dict[str, object]:
    """The street's largest grid: a worker of it, two points inside far apart, a point in the next grid."""
    with nanjing.begin() as conn:
        code, name = conn.execute(
            text(
                "SELECT g.code, g.name FROM unit g JOIN unit s ON s.id = ANY(g.ancestors) WHERE s.code = :s "
                "AND g.tier = 'grid' ORDER BY ST_Area(g.geom) DESC LIMIT 1"
            ),
            {"s": STREET},
        ).one()
        inside = conn.execute(
            text(
                "SELECT ST_X(p), ST_Y(p) FROM (SELECT (ST_Dump(ST_GeneratePoints(ST_Buffer(geom, -0.0003), 2, "
                "7))).geom p "
                "FROM unit WHERE code = :c) x"
            ),
            {"c": code},
        ).all()
        outside = conn.execute(
            text(
                "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(n.geom) p FROM unit n JOIN unit g ON "
                "g.code = :c "
                "WHERE n.tier = 'grid' AND n.code <> g.code ORDER BY n.geom <-> g.geom LIMIT 1) x"
            ),
            {"c": code},
        ).one()
        worker = f"worker-{uuid.uuid4().hex[:6]}"
        create_user(conn, worker, unit_code=code, roles=["grid_worker"], password=PASSWORD, actor="tests")
    for lon, lat in inside:
        clear_around(nanjing, lon, lat)
    points = [tuple(p) for p in inside]
    return {"code": code, "name": name, "inside": points, "outside": tuple(outside), "worker": worker}


def clear_around(nanjing: Engine, lon: float, lat: float) -> None:
    """Void other tests' open cases near the point: a report here opens a case of its own."""
    void_open_cases(nanjing, "ST_DWithin(geom::geography, ST_MakePoint(:x, :y)::geography, 800)", {"x": lon, "y": lat})


def tap(page: Page, lon: float, lat: float) -> None:
    """Tap the map at a place (the map is centred there first, so the place is on screen)."""
    page.evaluate(f"void cityopsMap.setView([{lat}, {lon}], 17, {{animate: false}})")
    point = page.evaluate(f"cityopsMap.latLngToContainerPoint([{lat}, {lon}])")
    box = page.locator(".folium-map").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])


def fill_report(page: Page, lon: float, lat: float, category: str, note: str, photo: bytes | None = None) -> None:
    tap(page, lon, lat)
    wait_until(page, "!document.querySelector('#cityops-report button[type=submit]').disabled")
    page.select_option("select[name=category]", category)
    page.fill("textarea[name=description]", note)
    if photo is not None:
        page.set_input_files("input[name=photo]", files=[{"name": "p.png", "mimeType": "image/png", "buffer": photo}])
    page.click("#cityops-report button[type=submit]")


def waiting(page: Page) -> str:
    return page.evaluate("document.querySelector('.cityops-outbox-count')?.textContent || ''")


def filed_by(nanjing: Engine, worker: str) -> int:
    """How many reports the worker has filed (the audit log's record of each)."""
    with nanjing.connect() as conn:
        return conn.execute(
            text("SELECT count(*) FROM audit_log WHERE actor = :w AND action = 'report.filed'"), {"w": worker}
        ).scalar_one()


def cases_of(nanjing: Engine, tag: str) -> list[tuple[int, int]]:
    """(case, photos) for each report whose description carries ``tag``."""
    with nanjing.connect() as conn:
        return [
            tuple(row)
            for row in conn.execute(
                text(  # type: ignore[misc]
                    "SELECT r.case_id, (SELECT count(*) FROM report_media m WHERE m.report_id = r.id) FROM report r "
                    "WHERE r.description LIKE :t ORDER BY r.id"
                ),
                {"t": f"%{tag}%"},
            )
        ]


def worker_page(browser: Browser, server: str, grid: dict[str, object], path: str = "/map/worker") -> Watched:
    watched = signed_in(browser, server, str(grid["worker"]), path, **PHONE)
    wait_until(watched.page, "document.querySelectorAll('select[name=category] option').length > 10")
    return watched


@pytest.mark.browser
def test_two_reports_filed_offline_become_exactly_two_cases_when_back_online(
    browser: Browser, server: str, artifacts: Path, grid: dict[str, object], nanjing: Engine
) -> None:
    watched = worker_page(browser, server, grid)
    page, context = watched.page, watched.page.context
    before, tag = filed_by(nanjing, str(grid["worker"])), uuid.uuid4().hex[:8]
    (lon1, lat1), (lon2, lat2) = grid["inside"]  # type: ignore[misc]
    context.set_offline(True)
    fill_report(page, lon1, lat1, FIRST, f"井盖破损 {tag}", photo=tiny_png(7))
    wait_until(page, "document.querySelector('.cityops-outbox-count')?.textContent.includes('待发送 1')")
    fill_report(page, lon2, lat2, SECOND, f"乱堆物 {tag}")
    wait_until(page, "document.querySelector('.cityops-outbox-count')?.textContent.includes('待发送 2')")
    assert "网络恢复后自动发送" in page.inner_text(".cityops-message")  # said, and kept until read
    page.screenshot(path=str(artifacts / "field-offline-waiting-2.png"))
    assert cases_of(nanjing, tag) == [] and filed_by(nanjing, str(grid["worker"])) == before

    context.set_offline(False)  # the "online" event sends them, oldest first
    wait_until(page, "window.cityopsReports.length === 2", timeout_s=30)
    wait_until(page, "!document.querySelector('.cityops-outbox-count')?.textContent")
    filed = cases_of(nanjing, tag)
    assert len(filed) == 2 and len({case for case, _ in filed}) == 2, filed
    assert [photos for _, photos in filed] == [1, 0]  # the photo travelled with the first, as a Blob
    assert filed_by(nanjing, str(grid["worker"])) == before + 2
    assert "已上报" in page.inner_text(".cityops-message")
    page.screenshot(path=str(artifacts / "field-offline-sent.png"))
    watched.assert_offline(server)


@pytest.mark.browser
def test_a_queued_report_sent_again_and_again_files_one_case(
    browser: Browser, server: str, grid: dict[str, object], nanjing: Engine
) -> None:
    watched = worker_page(browser, server, grid)
    page, tag = watched.page, uuid.uuid4().hex[:8]
    lon, lat = grid["inside"][0]  # type: ignore[index]
    clear_around(nanjing, lon, lat)
    page.context.set_offline(True)
    fill_report(page, lon, lat, FIRST, f"路灯不亮 {tag}")
    wait_until(page, "document.querySelector('.cityops-outbox-count')?.textContent.includes('待发送 1')")
    page.context.set_offline(False)  # the outbox sends it by itself while the test sends it twice more
    answers = page.evaluate("""async () => {
        const box = window.cityopsWorkerOutbox, [item] = await box.items();
        const results = await Promise.all([box.send(item), box.send(item)]);
        return results.map(r => [r.outcome, r.answer.case_id, r.answer.report_id]);
    }""")
    assert [a[0] for a in answers] == ["sent", "sent"] and len({tuple(a[1:]) for a in answers}) == 1, answers
    wait_until(page, "!document.querySelector('.cityops-outbox-count')?.textContent")
    assert [str(case) for case, _ in cases_of(nanjing, tag)] == [str(answers[0][1])]  # one report, one case


@pytest.mark.browser
def test_a_point_outside_the_grid_is_refused_on_the_phone_before_sending(
    browser: Browser, server: str, artifacts: Path, grid: dict[str, object]
) -> None:
    watched = worker_page(browser, server, grid)
    page = watched.page
    wait_until(page, "window.cityopsGrid === true")  # the grid's outline: known
    page.select_option("select[name=category]", FIRST)
    page.fill("textarea[name=description]", "网格外的井盖")
    tap(page, *grid["outside"])  # type: ignore[misc]
    warning = page.locator(".cityops-outside")
    assert warning.is_visible() and "所选位置不在您的网格内" in warning.inner_text()
    assert str(grid["name"]) in warning.inner_text()
    assert page.is_disabled("#cityops-report button[type=submit]")
    page.screenshot(path=str(artifacts / "field-outside-grid.png"))
    page.locator("#cityops-report").evaluate("form => form.requestSubmit()")  # even a forced submit sends nothing
    assert not [url for url in watched.requests if url.endswith("/api/v1/reports")]
    assert waiting(page) == ""
    tap(page, *grid["inside"][0])  # type: ignore[index]
    assert not warning.is_visible() and not page.is_disabled("#cityops-report button[type=submit]")
    where = page.inner_text(".cityops-where")
    assert str(grid["name"]) in where and not re.search(r"\d+\.\d{4,}", where)  # words, not raw coordinates


def assert_labelled_and_large(page: Page) -> None:
    """Every control has a label; every target a thumb presses is at least 44 × 44 px (the map's
    attribution line is text with a link in it, not a control of the page)."""
    unlabelled = page.evaluate("""() => [...document.querySelectorAll('input, select, textarea')]
        .filter(c => c.type !== 'hidden' && c.offsetParent !== null)
        .filter(c => !(c.labels && c.labels.length) && !c.getAttribute('aria-label')
                     && !c.getAttribute('aria-labelledby'))
        .map(c => c.outerHTML.slice(0, 80))""")
    assert unlabelled == []
    small = []
    for control in page.locator(CONTROLS).all():
        if not control.is_visible() or control.evaluate("c => !!c.closest('.leaflet-control-attribution')"):
            continue
        box = control.bounding_box()
        if box and (box["width"] < 44 or box["height"] < 44):
            small.append(f"{control.evaluate('c => c.outerHTML.slice(0, 60)')}: {box['width']:.0f}×{box['height']:.0f}")
    assert small == [], small
    viewport = page.evaluate("document.querySelector('meta[name=viewport]').content")
    assert "user-scalable=no" not in viewport and "maximum-scale" not in viewport  # zoom allowed


@pytest.mark.browser
def test_every_control_is_labelled_and_a_thumb_sized_target(
    browser: Browser, server: str, grid: dict[str, object], nanjing: Engine
) -> None:
    watched = worker_page(browser, server, grid)
    wait_until(watched.page, "!!document.querySelector('#cityops-tasks li')")
    assert_labelled_and_large(watched.page)
    assert watched.page.evaluate("document.querySelectorAll('meta[name=viewport]').length") == 1
    code = add_force(nanjing, STREET, ["drainage"], kind="team", at=grid["inside"][0])[1]  # type: ignore[arg-type]
    field = signed_in(browser, server, person_behind(nanjing, code), "/field", **PHONE)
    assert_labelled_and_large(field.page)


@pytest.mark.browser
def test_the_page_opens_offline_after_one_online_visit(
    browser: Browser, server: str, artifacts: Path, grid: dict[str, object], nanjing: Engine
) -> None:
    watched = worker_page(browser, server, grid)
    page = watched.page
    manifest = page.evaluate("document.querySelector('link[rel=manifest]').href")
    body = httpx.get(manifest).json()
    assert body["display"] == "standalone" and body["start_url"] == "/map/worker" and HAN.search(body["name"])
    assert {icon["sizes"] for icon in body["icons"]} >= {"192x192", "512x512"}
    wait_until(page, "window.cityopsOffline === true", timeout_s=30)  # the shell, the page, its data: kept
    page.context.set_offline(True)
    page.goto(f"{server}/map/worker")
    wait_until(page, "window.cityopsReady === true")  # the categories, from the copy
    wait_until(page, "window.cityopsGrid === true")  # the grid, from the copy
    tap(page, *grid["outside"])  # type: ignore[misc]
    assert page.locator(".cityops-outside").is_visible()  # the grid check works without a network
    tag = uuid.uuid4().hex[:8]
    lon, lat = grid["inside"][1]  # type: ignore[index]
    clear_around(nanjing, lon, lat)
    fill_report(page, lon, lat, SECOND, f"占道经营 {tag}")
    wait_until(page, "document.querySelector('.cityops-outbox-count')?.textContent.includes('待发送 1')")
    page.screenshot(path=str(artifacts / "field-opened-offline.png"))
    page.context.set_offline(False)
    wait_until(page, "window.cityopsReports.length === 1", timeout_s=30)
    assert len(cases_of(nanjing, tag)) == 1
    # the copies hold no case or reporter data: only the app's pages and public data
    kept = page.evaluate("""async () => {
        const names = await caches.keys(), urls = [];
        for (const name of names) {
            for (const r of await (await caches.open(name)).keys()) urls.push(new URL(r.url).pathname);
        }
        return urls;
    }""")
    assert "/map/worker" in kept and not [u for u in kept if u.startswith(("/api/v1/cases", "/api/v1/reports"))]
    page.click("[data-sign-out]")  # signing out forgets the copies of the pages (they carry the user's name)
    page.wait_for_url(f"{server}/login")
    wait_until(page, "caches.open('cityops-pages').then(c => c.match('/map/worker')).then(r => !r)")


@pytest.mark.browser
def test_an_answer_given_offline_is_sent_when_back_online_and_a_replay_reads_as_done(
    browser: Browser, server: str, artifacts: Path, caller: Caller, nanjing: Engine, grid: dict[str, object]
) -> None:
    lon, lat = grid["inside"][0]  # type: ignore[index]
    cap = capability(nanjing)
    force_id, code = add_force(nanjing, STREET, [cap], kind="team", at=(lon, lat))
    person = person_behind(nanjing, code)
    case_id = new_case(server, caller, nanjing, lon, lat)
    booked = httpx.post(
        f"{server}/api/v1/cases/{case_id}/assignments",
        headers=caller(["street"], STREET),
        json={"force_ids": [force_id], "capabilities": [cap]},
    )
    assert booked.status_code == 201, booked.text
    field = signed_in(browser, server, person, "/field", **PHONE)
    page = field.page
    wait_until(page, "!!document.querySelector('.field-card[data-stage=offered]')", timeout_s=10)
    assignment = page.evaluate("document.querySelector('.field-card').dataset.assignment")
    wait_until(page, "window.cityopsOffline === true", timeout_s=30)
    page.context.set_offline(True)
    page.goto(f"{server}/field")  # the page opens from its copy, the assignment on it
    wait_until(page, "window.cityopsFieldReady === true")
    assert page.evaluate("document.querySelector('.field-card').dataset.assignment") == assignment
    page.click("button.answer-accept")
    wait_until(page, "document.querySelector('.cityops-outbox-count')?.textContent.includes('待发送 1')")
    assert "已保存在本机" in page.inner_text(".field-card") and page.is_disabled("button.answer-accept")
    page.screenshot(path=str(artifacts / "field-answer-waiting.png"))
    page.context.set_offline(False)
    wait_until(page, "!!document.querySelector('.field-card[data-stage=en_route]')", timeout_s=30)
    wait_until(page, "!document.querySelector('.cityops-outbox-count')?.textContent")
    with nanjing.connect() as conn:
        assert conn.execute(
            text("SELECT accepted_at IS NOT NULL FROM assignment WHERE id = :a"), {"a": int(assignment)}
        ).scalar_one()
    with httpx.Client(base_url=server) as phone:  # the same answer again: done under a key, refused without
        phone.post("/api/v1/auth/session", data={"username": person, "password": PASSWORD})
        url, headers = f"/field/assignments/{assignment}/answer", {"X-Requested-With": "htmx", "HX-Request": "true"}
        replay = phone.post(url, data={"answer": "accept"}, headers={**headers, "Idempotency-Key": str(uuid.uuid4())})
        assert replay.status_code == 200 and "已接受" in replay.text
        again = phone.post(url, data={"answer": "accept"}, headers=headers)
        assert again.status_code == 409 and "refusal" in again.text
    page.goto(f"{server}/field?lang=en")  # the card's words and its category in English, no codes
    wait_until(page, "window.cityopsFieldReady === true")
    card = " ".join(page.inner_text(f".field-card {part}") for part in ("h2", ".field-stage", ".field-answers"))
    assert not HAN.search(card) and "en_route" not in card and "On scene" in card, card
    field.assert_offline(server)


@pytest.mark.browser
def test_english_shows_no_chinese_words_and_no_codes(
    browser: Browser, server: str, artifacts: Path, grid: dict[str, object]
) -> None:
    watched = worker_page(browser, server, grid, "/map/worker?lang=en")
    page = watched.page
    assert page.evaluate("document.documentElement.lang") == "en"
    wait_until(page, "!!document.querySelector('#cityops-tasks li')")
    page.context.set_offline(True)
    (lon, lat), _ = grid["inside"]  # type: ignore[misc]
    fill_report(page, lon, lat, FIRST, "manhole cover broken")
    wait_until(page, "document.querySelector('.cityops-outbox-count')?.textContent.includes('Waiting to send 1')")
    tap(page, *grid["outside"])  # type: ignore[misc]
    page.screenshot(path=str(artifacts / "field-english.png"))
    sheet = page.inner_text("#cityops-sheet").replace(str(grid["name"]), "")  # a place's name is a proper noun
    options = page.evaluate(
        "[...document.querySelectorAll('select[name=category] option, optgroup')].map(o => o.label || o.textContent)"
    )
    assert not HAN.search(sheet), [line for line in sheet.splitlines() if HAN.search(line)]
    assert not [o for o in options if HAN.search(o) or re.fullmatch(r"\d{6}", o)]
    assert not re.search(r"\b(" + "|".join(STATES) + r")\b", page.inner_text("#cityops-tasks"))
    assert not re.search(r"\b\d{6}\b", page.inner_text("#cityops-report"))  # no category codes
    # the queued report is still this user's, and goes when the network returns
    page.context.set_offline(False)
    wait_until(page, "window.cityopsReports.length === 1", timeout_s=30)
    assert "Reported" in page.inner_text(".cityops-message")


def test_the_service_worker_is_served_from_the_root_with_a_shell_that_exists(client: TestClient) -> None:
    answer = client.get("/sw.js")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/javascript")
    assert answer.headers["service-worker-allowed"] == "/" and answer.headers["cache-control"] == "no-cache"
    shell = json.loads(re.search(r"^self\.SHELL = (.*);$", answer.text, re.MULTILINE).group(1))  # type: ignore[union-attr]
    assert {"/static/map/worker.js", "/static/map/field.js", "/static/app/outbox.js"} <= set(shell)
    missing = [path for path in shell if client.get(path).status_code != 200]
    assert missing == []  # one missing file would fail the worker's install, and nothing would open offline


def test_a_changed_shell_file_is_a_new_cache_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "static"
    shutil.copytree(field.STATIC_DIR, copy)
    monkeypatch.setattr(field, "STATIC_DIR", copy)
    field.service_worker.cache_clear()
    try:
        before = field.service_worker()[1]
        (copy / "map" / "worker.js").write_text((copy / "map" / "worker.js").read_text() + "\n// changed\n")
        field.service_worker.cache_clear()
        after = field.service_worker()[1]
    finally:
        field.service_worker.cache_clear()
    assert before != after  # the new worker opens cityops-shell-<after>; its activation deletes the old one


@pytest.mark.browser
def test_a_refused_item_shows_the_servers_words_until_dismissed_and_is_not_retried(
    browser: Browser, server: str, artifacts: Path, grid: dict[str, object]
) -> None:
    watched = worker_page(browser, server, grid)
    page = watched.page
    lon, lat = grid["outside"]  # type: ignore[misc]
    # the phone let it through (the grid's outline changed since it was read): the platform refuses it
    page.evaluate(f"""window.cityopsWorkerOutbox.add({{kind: "report", url: "/api/v1/reports", title: "井盖",
        body: {{type: "json", text: JSON.stringify({{lon: {lon}, lat: {lat}, category: "{FIRST}",
                                                    source: "grid_worker", description: "网格外"}})}}}})""")
    wait_until(page, "!!document.querySelector('.cityops-outbox-refused li')", timeout_s=15)
    refused = page.inner_text(".cityops-outbox-refused li")
    assert "未被受理" in refused and "井盖" in refused and waiting(page) == ""
    page.screenshot(path=str(artifacts / "field-refused-kept.png"))
    sent = len([url for url in watched.requests if url.endswith("/api/v1/reports")])
    page.evaluate("window.dispatchEvent(new Event('online'))")  # a new chance to send: not taken for a refusal
    page.wait_for_timeout(3000)
    assert len([url for url in watched.requests if url.endswith("/api/v1/reports")]) == sent == 1
    assert page.locator(".cityops-outbox-refused li").is_visible()  # still there: nothing vanishes unread
    page.click(".cityops-outbox-refused button")
    wait_until(page, "!document.querySelector('.cityops-outbox-refused li')")
    assert page.evaluate("window.cityopsWorkerOutbox.items()") == []
