"""The audit trail: who did what, appended at once and chained by hash shortly after.

``record`` appends (inside the caller's transaction, so an action and its entry commit or roll
back together) without waiting for anyone; ``seal`` chains every entry committed since the last
seal (the worker loops seal every second — ``seal_round``); ``verify`` seals, then recomputes every hash
and checks every link, and names the first entry that does not fit. Note: removing the newest
entries leaves a shorter, valid chain — compare the head with one kept elsewhere (``cityops
audit verify`` prints it) to notice that.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
import psycopg
import structlog
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import Connection, text

from spatial.rows import one

VERIFY_SQL = """
SELECT id, hash = cityops_audit_hash(prev_hash, at, actor, action, subject, detail) AS content_ok,
       prev_hash = coalesce(lag(hash) OVER (ORDER BY seq), repeat('0', 64)) AS link_ok
FROM audit_log WHERE seq IS NOT NULL ORDER BY seq
"""
SEAL_SQL = "SELECT cityops_audit_seal()"
log = structlog.get_logger("cityops.audit")


RECORD_SQL = "SELECT cityops_audit(%s, %s, %s, CAST(%s AS jsonb))"


def entry(actor: str, action: str, subject: str | None, detail: dict[str, object]) -> tuple[object, ...]:
    """The parameters of ``RECORD_SQL`` (for a caller holding a bare psycopg connection)."""
    return actor, action, subject, orjson.dumps(detail).decode()


def record(conn: Connection, actor: str, action: str, subject: str | None = None, **detail: object) -> int:
    """Append one entry; returns its id."""
    return conn.exec_driver_sql(RECORD_SQL, entry(actor, action, subject, detail)).scalar_one()


async def record_async(
    conn: psycopg.AsyncConnection, actor: str, action: str, subject: str | None = None, **detail: object
) -> int:
    """``record`` on an asyncio connection (the API's hot paths)."""
    row = await (await conn.execute(RECORD_SQL, entry(actor, action, subject, detail))).fetchone()
    return one(row)[0]


@dataclass(frozen=True)
class Verdict:
    """What verification found."""

    entries: int
    head: str | None
    first_bad: int | None
    reason: str | None

    @property
    def intact(self) -> bool:
        """No edited, inserted or removed entry was found."""
        return self.first_bad is None


def seal(conn: Connection) -> int:
    """Chain every committed entry not chained yet; returns how many (0 while another sealer works)."""
    sealed = int(conn.exec_driver_sql(SEAL_SQL).scalar_one())
    conn.commit()
    return sealed


async def seal_round(pool: AsyncConnectionPool) -> None:
    """One pass of the background sealer (``command.worker`` runs it every second; a failed pass is retried)."""
    async with pool.connection() as conn:
        await conn.execute(SEAL_SQL)


def verify(conn: Connection) -> Verdict:
    """Seal, then recompute the chain; the first entry whose content or link does not match is reported."""
    seal(conn)
    entries = 0
    for entry_id, content_ok, link_ok in conn.execute(text(VERIFY_SQL)):
        entries += 1
        if not content_ok:
            return Verdict(entries, None, entry_id, "its content was changed after it was written")
        if not link_ok:
            return Verdict(entries, None, entry_id, "the entry before it was changed, removed or inserted")
    head = conn.execute(text("SELECT hash FROM audit_log WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1")).scalar()
    return Verdict(entries, head, None, None)
