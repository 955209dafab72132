"""Case list and search (issue 17, point 5): the API's filters, the /cases page, and a closed case found in a browser.

Cases are made through the historic import (closed ones with their own ids and addresses) and
through intake, and voided the way the suite voids; every search runs as a real caller under
row-level security.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser
from sqlalchemy import Engine, text

from command.historic_import import import_events
from command.users import create_user
from tests.conftest import Caller, void_open_cases
from tests.test_map_browser import PASSWORD, Watched, browser, inside  # noqa: F401  (the browser fixture)

STREET = "320102002"  # 玄武区 梅园新村街道
OTHER_STREET = "320102003"
CATEGORY = "010101"  # 上水井盖, 2 urgent hours


@pytest.fixture(scope="module")
def made(nanjing: Engine, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A closed case (late) in 梅园新村 with its own id and address, an open one beside it, then voided."""
    tag = uuid.uuid4().hex[:8]
    lon, lat = inside(nanjing, STREET)
    reported = datetime.now(UTC) - timedelta(days=20)
    later = reported + timedelta(days=1)
    rows = [
        f"{lon},{lat},{CATEGORY},{reported.isoformat()},closed,CL-{tag},长江路{tag}号,"
        f"{(reported + timedelta(days=3)).isoformat()}",
        f"{lon},{lat},{CATEGORY},{later.isoformat()},reported,CL-{tag}-v,长江路{tag}号,",
    ]
    path = tmp_path_factory.mktemp("cases") / "cases.csv"
    path.write_text("lon,lat,category,reported_at,state,id,address,closed_at\n" + "\n".join(rows) + "\n")
    assert import_events(nanjing, path, actor="tests").loaded == 2
    void_open_cases(nanjing, "external_id = :x", {"x": f"CL-{tag}-v"})
    with nanjing.connect() as conn:
        ids = dict(
            conn.execute(
                text("SELECT external_id, id::text FROM case_file WHERE external_id LIKE :p"), {"p": f"CL-{tag}%"}
            ).all()
        )
    return {"tag": tag, "closed": ids[f"CL-{tag}"], "void": ids[f"CL-{tag}-v"], "external": f"CL-{tag}"}


def ids(answer: object) -> list[str]:
    """The case ids of a JSON list answer."""
    assert answer.status_code == 200, answer.text  # type: ignore[attr-defined]
    return [row["id"] for row in answer.json()["items"]]  # type: ignore[attr-defined]


def test_search_by_number_place_address_and_each_filter(client: TestClient, made: dict[str, str]) -> None:
    closed, void = made["closed"], made["void"]
    for q in (closed, made["external"], f"长江路{made['tag']}"):
        assert closed in ids(client.get("/api/v1/cases", params={"q": q})), q
    assert ids(client.get("/api/v1/cases", params={"q": closed})) == [closed]  # the number, nothing else
    by_place = {"q": "梅园新村", "state": "closed", "since": "2000-01-01T00:00:00+08:00"}
    assert closed in ids(client.get("/api/v1/cases", params={**by_place, "limit": 1000}))
    assert ids(client.get("/api/v1/cases", params={"q": made["tag"], "state": "void"})) == [void]
    base = {"q": f"长江路{made['tag']}"}
    checks = [
        ({"category": "上水井盖"}, {closed, void}),
        ({"category": CATEGORY}, {closed, void}),
        ({"unit": STREET}, {closed, void}),
        ({"unit": OTHER_STREET}, set()),
        ({"department": "水务局"}, {closed, void}),
        ({"department": "公安局"}, set()),
        ({"overdue": "true"}, {closed}),
        ({"overdue": "false"}, {void}),
        ({"supervised": "false"}, {closed, void}),
        ({"supervised": "true"}, set()),
        ({"state": "closed", "overdue": "true", "unit": STREET, "category": "上水井盖"}, {closed}),
    ]
    for extra, expected in checks:
        assert set(ids(client.get("/api/v1/cases", params={**base, **extra}))) == expected, extra
    first = client.get("/api/v1/cases", params={**base, "limit": 1})
    assert ids(first) == [void] and first.json()["next"]  # newest first, then the next page
    assert ids(client.get(first.json()["next"])) == [closed]
    window = {**base, "since": "2000-01-01T00:00:00+08:00", "until": datetime.now(UTC).isoformat()}
    assert set(ids(client.get("/api/v1/cases", params=window))) == {closed, void}
    row = client.get("/api/v1/cases", params={"q": closed}).json()["items"][0]
    assert row["category_name"] == "上水井盖" and row["overdue"] and row["due_at"] is None
    assert row["external_id"] == made["external"] and row["address"] == f"长江路{made['tag']}号"


def test_masked_csv_export_of_a_search(client: TestClient, made: dict[str, str]) -> None:
    answer = client.get("/api/v1/cases", params={"q": made["tag"], "format": "csv"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert {r["id"] for r in rows} == {made["closed"], made["void"]}
    assert "reporter_phone" not in rows[0] and rows[0]["category_name"] == "上水井盖"


def test_bad_filters_are_422_saying_what_to_fix(client: TestClient, caller: Caller, made: dict[str, str]) -> None:
    for params, words in (
        ({"state": "finished"}, "no state 'finished': use one of"),
        ({"category": "井盖"}, "no category '井盖'"),
        ({"unit": "999999999"}, "no unit with code '999999999'"),
        ({"department": "魔法部"}, "no department '魔法部'"),
        ({"overdue": "maybe"}, "overdue"),
        ({"q": "x" * 101}, "at most 100"),
        (
            {"since": "2026-01-02T00:00:00+08:00", "until": "2026-01-01T00:00:00+08:00"},
            "the end must be after the start",
        ),
    ):
        answer = client.get("/api/v1/cases", params=params)
        assert answer.status_code == 422 and words in answer.text, (params, answer.text)
    assert client.get("/api/v1/cases", params={"q": "绝无此地名zz"}).json()["items"] == []
    district = caller(["district"], "320115")  # 江宁区: 梅园新村 is another district's street
    refused = client.get("/api/v1/cases", params={"unit": STREET}, headers=district)
    assert refused.status_code == 422 and f"no unit with code '{STREET}' in your jurisdiction" in refused.text


def test_another_street_never_finds_the_case_by_number(
    client: TestClient, caller: Caller, made: dict[str, str]
) -> None:
    own, other = caller(["street"], STREET), caller(["street"], OTHER_STREET)
    for q in (made["closed"], made["external"], "梅园新村"):
        assert made["closed"] not in ids(client.get("/api/v1/cases", params={"q": q, "limit": 1000}, headers=other))
    assert ids(client.get("/api/v1/cases", params={"q": made["closed"]}, headers=own)) == [made["closed"]]


@pytest.fixture(scope="module")
def street_user(nanjing: Engine) -> str:
    """A street commander of 梅园新村 who signs in with a password (pages need a browser session)."""
    name = f"lister-{uuid.uuid4().hex[:6]}"
    with nanjing.begin() as conn:
        create_user(conn, name, unit_code=STREET, roles=["street"], password=PASSWORD, actor="tests")
    return name


@pytest.fixture
def pages(client: TestClient, street_user: str) -> Iterator[TestClient]:
    """The app signed in as the street user through the browser session.

    Not entered with ``with``: that would run the shared app's lifespan again, and leaving it would close
    the pools every later test uses.
    """
    session = TestClient(client.app, raise_server_exceptions=False)
    signed = session.post("/api/v1/auth/session", data={"username": street_user, "password": PASSWORD})
    assert signed.status_code == 200
    yield session
    session.close()


def test_page_lists_searches_pages_and_shows_problems_in_words(pages: TestClient, made: dict[str, str]) -> None:
    page = pages.get("/cases", params={"q": made["tag"], "state": "closed", "from": "2000-01-01"})
    assert page.status_code == 200 and f'href="/cases/{made["closed"]}"' in page.text
    assert "已结案" in page.text and "已超期" in page.text and "共 1 件" in page.text
    export = f"/api/v1/cases?q={made['tag']}&amp;state=closed&amp;since=2000-01-01T00%3A00%3A00%2B08%3A00"
    assert export in page.text and "format=csv" in page.text
    paged = pages.get("/cases", params={"q": made["tag"]}, headers={"HX-Request": "true"})
    assert "<form" not in paged.text and made["void"] in paged.text and 'hx-swap-oob="true"' in paged.text
    wrong = pages.get("/cases", params={"state": "finished", "category": "井盖", "unit": "1", "from": "昨天"})
    assert wrong.status_code == 200
    for words in ("没有状态“finished”", "没有类别“井盖”", "在您的辖区内没有编码为“1”的单位", "“昨天”不是日期"):
        assert words in wrong.text, words
    none = pages.get("/cases", params={"q": "绝无此地名zz"})
    assert none.status_code == 200 and "未找到符合条件的案件" in none.text
    older = pages.get("/cases", params={"q": made["tag"], "before_id": made["void"]})
    assert made["closed"] in older.text and "回到第一页" in older.text
    assert f'href="/cases/{made["void"]}"' not in older.text
    english = pages.get("/cases", params={"state": "finished", "lang": "en"})
    assert "no state &#39;finished&#39;" in english.text


@pytest.mark.browser
def test_closed_case_found_through_the_page(
    browser: Browser,  # noqa: F811 (the fixture imported from test_map_browser)
    server: str,
    artifacts: Path,
    street_user: str,
    made: dict[str, str],
) -> None:
    watched = Watched(browser.new_context(viewport={"width": 1280, "height": 900}))
    page = watched.page
    page.goto(f"{server}/cases")
    page.fill("input[name=username]", street_user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server}/cases")
    page.fill("input[name=q]", made["external"])
    page.select_option("select[name=state]", "closed")
    page.click("#case-search button[type=submit]")
    link = page.locator(f'#case-results a[href="/cases/{made["closed"]}"]')
    link.wait_for()
    page.wait_for_url(lambda url: made["external"] in url)  # the search is pushed to the address bar: a link
    assert urlparse(page.url).path == "/cases"
    assert "已结案" in page.inner_text("#case-results")
    page.screenshot(path=str(artifacts / "case-list-search.png"))
    link.click()
    page.wait_for_url(f"{server}/cases/{made['closed']}")
    watched.assert_offline(server)
