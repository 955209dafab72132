"""Messages to peer cities: the outbox sent in order per peer, signed, retried until taken, never dropped.

One loop of all processes (a singleton by its lock, like the webhook deliveries). Each round takes, for
every peer, its oldest message not yet taken whose time has come, and POSTs it signed with the
platform's key (``exchange.peers.signed_headers``; each try a new message id, so the peer's replay
check never refuses a retry). A 2xx is taken: a handover's answer is settled (accepted, or refused when
its unit is not the peer's). A 4xx other than 401/408/429 is the peer refusing the handover with its
reason, which the handover keeps. Anything else — refused connection, timeout, 5xx, 401 — waits
``backoff × 2^(tries-1)`` (at most the cap) and is tried again, its last error shown on the metropolitan
screen; messages to a peer go one at a time in their order, so its states arrive as they happened.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx
import orjson
import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from psycopg_pool import AsyncConnectionPool

from command.worker import Loop
from exchange import handovers
from exchange.peers import Peer, signed_headers
from exchange.settings import ExchangeSettings, retry_wait

log = structlog.get_logger("cityops.peers")
# each peer's oldest waiting message, when its time has come (a later one never overtakes it)
DUE = """
SELECT id, kind, handover_id, body, attempts, city, name, code, url, public_key FROM (
    SELECT DISTINCT ON (o.peer) o.id, o.kind, o.handover_id, o.body, o.attempts, o.next_try_at, p.city, p.name,
           p.code, p.url, p.public_key
    FROM peer_outbox o JOIN peer p ON p.city = o.peer
    WHERE o.delivered_at IS NULL
    ORDER BY o.peer, o.id
) oldest WHERE next_try_at <= now()
"""
TAKEN = "UPDATE peer_outbox SET delivered_at = now(), attempts = attempts + 1, last_error = NULL WHERE id = %s"
FAILED = """
UPDATE peer_outbox SET attempts = attempts + 1, last_error = %s,
       next_try_at = now() + make_interval(secs => %s)
WHERE id = %s
"""
RETRYABLE = {401, 408, 425, 429}


@dataclass(frozen=True)
class Message:
    """One message waiting in the outbox."""

    id: int
    kind: str
    handover_id: int
    body: dict[str, object]
    attempts: int
    peer: Peer


class PeerDeliveries:
    """One round: each peer's oldest waiting message, if its time has come."""

    def __init__(
        self, pool: AsyncConnectionPool, settings: ExchangeSettings, city: str, key: Ed25519PrivateKey
    ) -> None:
        self.pool, self.settings, self.city, self.key = pool, settings, city, key
        self.client = httpx.AsyncClient(timeout=settings.peer_timeout_s)

    async def __call__(self) -> None:
        """Send each peer's oldest waiting message whose time has come."""
        async with self.pool.connection() as conn:
            rows = await (await conn.execute(DUE)).fetchall()
        for row in rows:
            await self._send(Message(row[0], row[1], row[2], row[3], row[4], Peer(*row[5:])))

    async def _send(self, message: Message) -> None:
        body = orjson.dumps(message.body)
        path = "" if message.kind == "handover" else f"/{message.body['handover']}/status"
        url = message.peer.endpoint(self.city, path)
        headers = signed_headers(self.key, f"msg{message.id}-{message.attempts + 1}", body)
        started = time.monotonic()
        try:
            answer = await self.client.post(url, content=body, headers=headers)
        except httpx.HTTPError as failed:
            await self._failed(message, f"{type(failed).__name__}: {failed}"[:500] or type(failed).__name__)
            return
        said = f"HTTP {answer.status_code} after {time.monotonic() - started:.1f} s: {answer.text[:300]}"
        if answer.is_success or (400 <= answer.status_code < 500 and answer.status_code not in RETRYABLE):
            async with self.pool.connection() as conn, conn.transaction():
                await conn.execute(TAKEN, (message.id,))
                if message.kind == "handover" and answer.is_success:
                    await handovers.settle_answer(conn, message.peer, message.handover_id, answer.content)
                elif message.kind == "handover":
                    await handovers.refuse(conn, message.handover_id, f"{message.peer.name} refused it: {said}")
                elif not answer.is_success:
                    log.warning("a peer refused a status", peer=message.peer.city, answer=said)
            return
        await self._failed(message, said)

    async def _failed(self, message: Message, error: str) -> None:
        tries = message.attempts + 1
        wait = retry_wait(self.settings.peer_backoff_s, self.settings.peer_backoff_cap_s, tries)
        async with self.pool.connection() as conn:
            await conn.execute(FAILED, (error, wait, message.id))
        log.info("a message to a peer failed; retrying", peer=message.peer.city, tries=tries, error=error)

    async def close(self) -> None:
        """Close the HTTP client."""
        await self.client.aclose()


def peer_deliveries(
    pool: AsyncConnectionPool, settings: ExchangeSettings, city: str, key: Ed25519PrivateKey
) -> tuple[Loop, PeerDeliveries]:
    """The loop sending the peers' messages (a singleton of all processes) and its state to close at shutdown."""
    deliveries = PeerDeliveries(pool, settings, city, key)
    return Loop("peer-delivery", settings.peer_interval_s, deliveries), deliveries
