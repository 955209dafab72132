"""The incident's timeline: every change, in order, append-only (the API may insert and read, never alter).

The after-action report and the board read it; each entry also goes to the audit log's hash chain
through ``spatial.audit`` so the record of a major incident is tamper-evident like every case's.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from incidents.queries.timeline import LOG, READ
from spatial.audit import record_async
from spatial.rows import one

CHANNEL = "cityops_incidents"  # the change feed: the board and the command map listen
MAX_PAGE = 500


async def log(
    conn: psycopg.AsyncConnection, incident_id: int, action: str, actor: str, note: str, **detail: Any
) -> int:
    """Write one timeline entry (and its audit record), and announce the change; returns the entry's id."""
    entry = one(await (await conn.execute(LOG, (incident_id, action, actor, note, Jsonb(detail)))).fetchone())[0]
    await record_async(conn, actor, f"incident.{action}", f"incident:{incident_id}", **detail)
    await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"{action}:{incident_id}"))
    return int(entry)


async def entries(
    conn: psycopg.AsyncConnection, incident_id: int, after: int = 0, limit: int = MAX_PAGE
) -> list[dict[str, Any]]:
    """Timeline entries after ``after`` (an entry id), oldest first."""
    rows = await (await conn.execute(READ, (incident_id, after, min(limit, MAX_PAGE)))).fetchall()
    return [
        {"id": i, "action": action, "actor": actor, "at": at.isoformat(), "note": note, "detail": detail}
        for i, action, actor, at, note, detail in rows
    ]
