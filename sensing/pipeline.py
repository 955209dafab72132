"""One path for readings from every channel: throttled, stored with their rules, areas judged, changes announced.

MQTT (``sensing.mqtt``) and HTTP (``POST /api/v1/observations``) both hand parsed readings to
``Intake.take``. Cases are not filed here: the ``alarm-filer`` loop files them beside the ingest
(``sensing.loops``), so a batch never waits on routing and a slow case never holds readings back.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import psycopg

from sensing.alarms import judge_areas
from sensing.ingest import DeviceThrottle, Outcome, count_refusals, store
from sensing.readings import Reading, Refusal
from sensing.settings import SensingSettings

CHANNEL = "cityops_alarms"  # NOTIFY: "<alarm id>,<alarm id>,…" of alarms raised, cleared or moved
NOTICE_IDS = 400  # ids per notification (a payload stays far below PostgreSQL's 8000 bytes)


async def announce(conn: psycopg.AsyncConnection, alarm_ids: Iterable[int]) -> None:
    """Tell the live map which alarms changed; delivered at commit (autocommit: at once)."""
    ids = sorted(set(alarm_ids))
    for start in range(0, len(ids), NOTICE_IDS):
        chunk = ",".join(str(i) for i in ids[start : start + NOTICE_IDS])
        await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, chunk))


class Intake:
    """A process's intake of readings on one channel (``mqtt`` or ``http``), with its devices' budgets."""

    def __init__(self, settings: SensingSettings, channel: str) -> None:
        self.settings = settings
        self.channel = channel
        self.throttle = DeviceThrottle(settings.device_per_minute, settings.device_burst)

    async def take(
        self,
        conn: psycopg.AsyncConnection,
        readings: list[Reading],
        refused: Sequence[Refusal] = (),
        *,
        whole: bool = False,
        scope: int | None = None,
    ) -> Outcome:
        """Store ``readings`` (``refused``: what parsing refused already, counted with the rest).

        ``whole``: any refusal refuses the batch and nothing is stored (HTTP). ``scope``: the sender's unit
        (HTTP; the broker's access list guards MQTT). Refusals are counted either way.
        """
        kept, throttled = self.throttle.split(readings)
        before = [*refused, *throttled]
        outcome = Outcome() if whole and before else await store(conn, kept, self.settings, whole=whole, scope=scope)
        outcome.refused = sorted([*before, *outcome.refused], key=lambda refusal: refusal.index)
        if whole and outcome.refused:
            outcome.stored = outcome.duplicates = outcome.late = 0
        area_raised, area_cleared = await judge_areas(conn, outcome.turned)
        outcome.raised += area_raised
        outcome.cleared += area_cleared
        await announce(conn, [*outcome.raised, *outcome.cleared])
        await count_refusals(conn, self.channel, outcome.reasons())
        return outcome
