"""Forces (issue 5): the directory file and the demo directory, live positions, directory queries."""

from __future__ import annotations

import csv
import json
import random
import select
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from forces.directory import load_directory
from spatial.db import libpq_url
from spatial.errors import InvalidInputError
from spatial.settings import StoreSettings
from tests.conftest import Caller, add_force

HEADER = "code,name,kind,unit,department,capabilities,shift,contact_name,contact_phone,members,lon,lat\n"


@pytest.fixture(scope="module")
def tracker(caller: Caller) -> dict[str, str]:
    """An AVL gateway of the whole city."""
    return caller(["tracker"], "320100")


def now() -> datetime:
    return datetime.now(UTC)


def fix(code: str, at: datetime, lon: float = 118.79, lat: float = 32.05, **extra: object) -> dict[str, object]:
    return {"id": code, "lon": lon, "lat": lat, "time": at.isoformat(), **extra}


# ---- the directory file -----------------------------------------------------------------------
def test_the_demo_directory_is_realistic(nanjing: Engine, demo_forces: Path) -> None:
    rows = list(csv.DictReader(demo_forces.open(encoding="utf-8")))
    codes = [row["code"] for row in rows]
    starts = json.dumps([{"unit": r["unit"], "lon": float(r["lon"]), "lat": float(r["lat"])} for r in rows])
    with nanjing.connect() as conn:
        kinds = dict(
            conn.execute(
                text("SELECT kind::text, count(*) FROM force WHERE code = ANY(:c) GROUP BY 1"), {"c": codes}
            ).all()
        )
        districts = conn.execute(
            text(
                "SELECT count(DISTINCT f.units[2]) FROM force f WHERE code = ANY(:c) AND array_length(f.units, 1) >= 2"
            ),
            {"c": codes},
        ).scalar_one()
        capabilities = conn.execute(
            text("SELECT count(DISTINCT c) FROM force, unnest(capabilities) c WHERE code = ANY(:c)"), {"c": codes}
        ).scalar_one()
        inside = conn.execute(
            text(
                "SELECT count(*) FROM json_to_recordset(CAST(:s AS json)) AS x(unit text, lon float8, lat float8) "
                "JOIN unit u ON u.code = x.unit WHERE ST_Covers(u.geom, ST_SetSRID(ST_MakePoint(x.lon, x.lat), 4326))"
            ),
            {"s": starts},
        ).scalar_one()
        members = conn.execute(
            text("SELECT count(*) FROM team_member m JOIN force t ON t.id = m.team_id WHERE t.code = ANY(:c)"),
            {"c": codes},
        ).scalar_one()
    assert sum(kinds.values()) == len(rows) > 5000 and set(kinds) == {"person", "team", "vehicle", "equipment"}
    assert districts == 12 and capabilities >= 12
    assert inside == len(rows)  # every force starts inside its own unit
    assert members == 4 * kinds["team"]


def test_the_directory_file_is_checked_whole_and_nothing_is_half_written(nanjing: Engine, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        HEADER + "OK-1,泵车,equipment,320102,水务局,drainage,,,,,118.79,32.05\n"
        "OK-1,twice,vehicle,320102,,,,,,,,\n"
        "BAD 2,车,vehicle,320102,,,,,,,,\n"
        "B-3,车,spaceship,320102,,,,,,,,\n"
        "B-4,车,vehicle,999999,,,,,,,,\n"
        "B-5,车,vehicle,320102,,teleport,,,,,,\n"
        "B-6,车,vehicle,320102,,,25:00-08:00,,,,,\n"
        "B-7,车,vehicle,320102,,,,,abc,,,\n"
        "B-8,车,vehicle,320102,,,,,,B-9,,\n"
        "B-9,人,person,320102,,,,,,,118.79,\n"
        "B-10,人,person,320102,,,,,,,200,32\n",
        encoding="utf-8",
    )
    with pytest.raises(InvalidInputError) as refused:
        load_directory(nanjing, bad, actor="tests")
    message = str(refused.value)
    for expected in (
        "row 3 (OK-1): code OK-1 appears twice",
        "row 4 (BAD 2): code must be",
        "row 5 (B-3): kind 'spaceship'",
        "row 6 (B-4): unit '999999'",
        "unknown capabilities teleport",
        "shift '25:00-08:00'",
        "contact_phone 'abc'",
        "only a team has members",
        "give both or neither",
        "outside -180…180",
    ):
        assert expected in message
    with nanjing.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM force WHERE code = 'OK-1'")).scalar_one() == 0


def test_a_directory_loads_from_geojson_and_a_reload_updates(nanjing: Engine, tmp_path: Path) -> None:
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [118.80, 32.06]},
            "properties": {
                "code": f"GJ-{i}",
                "name": f"队员{i}",
                "kind": "person",
                "unit": "320102",
                "capabilities": "first_aid",
                "shift": "20:00-08:00",
                "contact_phone": "13800000000",
            },
        }
        for i in range(3)
    ]
    features.append(
        {
            "type": "Feature",
            "geometry": None,
            "properties": {
                "code": "GJ-TEAM",
                "name": "救援队",
                "kind": "team",
                "unit": "320102",
                "members": "GJ-0;GJ-1",
            },
        }
    )
    path = tmp_path / "forces.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    first = load_directory(nanjing, path, actor="tests")
    features[0]["properties"]["capabilities"] = "first_aid;rescue"
    features[3]["properties"]["members"] = "GJ-2"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    second = load_directory(nanjing, path, actor="tests")
    with nanjing.connect() as conn:
        caps = conn.execute(text("SELECT capabilities FROM force WHERE code = 'GJ-0'")).scalar_one()
        shift = conn.execute(
            text("SELECT shift_start::text || '-' || shift_end::text FROM force WHERE code = 'GJ-1'")
        ).scalar_one()
        members = conn.execute(
            text(
                "SELECT array_agg(f.code) FROM team_member m JOIN force t ON t.id = m.team_id "
                "JOIN force f ON f.id = m.member_id WHERE t.code = 'GJ-TEAM'"
            )
        ).scalar_one()
        copied = conn.execute(
            text("SELECT p.capabilities FROM force_position p JOIN force f ON f.id = p.force_id WHERE f.code = 'GJ-0'")
        ).scalar_one()
    assert (first.inserted, first.placed, second.inserted, second.updated) == (4, 3, 0, 4)
    assert caps == ["first_aid", "rescue"] == copied  # the dispatch copy follows the directory
    assert shift == "20:00:00-08:00:00" and members == ["GJ-2"]


# ---- positions --------------------------------------------------------------------------------
def test_a_batch_keeps_the_good_fixes_and_names_each_bad_one(
    client: TestClient, nanjing: Engine, tracker: dict[str, str]
) -> None:
    _, code = add_force(nanjing, "320102002", ["drainage"])
    t = now() - timedelta(minutes=1)
    batch = [
        fix(code, t),
        fix("NOBODY", t),
        fix(code, now() + timedelta(hours=1)),
        fix(code, t - timedelta(days=9000)),
        fix(code, t, speed=500.0),
        {"id": code, "lon": "NaN", "lat": 32.0, "time": t.isoformat()},
        {"id": code, "lat": 32.0, "time": t.isoformat()},
        fix(code, t, lon=181.0),
        "not a fix",
        fix(code, t.replace(tzinfo=None)),
    ]
    response = client.post("/api/v1/forces/positions", json={"fixes": batch}, headers=tracker)
    assert response.status_code == 200, response.text
    body = response.json()
    reasons = {r["index"]: r["error"] for r in body["rejected"]}
    assert (body["received"], body["accepted"], body["stored"], body["latest_updated"]) == (10, 1, 1, 1)
    assert "unknown force 'NOBODY'" in reasons[1] and "in the future" in reasons[2]
    assert "older than the 30-day history" in reasons[3] and "speed 500 m/s is impossible" in reasons[4]
    assert "lon: Input should be a finite number" in reasons[5] and "lon: Field required" in reasons[6]
    assert "lon: Input should be less than or equal to 180" in reasons[7] and "fix" in reasons[8]
    assert "time: Input should have timezone info" in reasons[9]


def test_a_batch_over_the_limit_is_refused_whole(client: TestClient, tracker: dict[str, str]) -> None:
    batch = [fix("X", now())] * 1001
    response = client.post("/api/v1/forces/positions", json={"fixes": batch}, headers=tracker)
    assert response.status_code == 413 and "over the limit of 1000" in response.json()["detail"]


def test_the_newest_fix_wins_whatever_the_order_and_repeats_are_stored_once(
    client: TestClient, nanjing: Engine, tracker: dict[str, str]
) -> None:
    force_id, code = add_force(nanjing, "320102002", ["drainage"])
    t0 = now() - timedelta(minutes=5)
    newest = fix(code, t0 + timedelta(minutes=2), 118.801, 32.061, speed=8.5, heading=270, accuracy=5)
    older = fix(code, t0, 118.700, 32.000, speed=1.0, heading=90.5, accuracy=12.5)
    assert client.post("/api/v1/forces/positions", json={"fixes": [newest]}, headers=tracker).json()["stored"] == 1
    late = client.post("/api/v1/forces/positions", json={"fixes": [older, older, newest]}, headers=tracker).json()
    assert (late["stored"], late["latest_updated"]) == (1, 0)  # the old fix joins history; the position stays
    with nanjing.connect() as conn:
        lon, at, speed, heading = conn.execute(
            text("SELECT ST_X(geom), fixed_at, speed, heading FROM force_position WHERE force_id = :f"), {"f": force_id}
        ).one()
        history = conn.execute(text("SELECT count(*) FROM force_fix WHERE force_id = :f"), {"f": force_id}).scalar_one()
    assert lon == pytest.approx(118.801) and at == t0 + timedelta(minutes=2) and history == 2
    assert (speed, heading) == (8.5, 270)
    newer = fix(code, t0 + timedelta(minutes=3), 118.802, 32.062, speed=2.0)
    moved = client.post("/api/v1/forces/positions", json={"fixes": [newer]}, headers=tracker).json()
    assert (moved["stored"], moved["latest_updated"]) == (1, 1)  # a placed force moves (the UPDATE, not the insert)
    with nanjing.connect() as conn:
        lon, at, speed = conn.execute(
            text("SELECT ST_X(geom), fixed_at, speed FROM force_position WHERE force_id = :f"), {"f": force_id}
        ).one()
    assert lon == pytest.approx(118.802) and at == t0 + timedelta(minutes=3) and speed == 2.0


def test_concurrent_batches_of_the_same_forces_never_deadlock(nanjing: Engine, nanjing_settings: StoreSettings) -> None:
    """Gateways send the same fleet at once. Planned as a hash join, the move locked rows in scan order, which
    differs between snapshots once rows have moved: two batches deadlocked (1 s, then a 409 for one)."""
    forces = [add_force(nanjing, "320102002", ["drainage"]) for _ in range(80)]
    with nanjing.connect() as conn:
        city = conn.execute(text("SELECT id FROM unit WHERE code = '320100'")).scalar_one()
    start = now() - timedelta(minutes=1)

    def gateway(seed: int) -> datetime:
        shuffle = random.Random(seed)
        with psycopg.connect(libpq_url(nanjing_settings), autocommit=True) as conn:
            conn.execute("SELECT set_config('cityops.scope_unit', %s, false)", (str(city),))
            conn.execute("SET enable_nestloop = off")  # so a hash join, the plan that deadlocked, if it may
            for batch in range(15):
                fleet = shuffle.sample(forces, len(forces))
                at = start + timedelta(milliseconds=batch * 100 + seed)
                conn.execute(
                    "SELECT cityops_ingest_fixes(%s::text[], %s::float8[], %s::float8[], %s::bigint[], "
                    "%s::timestamptz[], %s::real[], %s::real[], %s::real[])",
                    (
                        [c for _, c in fleet],
                        [118.79] * 80,
                        [32.05] * 80,
                        [0] * 80,
                        [at] * 80,
                        [None] * 80,
                        [None] * 80,
                        [None] * 80,
                    ),
                )
        return at

    with ThreadPoolExecutor(4) as pool:
        last = max(pool.map(gateway, range(4)))  # a deadlock raises here
    with nanjing.connect() as conn:
        latest = (
            conn.execute(
                text("SELECT DISTINCT fixed_at FROM force_position WHERE force_id = ANY(:ids)"),
                {"ids": [f for f, _ in forces]},
            )
            .scalars()
            .all()
        )
    assert latest == [last]  # and every force holds the newest fix of all the batches


def test_fixes_are_announced_on_the_change_feed(
    client: TestClient, nanjing: Engine, nanjing_settings: StoreSettings, tracker: dict[str, str]
) -> None:
    force_id, code = add_force(nanjing, "320102002", ["drainage"])
    with psycopg.connect(libpq_url(nanjing_settings), autocommit=True) as listener:
        listener.execute("LISTEN cityops_positions")
        client.post("/api/v1/forces/positions", json={"fixes": [fix(code, now())]}, headers=tracker)
        select.select([listener.fileno()], [], [], 5)
        payloads = [n.payload for n in listener.notifies(timeout=1, stop_after=1)]
    assert any(str(force_id) in p.split(",") for p in payloads)


def test_a_tracker_reports_only_for_the_forces_of_its_unit(client: TestClient, nanjing: Engine, caller: Caller) -> None:
    _, own = add_force(nanjing, "320102002", ["drainage"])
    _, other = add_force(nanjing, "320104", ["drainage"])
    street_tracker = caller(["tracker"], "320102002")
    body = client.post(
        "/api/v1/forces/positions", json={"fixes": [fix(own, now()), fix(other, now())]}, headers=street_tracker
    ).json()
    assert body["accepted"] == 1 and f"unknown force '{other}'" in body["rejected"][0]["error"]


def test_history_lives_in_day_partitions_that_roll_over_and_expire(nanjing: Engine) -> None:
    force_id, _ = add_force(nanjing, "320102002", ["drainage"])
    midnight = datetime.combine(now().date(), datetime.min.time(), UTC)
    with nanjing.begin() as conn:
        for at in (midnight - timedelta(seconds=1), midnight + timedelta(seconds=1)):
            conn.execute(
                text(
                    "INSERT INTO force_fix (force_id, fixed_at, geom, cell) VALUES "
                    "(:f, :t, ST_SetSRID(ST_MakePoint(118.8, 32.0), 4326), 0)"
                ),
                {"f": force_id, "t": at},
            )
        parts = (
            conn.execute(
                text("SELECT tableoid::regclass::text FROM force_fix WHERE force_id = :f ORDER BY fixed_at"),
                {"f": force_id},
            )
            .scalars()
            .all()
        )
        made, _ = conn.execute(text("SELECT * FROM cityops_force_fix_partitions(interval '40 days')")).one()
        old = f"force_fix_{(midnight - timedelta(days=40)).strftime('%Y%m%d')}"
        present = conn.execute(text("SELECT to_regclass(:t) IS NOT NULL"), {"t": old}).scalar_one()
        _, dropped = conn.execute(text("SELECT * FROM cityops_force_fix_partitions(interval '30 days')")).one()
        gone = conn.execute(text("SELECT to_regclass(:t) IS NULL"), {"t": old}).scalar_one()
        ahead = conn.execute(
            text("SELECT to_regclass(:t) IS NOT NULL"),
            {"t": f"force_fix_{(midnight + timedelta(days=2)).strftime('%Y%m%d')}"},
        ).scalar_one()
    assert parts == [
        f"force_fix_{(midnight - timedelta(days=1)).strftime('%Y%m%d')}",
        f"force_fix_{midnight.strftime('%Y%m%d')}",
    ]
    assert made >= 10 and present and dropped >= 10 and gone and ahead


# ---- directory queries --------------------------------------------------------------------------
def test_the_directory_filters_by_unit_capability_status_and_area(client: TestClient, nanjing: Engine) -> None:
    here = (118.7912, 32.0498)
    pump, _ = add_force(nanjing, "320102002", ["drainage", "power_supply"], "equipment", at=here)
    medic, _ = add_force(nanjing, "320102002", ["first_aid"], "person", at=(here[0] + 0.003, here[1]))
    far, _ = add_force(nanjing, "320104", ["drainage"], at=(here[0] + 0.05, here[1]))

    def ids(**params: object) -> set[int]:
        response = client.get("/api/v1/forces", params={"limit": 1000, **params})
        assert response.status_code == 200, response.text
        return {item["id"] for item in response.json()["items"]}

    near = {"near": f"{here[0]},{here[1]}", "radius_m": 400}
    assert {pump, medic} <= ids(**near) and far not in ids(**near)
    assert pump in ids(capability="drainage", **near) and medic not in ids(capability="drainage", **near)
    assert far in ids(unit="320104", capability="drainage") and pump not in ids(unit="320104")
    assert medic in ids(kind="person", **near) and pump not in ids(kind="person", **near)
    x, y, d = here[0], here[1], 0.001
    square = {
        "type": "Polygon",
        "coordinates": [[[x - d, y - d], [x + d, y - d], [x + d, y + d], [x - d, y + d], [x - d, y - d]]],
    }
    assert pump in ids(within=json.dumps(square)) and medic not in ids(within=json.dumps(square))
    assert pump in ids(status="available", **near) and pump not in ids(status="off_duty", **near)
    geo = client.get("/api/v1/forces", params={"format": "geojson", **near}).json()
    feature = next(f for f in geo["features"] if f["id"] == pump)
    assert feature["geometry"]["coordinates"] == pytest.approx(list(here))
    assert feature["properties"]["contact_phone"] == "13912345678"  # the staff fixture may read personal data


def test_directory_input_is_checked(client: TestClient) -> None:
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    for params, message in (
        ({"capability": "teleport"}, "unknown capability teleport"),
        ({"status": "sleeping"}, "unknown status sleeping"),
        ({"kind": "dragon"}, "unknown kind dragon"),
        ({"near": "118.8,32.0"}, "go together"),
        ({"near": "32.0,218.8", "radius_m": 10}, "outside lon"),
        ({"within": "{not json"}, "GeoJSON Polygon"),
        ({"within": json.dumps({"type": "Point", "coordinates": [1, 2]})}, "not Point"),
        ({"within": json.dumps(bowtie)}, "not a valid polygon: Self-intersection"),
    ):
        response = client.get("/api/v1/forces", params=params)
        assert response.status_code == 422 and message in response.text, (params, response.text)


def test_contact_is_masked_without_clearance_and_audited_with_it(
    client: TestClient, nanjing: Engine, caller: Caller
) -> None:
    force_id, _ = add_force(nanjing, "320102002", ["first_aid"], "person", at=(118.79, 32.05))
    with nanjing.begin() as conn:  # roles are data: a wall-screen viewer reads the directory, not personal data
        conn.execute(
            text(
                "INSERT INTO role (name, description, permissions) VALUES ('screen', '大屏', "
                "'{units:read,forces:read}') ON CONFLICT (name) DO NOTHING"
            )
        )
    masked = client.get(f"/api/v1/forces/{force_id}", headers=caller(["screen"], "320102")).json()
    assert (masked["contact_name"], masked["contact_phone"]) == ("王*", "139****5678")
    listed = client.get(
        "/api/v1/forces", params={"format": "csv", "unit": "320102002"}, headers=caller(["screen"], "320102")
    ).text
    assert "13912345678" not in listed and "139****5678" in listed
    clear = client.get(f"/api/v1/forces/{force_id}", headers=caller(["dispatcher"], "320102")).json()
    assert clear["contact_phone"] == "13912345678"
    with nanjing.connect() as conn:
        audited = conn.execute(
            text(
                "SELECT count(*) FROM audit_log WHERE action = 'personal.read' AND detail -> 'forces' @> to_jsonb(:f)"
            ),
            {"f": force_id},
        ).scalar_one()
    assert audited == 1


def test_counts_by_unit_and_status_for_the_command_screen(client: TestClient, nanjing: Engine) -> None:
    add_force(nanjing, "320102002", ["drainage"], at=(118.79, 32.05), fixed_at=now() - timedelta(hours=2))
    counts = client.get("/api/v1/forces/counts", params={"unit": "320102"}).json()
    row = next(r for r in counts["rows"] if r["code"] == "320102002")
    assert row["available"] >= 1 and row["stale"] >= 1
    assert counts["total"]["available"] == sum(r["available"] for r in counts["rows"])
    assert client.get("/api/v1/forces/counts", params={"unit": "999999"}).status_code == 404


def test_status_moves_along_the_machine_and_a_wrong_move_names_the_allowed(client: TestClient, nanjing: Engine) -> None:
    force_id, _ = add_force(nanjing, "320102002", ["drainage"], at=(118.79, 32.05))
    assert client.put(f"/api/v1/forces/{force_id}/status", json={"status": "off_duty"}).json()["status"] == "off_duty"
    wrong = client.put(f"/api/v1/forces/{force_id}/status", json={"status": "on_scene"})
    assert wrong.status_code == 409
    assert "cannot go from off_duty to on_scene" in wrong.json()["detail"]
    assert "allowed from off_duty: available, out_of_service" in wrong.json()["detail"]
    assert client.put(f"/api/v1/forces/{force_id}/status", json={"status": "assigned"}).status_code == 409
    assert client.put(f"/api/v1/forces/{force_id}/status", json={"status": "asleep"}).status_code == 422
    with nanjing.connect() as conn:  # the dispatch copy follows the status
        assert (
            conn.execute(
                text("SELECT status::text FROM force_position WHERE force_id = :f"), {"f": force_id}
            ).scalar_one()
            == "off_duty"
        )
