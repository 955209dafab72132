"""Reporters hear the outcome and rate it: the follow-up outbox's sender, and satisfaction.

Closing or voiding a case queues one ``follow_up`` row per report of the case (merged reports
too) in the transaction that moves it, so an outcome is never announced for a move that rolled
back, nor lost for one that committed. The sender claims due rows (a lease, SKIP LOCKED: several
processes never send one twice at once), delivers each outside any transaction — to
``CITYOPS_FOLLOW_UP_WEBHOOK`` as JSON, the integration point of an SMS gateway or the 12345
system, or else to the data directory's ``follow_up.jsonl`` — and marks it sent, or retries it
later with backoff until ``follow_up_attempts`` run out. Open311 clients see the outcome in the
request's status without any of this.

A reporter rates the outcome with the token their report was answered with (no account needed):
满意 / 基本满意 / 不满意, once, on a closed case; 不满意 reopens it (``reopen`` by the reporter).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import structlog
from psycopg_pool import AsyncConnectionPool

from command.loop_settings import LoopSettings
from command.queries.follow_up import CLAIM, RATE, RETRY, SENT
from command.workflow import Mover, Rules, system_move
from spatial.errors import ConflictError, NotFoundError

LEASE = timedelta(seconds=60)
BATCH = 100
log = structlog.get_logger("cityops.follow_up")


class Rating(StrEnum):
    """Satisfaction as 12345 asks it."""

    SATISFIED = "satisfied"  # 满意
    BASICALLY_SATISFIED = "basically_satisfied"  # 基本满意
    UNSATISFIED = "unsatisfied"  # 不满意


@dataclass(frozen=True)
class Outbox:
    """Where follow-ups go: a webhook, or a JSON-lines file."""

    settings: LoopSettings
    log_path: Path

    async def deliver(self, message: dict[str, Any]) -> None:
        """Hand one follow-up over; raises when the receiver did not take it."""
        if self.settings.follow_up_webhook:
            async with httpx.AsyncClient(timeout=5) as client:
                answer = await client.post(self.settings.follow_up_webhook, json=message)
                answer.raise_for_status()
            return
        line = orjson.dumps(message) + b"\n"
        await asyncio.to_thread(self._append, line)

    def _append(self, line: bytes) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as handle:
            handle.write(line)


async def send_due(pool: AsyncConnectionPool, outbox: Outbox) -> tuple[int, int]:
    """Deliver what is due now; (sent, failed attempts)."""
    async with pool.connection() as conn:
        claimed = await (await conn.execute(CLAIM, (LEASE, BATCH))).fetchall()
    sent = failed = 0
    for row_id, report_id, case_id, channel, outcome, message, attempts in claimed:
        body = {
            "follow_up_id": str(row_id),
            "report_id": str(report_id),
            "case_id": str(case_id),
            "channel": channel,
            "outcome": outcome,
            "message": message,
        }
        try:
            await outbox.deliver(body)
        except (httpx.HTTPError, OSError) as error:
            failed += 1
            async with pool.connection() as conn:
                await conn.execute(
                    RETRY,
                    (str(error)[:500], timedelta(seconds=30 * 2**attempts), outbox.settings.follow_up_attempts, row_id),
                )
            continue
        sent += 1
        async with pool.connection() as conn:
            await conn.execute(SENT, (row_id,))
    return sent, failed


async def send_round(pool: AsyncConnectionPool, outbox: Outbox) -> None:
    """One drain of the outbox, logged (``command.worker`` runs it every sixth of ``deadline_sweep_s``)."""
    sent, failed = await send_due(pool, outbox)
    if sent or failed:
        log.info("follow-ups delivered", sent=sent, failed=failed)


async def rate(
    conn: psycopg.AsyncConnection, token: str, rating: Rating, note: str, settings: LoopSettings, rules: Rules
) -> dict[str, Any]:
    """Record a reporter's rating of their closed case; 不满意 reopens it when so configured."""
    row = await (await conn.execute(RATE, (token, rating.value, note))).fetchone()
    if row is None:
        raise NotFoundError("no report has this token")
    report_id, case_id, state, rated, previous = row
    if previous is not None:
        raise ConflictError(f"report {report_id} was already rated ({previous})")
    if not rated:
        raise ConflictError(f"case {case_id} is {state}: its outcome can be rated once it is closed")
    reopened = None
    if rating is Rating.UNSATISFIED and settings.reopen_on_unsatisfied:
        why = "reporter unsatisfied (不满意)" + (f": {note}" if note else "")
        reopened = await system_move(conn, case_id, "reopen", Mover(f"reporter:report/{report_id}"), why, rules)
    return {
        "report_id": str(report_id),
        "case_id": str(case_id),
        "rating": rating.value,
        "reopened": reopened is not None,
        "state": reopened["state"] if reopened else state,
    }
