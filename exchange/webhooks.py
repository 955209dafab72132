"""Webhook subscriptions of departments' systems: where they may point, their secrets, their cursors.

A system registers a URL for some change types; it receives what its owner's jurisdiction covers (the
owner's unit and department, fixed when it registers, as row-level security would confine the owner).

**Where a webhook may go.** The platform calls out from inside the government network, so a URL is a way
into it (server-side request forgery): a URL whose host resolves to a loopback, private, link-local,
reserved or otherwise non-global address, or to this machine, is refused with the reason, unless the
host or its network is listed in ``CITYOPS_WEBHOOK_ALLOW_HOSTS`` (the exchange platform's own network,
say). The check runs when the subscription is made and again before each delivery, so a name that
later resolves elsewhere is caught then.

**Signing.** Deliveries are signed as Standard Webhooks prescribes (the ``standardwebhooks`` library):
``webhook-id``, ``webhook-timestamp`` and ``webhook-signature: v1,<base64 HMAC-SHA256 of
"{id}.{timestamp}.{body}">`` with the subscription's own secret — shown once, when it is made. A
receiver refuses a timestamp more than five minutes off, so a captured delivery cannot be replayed
later; the id names the batch, so a receiver can drop a repeat.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import secrets
import socket
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg.rows import dict_row
from pydantic import BaseModel, ConfigDict, Field, HttpUrl
from standardwebhooks.webhooks import Webhook

from command.users import User
from exchange.changes import TYPES
from exchange.settings import ExchangeSettings
from spatial.audit import record_async
from spatial.errors import InvalidInputError, NotFoundError

SECRET_PREFIX = "whsec_"
COLUMNS = """id, name, url, types, active, cursor, attempts, next_attempt_at, last_error, last_delivered_at,
    delivered, created_at"""
INSERT = f"""
INSERT INTO subscription (owner, name, url, secret, types, scope_unit, scope_department)
VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING {COLUMNS}
"""
OWNED = f"SELECT {COLUMNS} FROM subscription WHERE owner = %s ORDER BY id"
ONE = f"SELECT {COLUMNS} FROM subscription WHERE owner = %s AND id = %s"
STOP = f"UPDATE subscription SET active = false WHERE owner = %s AND id = %s RETURNING {COLUMNS}"
REPLAY = f"""
UPDATE subscription SET cursor = %s, attempts = 0, next_attempt_at = NULL, active = true
WHERE owner = %s AND id = %s RETURNING {COLUMNS}
"""
DEAD_OWNED = """
SELECT d.subscription_id, d.id, d.first_seq, d.last_seq, d.events, d.attempts, d.last_error, d.dead_at, d.retried_at
FROM dead_letter d JOIN subscription s ON s.id = d.subscription_id
WHERE s.owner = %s ORDER BY d.id DESC
"""
DEAD = """
SELECT d.id, d.first_seq, d.last_seq, d.events, d.attempts, d.last_error, d.dead_at, d.retried_at
FROM dead_letter d JOIN subscription s ON s.id = d.subscription_id
WHERE s.owner = %s AND s.id = %s ORDER BY d.id DESC LIMIT 200
"""
DEAD_ONE = """
UPDATE dead_letter d SET retried_at = now() FROM subscription s
WHERE s.id = d.subscription_id AND s.owner = %s AND s.id = %s AND d.id = %s RETURNING d.first_seq
"""
_resolved: dict[str, tuple[float, list[str]]] = {}  # host -> (when, addresses): a delivery does not resolve each time
RESOLVED_FOR_S = 60.0


class SubscriptionIn(BaseModel):
    """A webhook as a system registers it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=100, description="What the system is: 水务局工单系统")
    url: HttpUrl = Field(description="Where deliveries are POSTed (https in production)")
    types: list[str] = Field(min_length=1, max_length=len(TYPES), description=f"Change types, of {', '.join(TYPES)}")


def new_secret() -> str:
    """A subscription's signing secret in Standard Webhooks' form (``whsec_`` and 32 random bytes, base64)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def signed_headers(secret: str, message_id: str, body: bytes, at: datetime | None = None) -> dict[str, str]:
    """The Standard Webhooks headers of one delivery."""
    moment = at or datetime.now(UTC)
    signature = Webhook(secret).sign(message_id, moment, body.decode())
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/cloudevents-batch+json",
    }


def _own_addresses() -> set[str]:
    try:
        return set(socket.gethostbyname_ex(socket.gethostname())[2])
    except OSError:
        return set()


def _allowed(host: str, address: str, settings: ExchangeSettings) -> bool:
    for allowed in settings.webhook_allow_hosts:
        if allowed == host:
            return True
        try:
            if ipaddress.ip_address(address) in ipaddress.ip_network(allowed, strict=False):
                return True
        except ValueError:
            continue
    return False


async def check_url(url: str, settings: ExchangeSettings) -> None:
    """Refuse a URL the platform must not call (InvalidInputError saying why); allowed ones pass silently."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInputError(f"{url}: a webhook URL is http(s)://host/…")
    host = parts.hostname
    known = _resolved.get(host)
    if known is not None and time.monotonic() - known[0] < RESOLVED_FOR_S:
        addresses = known[1]
    else:
        try:
            found = await asyncio.get_running_loop().getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
        except OSError as error:
            raise InvalidInputError(f"{url}: {host} does not resolve ({error})") from None
        addresses = sorted({str(entry[4][0]) for entry in found})
        _resolved[host] = (time.monotonic(), addresses)
    own = _own_addresses()
    for address in addresses:
        if _allowed(host, address, settings):
            continue
        ip = ipaddress.ip_address(address)
        if not ip.is_global or address in own:
            why = "this machine" if address in own or ip.is_loopback else "a private or reserved network"
            raise InvalidInputError(
                f"{url}: {host} resolves to {address}, {why}; a webhook may reach it only when "
                "CITYOPS_WEBHOOK_ALLOW_HOSTS lists the host or its network"
            )


async def _rows(conn: psycopg.AsyncConnection, sql: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(sql, params)
        return await cursor.fetchall()


async def _one(
    conn: psycopg.AsyncConnection, sql: str, params: tuple[Any, ...], subscription_id: int
) -> dict[str, Any]:
    rows = await _rows(conn, sql, params)
    if not rows:
        raise NotFoundError(f"no subscription {subscription_id} of yours")
    return rows[0]


async def subscribe(
    conn: psycopg.AsyncConnection, user: User, draft: SubscriptionIn, settings: ExchangeSettings
) -> tuple[dict[str, Any], str]:
    """Register a webhook for ``user``'s jurisdiction from now on; the row and its secret (shown this once)."""
    unknown = sorted(set(draft.types) - set(TYPES))
    if unknown:
        raise InvalidInputError(f"unknown change type(s) {', '.join(unknown)}; one of {', '.join(TYPES)}")
    await check_url(str(draft.url), settings)
    secret = new_secret()
    head = await (await conn.execute("SELECT cityops_change_head()")).fetchone()
    params = (
        user.username,
        draft.name,
        str(draft.url),
        secret,
        sorted(set(draft.types)),
        user.unit_id,
        user.department,
    )
    row = (await _rows(conn, INSERT, params))[0]
    cursor = int(head[0]) if head else 0  # from now on: a system wanting the past replays from a cursor
    await conn.execute("UPDATE subscription SET cursor = %s WHERE id = %s", (cursor, row["id"]))
    await record_async(
        conn, user.username, "subscription.created", str(row["id"]), url=str(draft.url), types=draft.types
    )
    return row | {"cursor": cursor}, secret


async def owned(conn: psycopg.AsyncConnection, user: User) -> list[dict[str, Any]]:
    """The user's subscriptions."""
    return await _rows(conn, OWNED, (user.username,))


async def one(conn: psycopg.AsyncConnection, user: User, subscription_id: int) -> dict[str, Any]:
    """One of the user's subscriptions, or NotFoundError."""
    return await _one(conn, ONE, (user.username, subscription_id), subscription_id)


async def stop(conn: psycopg.AsyncConnection, user: User, subscription_id: int) -> dict[str, Any]:
    """Stop deliveries (the subscription stays, with its cursor, for the record)."""
    row = await _one(conn, STOP, (user.username, subscription_id), subscription_id)
    await record_async(conn, user.username, "subscription.stopped", str(subscription_id))
    return row


async def replay(conn: psycopg.AsyncConnection, user: User, subscription_id: int, cursor: int) -> dict[str, Any]:
    """Deliver again everything after ``cursor`` (a change's ``sequence``), in order; a stopped one restarts."""
    head = await (await conn.execute("SELECT cityops_change_head()")).fetchone()
    newest = int(head[0]) if head else 0
    if not 0 <= cursor <= newest:  # past the newest change, a replay would skip every change up to the cursor
        raise InvalidInputError(f"a replay starts after a change that exists: a number from 0 to {newest}")
    row = await _one(conn, REPLAY, (cursor, user.username, subscription_id), subscription_id)
    await record_async(conn, user.username, "subscription.replayed", str(subscription_id), cursor=cursor)
    return row


async def dead_letters(conn: psycopg.AsyncConnection, user: User, subscription_id: int) -> list[dict[str, Any]]:
    """The batches that failed every attempt, newest first."""
    await one(conn, user, subscription_id)
    return await _rows(conn, DEAD, (user.username, subscription_id))


async def dead_letters_by_subscription(conn: psycopg.AsyncConnection, user: User) -> dict[int, list[dict[str, Any]]]:
    """The dead letters of all the user's subscriptions at once, newest first under each (one query, for a page)."""
    found: dict[int, list[dict[str, Any]]] = {}
    for row in await _rows(conn, DEAD_OWNED, (user.username,)):
        found.setdefault(row.pop("subscription_id"), []).append(row)
    return found


async def retry_dead_letter(
    conn: psycopg.AsyncConnection, user: User, subscription_id: int, letter_id: int
) -> dict[str, Any]:
    """Deliver a dead letter's changes again: a replay from just before its first change."""
    rows = await _rows(conn, DEAD_ONE, (user.username, subscription_id, letter_id))
    if not rows:
        raise NotFoundError(f"no dead letter {letter_id} of subscription {subscription_id}")
    return await replay(conn, user, subscription_id, int(rows[0]["first_seq"]) - 1)
