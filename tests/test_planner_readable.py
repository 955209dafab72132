"""What the planner reads (issue 18, point 7): a unit's KPI trends day by day and week by week, equal to
SQL over the same transitions; H3 cells named by street and community; refusals in words."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import h3
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.conftest import Caller, upload_evidence
from tests.test_workflow import new_case, step, walk

BEIJING = ZoneInfo("Asia/Shanghai")
DISTRICT, OTHER_DISTRICT = "320102", "320104"  # 玄武区, 秦淮区
# the same counts as the evaluation, written out over the transitions of the unit's grids, by Beijing day
BY_DAY = """
SELECT (t.at AT TIME ZONE 'Asia/Shanghai')::date AS day,
       count(*) FILTER (WHERE t.action = 'file') AS filed,
       count(*) FILTER (WHERE t.action = 'close') AS closed,
       count(*) FILTER (WHERE t.action = 'close' AND t.at <= t.deadline) AS closed_on_time,
       count(*) FILTER (WHERE t.at > t.due AND t.action <> 'escalate') AS overdue
FROM case_transition t JOIN unit g ON g.id = t.grid_id JOIN unit u ON u.code = :unit
WHERE g.tier = 'grid' AND (g.ancestors || g.id) @> ARRAY[u.id] AND t.at >= :since AND t.at < :until
GROUP BY 1
"""
# a cell's names written out: the units of each tier that cover its centre
COVERING = """
SELECT tier::text, name FROM unit WHERE tier IN ('district', 'street', 'community') AND kind = 'administrative'
  AND ST_Covers(geom, ST_SetSRID(ST_Point(:lon, :lat), 4326))
"""


@pytest.fixture(scope="module")
def planner(caller: Caller) -> dict[str, str]:
    return caller(["planner"], DISTRICT)


@pytest.fixture(scope="module")
def closed_today(client: TestClient, nanjing: Engine, caller: Caller) -> int:
    """A case of 玄武区 filed and closed now: today's points are never all zero."""
    case = new_case(client, nanjing)
    fed = step(client, case, "feedback", walk(client, case), evidence=[upload_evidence(client, case)]).json()
    assert step(client, case, "close", fed["version"], caller(["checker"], "320100")).status_code == 200
    return case


def trends(client: TestClient, headers: dict[str, str], **params: str) -> dict:  # type: ignore[type-arg]
    answer = client.get("/api/v1/analytics/trends", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


def by_sql(nanjing: Engine, unit: str, since: datetime, until: datetime) -> dict[date, dict[str, int]]:
    with nanjing.connect() as conn:
        rows = conn.execute(text(BY_DAY), {"unit": unit, "since": since, "until": until}).mappings().all()
    return {row["day"]: {k: row[k] for k in ("filed", "closed", "closed_on_time", "overdue")} for row in rows}


def test_daily_trend_equals_sql_over_the_same_transitions(
    client: TestClient, nanjing: Engine, planner: dict[str, str], closed_today: int
) -> None:
    until = datetime.now(BEIJING) + timedelta(minutes=1)
    since = (until - timedelta(days=13)).replace(hour=15, minute=30, second=0, microsecond=0)  # mid-afternoon
    answer = trends(client, planner, unit=DISTRICT, **{"from": since.isoformat(), "to": until.isoformat()})
    assert answer["step"] == "day" and answer["unit"]["code"] == DISTRICT and answer["unit"]["tier"] == "district"
    points = answer["points"]
    assert [p["date"] for p in points] == [(since.date() + timedelta(days=i)).isoformat() for i in range(14)]
    assert points[0]["from"] == since.isoformat() and points[-1]["to"] == until.isoformat()  # clipped to the window
    assert all(p["from"].endswith("+08:00") and p["to"].endswith("+08:00") for p in points)
    expected = by_sql(nanjing, DISTRICT, since, until)
    zero = dict.fromkeys(("filed", "closed", "closed_on_time", "overdue"), 0)
    for point in points:
        counts = {k: point[k] for k in zero}
        assert counts == expected.get(date.fromisoformat(point["date"]), zero), point["date"]
        rate = point["on_time_closure_rate"]
        assert rate == (round(counts["closed_on_time"] / counts["closed"], 4) if counts["closed"] else None)
    assert points[-1]["filed"] >= 1 and points[-1]["closed"] >= 1  # the fixture's case, filed and closed today
    with nanjing.connect() as conn:
        streets = conn.execute(
            text(
                "SELECT c.code FROM unit c JOIN unit d ON d.id = c.parent_id WHERE d.code = :d "
                "AND c.tier = 'street' ORDER BY 1"
            ),
            {"d": DISTRICT},
        ).scalars()
        assert [part["code"] for part in answer["parts"]] == list(streets)


def test_weekly_trend_starts_on_beijing_mondays(client: TestClient, nanjing: Engine, planner: dict[str, str]) -> None:
    until = datetime.now(BEIJING)
    since = until - timedelta(days=90)
    answer = trends(client, planner, **{"from": since.isoformat(), "to": until.isoformat()})  # default: own unit
    assert answer["step"] == "week" and answer["unit"]["code"] == DISTRICT
    days = [date.fromisoformat(p["date"]) for p in answer["points"]]
    assert all(d.weekday() == 0 for d in days) and days[0] <= since.date() < days[0] + timedelta(days=7)
    assert all(b - a == timedelta(days=7) for a, b in itertools.pairwise(days))
    daily = by_sql(nanjing, DISTRICT, since, until)
    for point in answer["points"]:
        monday = date.fromisoformat(point["date"])
        week = [counts for day, counts in daily.items() if monday <= day < monday + timedelta(days=7)]
        assert point["filed"] == sum(w["filed"] for w in week) and point["closed"] == sum(w["closed"] for w in week)


def test_a_street_of_the_district_is_chosen_and_others_are_refused(client: TestClient, planner: dict[str, str]) -> None:
    street = trends(client, planner)["parts"][0]["code"]
    assert trends(client, planner, unit=street, step="day")["unit"]["tier"] == "street"
    refused = client.get("/api/v1/analytics/trends", params={"unit": OTHER_DISTRICT}, headers=planner)
    assert refused.status_code == 403 and "outside your jurisdiction" in refused.json()["detail"]
    now = datetime.now(BEIJING)
    bad = {
        "from after to": {"from": now.isoformat(), "to": (now - timedelta(days=1)).isoformat()},
        "no zone": {"from": "2026-11-01T00:00:00"},
        "not a unit code": {"unit": "xuanwu"},
        "daily for a year": {"from": (now - timedelta(days=365)).isoformat(), "step": "day"},
        "unknown step": {"step": "month"},
    }
    for why, params in bad.items():
        answer = client.get("/api/v1/analytics/trends", params=params, headers=planner)
        assert answer.status_code == 422 and answer.json()["detail"], why
    assert client.get("/api/v1/analytics/trends", params={"unit": "3201029999"}, headers=planner).status_code == 404


def test_cells_are_named_by_street_and_community(client: TestClient, nanjing: Engine, planner: dict[str, str]) -> None:
    lon, lat = 118.80, 32.06  # 玄武区
    fine, coarse = h3.latlng_to_cell(lat, lon, 9), h3.latlng_to_cell(lat, lon, 6)
    answer = client.get("/api/v1/analytics/places", params={"cells": f"{fine},{coarse}"}, headers=planner)
    assert answer.status_code == 200, answer.text
    places = answer.json()["places"]
    with nanjing.connect() as conn:
        for cell in (fine, coarse):
            centre_lat, centre_lon = h3.cell_to_latlng(cell)
            names = dict(conn.execute(text(COVERING), {"lon": centre_lon, "lat": centre_lat}).all())
            assert {k: places[cell][k] for k in names} == names
    assert places[fine]["place"] == f"{places[fine]['street']} · {places[fine]['community']}"
    assert places[coarse]["place"] == f"{places[coarse]['district']} · {places[coarse]['street']}"
    for cells in (
        "not-a-cell",
        "",
        ",".join([fine] * 1) + ",8830e1d8a3ffffz",
        ",".join(h3.grid_disk(fine, 9)),
    ):  # the last: 271 cells, more than one request names
        refused = client.get("/api/v1/analytics/places", params={"cells": cells}, headers=planner)
        assert refused.status_code == 422 and "cells" in refused.json()["detail"], cells
