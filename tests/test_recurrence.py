"""Recurrence → root-cause proposals (issue 8): the same place and category N times in T days, proposed once,
refreshed when run again, decided once by a commander, proposed again only by cases after the decision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import h3
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from command.historic_import import import_events
from tests.conftest import Caller

_LAT, _LON = h3.cell_to_latlng(h3.latlng_to_cell(32.0391, 118.7712, 9))
SPOT = (round(_LON, 6), round(_LAT, 6))  # the middle of a resolution-9 cell (~0.1 km²) in 秦淮区 (320104)
CATEGORY = "010102"


def _import(engine: Engine, directory: Path, name: str, rows: list[tuple[float, float, str, datetime]]) -> None:
    path = directory / f"{name}.csv"
    pd.DataFrame(
        [
            {
                "lon": lon,
                "lat": lat,
                "category": category,
                "reported_at": when.isoformat(),
                "state": "closed",
                "id": f"{name}-{i}",
            }
            for i, (lon, lat, category, when) in enumerate(rows)
        ]
    ).to_csv(path, index=False)
    assert import_events(engine, path).loaded == len(rows)


@pytest.fixture(scope="module")
def recurring(nanjing: Engine, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Four cases of one category within metres of the spot over ten days; two of another; one long ago."""
    now = datetime.now(UTC)
    lon, lat = SPOT
    rows = [(lon + 0.0001 * i, lat, CATEGORY, now - timedelta(days=2 + 3 * i)) for i in range(4)]
    rows += [(lon, lat + 0.0001, "020102", now - timedelta(days=d)) for d in (1, 4)]
    rows.append((lon, lat, CATEGORY, now - timedelta(days=200)))
    _import(nanjing, tmp_path_factory.mktemp("recurrence"), "first", rows)
    return h3.latlng_to_cell(lat, lon, 9)


def _ours(places: list[dict[str, object]], cell: str) -> list[dict[str, object]]:
    return [p for p in places if p["h3"] == cell]


def test_recurrences_are_detected_without_storing(client: TestClient, caller: Caller, recurring: str) -> None:
    planner = caller(["planner"], "320104")
    found = client.get("/api/v1/analytics/recurrences", headers=planner, params={"times": 3, "days": 30})
    assert found.status_code == 200, found.text
    ours = _ours(found.json()["places"], recurring)
    assert len(ours) == 1 and ours[0]["category_code"] == CATEGORY and ours[0]["n"] == 4
    assert ours[0]["proposal_id"] is None and len(ours[0]["case_ids"]) == 4
    assert not _ours(
        client.get("/api/v1/analytics/recurrences", headers=planner, params={"times": 5}).json()["places"], recurring
    )
    assert not _ours(
        client.get("/api/v1/analytics/recurrences", headers=planner, params={"times": 3, "days": 6}).json()["places"],
        recurring,
    )
    for bad in ({"times": 1}, {"days": 0}, {"days": 400}, {"res": 11}, {"category": "水"}):
        assert client.get("/api/v1/analytics/recurrences", headers=planner, params=bad).status_code == 422, bad
    outside = caller(["planner"], "320102")
    assert not _ours(client.get("/api/v1/analytics/recurrences", headers=outside).json()["places"], recurring)
    assert client.get("/api/v1/analytics/recurrences", headers=outside, params={"unit": "320104"}).status_code == 403


def test_a_proposal_is_made_once_decided_once_and_comes_back_only_with_new_cases(
    client: TestClient, caller: Caller, recurring: str, nanjing: Engine, tmp_path: Path
) -> None:
    planner, commander = caller(["planner"], "320104"), caller(["district"], "320104")
    rule = {"times": 3, "days": 30, "category": ["01"]}
    first = client.post("/api/v1/analytics/proposals", headers=planner, json=rule)
    assert first.status_code == 201, first.text
    proposal = _ours(first.json()["proposals"], recurring)[0]
    assert proposal["created"] is True
    again = _ours(client.post("/api/v1/analytics/proposals", headers=planner, json=rule).json()["proposals"], recurring)
    assert again[0]["proposal_id"] == proposal["proposal_id"] and again[0]["created"] is False  # refreshed
    listed = client.get("/api/v1/analytics/proposals", headers=planner, params={"state": "proposed"}).json()
    assert [p["id"] for p in _ours(listed["proposals"], recurring)] == [proposal["proposal_id"]]
    assert not _ours(
        client.get("/api/v1/analytics/proposals", headers=caller(["planner"], "320102")).json()["proposals"], recurring
    )  # another district does not see it

    url = f"/api/v1/analytics/proposals/{proposal['proposal_id']}/decision"
    assert client.post(url, headers=planner, json={"decision": "accepted"}).status_code == 403  # planners propose
    assert client.post(url, headers=commander, json={"decision": "maybe"}).status_code == 422
    assert client.post(url, headers=caller(["district"], "320102"), json={"decision": "accepted"}).status_code == 404
    decided = client.post(url, headers=commander, json={"decision": "accepted", "note": "重修雨水口"})
    assert decided.status_code == 200, decided.text
    assert decided.json()["state"] == "accepted" and decided.json()["decided_by"]
    assert client.post(url, headers=commander, json={"decision": "dismissed"}).status_code == 409
    with nanjing.connect() as conn:
        audited = conn.execute(
            text("SELECT count(*) FROM audit_log WHERE subject = :s AND action = :a"),
            {"s": f"root_cause_proposal:{proposal['proposal_id']}", "a": "proposal.accepted"},
        ).scalar_one()
    assert audited == 1

    after = client.post("/api/v1/analytics/proposals", headers=planner, json=rule).json()["proposals"]
    assert not _ours(after, recurring)  # every case predates the decision
    with nanjing.begin() as conn:  # the decision was taken a week ago; three cases came since
        conn.execute(
            text("UPDATE root_cause_proposal SET decided_at = now() - interval '7 days' WHERE id = :i"),
            {"i": proposal["proposal_id"]},
        )
    lon, lat = SPOT
    _import(nanjing, tmp_path, "since", [(lon, lat, CATEGORY, datetime.now(UTC) - timedelta(days=d)) for d in (1, 2)])
    back = _ours(client.post("/api/v1/analytics/proposals", headers=planner, json=rule).json()["proposals"], recurring)
    assert len(back) == 1 and back[0]["created"] is True and back[0]["n"] == 4  # two new + those of days 2 and 5


def test_proposal_requests_are_checked(client: TestClient, caller: Caller) -> None:
    planner = caller(["planner"], "320104")
    for bad in ({"times": 1}, {"category": ["0x"]}, {"colour": "red"}, {"unit": "320102"}):
        answer = client.post("/api/v1/analytics/proposals", headers=planner, json=bad)
        assert answer.status_code in (403, 422), (bad, answer.text)
    assert (
        client.post("/api/v1/analytics/proposals", headers=caller(["grid_worker"], "320104"), json={}).status_code
        == 403
    )
    assert client.get("/api/v1/analytics/proposals", headers=planner, params={"state": "open"}).status_code == 422
