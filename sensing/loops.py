"""Sensing's background work, as singleton loops for ``command.worker`` (``cityops worker`` and ``cityops serve``).

- ``mqtt-ingest``: the broker's readings, batch by batch (``sensing.mqtt.Consumer``);
- ``alarm-filer``: raised alarms without a case get one (``sensing.alarms.file_cases``), whichever
  channel raised them — a tenth of a second's poll of a partial index that is empty almost always;
- ``alarm-charts``: each filed device alarm's case gets the chart of its readings as evidence, apart from
  the filing so that no case waits for a picture;
- ``sensor-silence``: devices not heard for their rule's minutes go offline (``cityops_silence_round``);
- ``reading-rollup``: minute and hour rollups of what arrived, and the daily partitions kept and dropped.

Each runs in one process of all; the others wait on its lock and take over when it dies.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial

from psycopg_pool import AsyncConnectionPool

from command.media import MediaStore
from command.worker import Loop
from command.working_time import WorkingCalendar
from grid.locate import Locator
from sensing.alarms import Filing, chart_cases, file_cases
from sensing.broker import GATEWAY_USER, PLATFORM_USER, EmbeddedBroker
from sensing.ingest import maintain_partitions
from sensing.mqtt import Address, Consumer
from sensing.pipeline import Intake, announce
from sensing.settings import SensingSettings
from spatial.database import Database
from spatial.settings import StoreSettings

FILER_INTERVAL_S = 0.1
CHARTS_INTERVAL_S = 1.0
INGEST_INTERVAL_S = 0.01  # the rounds themselves wait for messages; on failures this doubles up to the cap
ROLLUP_MARGIN = timedelta(seconds=30)  # a batch stamped before the round but committed after it is still rolled up
SILENCE = "SELECT alarm_id FROM cityops_silence_round(%s)"
ROLLUP = "SELECT minutes, hours FROM cityops_observation_rollup(%s)"


def broker_address(store: StoreSettings, settings: SensingSettings, *, gateway: bool = False) -> Address:
    """``CITYOPS_MQTT_URL``, else the platform's own broker under the data directory (``gateway``: its login for
    devices, which may only publish; else the platform's, which may only read)."""
    if settings.mqtt_url:
        return Address.of(settings.mqtt_url)
    return Address.of(EmbeddedBroker(store).url(GATEWAY_USER if gateway else PLATFORM_USER))


def sensing_loops(database: Database, store: StoreSettings, settings: SensingSettings) -> list[Loop]:
    """The loops of sensing, on the process's API-role pool."""
    pool = database.pool
    filing = Filing(Locator(), WorkingCalendar.china(), MediaStore(store.media_dir))
    consumer = Consumer(pool, Intake(settings, "mqtt"), broker_address(store, settings), settings, store.city)
    return [
        Loop("mqtt-ingest", INGEST_INTERVAL_S, consumer),
        Loop("alarm-filer", FILER_INTERVAL_S, partial(file_round, pool, filing)),
        Loop("alarm-charts", CHARTS_INTERVAL_S, partial(chart_round, pool, filing)),
        Loop("sensor-silence", settings.silence_interval_s, partial(silence_round, pool)),
        Loop("reading-rollup", settings.rollup_interval_s, partial(rollup_round, pool, settings)),
    ]


async def file_round(pool: AsyncConnectionPool, filing: Filing) -> list[int]:
    """File the alarms waiting for a case."""
    async with pool.connection() as conn:
        return await file_cases(conn, filing)


async def chart_round(pool: AsyncConnectionPool, filing: Filing) -> int:
    """Draw the charts of the cases filed since the last round."""
    async with pool.connection() as conn:
        return await chart_cases(conn, filing)


async def silence_round(pool: AsyncConnectionPool, at: datetime | None = None) -> list[int]:
    """Raise the offline alarms of devices silent too long, and announce them."""
    async with pool.connection() as conn:
        async with conn.transaction():
            raised = [row[0] for row in await (await conn.execute(SILENCE, (at or datetime.now(UTC),))).fetchall()]
        await announce(conn, raised)
    return raised


async def rollup_round(pool: AsyncConnectionPool, settings: SensingSettings) -> tuple[int, int]:
    """Roll up what arrived until a margin ago; keep the partitions' window moving."""
    async with pool.connection() as conn:
        await maintain_partitions(conn, settings)
        async with conn.transaction():
            row = await (await conn.execute(ROLLUP, (datetime.now(UTC) - ROLLUP_MARGIN,))).fetchone()
    assert row is not None
    return row[0], row[1]
