"""Sensing end to end against the real PostGIS: readings in (HTTP and parsing), rules, alarms, cases.

The MQTT path (the broker the suite starts) is in ``test_sensing_mqtt.py``.
"""

from __future__ import annotations

import asyncio
import html
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import h3
import httpx
import orjson
import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from sensing.ingest import DeviceThrottle, Outcome, store
from sensing.readings import Reading, parse
from sensing.settings import SensingSettings
from spatial.db import libpq_url
from spatial.settings import StoreSettings
from tests.conftest import Caller, add_sensor, eventually, grid_point
from tests.test_incident_work_pages import form_after
from tests.test_work_pages import person, signed_in

DISTRICT = "320102"  # 玄武区


@pytest.fixture(scope="module")
def gateway(caller: Caller) -> dict[str, str]:
    """A district's sensor gateway."""
    return caller(["sensor_gateway"], DISTRICT)


@pytest.fixture(scope="module")
def place(nanjing: Engine) -> tuple[float, float]:
    """A point inside a grid of 320102."""
    return grid_point(nanjing, "320102", 7)


def post(client: TestClient, headers: dict[str, str], records: list[dict[str, Any]]) -> httpx.Response:
    return client.post(
        "/api/v1/observations",
        content=orjson.dumps(records),
        headers={**headers, "Content-Type": "application/senml+json"},
    )


def seconds_ago(seconds: float) -> float:
    return (datetime.now(UTC) - timedelta(seconds=seconds)).timestamp()


def alarms_of(nanjing: Engine, code: str) -> list[dict[str, Any]]:
    with nanjing.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT a.id, a.state::text AS state, r.rule::text AS rule, a.flaps, a.value, a.peak, a.case_id "
                "FROM sensor_alarm a JOIN sensor s ON s.id = a.sensor_id JOIN sensor_rule r ON r.id = a.rule_id "
                "WHERE s.code = :c ORDER BY a.id"
            ),
            {"c": code},
        ).mappings()
        return [dict(row) for row in rows]


def status_of(nanjing: Engine, code: str) -> dict[str, Any]:
    with nanjing.connect() as conn:
        return dict(
            conn.execute(
                text(
                    "SELECT st.*, st.condition::text AS condition FROM sensor_status st "
                    "JOIN sensor s ON s.id = st.sensor_id WHERE s.code = :c"
                ),
                {"c": code},
            )
            .mappings()
            .one()
        )


# ---- parsing -----------------------------------------------------------------------------------
def test_senml_packs_resolve_base_fields_and_relative_times() -> None:
    now = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)
    pack = [
        {"bn": "WL-0001/", "bt": 1_796_371_200, "bu": "m", "n": "level", "v": 3.4},
        {"n": "level", "t": 60, "v": 3.5},
        {"bn": "MO-7/", "n": "open", "t": 0, "vb": True, "bt": -30},  # bt below 2**28: relative to now
    ]
    readings, refused = parse(orjson.dumps(pack), now=now)
    assert refused == []
    assert [(r.device, r.value, r.unit) for r in readings] == [
        ("WL-0001", 3.4, "m"),
        ("WL-0001", 3.5, "m"),
        ("MO-7", 1.0, "m"),
    ]
    assert readings[0].at == 1_796_371_200  # seconds since 1970, as sent
    assert readings[1].at - readings[0].at == 60
    assert readings[2].at == (now - timedelta(seconds=30)).timestamp()


def test_records_that_cannot_be_read_are_refused_by_index_with_a_reason() -> None:
    records = [
        {"device": "A", "t": "2026-12-04T08:00:00+08:00", "v": 1},
        {"device": "A", "t": "2026-12-04T08:00:00", "v": 1},  # no offset
        {"device": "A", "t": 1_796_371_200, "v": None},  # NaN arrives as null
        {"device": "A", "t": 1_796_371_200, "vs": "high"},
        {"t": 1_796_371_200, "v": 2},  # no device
        {"device": "A", "t": 1_796_371_200, "v": 2, "colour": "red"},
        "not a record",
    ]
    readings, refused = parse(orjson.dumps(records))
    assert [r.record for r in readings] == [0]
    assert [(r.index, r.reason) for r in refused] == [
        (1, "malformed"),
        (2, "not_a_number"),
        (3, "not_a_number"),
        (4, "malformed"),
        (5, "malformed"),
        (6, "malformed"),
    ]
    assert "offset" in refused[0].detail and "colour" in refused[4].detail
    assert parse(b"{not json")[1][0].reason == "malformed"
    on_topic, wrong = parse(orjson.dumps([{"bn": "B/", "v": 1}]), device="A")
    assert on_topic == [] and wrong[0].reason == "device_mismatch"


def test_a_flooding_device_is_throttled_and_the_others_keep_their_share() -> None:
    throttle = DeviceThrottle(per_minute=60, burst=5)
    flood = [throttle.allow("noisy", now=100.0) for _ in range(50)]
    assert sum(flood) == 5  # its burst, then nothing until its bucket refills
    assert all(throttle.allow(f"quiet-{i}", now=100.0) for i in range(20))
    assert throttle.allow("noisy", now=101.0)  # one reading a second refilled


# ---- HTTP batches --------------------------------------------------------------------------------
def test_a_gateway_batch_is_stored_once_and_a_bad_batch_stores_nothing(
    client: TestClient, nanjing: Engine, gateway: dict[str, str], place: tuple[float, float]
) -> None:
    code = add_sensor(nanjing, "water_level", place)
    good = [{"device": code, "t": seconds_ago(120 - 10 * i), "v": 5.0 + i / 10, "u": "m"} for i in range(5)]
    first = post(client, gateway, good)
    assert first.status_code == 200, first.text
    assert first.json()["stored"] == 5 and first.json()["duplicates"] == 0
    again = post(client, gateway, good)  # a retry: nothing twice
    assert again.json()["stored"] == 0 and again.json()["duplicates"] == 5
    assert status_of(nanjing, code)["value"] == pytest.approx(5.4)

    bad = [
        {"device": code, "t": seconds_ago(5), "v": 5.1},
        {"device": "NO-SUCH-DEVICE", "t": seconds_ago(5), "v": 1},
        {"device": code, "t": seconds_ago(-3600), "v": 5.0},  # an hour ahead
        {"device": code, "t": seconds_ago(4), "v": -9999},  # a sentinel: outside the physical range
        {"device": code, "t": seconds_ago(3), "v": 5.0, "u": "cm"},
        {"device": code, "t": seconds_ago(86400 * 400), "v": 5.0},  # before retention
    ]
    refused = post(client, gateway, bad)
    assert refused.status_code == 422, refused.text
    assert [(r["index"], r["reason"]) for r in refused.json()["refused"]] == [
        (1, "unknown_device"),
        (2, "future"),
        (3, "out_of_range"),
        (4, "wrong_unit"),
        (5, "too_old"),
    ]
    with nanjing.connect() as conn:
        stored = conn.execute(
            text("SELECT count(*) FROM observation o JOIN sensor s ON s.id = o.sensor_id WHERE s.code = :c"),
            {"c": code},
        ).scalar_one()
    assert stored == 5  # the good record of the bad batch was not kept either
    counts = client.get("/api/v1/sensing/refusals").json()["items"]
    assert {(i["channel"], i["reason"]) for i in counts} >= {("http", "unknown_device"), ("http", "out_of_range")}
    form = client.post("/api/v1/observations", content=b"[]", headers={**gateway, "Content-Type": "text/plain"})
    assert form.status_code == 415 and "application/json" in form.json()["detail"]


def test_a_gateway_sees_only_its_districts_devices(
    client: TestClient, nanjing: Engine, caller: Caller, place: tuple[float, float]
) -> None:
    code = add_sensor(nanjing, "water_level", place)
    elsewhere = caller(["sensor_gateway"], "320104")  # 秦淮区
    answer = post(client, elsewhere, [{"device": code, "t": seconds_ago(1), "v": 2.0}])
    assert answer.status_code == 422 and answer.json()["refused"][0]["reason"] == "unknown_device"


# ---- rules ----------------------------------------------------------------------------------------
def test_a_threshold_raises_holds_in_its_band_clears_past_it_and_a_flap_is_the_same_alarm(
    client: TestClient, nanjing: Engine, gateway: dict[str, str], place: tuple[float, float]
) -> None:
    code = add_sensor(nanjing, "water_level", place)  # warning 8.5 m, clear at 8.2 m; slow enough for no rate alarm
    send = lambda age, value: post(client, gateway, [{"device": code, "t": seconds_ago(age), "v": value}])  # noqa: E731
    send(3000, 8.0)
    raised = send(1800, 8.6).json()
    assert len(raised["alarms_raised"]) == 1
    send(1500, 8.3)  # in the band: still raised
    assert [a["state"] for a in alarms_of(nanjing, code)] == ["raised"]
    assert status_of(nanjing, code)["condition"] == "alarm"
    cleared = send(1200, 8.1).json()
    assert cleared["alarms_cleared"] == raised["alarms_raised"]
    assert status_of(nanjing, code)["condition"] == "normal"
    send(10, 8.9)  # again: the same alarm, one flap more, worst value kept
    threshold = alarms_of(nanjing, code)
    assert len(threshold) == 1 and threshold[0]["state"] == "raised" and threshold[0]["flaps"] == 1
    assert threshold[0]["rule"] == "threshold" and threshold[0]["peak"] == pytest.approx(8.9)


def test_a_late_reading_is_kept_but_moves_nothing_back(
    client: TestClient, nanjing: Engine, gateway: dict[str, str], place: tuple[float, float]
) -> None:
    code = add_sensor(nanjing, "water_level", place)
    post(client, gateway, [{"device": code, "t": seconds_ago(60), "v": 4.0}])
    late = post(client, gateway, [{"device": code, "t": seconds_ago(300), "v": 9.5}]).json()
    assert late["stored"] == 1 and late["late"] == 1 and late["alarms_raised"] == []
    status = status_of(nanjing, code)
    assert status["value"] == 4.0 and status["condition"] == "normal"


def test_a_reading_twice_in_a_batch_or_in_two_batches_at_once_is_stored_once(
    client: TestClient,
    nanjing: Engine,
    nanjing_settings: StoreSettings,
    gateway: dict[str, str],
    place: tuple[float, float],
) -> None:
    code = add_sensor(nanjing, "water_level", place)
    stamp = seconds_ago(60)
    twice = [{"device": code, "t": stamp, "v": 4.0}, {"device": code, "t": stamp, "v": 4.0}]
    answer = post(client, gateway, twice).json()  # newer than the status, twice: the key catches the second
    assert answer["stored"] == 1 and answer["duplicates"] == 1
    readings = [Reading(code, seconds_ago(50 - i), 4.0 + i, None, i) for i in range(5)]

    async def two_gateways_at_once() -> tuple[Outcome, Outcome]:
        url = libpq_url(nanjing_settings)
        async with (
            await psycopg.AsyncConnection.connect(url) as first,
            await psycopg.AsyncConnection.connect(url, autocommit=True) as second,
        ):
            async with first.transaction():  # the first batch holds its readings uncommitted …
                one = await store(first, readings, SensingSettings())
                other = asyncio.create_task(store(second, readings, SensingSettings()))
                await asyncio.sleep(0.5)  # … while the second, seeing the same status, inserts the same keys
                assert not other.done()  # (it waits on the first's keys)
            return one, await other

    one, other = asyncio.run(two_gateways_at_once())
    assert (one.stored, other.stored, other.duplicates) == (5, 0, 5)
    with nanjing.connect() as conn:
        sensor_id = conn.execute(text("SELECT id FROM sensor WHERE code = :c"), {"c": code}).scalar_one()
        stored = conn.execute(text("SELECT count(*) FROM observation WHERE sensor_id = :s"), {"s": sensor_id})
        assert stored.scalar_one() == 6
    status = status_of(nanjing, code)
    assert status["value"] == 8.0 and status["readings"] == 6


def test_a_rate_of_change_rule_raises_on_a_fast_rise(
    client: TestClient, nanjing: Engine, gateway: dict[str, str], place: tuple[float, float]
) -> None:
    code = add_sensor(nanjing, "water_level", place)  # 0.05 m a minute raises
    post(client, gateway, [{"device": code, "t": seconds_ago(300), "v": 3.0}])
    post(client, gateway, [{"device": code, "t": seconds_ago(240), "v": 3.02}])  # 0.02 m/min
    assert not [a for a in alarms_of(nanjing, code) if a["rule"] == "rate"]
    post(client, gateway, [{"device": code, "t": seconds_ago(180), "v": 3.2}])  # 0.18 m/min
    assert [a["state"] for a in alarms_of(nanjing, code) if a["rule"] == "rate"] == ["raised"]


def test_a_sustained_rule_waits_for_its_duration(
    client: TestClient, nanjing: Engine, gateway: dict[str, str], place: tuple[float, float]
) -> None:
    code = add_sensor(nanjing, "noise", place)  # 70 dB(A) for 10 minutes
    for age in (900, 700, 400):
        post(client, gateway, [{"device": code, "t": seconds_ago(age), "v": 76}])
    assert alarms_of(nanjing, code) == []  # 500 s in breach so far
    post(client, gateway, [{"device": code, "t": seconds_ago(250), "v": 75}])  # 650 s
    assert [a["state"] for a in alarms_of(nanjing, code)] == ["raised"]
    quiet = post(client, gateway, [{"device": code, "t": seconds_ago(100), "v": 60}]).json()
    assert len(quiet["alarms_cleared"]) == 1


def test_a_silent_device_goes_offline_and_its_next_reading_brings_it_back(
    client: TestClient, nanjing: Engine, gateway: dict[str, str], place: tuple[float, float]
) -> None:
    from sensing.loops import silence_round

    code = add_sensor(nanjing, "gas", place)  # silent 15 minutes: offline
    post(client, gateway, [{"device": code, "t": seconds_ago(20 * 60), "v": 1.0}])
    pool = client.app.state.database.pool  # type: ignore[attr-defined]
    raised = client.portal.call(silence_round, pool)  # type: ignore[union-attr]
    ours = [a for a in alarms_of(nanjing, code) if a["rule"] == "silence"]
    assert len(ours) == 1 and ours[0]["id"] in raised
    assert status_of(nanjing, code)["condition"] == "offline"
    assert client.portal.call(silence_round, pool) is not None  # type: ignore[union-attr]
    assert len([a for a in alarms_of(nanjing, code) if a["rule"] == "silence"]) == 1  # once, not every round
    post(client, gateway, [{"device": code, "t": seconds_ago(1), "v": 1.0}])
    assert [a["state"] for a in alarms_of(nanjing, code) if a["rule"] == "silence"] == ["cleared"]
    assert status_of(nanjing, code)["condition"] == "normal"


# ---- alarms become cases -------------------------------------------------------------------------
def test_an_alarm_files_one_case_routed_with_its_chart_and_an_area_of_alarms_joins_it(
    client: TestClient, nanjing: Engine, gateway: dict[str, str], place: tuple[float, float]
) -> None:
    lon, lat = place
    codes = [add_sensor(nanjing, "water_level", (lon + dx, lat)) for dx in (0.0, 0.0004, 0.0008)]
    for code in codes:  # an hour before: the rise is slow (no rate alarm), only the warning level counts
        post(client, gateway, [{"device": code, "t": seconds_ago(3600), "v": 8.0}])
    started = time.monotonic()
    answer = post(client, gateway, [{"device": code, "t": seconds_ago(200), "v": 8.8} for code in codes]).json()
    assert len(answer["alarms_raised"]) == 4  # three devices, and the area of three in alarm

    def filed() -> list[Any] | None:
        with nanjing.connect() as conn:
            rows = (
                conn.execute(
                    text("SELECT case_id FROM sensor_alarm WHERE id = ANY(:ids)"),
                    {"ids": [int(i) for i in answer["alarms_raised"]]},
                )
                .scalars()
                .all()
            )
        return rows if all(rows) else None

    cases = eventually(filed)  # the alarm-filer loop of the suite's app
    assert time.monotonic() - started < 5
    assert len(set(cases)) == 1  # one flooded spot, one case: the others joined it
    case = client.get(f"/api/v1/cases/{cases[0]}").json()
    assert case["category"]["code"] == "020404"
    with nanjing.connect() as conn:
        keys = set(
            conn.execute(text("SELECT idempotency_key FROM report WHERE case_id = :c"), {"c": cases[0]}).scalars()
        )
    assert {f"alarm-{i}" for i in answer["alarms_raised"]} <= keys  # each alarm one report, all in the one case
    with nanjing.connect() as conn:
        row = conn.execute(
            text(
                "SELECT c.departments, u.code, array_agg(DISTINCT r.source::text) FROM case_file c "
                "JOIN unit u ON u.id = c.responsible_unit_id JOIN report r ON r.case_id = c.id WHERE c.id = :c "
                "GROUP BY c.departments, u.code"
            ),
            {"c": cases[0]},
        ).one()
    assert "水务局" in row[0] and row[1].startswith(DISTRICT) and row[2] == ["sensor"]
    media = eventually(lambda: client.get(f"/api/v1/cases/{cases[0]}/media").json()["items"] or None)
    assert media[0]["content_type"] == "image/png" and media[0]["uploaded_by"] == "system:sensing"


def test_moves_on_an_alarm_keep_their_order_and_a_retired_sensor_closes_its_alarms(
    client: TestClient, nanjing: Engine, gateway: dict[str, str], place: tuple[float, float]
) -> None:
    code = add_sensor(nanjing, "gas", place)
    alarm = post(client, gateway, [{"device": code, "t": seconds_ago(30), "v": 35}]).json()["alarms_raised"][0]
    stale = client.post(f"/api/v1/alarms/{alarm}/acknowledge", json={"version": 7})
    assert stale.status_code == 409
    seen = client.post(f"/api/v1/alarms/{alarm}/acknowledge", json={"version": 1})
    assert seen.status_code == 200 and seen.json()["state"] == "acknowledged"
    again = client.post(f"/api/v1/alarms/{alarm}/acknowledge", json={"version": 2})
    assert again.status_code == 409  # acknowledged already
    no_note = client.post(f"/api/v1/alarms/{alarm}/close", json={"version": 2})
    assert no_note.status_code == 422
    # narrowed: the suite's sensors that fell silent raise alarms of their own, hundreds newer than this one
    listed = client.get("/api/v1/alarms", params={"state": "acknowledged", "kind": "gas"}).json()["items"]
    assert any(item["id"] == alarm and item["state"] == "acknowledged" for item in listed)
    with nanjing.begin() as conn:
        conn.execute(text("UPDATE sensor SET state = 'retired' WHERE code = :c"), {"c": code})
    closed = alarms_of(nanjing, code)
    assert {a["state"] for a in closed} == {"closed"}
    gone = post(client, gateway, [{"device": code, "t": seconds_ago(1), "v": 1}])
    assert gone.status_code == 422 and gone.json()["refused"][0]["reason"] == "retired"


def test_alarms_narrow_by_state_kind_and_severity_and_a_move_keeps_the_narrowing(
    server: str, client: TestClient, nanjing: Engine, gateway: dict[str, str], place: tuple[float, float]
) -> None:
    water, gas = add_sensor(nanjing, "water_level", place), add_sensor(nanjing, "gas", place)
    over = [{"device": water, "t": seconds_ago(60), "v": 9.0}, {"device": gas, "t": seconds_ago(60), "v": 40.0}]
    assert len(post(client, gateway, over).json()["alarms_raised"]) >= 2  # (a kind may have several rules)
    gas_alarms = client.get("/api/v1/alarms", params={"kind": "gas", "severity": "II", "state": "raised"}).json()
    codes = {item["sensor_code"] for item in gas_alarms["items"]}
    assert gas in codes and water not in codes and {item["kind"] for item in gas_alarms["items"]} == {"gas"}
    unknown = client.get("/api/v1/alarms", params={"kind": "lava"})
    assert unknown.status_code == 422 and "water_level" in unknown.json()["detail"]  # the kinds are named
    assert client.get("/api/v1/alarms", params={"state": "purple"}).status_code == 422

    commander = signed_in(server, person(nanjing, "320100", ["city_commander"]))
    # the severity too: the suite's sensors that fell silent raise gas alarms (IV) newer than the page's newest 200
    page = commander.get("/alarms", params={"kind": "gas", "severity": "II"})
    assert page.status_code == 200 and gas in page.text and water not in page.text
    assert re.search(r"报警中 <strong>\d+</strong>", page.text)  # the count in each open state
    alarm = next(item["id"] for item in gas_alarms["items"] if item["sensor_code"] == gas)
    action = f"/alarms/{alarm}/acknowledge?kind=gas&severity=II"  # the move posts with the page's narrowing
    seen = commander.post(action, data=form_after(page.text, html.escape(action)))  # the page writes & as &amp;
    assert seen.status_code == 200 and gas in seen.text and water not in seen.text  # still narrowed to gas
    assert [a["state"] for a in alarms_of(nanjing, gas)] == ["acknowledged"]


def test_the_map_reads_sensors_by_condition_and_a_sensors_chart(
    client: TestClient, nanjing: Engine, gateway: dict[str, str], place: tuple[float, float]
) -> None:
    code = add_sensor(nanjing, "water_level", place)
    post(client, gateway, [{"device": code, "t": seconds_ago(3600 - 60 * i), "v": 6 + i / 100} for i in range(60)])
    lon, lat = place
    box = f"{lon - 0.01},{lat - 0.01},{lon + 0.01},{lat + 0.01}"
    layer = client.get("/api/v1/sensors", params={"bbox": box, "kind": "water_level"}).json()
    mine = next(f for f in layer["features"] if f["id"] == code)
    assert mine["properties"]["condition"] == "normal" and mine["properties"]["unit"] == "m"
    assert h3.latlng_to_cell(lat, lon, 9) == h3.latlng_to_cell(*reversed(mine["geometry"]["coordinates"]), 9)
    chart = client.get(f"/api/v1/sensors/{code}/readings", params={"hours": 2}).json()
    assert sum(p["n"] for p in chart["points"]) == 60 and chart["points"][-1]["high"] == pytest.approx(6.59)
    assert chart["since"].endswith("+08:00")
    refused = client.get("/api/v1/sensors", params={"condition": "purple"})
    assert refused.status_code == 422 and "normal" in refused.json()["detail"]
    assert client.get("/api/v1/sensors/NO-SUCH").status_code == 404
