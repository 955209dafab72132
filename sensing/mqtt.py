"""The platform's MQTT subscription: readings from ``cityops/<city>/sensors/<device>/obs``, QoS 1, a persistent session.

paho-mqtt runs the connection in its own thread and hands each message to the event loop. Messages
are gathered for at most ``batch_window_s`` (or ``batch_max`` readings), parsed, stored as one batch
(``sensing.pipeline.Intake``) and only then acknowledged: a message is acknowledged once its readings
are in the database (or refused and kept as a dead letter), so neither the platform stopping nor the
broker restarting loses one. A redelivered message stores nothing twice (readings are unique per
device and time). A batch the database refuses to take (it is down) is kept and tried again,
unacknowledged, until it goes in.

One subscriber runs at a time across processes (the loop's advisory lock): the session is the client
id's, and two clients with one id would take it from each other.
"""

from __future__ import annotations

import asyncio
import bisect
import zlib
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as paho
import structlog
from psycopg_pool import AsyncConnectionPool

from sensing.ingest import dead_letters
from sensing.pipeline import Intake
from sensing.readings import Reading, Refusal, parse
from sensing.settings import SensingSettings

log = structlog.get_logger("cityops.mqtt")
FIRST_WAIT_S = 1.0  # a round waits this long for a first message, then yields to the loop
WRITERS = 2  # concurrent transactions per batch (the machine's cores), devices split between them


@dataclass(frozen=True)
class Address:
    """A broker and the login: from ``mqtt://user:password@host:port``."""

    host: str
    port: int
    user: str | None
    password: str | None
    tls: bool

    @classmethod
    def of(cls, url: str) -> Address:
        """Read a broker URL (``mqtts://`` for TLS; port 1883 or 8883 when none is given)."""
        parts = urlsplit(url)
        tls = parts.scheme == "mqtts"
        return cls(
            parts.hostname or "127.0.0.1",
            parts.port or (8883 if tls else 1883),
            unquote(parts.username) if parts.username else None,
            unquote(parts.password) if parts.password else None,
            tls,
        )


@dataclass
class Batch:
    """Messages gathered for one store: their readings (indexed across the batch) and what to acknowledge.

    The readings are kept in ``WRITERS`` shares by device (a device always in the same share: no two
    transactions ever wait on one device's rows); a message is one device's, so it is placed once.
    """

    shares: list[list[Reading]] = field(default_factory=lambda: [[] for _ in range(WRITERS)])
    count: int = 0  # readings in all shares
    refused: list[Refusal] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)  # each message's first record index
    messages: list[tuple[str, bytes]] = field(default_factory=list)
    mids: list[int] = field(default_factory=list)
    next_index: int = 0

    def add(self, topic: str, payload: bytes, mid: int) -> None:
        """Parse one message into the batch (the device is the topic's)."""
        start = self.next_index
        parts = topic.split("/")
        device = parts[3] if len(parts) == 5 else None
        if device:
            readings, refused = parse(payload, device=device, first=start)
        else:
            wrong = Refusal(start, "malformed", f"topic {topic} is not cityops/<city>/sensors/<device>/obs")
            readings, refused = [], [wrong]
        self.next_index = start + max(1, len(readings) + len(refused))
        self.starts.append(start)
        self.messages.append((topic, payload))
        self.mids.append(mid)
        if readings:
            self.shares[zlib.crc32(readings[0].device.encode()) % WRITERS] += readings
            self.count += len(readings)
        self.refused += refused

    def letters(self, refused: list[Refusal]) -> list[tuple[str, Refusal, bytes]]:
        """Each refusal with the topic and payload of the message it came from (for the dead letters)."""
        letters = []
        for refusal in refused:
            topic, payload = self.messages[bisect.bisect_right(self.starts, refusal.index) - 1]
            letters.append((topic, refusal, payload))
        return letters


class Subscriber:
    """A persistent-session subscription whose messages wait in a queue until their batch is stored."""

    def __init__(self, address: Address, settings: SensingSettings, city: str) -> None:
        self.settings = settings
        self.pattern = f"cityops/{city}/sensors/+/obs"
        self.arrived: deque[tuple[str, bytes, int]] = deque()  # paho's thread appends, the event loop takes
        self.signalled = False  # the loop was told of messages it has not yet found empty
        self.waiting = asyncio.Event()
        self.connected = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self.client = paho.Client(
            paho.CallbackAPIVersion.VERSION2,
            client_id=f"{settings.mqtt_client_id}-{city}",  # a city's own session: one broker may serve several
            clean_session=False,
            protocol=paho.MQTTv311,
            manual_ack=True,
        )
        if address.user:
            self.client.username_pw_set(address.user, address.password)
        if address.tls:
            self.client.tls_set()
        self.client.reconnect_delay_set(min_delay=1, max_delay=5)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.connect_async(address.host, address.port, keepalive=30)
        self.client.loop_start()

    def _on_connect(self, client: paho.Client, _data: object, _flags: object, reason: object, _props: object) -> None:
        if getattr(reason, "is_failure", False):
            log.warning("mqtt login refused", reason=str(reason))
            return
        client.subscribe(self.pattern, qos=1)
        self._loop.call_soon_threadsafe(self.connected.set)
        log.info("mqtt subscribed", topics=self.pattern)

    def _on_disconnect(self, _client: paho.Client, _data: object, _flags: object, reason: object, _p: object) -> None:
        self._loop.call_soon_threadsafe(self.connected.clear)
        log.warning("mqtt connection lost; reconnecting", reason=str(reason))

    def _on_message(self, _client: paho.Client, _userdata: object, message: paho.MQTTMessage) -> None:
        # the loop is woken once for a run of messages, not once each (a wake-up costs more than a message)
        self.arrived.append((message.topic, message.payload, message.mid))
        if not self.signalled:
            self.signalled = True
            self._loop.call_soon_threadsafe(self.waiting.set)

    async def first(self, timeout_s: float) -> tuple[str, bytes, int] | None:
        """The next message, waiting up to ``timeout_s`` for one."""
        if not self.arrived:
            self.waiting.clear()
            self.signalled = False
            if not self.arrived:  # (paho may have appended between the look and the flag)
                try:
                    await asyncio.wait_for(self.waiting.wait(), timeout_s)
                except TimeoutError:
                    return None
        return self.arrived.popleft()

    def acknowledge(self, mids: list[int]) -> None:
        """PUBACK each message of a stored batch."""
        for mid in mids:
            self.client.ack(mid, 1)

    def close(self) -> None:
        """Disconnect; the broker keeps the session and queues what arrives meanwhile."""
        self.client.disconnect()
        self.client.loop_stop()


class Consumer:
    """Rounds of the ``mqtt-ingest`` loop: gather a batch while the previous one is stored, then acknowledge that one.

    One batch is in the database at a time, and the next is received and parsed meanwhile, so the parsing
    and the database work overlap instead of adding up; a batch itself is stored by ``WRITERS``
    transactions at once, each with its own devices.
    """

    def __init__(
        self, pool: AsyncConnectionPool, intake: Intake, address: Address, settings: SensingSettings, city: str
    ) -> None:
        self.pool, self.intake, self.address, self.settings, self.city = pool, intake, address, settings, city
        self.subscriber: Subscriber | None = None
        self.pending: Batch | None = None  # a batch the database did not take: tried again, unacknowledged
        self.storing: tuple[Batch, asyncio.Task[None]] | None = None

    async def __call__(self) -> None:
        """One round. Cancelled (the process stops, or the loop's lock is lost), it leaves the broker: what it
        had not acknowledged comes again."""
        try:
            await self._round()
        except asyncio.CancelledError:
            if self.storing is not None:
                self.storing[1].cancel()
            self.close()
            raise

    async def _round(self) -> None:
        if self.subscriber is None:
            self.subscriber = Subscriber(self.address, self.settings, self.city)
        if self.pending is not None:  # the database failed it: again, before anything newer
            failed, self.pending = self.pending, None
            self.storing = (failed, asyncio.create_task(self._store(failed)))
            await self._finish()
            return
        batch = await self._gather(self.subscriber)  # while the previous batch is being stored
        await self._finish()
        if batch is not None:
            self.storing = (batch, asyncio.create_task(self._store(batch)))

    async def _store(self, batch: Batch) -> None:
        """The batch in ``WRITERS`` transactions at once, a share each, so the database works on every core."""
        refusals = await asyncio.gather(
            *(self._store_share(share, batch.refused if i == 0 else []) for i, share in enumerate(batch.shares))
        )
        async with self.pool.connection() as conn:
            await dead_letters(conn, "mqtt", batch.letters([r for found in refusals for r in found]))

    async def _store_share(self, readings: list[Reading], refused: list[Refusal]) -> list[Refusal]:
        async with self.pool.connection() as conn:
            return (await self.intake.take(conn, readings, refused)).refused

    async def _finish(self) -> None:
        """Wait for the batch in the database and acknowledge it; a failure keeps it for the next round."""
        if self.storing is None:
            return
        batch, task = self.storing
        self.storing = None
        try:
            await task
        except Exception:
            self.pending = batch
            raise
        assert self.subscriber is not None
        self.subscriber.acknowledge(batch.mids)

    async def _gather(self, subscriber: Subscriber) -> Batch | None:
        loop = asyncio.get_running_loop()
        first = await subscriber.first(FIRST_WAIT_S)
        if first is None:
            return None
        batch = Batch()
        batch.add(*first)
        deadline = loop.time() + self.settings.batch_window_s
        while batch.count < self.settings.batch_max:
            while subscriber.arrived and batch.count < self.settings.batch_max:
                batch.add(*subscriber.arrived.popleft())
            left = deadline - loop.time()
            if left <= 0:
                break
            await asyncio.sleep(min(left, 0.01))
        return batch

    def close(self) -> None:
        """Leave the broker (the session stays with it); unacknowledged messages are forgotten here."""
        if self.subscriber is not None:
            self.subscriber.close()
            self.subscriber = None
        self.pending = self.storing = None
