"""Plausible readings for the registry's devices over MQTT, with a planted rainstorm (`cityops simulate --sensors`).

Each device reports once every ``interval_s`` (spread over the interval, as real devices are), a value
its kind would read: water levels steady a few metres up, street lights on at night and on standby by
day, traffic and noise following the day, gas and smoke near zero. From ``storm_after_s`` on, a
rainstorm sits over ``storm_centre``: rain gauges under it read 60–90 mm/h, the water levels within its
radius rise about 0.15 m a minute past their warning level, and one manhole cover in ten under it lifts
— so the demo shows alarms raised, areas in alarm, cases filed and routed, and the wall lighting up.
"""

from __future__ import annotations

import math
import random
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import orjson
import paho.mqtt.client as paho
from sqlalchemy import Engine, text

from sensing.broker import topic
from sensing.mqtt import Address

BEIJING = timezone(timedelta(hours=8))
STORM_RADIUS_M = 3000.0
RISE_PER_MINUTE = 0.15  # metres: past the 8.5 m warning level within the half hour
DEVICES = "SELECT code, kind, ST_X(geom), ST_Y(geom) FROM sensor WHERE state = 'active' ORDER BY code"


@dataclass
class Device:
    """A device as the simulator drives it: where it stands, and its own steady level."""

    code: str
    kind: str
    lon: float
    lat: float
    level: float


@dataclass
class Sent:
    """What the simulator has published so far."""

    readings: int = 0
    storm: bool = False


def devices(engine: Engine, seed: int = 22) -> list[Device]:
    """The registry's active devices, each with a steady level of its own."""
    rng = random.Random(seed)
    with engine.connect() as conn:
        rows = conn.execute(text(DEVICES)).all()
    return [Device(code, kind, lon, lat, rng.uniform(2.5, 6.0)) for code, kind, lon, lat in rows]


def metres(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Distance on the sphere (haversine), good to a few metres over a city."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 6_371_000 * 2 * math.asin(math.sqrt(a))


def value(device: Device, at: datetime, storm_minutes: float, under_storm: bool, rng: random.Random) -> float:
    """The reading ``device`` takes at ``at`` (``storm_minutes``: how long the storm has been over it)."""
    hour = at.astimezone(BEIJING).hour + at.astimezone(BEIJING).minute / 60
    day = math.sin(math.pi * (hour - 6) / 12) if 6 <= hour <= 18 else 0.0  # 0 at night, 1 at noon
    storm = under_storm and storm_minutes > 0
    match device.kind:
        case "water_level":
            return round(device.level + (RISE_PER_MINUTE * storm_minutes if storm else 0) + rng.gauss(0, 0.02), 3)
        case "rain_gauge":
            return round(rng.uniform(60, 90) if storm else max(0.0, rng.gauss(0, 0.3)), 1)
        case "manhole_tilt":
            lifts = storm and zlib.crc32(device.code.encode()) % 10 == 0  # one cover in ten under the storm
            return round(rng.uniform(18, 30) if lifts else abs(rng.gauss(1, 0.5)), 1)
        case "manhole_open":
            return 0.0
        case "gas":
            return round(abs(rng.gauss(0.5, 0.3)), 2)
        case "smoke":
            return round(abs(rng.gauss(0.2, 0.1)), 2)
        case "strain":
            return round(rng.gauss(300, 40), 0)
        case "noise":
            return round(42 + 20 * day + rng.gauss(0, 3), 1)
        case "pm25":
            return round(max(5.0, rng.gauss(40, 12)), 0)
        case "traffic_flow":
            return round(max(0.0, 150 + 1300 * day + rng.gauss(0, 80)), 0)
        case "streetlight_power":
            return round(rng.gauss(8, 0.5) if day > 0 else rng.gauss(120, 5), 1)
    return 0.0


def run(
    address: Address,
    city: str,
    fleet: list[Device],
    *,
    interval_s: float,
    storm_after_s: float | None,
    storm_centre: tuple[float, float],
    seconds: float | None = None,
    on_tick: Callable[[Sent], None] | None = None,
) -> Sent:
    """Publish until ``seconds`` have passed (or for ever); returns what was sent."""
    client = paho.Client(
        paho.CallbackAPIVersion.VERSION2, client_id=f"cityops-simulator-{city}", protocol=paho.MQTTv311
    )
    client.username_pw_set(address.user, address.password)
    client.max_inflight_messages_set(100)  # paho walks its in-flight messages on each acknowledgement
    client.connect(address.host, address.port)
    client.loop_start()
    rng = random.Random(7)
    under = {d.code for d in fleet if metres(d.lon, d.lat, *storm_centre) <= STORM_RADIUS_M}
    sent, start = Sent(), time.monotonic()
    try:
        while seconds is None or time.monotonic() - start < seconds:
            round_start = time.monotonic()
            for i, device in enumerate(fleet):
                elapsed = time.monotonic() - start
                storm_minutes = (elapsed - storm_after_s) / 60 if storm_after_s is not None else 0.0
                sent.storm = storm_minutes > 0
                now = datetime.now(UTC)
                reading = {"t": now.timestamp(), "v": value(device, now, storm_minutes, device.code in under, rng)}
                client.publish(topic(city, device.code), orjson.dumps(reading), qos=1)
                sent.readings += 1
                if i % 200 == 0:  # spread the round over the interval
                    if on_tick:
                        on_tick(sent)
                    ahead = round_start + interval_s * (i + 1) / len(fleet) - time.monotonic()
                    if ahead > 0:
                        time.sleep(ahead)
            left = round_start + interval_s - time.monotonic()
            if left > 0:
                time.sleep(left)
    finally:
        client.disconnect()
        client.loop_stop()
    return sent
