"""Delivering the change log to every subscription: in order, signed, retried, then dead-lettered.

One loop of all processes (``exchange_loops``, a singleton by its lock) runs ``Deliveries``. Each round
numbers the newly committed changes (``exchange.changes.sequence_round``), reads them once into a window
held in memory, and starts a delivery for each subscription that has changes due and none in flight.

Each subscription moves on its own: its batch (up to ``CITYOPS_WEBHOOK_BATCH`` of its changes after its
cursor, those its owner's jurisdiction covers, of its types, as one CloudEvents batch) is POSTed in a task
of its own, so a subscriber that is down or slow holds up nobody else. A 2xx moves its cursor to the
batch's last change; anything else (an error status, a refused connection, a timeout) waits
``backoff_s × 2^(tries-1)`` (at most the cap) and sends the same batch again; after the last try the
batch becomes a dead letter (visible, retryable by replay) and the cursor moves past it. One batch in
flight per subscription, in cursor order: each case's changes arrive in the order they were made.

A subscription far behind the window (a replay, a subscriber back after days) reads its stretch from the
database instead. Delivery is at least once: a receiver drops a repeat by the event ids (or the batch's
``webhook-id``).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from functools import partial

import httpx
import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from command.worker import Loop
from exchange.changes import Change, after, batch, sequence_round, source
from exchange.peer_delivery import PeerDeliveries, peer_deliveries
from exchange.settings import ExchangeSettings, retry_wait
from exchange.webhooks import check_url, signed_headers
from spatial.errors import InvalidInputError

log = structlog.get_logger("cityops.webhooks")


WINDOW = 100_000  # the changes kept in memory for the subscriptions that keep up
READ_MOST = 20_000  # changes read in one round at most
ACTIVE = """
SELECT s.id, s.url, s.secret, s.types, s.scope_unit, s.scope_department, s.cursor, s.attempts
FROM subscription s JOIN app_user u ON u.username = s.owner
WHERE s.active AND u.disabled_at IS NULL AND (s.next_attempt_at IS NULL OR s.next_attempt_at <= now())
"""
DELIVERED = """
UPDATE subscription SET cursor = %s, attempts = 0, next_attempt_at = NULL, last_error = NULL,
       last_delivered_at = now(), delivered = delivered + %s
WHERE id = %s AND cursor = %s
"""
FAILED = """
UPDATE subscription SET attempts = %s, next_attempt_at = now() + make_interval(secs => %s), last_error = %s
WHERE id = %s AND cursor = %s
"""
DEAD = """
WITH moved AS (
    UPDATE subscription SET cursor = %(last)s, attempts = 0, next_attempt_at = NULL, last_error = %(error)s
    WHERE id = %(id)s AND cursor = %(cursor)s RETURNING id
)
INSERT INTO dead_letter (subscription_id, first_seq, last_seq, events, attempts, last_error)
SELECT id, %(first)s, %(last)s, %(events)s, %(attempts)s, %(error)s FROM moved
"""


@dataclass(frozen=True)
class Due:
    """A subscription with a delivery due: where it goes, its secret, what it wants, how far it got."""

    id: int
    url: str
    secret: str
    types: frozenset[str]
    scope_unit: int
    scope_department: str | None
    cursor: int
    attempts: int

    def wants(self, change: Change) -> bool:
        """Whether this subscription receives ``change``: its type, within its owner's jurisdiction."""
        return change.type in self.types and change.seen_by(self.scope_unit, self.scope_department)


@dataclass
class Deliveries:
    """The delivery loop's state in the process that holds its lock."""

    pool: AsyncConnectionPool
    settings: ExchangeSettings
    source: str  # the events' CloudEvents source: urn:cityops:<city>
    # a small client per subscription: one shared pool of a thousand connections spent most of a core in
    # httpcore's bookkeeping (each request scans every connection), one per subscriber scans one or two
    clients: dict[int, httpx.AsyncClient] = field(default_factory=dict)
    window: list[Change] = field(default_factory=list)
    read_to: int = -1  # the highest number read into the window (-1: not started)
    # subscription -> (its stored cursor, the number past which nothing is for it): remembered, not written
    skipped: dict[int, tuple[int, int]] = field(default_factory=dict)
    events: dict[int, bytes] = field(default_factory=dict)  # number -> the change as CloudEvents JSON
    flying: dict[int, asyncio.Task[None]] = field(default_factory=dict)
    # deliveries that ended after this round read the subscriptions: their cursor read is already stale
    settled: set[int] = field(default_factory=set)

    async def __call__(self) -> int:
        """One round: number and read the new changes, start each due subscription's delivery; deliveries started."""
        self.settled.clear()
        async with self.pool.connection() as conn:
            await sequence_round(conn)
            if self.read_to < 0:  # the window starts at the lowest cursor still wanted
                row = await (
                    await conn.execute("SELECT coalesce(min(cursor), 0) FROM subscription WHERE active")
                ).fetchone()
                self.read_to = int(row[0]) if row else 0
            self._remember(await after(conn, self.read_to, READ_MOST))
            async with conn.cursor(row_factory=dict_row) as cursor:
                await cursor.execute(ACTIVE)
                due = [Due(**(row | {"types": frozenset(row["types"])})) for row in await cursor.fetchall()]
        started = 0
        for subscription in due:
            if subscription.id in self.flying or subscription.id in self.settled or self._caught_up(subscription):
                continue
            task = asyncio.create_task(self._deliver(subscription), name=f"webhook {subscription.id}")
            self.flying[subscription.id] = task
            task.add_done_callback(partial(self._settle, subscription.id))
            started += 1
        return started

    def _settle(self, subscription_id: int, _: asyncio.Task[None]) -> None:
        self.flying.pop(subscription_id, None)
        self.settled.add(subscription_id)

    def _remember(self, changes: list[Change]) -> None:
        if not changes:
            return
        self.window.extend(changes)
        self.read_to = changes[-1].seq
        if len(self.window) > WINDOW:
            for old in self.window[: len(self.window) - WINDOW]:
                self.events.pop(old.seq, None)
            del self.window[: len(self.window) - WINDOW]

    def _cursor(self, subscription: Due) -> int:
        """Where its next batch starts: past the changes not for it, unless its stored cursor moved (a replay)."""
        stored, past = self.skipped.get(subscription.id, (subscription.cursor, subscription.cursor))
        return max(subscription.cursor, past) if stored == subscription.cursor else subscription.cursor

    def _caught_up(self, subscription: Due) -> bool:
        return self._cursor(subscription) >= self.read_to

    async def _pending(self, subscription: Due) -> list[Change]:
        """The subscription's next batch: from the window, or from the database when it lags behind it."""
        cursor, most = self._cursor(subscription), self.settings.webhook_batch
        if self.window and cursor >= self.window[0].seq - 1:
            start = cursor - (self.window[0].seq - 1)  # numbers are dense: the window is indexed by them
            ahead = (c for c in itertools.islice(self.window, start, None) if subscription.wants(c))
            wanted = list(itertools.islice(ahead, most))  # a batch's worth read, not the whole window
        else:
            wanted = []
            async with self.pool.connection() as conn:
                while len(wanted) < most and cursor < self.read_to:
                    stretch = await after(conn, cursor, READ_MOST)
                    if not stretch:
                        break
                    wanted += [c for c in stretch if subscription.wants(c)][: most - len(wanted)]
                    cursor = stretch[-1].seq if len(wanted) < most else wanted[-1].seq
        if not wanted:
            self.skipped[subscription.id] = (subscription.cursor, self.read_to)
        return wanted

    def _body(self, changes: list[Change]) -> bytes:
        for change in changes:
            if change.seq not in self.events:
                self.events[change.seq] = change.event(self.source)
        return batch([self.events[c.seq] for c in changes])

    async def _deliver(self, subscription: Due) -> None:
        changes = await self._pending(subscription)
        if not changes:
            return
        body = self._body(changes)
        message_id = f"sub{subscription.id}-{changes[0].seq}-{changes[-1].seq}"
        error = await self._post(subscription, message_id, body)
        cursor = subscription.cursor
        async with self.pool.connection() as conn:
            if error is None:
                await conn.execute(DELIVERED, (changes[-1].seq, len(changes), subscription.id, cursor))
                return
            tries = subscription.attempts + 1
            if tries < self.settings.webhook_attempts:
                wait = retry_wait(self.settings.webhook_backoff_s, self.settings.webhook_backoff_cap_s, tries)
                await conn.execute(FAILED, (tries, wait, error, subscription.id, cursor))
                return
            values = {"id": subscription.id, "cursor": cursor, "first": changes[0].seq, "last": changes[-1].seq}
            await conn.execute(DEAD, values | {"events": len(changes), "attempts": tries, "error": error})
            log.warning("webhook batch dead-lettered", subscription=subscription.id, error=error)

    async def _post(self, subscription: Due, message_id: str, body: bytes) -> str | None:
        """Send one batch; None when the subscriber took it (2xx), else what went wrong."""
        client = self.clients.get(subscription.id)
        if client is None:
            limits = httpx.Limits(max_connections=2, max_keepalive_connections=1)
            client = self.clients[subscription.id] = httpx.AsyncClient(
                timeout=self.settings.webhook_timeout_s, limits=limits
            )
        started = time.monotonic()
        try:
            await check_url(subscription.url, self.settings)
            answer = await client.post(
                subscription.url, content=body, headers=signed_headers(subscription.secret, message_id, body)
            )
        except InvalidInputError as refused:
            return str(refused)
        except httpx.HTTPError as failed:
            return f"{type(failed).__name__}: {failed}"[:500] or type(failed).__name__
        if 200 <= answer.status_code < 300:
            return None
        return f"HTTP {answer.status_code} after {time.monotonic() - started:.1f} s: {answer.text[:200]}"

    async def close(self) -> None:
        """Cancel the deliveries in flight and close the HTTP clients."""
        for task in list(self.flying.values()):
            task.cancel()
        await asyncio.gather(*self.flying.values(), return_exceptions=True)
        for client in self.clients.values():
            await client.aclose()


def exchange_loops(
    pool: AsyncConnectionPool, settings: ExchangeSettings, city: str, key: Ed25519PrivateKey
) -> tuple[list[Loop], list[Deliveries | PeerDeliveries]]:
    """The webhook deliveries and the messages to peer cities (each a singleton of all processes), and their
    state, which the caller closes at shutdown."""
    deliveries = Deliveries(pool, settings, source(city))
    peer_loop, to_peers = peer_deliveries(pool, settings, city, key)
    return [Loop("change-delivery", settings.change_interval_s, deliveries), peer_loop], [deliveries, to_peers]
