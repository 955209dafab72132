"""`cityops bench sensing`: readings through MQTT and HTTP with every rule evaluated, against COPY; alarm latency.

Why: a city's sensors report in bursts (a storm, a gateway replaying its backlog after an outage), and the
platform must take them as fast as they come while judging every rule (issue 22: ≥ 50,000 readings/s and
≥ 0.3 of a plain COPY into the same table; an alarm on the live stream as a case within 1 s, p95).

What is compared, in one run, on the same sensors (the demo's 20,000, or as many as asked):
- **MQTT**: gateways publish SenML packs (``pack`` readings of one device a message, QoS 1) to the
  platform's Mosquitto, written in bulk (``bench.mqtt_load``: the load generator must not take the
  platform's core); the platform (``cityops serve`` in its own process, its ``mqtt-ingest`` loop)
  stores them and evaluates every threshold and rate rule of every device heard. Figure: readings stored
  per second, from the first publish until the last reading is in.
- **HTTP**: gateways post batches of ``batch`` readings to ``POST /api/v1/observations`` from 2 clients,
  ``pack`` readings of a device together as over MQTT; and once more with one reading a device a batch
  (the worst case: every reading moves a status and meets its rules, printed beside). Against the
  **minimal app** (``minimal_app``: the same framework, driver and JSON parser, no middleware, no rules,
  no status: it COPYs the rows), so what the platform adds shows.
- **COPY**: the same number of readings written by ``COPY … FROM STDIN (FORMAT BINARY)`` into the same
  partitioned table with its primary key — the floor of storing them at all.
- **Alarm latency**: while the MQTT load runs, gas detectors publish readings over their alarm level, one
  every 0.2 s; each is timed from publish until its case arrives on the live stream (``/api/v1/stream``).

Every reading is newer than its device's status (the worst case: each moves a status and meets its
rules); devices report 1 Hz samples, ``pack`` to a message — a gateway forwarding what it heard.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import h3
import httpx
import orjson
import paho.mqtt.client as paho
import psycopg
from fastapi import FastAPI, Request, Response
from rich.console import Console
from sqlalchemy import Engine, text

from bench.bare_app import BareApp, json_response
from bench.harness import Row, bench_caller, print_table, served
from bench.machine import describe
from bench.mqtt_load import BulkPublisher
from sensing.broker import GATEWAY_USER, EmbeddedBroker, topic
from sensing.mqtt import Address
from spatial.db import libpq_url, make_engine
from spatial.settings import StoreSettings

READINGS_TARGET = 50_000.0
COPY_SHARE_TARGET = 0.3
LATENCY_TARGET_S = 1.0
HTTP_CLIENTS = 2
PACED_SHARE = (
    0.8  # the alarms are timed under a load this share of the measured capacity (a backlog would time the queue)
)
PACED_SECONDS = 15
NORMAL = {  # a value inside each kind's normal band: no reading of the load raises an alarm
    "water_level": 3.0,
    "rain_gauge": 0.0,
    "manhole_tilt": 1.0,
    "manhole_open": 0.0,
    "gas": 0.5,
    "smoke": 0.2,
    "strain": 300.0,
    "noise": 55.0,
    "pm25": 35.0,
    "traffic_flow": 800.0,
    "streetlight_power": 120.0,
}
SENSORS = "SELECT id, code, kind FROM sensor WHERE state = 'active' ORDER BY id LIMIT :n"
GRID_POINTS = """
SELECT ST_X(p), ST_Y(p), code FROM (
    SELECT code, ST_PointOnSurface(geom) AS p FROM unit WHERE tier = 'grid' ORDER BY random() LIMIT :n) g
"""
ADD = """
INSERT INTO sensor (code, kind, name, geom, cell, unit_id, units, synthetic)
SELECT x.code, x.kind, x.code, ST_SetSRID(ST_MakePoint(x.lon, x.lat), 4326), x.cell, u.id, u.ancestors || u.id, true
FROM json_to_recordset(CAST(:rows AS json)) AS x(code text, kind text, lon float8, lat float8, cell bigint, grid text)
JOIN unit u ON u.code = x.grid
ON CONFLICT (code) DO NOTHING
"""
HEARD = "SELECT coalesce(sum(readings), 0) FROM sensor_status"


def ensure_sensors(engine: Engine, count: int) -> list[tuple[int, str, str]]:
    """``count`` active sensors (the demo's; synthetic ones at grid points when fewer are registered)."""
    with engine.begin() as conn:
        found = conn.execute(text(SENSORS), {"n": count}).all()
        if len(found) < count:
            kinds = sorted(NORMAL)
            points = conn.execute(text(GRID_POINTS), {"n": count - len(found)}).all()
            rows = [
                {
                    "code": f"BENCH-{i:06d}",
                    "kind": kinds[i % len(kinds)],
                    "lon": lon,
                    "lat": lat,
                    "cell": h3.str_to_int(h3.latlng_to_cell(lat, lon, 9)),
                    "grid": grid,
                }
                for i, (lon, lat, grid) in enumerate(points)
            ]
            conn.execute(text(ADD), {"rows": orjson.dumps(rows).decode()})
            found = conn.execute(text(SENSORS), {"n": count}).all()
    return [(int(i), str(code), str(kind)) for i, code, kind in found]


def reset(engine: Engine, sensors: list[tuple[int, str, str]], *, whole: bool) -> None:
    """Every run from the same start: no readings, alarms or statuses of the bench's devices (``whole``: the
    bench's own database, emptied at once; else only the devices' own rows)."""
    ids = [sensor_id for sensor_id, _, _ in sensors]
    with engine.begin() as conn:
        if whole:
            conn.execute(text("TRUNCATE observation, observation_minute, observation_hour, sensor_rule_pending"))
            conn.execute(text("UPDATE sensor_alarm SET case_id = NULL"))
            conn.execute(text("DELETE FROM sensor_alarm"))
        else:
            for table in ("observation", "sensor_alarm", "sensor_rule_pending"):
                conn.execute(text(f"DELETE FROM {table} WHERE sensor_id = ANY(:ids)"), {"ids": ids})
        conn.execute(
            text(
                "UPDATE sensor_status SET observed_at = NULL, value = NULL, previous_at = NULL, previous_value = NULL, "
                "condition = 'unknown', fault_at = NULL, fault_value = NULL, readings = 0 WHERE sensor_id = ANY(:ids)"
            ),
            {"ids": ids},
        )


def heard(engine: Engine) -> int:
    """Readings that moved a status, all devices together (each device counts its newer readings)."""
    with engine.connect() as conn:
        return int(conn.execute(text(HEARD)).scalar_one())


def wait_until(engine: Engine, total: int, timeout_s: float) -> float:
    """Seconds until ``total`` readings have moved statuses (polled every 50 ms)."""
    start = time.perf_counter()
    while heard(engine) < total:
        if time.perf_counter() - start > timeout_s:
            raise TimeoutError(f"only {heard(engine):,} of {total:,} readings stored after {timeout_s:.0f} s")
        time.sleep(0.05)
    return time.perf_counter() - start


# ---- MQTT -------------------------------------------------------------------------------------------
def gateway(broker: EmbeddedBroker, name: str) -> paho.Client:
    """A gateway's paho connection (the planted alarms: their publish times are what is measured)."""
    address = Address.of(broker.url(GATEWAY_USER))
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=name, protocol=paho.MQTTv311)
    client.username_pw_set(address.user, address.password)
    client.connect(address.host, address.port)
    client.loop_start()
    return client


def bulk_gateway(broker: EmbeddedBroker, name: str) -> BulkPublisher:
    """The load's gateway: pre-encoded messages on one connection (``bench.mqtt_load``)."""
    address = Address.of(broker.url(GATEWAY_USER))
    assert address.user and address.password
    return BulkPublisher(address.host, address.port, address.user, address.password, name)


def packs(
    city: str, sensors: list[tuple[int, str, str]], start: float, per_sensor: int, pack: int
) -> Iterator[tuple[str, bytes]]:
    """(topic, SenML pack of ``pack`` 1 Hz readings) for every device, round by round so time moves forward."""
    for first in range(0, per_sensor, pack):
        for _, code, kind in sensors:
            value = NORMAL[kind]
            records = [{"bt": start + first, "v": value}] + [{"t": k, "v": value} for k in range(1, pack)]
            yield topic(city, code), orjson.dumps(records)


# ---- alarm latency ----------------------------------------------------------------------------------
class StreamWatch(threading.Thread):
    """The live stream as a commander sees it: when each case id arrived."""

    def __init__(self, base: str, headers: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.base, self.headers = base, headers
        self.arrivals: dict[str, list[float]] = {}
        self.ready = threading.Event()
        self.stop = threading.Event()

    def run(self) -> None:
        """Read events until stopped; each batch's cases are timed on arrival."""
        with (
            httpx.Client(base_url=self.base, headers=self.headers, timeout=None) as http,
            http.stream("GET", "/api/v1/stream") as events,
        ):
            for line in events.iter_lines():
                if self.stop.is_set():
                    return
                if line.startswith("event: ready"):
                    self.ready.set()
                if line.startswith("data:") and '"cases"' in line:
                    now = time.perf_counter()
                    for case in orjson.loads(line[5:]).get("cases", []):
                        self.arrivals.setdefault(case["id"], []).append(now)


def plant_alarms(client: paho.Client, city: str, gas: list[tuple[int, str, str]], published: dict[int, float]) -> None:
    """One reading over the alarm level from each gas detector, one every 0.2 s (publish times kept by id)."""
    for sensor_id, code, _ in gas:
        stamp = datetime.now(UTC).timestamp()
        published[sensor_id] = time.perf_counter()
        client.publish(topic(city, code), orjson.dumps({"t": stamp, "v": 40.0}), qos=1).wait_for_publish(30)
        time.sleep(0.2)


def latencies(engine: Engine, published: dict[int, float], watch: StreamWatch) -> list[float]:
    """Publish → the first arrival of the alarm's case on the stream after it, per gas detector that filed."""
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT sensor_id, case_id FROM sensor_alarm WHERE sensor_id = ANY(:ids) AND case_id IS NOT NULL"),
            {"ids": list(published)},
        ).all()
    found = []
    for sensor_id, case_id in rows:
        after = [t for t in watch.arrivals.get(str(case_id), []) if t >= published[sensor_id]]
        if after:
            found.append(min(after) - published[sensor_id])
    return found


# ---- HTTP -------------------------------------------------------------------------------------------
def http_batches(
    sensors: list[tuple[int, str, str]], start: float, per_sensor: int, batch: int, pack: int
) -> list[bytes]:
    """Bodies of ``batch`` readings each, ``pack`` 1 Hz readings of a device together (as the MQTT packs come),
    round by round so each device's readings go forward in time across the bodies."""
    records = [
        {"device": code, "t": start + first + k, "v": NORMAL[kind]}
        for first in range(0, per_sensor, pack)
        for _, code, kind in sensors
        for k in range(min(pack, per_sensor - first))
    ]
    return [orjson.dumps(records[i : i + batch]) for i in range(0, len(records), batch)]


def post_all(base: str, path: str, headers: dict[str, str], bodies: list[bytes]) -> float:
    """Post every body from ``HTTP_CLIENTS`` clients; seconds until the last is answered (each must be 200)."""
    failures: list[str] = []

    def client(share: list[bytes]) -> None:
        with httpx.Client(base_url=base, headers={**headers, "Content-Type": "application/json"}, timeout=120) as http:
            for body in share:
                answer = http.post(path, content=body)
                if answer.status_code != 200:
                    failures.append(f"{answer.status_code} {answer.text[:200]}")

    threads = [threading.Thread(target=client, args=(bodies[i::HTTP_CLIENTS],)) for i in range(HTTP_CLIENTS)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"{len(failures)} batches refused, e.g. {failures[0]}")
    return time.perf_counter() - start


def minimal_app() -> FastAPI:
    """The same framework, driver and parser: the batch's rows COPYed into the same table, nothing else (as the
    owner: the API role may not write readings itself; the devices' ids are read once, on the first batch)."""
    bare = BareApp({}, pool_size=2, api=False)
    ids: dict[str, int] = {}

    @bare.app.post("/observations")
    async def observations(request: Request) -> Response:
        received = datetime.now(UTC)
        async with bare.connection() as conn:
            if not ids:
                found = await (await conn.execute("SELECT code, id FROM sensor")).fetchall()
                ids.update((code, sensor_id) for code, sensor_id in found)
            rows = [
                (ids[r["device"]], datetime.fromtimestamp(r["t"], UTC), float(r["v"]), received)
                for r in orjson.loads(await request.body())
            ]
            async with conn.cursor() as cur, cur.copy(COPY) as copy:
                copy.set_types(["int8", "timestamptz", "float8", "timestamptz"])
                for row in rows:
                    await copy.write_row(row)
        return json_response({"stored": len(rows)})

    return bare.app


# ---- COPY -------------------------------------------------------------------------------------------
COPY = "COPY observation (sensor_id, observed_at, value, received_at) FROM STDIN (FORMAT BINARY)"


def copy_seconds(settings: StoreSettings, sensors: list[tuple[int, str, str]], start: float, per_sensor: int) -> float:
    """Seconds to COPY ``per_sensor`` readings of every device (the baseline's rows, times of their own)."""
    received = datetime.now(UTC)
    rows = [
        (sensor_id, datetime.fromtimestamp(start + k, UTC), NORMAL[kind], received)
        for k in range(per_sensor)
        for sensor_id, _, kind in sensors
    ]
    with psycopg.connect(libpq_url(settings), autocommit=True) as conn:
        begin = time.perf_counter()
        with conn.cursor() as cur, cur.copy(COPY) as copy:
            copy.set_types(["int8", "timestamptz", "float8", "timestamptz"])
            for row in rows:
                copy.write_row(row)
        return time.perf_counter() - begin


# ---- the run ----------------------------------------------------------------------------------------
def run(
    settings: StoreSettings, *, sensors: int, readings: int, pack: int, batch: int, alarms: int, console: Console
) -> list[Row]:
    """Warm, measure MQTT (with the planted alarms), HTTP, the minimal app and COPY; print and return the rows."""
    console.print(f"machine: {describe()}")
    engine = make_engine(settings)
    broker = EmbeddedBroker(settings)
    broker.start()
    try:
        chosen = ensure_sensors(engine, sensors)
        reset(engine, chosen, whole=settings.city.endswith("_sensing_bench"))
        gas = [s for s in chosen if s[2] == "gas"][:alarms]  # planted alarms: not part of the load
        loaded = [s for s in chosen if s not in gas]
        per_sensor = max(pack, readings // len(loaded) // pack * pack)
        total = per_sensor * len(loaded)
        headers = bench_caller(engine, "bench-sensing-gateway", ["sensor_gateway"], "320100")
        commander = bench_caller(engine, "bench-sensing-commander", ["city_commander"], "320100")
        console.print(
            f"data: {len(loaded):,} sensors, {total:,} readings a channel ({per_sensor} per device, {pack} a message), "
            f"{len(gas)} planted gas alarms"
        )
        now = datetime.now(UTC).timestamp()
        http = now - 1500 + 2 * per_sensor + 10
        windows = {
            "warm": now - 1800,
            "mqtt": now - 1500,
            "http": http,
            "single": http + per_sensor,
            "copy": now - 7200,
        }
        env = {"CITYOPS_DEVICE_PER_MINUTE": "60000", "CITYOPS_DEVICE_BURST": "100000"}
        with (
            served(settings, env=env) as base,
            served(
                settings,
                ("uvicorn", "--factory", "bench.sensing:minimal_app", "--log-level", "warning"),
                compiled=False,
            ) as bare_base,
        ):
            post_all(base, "/api/v1/observations", headers, http_batches(chosen, windows["warm"], 1, batch, 1))
            client = bulk_gateway(broker, "bench-gateway")
            watch = StreamWatch(base, commander)
            watch.start()
            watch.ready.wait(30)
            before = heard(engine)
            start = time.perf_counter()
            publish_s = client.publish(packs(settings.city, loaded, windows["mqtt"], per_sensor, pack))
            mqtt_s = time.perf_counter() - start + wait_until(engine, before + total, 120)
            # the alarms, timed under a sustained load the platform keeps up with
            sustained = total / mqtt_s * PACED_SHARE
            paced = min(per_sensor, max(pack, int(sustained * PACED_SECONDS / len(loaded)) // pack * pack))
            published: dict[int, float] = {}
            planting = (gateway(broker, "bench-planter"), settings.city, gas, published)
            planter = threading.Thread(target=plant_alarms, args=planting)
            before = heard(engine)
            planter.start()
            client.publish(packs(settings.city, loaded, windows["mqtt"] + per_sensor, paced, pack), sustained / pack)
            planter.join()
            wait_until(engine, before + paced * len(loaded) + len(gas), 120)
            time.sleep(2)  # the last planted alarms' cases reach the stream
            watch.stop.set()
            lags = latencies(engine, published, watch)
            bodies = http_batches(loaded, windows["http"], per_sensor, batch, pack)
            http_s = post_all(base, "/api/v1/observations", headers, bodies)
            single_s = post_all(
                base, "/api/v1/observations", headers, http_batches(loaded, windows["single"], per_sensor, batch, 1)
            )
            minimal_s = post_all(
                bare_base, "/observations", {}, http_batches(chosen, windows["http"] - 3600, per_sensor, batch, pack)
            )
            client.close()
        copy_s = copy_seconds(settings, loaded, windows["copy"], per_sensor)
    finally:
        engine.dispose()
    copy_rate = total / copy_s
    mqtt_rate, http_rate, minimal_rate = total / mqtt_s, total / http_s, total / minimal_s
    single_rate = total / single_s
    p95 = statistics.quantiles(lags, n=20)[-1] if len(lags) >= 2 else (lags[0] if lags else float("inf"))
    console.print(
        f"MQTT: published in {publish_s:.1f} s ({total / pack / publish_s:,.0f} messages/s), all stored in "
        f"{mqtt_s:.1f} s; HTTP: {len(bodies)} batches of {batch:,}; COPY: {copy_s:.1f} s; alarms timed: "
        f"{len(lags)} of {len(gas)} (median {statistics.median(lags) if lags else float('nan'):.2f} s) under "
        f"{total / mqtt_s * PACED_SHARE:,.0f} readings/s"
    )
    rows = [
        Row(
            "MQTT readings/s, every rule evaluated",
            f"{mqtt_rate:,.0f}",
            f"{READINGS_TARGET:,.0f} target",
            mqtt_rate / READINGS_TARGET,
            "≥ 1.0",
        ),
        Row(
            "MQTT readings/s vs plain COPY",
            f"{mqtt_rate:,.0f}",
            f"{copy_rate:,.0f}",
            mqtt_rate / copy_rate,
            f"≥ {COPY_SHARE_TARGET}",
        ),
        Row(
            "HTTP readings/s, every rule evaluated",
            f"{http_rate:,.0f}",
            f"{READINGS_TARGET:,.0f} target",
            http_rate / READINGS_TARGET,
            "≥ 1.0",
        ),
        Row(
            "HTTP readings/s vs plain COPY",
            f"{http_rate:,.0f}",
            f"{copy_rate:,.0f}",
            http_rate / copy_rate,
            f"≥ {COPY_SHARE_TARGET}",
        ),
        Row(
            "HTTP, one reading a device a batch (each moves a status), vs COPY",
            f"{single_rate:,.0f}",
            f"{copy_rate:,.0f}",
            single_rate / copy_rate,
            "—",
        ),
        Row(
            "HTTP readings/s vs the minimal app (COPY, no rules)",
            f"{http_rate:,.0f}",
            f"{minimal_rate:,.0f}",
            http_rate / minimal_rate,
            "—",
        ),
        Row(
            "alarm publish → case on the stream, p95 s",
            f"{p95:.2f}",
            f"{LATENCY_TARGET_S:.0f} s target",
            LATENCY_TARGET_S / p95 if p95 else float("inf"),
            "≥ 1.0",
        ),
    ]
    print_table(rows, console)
    return rows
