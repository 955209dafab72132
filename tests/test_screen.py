"""The wall display's API (issue 18, 大屏): figures equal to the counts of the cases themselves under each
jurisdiction, the ticker's words, the map's first picture, refusals in words; and the benchmark's smoke run."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import orjson
import pytest
from fastapi.testclient import TestClient
from rich.console import Console
from sqlalchemy import Engine, text

from bench import screen as screen_bench
from command.intake import CHANNEL
from spatial.settings import StoreSettings
from tests.conftest import Caller, upload_evidence
from tests.test_workflow import new_case, step, walk

BEIJING = ZoneInfo("Asia/Shanghai")
XUANWU, QINHUAI, JIANGBEI = "320102", "320104", "320192"
FINAL = ("closed", "void")


def expected(nanjing: Engine, unit: str) -> dict[str, dict[str, int]]:
    """Per district code, the counts a wall of ``unit`` should show, computed here from the rows themselves."""
    now = datetime.now(UTC)
    today = datetime.combine(now.astimezone(BEIJING).date(), datetime.min.time(), BEIJING)
    since = today - timedelta(days=29)
    with nanjing.connect() as conn:
        scope = conn.execute(text("SELECT id FROM unit WHERE code = :c"), {"c": unit}).scalar_one()
        code = dict(conn.execute(text("SELECT id, code FROM unit WHERE tier = 'district'")).all())
        cases = conn.execute(text("SELECT id, units, state, filed_at, deadline FROM case_file")).all()
        moves = conn.execute(
            text("SELECT case_id, action, at, deadline FROM case_transition WHERE action IN ('file', 'close')")
        ).all()
        forces = conn.execute(text("SELECT units, status::text FROM force")).all()
    counts: dict[str, Counter[str]] = {}
    district_of = {}
    for case_id, units, state, filed_at, deadline in cases:
        if scope not in units:
            continue
        district_of[case_id] = code[units[1]]
        c = counts.setdefault(code[units[1]], Counter())
        c["received_today"] += filed_at >= today and state != "void"
        c["open"] += state not in FINAL
        c["overdue"] += state not in FINAL and deadline < now
    for case_id, action, at, deadline in moves:
        if case_id in district_of and at >= since:
            c = counts.setdefault(district_of[case_id], Counter())
            c["filed" if action == "file" else "closed"] += 1
            c["closed_on_time"] += action == "close" and at <= deadline
    for units, status in forces:
        if scope in units and len(units) > 1 and status == "available":
            counts.setdefault(code[units[1]], Counter())["forces_available"] += 1
    return {district: dict(c) for district, c in counts.items()}


def closed_case(client: TestClient, nanjing: Engine, caller: Caller, keep: tuple[int, ...] = ()) -> int:
    """A case of 玄武区 walked through the whole loop to closed (filed and closed: the rates have counts), never
    within reach of the open cases in ``keep`` (filing it nearby would void them)."""
    case = new_case(client, nanjing, keep=keep)
    version = walk(client, case, department="供水公司")
    fed = step(client, case, "feedback", version, note="已修复", evidence=[upload_evidence(client, case)]).json()
    closed = step(client, case, "close", fed["version"], caller(["checker"], "320100"), lon=118.79, lat=32.05)
    assert closed.status_code == 200, closed.text
    return case


def escalate(nanjing: Engine, case: int) -> None:
    """The deadline watch's escalation of ``case`` (as ``command.deadline_watch`` does it, with its notice)."""
    with nanjing.begin() as conn:
        conn.execute(
            text("UPDATE case_clock SET escalate_at = now() - interval '1 second' WHERE case_id = :e"), {"e": case}
        )
        for (escalated,) in conn.execute(
            text("SELECT case_id FROM cityops_escalate_overdue(now(), interval '1 hour', 50)")
        ).all():
            conn.execute(
                text("SELECT pg_notify(:c, :p)"),
                {"c": CHANNEL, "p": orjson.dumps({"type": "escalated", "case_id": str(escalated)}).decode()},
            )


def figures_of(client: TestClient, headers: dict[str, str] | None = None, **params: object) -> dict:  # type: ignore[type-arg]
    answer = client.get("/api/v1/screen/figures", params=params, headers=headers or {})
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_figures_equal_the_counts_of_the_cases_per_jurisdiction(
    client: TestClient, nanjing: Engine, caller: Caller, demo_forces: object
) -> None:
    closed_case(client, nanjing, caller)
    new_case(client, nanjing)  # and one waiting
    figures = figures_of(client)
    with nanjing.connect() as conn:
        districts = (
            conn.execute(text("SELECT code FROM unit WHERE tier = 'district' AND 1 = ANY(ancestors) ORDER BY code"))
            .scalars()
            .all()
        )
    assert [row["code"] for row in figures["districts"]] == districts and JIANGBEI in districts  # 江北新区 too
    truth = expected(nanjing, "320100")
    for row in figures["districts"]:
        want = truth.get(row["code"], {})
        for key in ("received_today", "open", "overdue", "filed", "closed", "closed_on_time", "forces_available"):
            assert row[key] == want.get(key, 0), (row["name"], key)
        assert row["closure_rate"] == (round(row["closed"] / row["filed"], 4) if row["filed"] else None)
        assert row["on_time_rate"] == (round(row["closed_on_time"] / row["closed"], 4) if row["closed"] else None)
    xuanwu = next(row for row in figures["districts"] if row["code"] == XUANWU)
    assert xuanwu["closed"] >= 1 and xuanwu["filed"] >= 1 and xuanwu["received_today"] >= 2
    assert figures["totals"]["open"] == sum(row["open"] for row in figures["districts"])
    assert figures["as_of"].endswith("+08:00") and figures["today"] == datetime.now(BEIJING).date().isoformat()

    district = figures_of(client, caller(["district"], XUANWU))  # a district's wall: its own row, the same counts
    assert [row["code"] for row in district["districts"]] == [XUANWU]
    assert {k: district["districts"][0][k] for k in truth[XUANWU]} == truth[XUANWU]
    street = figures_of(client, caller(["street"], "320102002"))  # a street's wall: its district, its own counts
    assert [row["code"] for row in street["districts"]] == [XUANWU]
    assert street["districts"][0]["open"] == expected(nanjing, "320102002").get(XUANWU, {}).get("open", 0)


def test_trend_and_top_categories(client: TestClient, nanjing: Engine, caller: Caller) -> None:
    closed_case(client, nanjing, caller)
    figures = figures_of(client, days=14, top=3)
    trend = figures["trend"]
    assert len(trend) == 14 and trend[-1]["date"] == datetime.now(BEIJING).date().isoformat()
    assert trend[-1]["received"] == figures["totals"]["received_today"] and trend[-1]["closed"] >= 1
    assert sum(day["closed"] for day in trend) == figures["totals"]["closed"]
    since = datetime.combine(datetime.now(BEIJING).date() - timedelta(days=13), datetime.min.time(), BEIJING)
    with nanjing.connect() as conn:
        top = conn.execute(
            text(
                "SELECT c.name, c.name_en, count(*) FROM case_file e JOIN category c ON c.code = "
                "e.category_code WHERE e.filed_at >= :s AND e.state <> 'void' GROUP BY 1, 2 "
                "ORDER BY 3 DESC, min(c.code) LIMIT 3"
            ),
            {"s": since},
        ).all()
    assert [(c["name"], c["received"]) for c in figures["categories"]] == [(name, n) for name, _, n in top]
    english = figures_of(client, days=14, top=3, lang="en")
    assert [c["name"] for c in english["categories"]] == [name_en for _, name_en, _ in top]
    assert figures_of(client, days=14, top=3, lang="xx")["categories"] == figures["categories"]  # unknown: zh-CN


def test_the_ticker_tells_new_and_escalated_cases_in_words(client: TestClient, nanjing: Engine, caller: Caller) -> None:
    case = new_case(client, nanjing)
    with nanjing.connect() as conn:
        filed_at, category, category_en, district, street = conn.execute(
            text(
                "SELECT e.filed_at, c.name, c.name_en, d.name, s.name FROM case_file e JOIN category c ON c.code = "
                "e.category_code JOIN unit d ON d.id = e.units[2] JOIN unit s ON s.id = ANY(e.units) AND s.tier "
                "= 'street' "
                "WHERE e.id = :e"
            ),
            {"e": case},
        ).one()
    told = client.get("/api/v1/screen/ticker", params={"ids": str(case)}).json()["items"]
    assert [(i["id"], i["kind"], i["category"]) for i in told] == [(str(case), "new", category)]
    assert told[0]["place"].startswith(f"{district} {street} ") and told[0]["at"].endswith("+08:00")
    assert datetime.fromisoformat(told[0]["at"]) == filed_at
    assert (
        client.get("/api/v1/screen/ticker", params={"ids": str(case), "lang": "en"}).json()["items"][0]["category"]
        == category_en
    )
    latest = client.get("/api/v1/screen/ticker").json()["items"]
    assert str(case) in [i["id"] for i in latest]
    escalate(nanjing, case)
    again = client.get("/api/v1/screen/ticker", params={"ids": str(case)}).json()["items"][0]
    assert again["kind"] == "escalated" and again["escalations"] == 1 and again["at"] > told[0]["at"]
    elsewhere = caller(["district"], QINHUAI)  # another district's wall is not told
    assert client.get("/api/v1/screen/ticker", params={"ids": str(case)}, headers=elsewhere).json()["items"] == []


def test_the_maps_first_picture_is_the_callers(
    client: TestClient, nanjing: Engine, caller: Caller, demo_forces: object
) -> None:
    case = new_case(client, nanjing)
    done = closed_case(client, nanjing, caller, keep=(case,))
    picture = client.get("/api/v1/screen/map", params={"cases": 5000, "forces": 50}).json()
    ids = {c["id"] for c in picture["cases"]}
    assert str(case) in ids and str(done) not in ids and len(picture["forces"]) == 50
    assert all(c["deadline"].endswith("+08:00") and c["state"] not in FINAL for c in picture["cases"])
    elsewhere = client.get("/api/v1/screen/map", headers=caller(["district"], QINHUAI)).json()
    assert str(case) not in {c["id"] for c in elsewhere["cases"]}
    no_forces = client.get("/api/v1/screen/map", headers=caller(["planner"], "320100"))
    assert no_forces.status_code == 200 and no_forces.json()["forces"] == []  # no forces:read


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("figures", {"days": 3}, "days"),
        ("figures", {"days": "month"}, "days"),
        ("figures", {"days": 91}, "days"),
        ("figures", {"top": 0}, "top"),
        ("figures", {"lang": "x" * 40}, "lang"),
        ("ticker", {"ids": "abc"}, "ids"),
        ("ticker", {"ids": ",".join(["1"] * 51)}, "ids"),
        ("ticker", {"ids": ""}, "ids"),
        ("map", {"cases": 0}, "cases"),
        ("map", {"forces": 5001}, "forces"),
    ],
)
def test_bad_parameters_are_refused_in_words(
    client: TestClient, path: str, params: dict[str, object], field: str
) -> None:
    answer = client.get(f"/api/v1/screen/{path}", params=params)
    assert answer.status_code == 422 and field in answer.json()["detail"], answer.text


def test_bench_screen_smoke(nanjing: Engine, nanjing_settings: StoreSettings, demo_forces: object) -> None:
    console = Console(record=True, width=240)
    with nanjing.connect() as conn:
        open_cases = conn.execute(
            text("SELECT count(*) FROM case_file WHERE state NOT IN ('closed', 'void')")
        ).scalar_one()
        tracked = conn.execute(text("SELECT count(*) FROM force_position")).scalar_one()
    rows = screen_bench.run(
        nanjing_settings, minutes=20 / 60, rate=20, cases=open_cases, forces=tracked, loads=1, console=console
    )
    output = console.export_text()
    assert [row.measure.split(":")[0].split(" (")[0] for row in rows] == [
        "wall display",
        "wall display",
        "a day in 0.333333 min",
        "the same",
        "the same",
    ]
    assert all(row.ratio > 0 for row in rows) and "cores" in output and "a day of traffic" in output
