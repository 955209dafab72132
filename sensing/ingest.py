"""A batch of readings into the store, with every rule of the devices heard evaluated in the same transaction.

The channels (MQTT, HTTP) parse and throttle; this module stores. One call of
``cityops_ingest_readings`` judges what needs the registry, stores each reading once per device and
time, moves each device's status forward (never back: late readings are kept, not applied) and raises
or clears threshold and rate alarms. What it refused is counted per day, channel and reason; MQTT keeps
the refused records themselves as dead letters, HTTP answers them.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import psycopg

from sensing.readings import Reading, Refusal
from sensing.settings import SensingSettings
from spatial.arrays import float8_array, text_array

# the columns go binary (%b, ``spatial.arrays``), the times as seconds since 1970: psycopg writes a list of
# datetimes as text at ~9 µs each and PostgreSQL parses them again
INGEST = """
SELECT refused_at, refused_why, stored, duplicates, late, raised, cleared, turned
FROM cityops_ingest_readings(%b::text[], %b::float8[], %b::float8[], %b::text[], %s, %s, %s, %s)
"""
PARTITIONS = "SELECT created, dropped FROM cityops_observation_partitions(%s)"
COUNT = """
INSERT INTO sensing_refusal (day, channel, reason, count)
SELECT (now() AT TIME ZONE 'Asia/Shanghai')::date, %s, reason, n FROM unnest(%s::text[], %s::bigint[]) AS r(reason, n)
ON CONFLICT (day, channel, reason) DO UPDATE SET count = sensing_refusal.count + excluded.count
"""
DEAD_LETTER = """
INSERT INTO sensing_dead_letter (channel, topic, reason, detail, payload)
SELECT %s, topic, reason, detail, payload FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[])
    AS d(topic, reason, detail, payload)
"""
REASONS = {  # what each refusal code tells the sender to fix
    "unknown_device": "no such device in the registry, or not in your jurisdiction (register it first)",
    "retired": "the device is retired",
    "no_time": "the reading has no time",
    "not_a_number": "the value is not a finite number",
    "future": "stamped in the future beyond the allowed clock skew",
    "too_old": "stamped before the retention period",
    "wrong_unit": "the unit is not the kind's unit",
    "out_of_range": "outside the kind's physical range: a fault of the device, not a reading",
}
PAYLOAD_KEPT = 4000  # characters of a dead letter's payload kept


@dataclass
class Outcome:
    """What a batch did: counts, refusals by position, alarms raised and cleared, devices whose threshold turned."""

    stored: int = 0
    duplicates: int = 0
    late: int = 0
    refused: list[Refusal] = field(default_factory=list)
    raised: list[int] = field(default_factory=list)
    cleared: list[int] = field(default_factory=list)
    turned: list[int] = field(default_factory=list)

    def reasons(self) -> Counter[str]:
        """Refusals counted per reason."""
        return Counter(refusal.reason for refusal in self.refused)


class DeviceThrottle:
    """A token bucket per device: a flooding device loses its excess, the others keep their share.

    Each device may send ``burst`` readings at once (a gateway's backlog after an outage) and
    ``per_minute`` more a minute; what is over is refused as ``throttled`` before it reaches the database.
    """

    def __init__(self, per_minute: int, burst: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.buckets: dict[str, tuple[float, float]] = {}  # device → (tokens, when)

    def allow(self, device: str, now: float | None = None) -> bool:
        """Take one reading's token from the device's bucket, if it has one."""
        return self._take(device, 1, time.monotonic() if now is None else now) == 1

    def _take(self, device: str, wanted: int, now: float) -> int:
        """Up to ``wanted`` whole tokens from the device's bucket, refilled for the time since it was last used."""
        tokens, then = self.buckets.get(device, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        taken = min(wanted, int(tokens))
        self.buckets[device] = (tokens - taken, now)
        return taken

    def split(self, readings: list[Reading]) -> tuple[list[Reading], list[Refusal]]:
        """The readings within their devices' budgets (each device's first ones), and the rest as refusals.

        Each device's bucket is visited once a batch, and the readings are only walked when one is over.
        """
        now = time.monotonic()
        over_budget: dict[str, int] = {}  # device → readings of the batch it may still send
        for device, wanted in Counter(reading.device for reading in readings).items():
            if (taken := self._take(device, wanted, now)) < wanted:
                over_budget[device] = taken
        if not over_budget:
            return readings, []
        kept: list[Reading] = []
        over: list[Refusal] = []
        for reading in readings:
            left = over_budget.get(reading.device)
            if left is None or left > 0:
                kept.append(reading)
                if left:
                    over_budget[reading.device] = left - 1
            else:
                over.append(Refusal(reading.record, "throttled", f"device {reading.device} sends faster than allowed"))
        return kept, over


async def store(
    conn: psycopg.AsyncConnection,
    readings: list[Reading],
    settings: SensingSettings,
    *,
    whole: bool = False,
    scope: int | None = None,
    received: datetime | None = None,
) -> Outcome:
    """Store a batch in one transaction (making a missing day's partition once) and say what happened.

    The refusals come back by the readings' own ``index``. ``whole``: a batch with any refusal is rolled
    back entirely and nothing is stored (an HTTP gateway fixes its rows and sends the batch again).
    ``scope``: the sender's unit; devices outside it are unknown to it.
    """
    if not readings:
        return Outcome()
    received = received or datetime.now(UTC)
    devices, ats, values, units, _ = zip(*readings, strict=True)
    columns = (
        text_array(devices),
        float8_array(ats),
        float8_array(values),
        text_array(units),
        received,
        settings.clock_skew,
        settings.retention,
        scope,
    )
    for attempt in (1, 2):
        try:
            async with conn.transaction():
                row = await (await conn.execute(INGEST, columns, prepare=True)).fetchone()
                if whole and row is not None and row[0]:
                    raise psycopg.Rollback()
            break
        except psycopg.errors.CheckViolation as error:  # a day without its partition yet: make it, once
            if attempt == 2 or "no partition" not in str(error):
                raise
            await maintain_partitions(conn, settings)
    assert row is not None
    refused_at, refused_why, stored, duplicates, late, raised, cleared, turned = row
    refused = [
        Refusal(readings[position - 1].record, why, f"{readings[position - 1].device}: {REASONS[why]}")
        for position, why in zip(refused_at, refused_why, strict=True)
    ]
    if whole and refused:
        return Outcome(refused=refused)
    return Outcome(stored, duplicates, late, refused, list(raised), list(cleared), list(turned))


async def maintain_partitions(conn: psycopg.AsyncConnection, settings: SensingSettings) -> tuple[int, int]:
    """Create the coming days' reading partitions and drop those past retention: (created, dropped)."""
    async with conn.transaction():
        row = await (await conn.execute(PARTITIONS, (settings.retention,))).fetchone()
    assert row is not None
    return row[0], row[1]


async def count_refusals(conn: psycopg.AsyncConnection, channel: str, reasons: Counter[str]) -> None:
    """Add a batch's refusals to today's count per channel and reason (Beijing day)."""
    if reasons:
        names = sorted(reasons)
        async with conn.transaction():
            await conn.execute(COUNT, (channel, names, [reasons[name] for name in names]))


async def dead_letters(conn: psycopg.AsyncConnection, channel: str, letters: list[tuple[str, Refusal, bytes]]) -> None:
    """Keep refused MQTT records with their topic, reason and (the start of) their payload."""
    if letters:
        async with conn.transaction():
            await conn.execute(
                DEAD_LETTER,
                (
                    channel,
                    [topic for topic, _, _ in letters],
                    [refusal.reason for _, refusal, _ in letters],
                    [f"record {refusal.index}: {refusal.detail}" for _, refusal, _ in letters],
                    [payload[:PAYLOAD_KEPT].decode("utf-8", "replace") for _, _, payload in letters],
                ),
            )
