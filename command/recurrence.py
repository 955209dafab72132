"""Recurrence: the same place and category N times in T days becomes a root-cause task proposal.

A hot spot says where many cases are; a recurrence says where one kind of case keeps coming
back — the blocked drain, the broken lamp — which clearing each case will never end. Detection
runs in the database over the caller's rows (row-level security); proposing writes one row per
place and category while it is open (migration 0017) and refreshes it when run again; the
decision is a commander's, audited, and a decided place proposes again only from cases filed
after the decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import h3
import psycopg
from psycopg.rows import dict_row

from command.queries.recurrence import COLUMNS, DECIDE, DETECT, PROPOSE
from spatial.audit import record_async
from spatial.errors import ConflictError, InvalidInputError, NotFoundError
from spatial.rows import one

MIN_TIMES, MIN_DAYS, MAX_DAYS = 2, 1, 366
DECISIONS = ("accepted", "dismissed")
LIMIT = 1000


@dataclass(frozen=True)
class Recurrence:
    """How a recurrence is defined: the same cell (at ``resolution``) and category ``times`` times in ``days``."""

    scope_unit: int
    times: int = 3
    days: int = 30
    resolution: int = 9
    categories: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.times < MIN_TIMES:
            raise InvalidInputError(f"times must be at least {MIN_TIMES}: one case is not a recurrence")
        if not MIN_DAYS <= self.days <= MAX_DAYS:
            raise InvalidInputError(f"days must be {MIN_DAYS}…{MAX_DAYS}, got {self.days}")
        if not 6 <= self.resolution <= 10:
            raise InvalidInputError(f"resolution must be 6…10, got {self.resolution}")


def _place(row: dict[str, Any]) -> dict[str, object]:
    cell = h3.int_to_str(int(row.pop("cell")))
    lat, lon = h3.cell_to_latlng(cell)
    row.pop("units", None)
    return {"h3": cell, "lon": round(lon, 6), "lat": round(lat, 6), **row}


async def detect(conn: psycopg.AsyncConnection, rule: Recurrence, now: datetime) -> list[dict[str, object]]:
    """Places and categories over the threshold, most cases first (with their open proposal, if any)."""
    categories = "AND e.category_code LIKE ANY(%(categories)s)" if rule.categories else ""
    params = {
        "resolution": rule.resolution,
        "scope": rule.scope_unit,
        "since": now - timedelta(days=rule.days),
        "times": rule.times,
        "limit": LIMIT,
        "categories": [f"{c}%" for c in rule.categories],
    }
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(DETECT.format(categories=categories), params)
        return list(await cur.fetchall())


async def propose(
    conn: psycopg.AsyncConnection, rule: Recurrence, now: datetime, actor: str
) -> list[dict[str, object]]:
    """Detect and store: one open proposal per place and category (refreshed if it is already open)."""
    found = await detect(conn, rule, now)
    proposals = []
    for row in found:
        created_id, created = one(
            await (await conn.execute(PROPOSE, {**row, "days": rule.days, "actor": actor})).fetchone()
        )
        proposals.append({**_place(row), "proposal_id": created_id, "created": created})
    return proposals


def places(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """Detected rows as the API shows them: the cell as an H3 id with its centre."""
    return [_place(dict(row)) for row in rows]


async def listed(conn: psycopg.AsyncConnection, state: str | None) -> list[dict[str, object]]:
    """Proposals in the caller's scope, newest first."""
    where = "WHERE state = %s" if state else ""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {COLUMNS} FROM root_cause_proposal {where} ORDER BY updated_at DESC LIMIT {LIMIT}",
            (state,) if state else (),
        )
        return [_place(row) for row in await cur.fetchall()]


async def decide(
    conn: psycopg.AsyncConnection, proposal_id: int, decision: str, note: str | None, actor: str
) -> dict[str, object]:
    """Accept or dismiss an open proposal, once; audited."""
    if decision not in DECISIONS:
        raise InvalidInputError(f"decision must be one of {', '.join(DECISIONS)}, got {decision!r}")
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(DECIDE, {"id": proposal_id, "decision": decision, "note": note, "actor": actor})
        row = await cur.fetchone()
        if row is None:
            await cur.execute("SELECT state FROM root_cause_proposal WHERE id = %s", (proposal_id,))
            existing = await cur.fetchone()
            if existing is None:
                raise NotFoundError(f"no root-cause proposal {proposal_id} in your jurisdiction")
            raise ConflictError(f"proposal {proposal_id} is already {existing['state']}")
    await record_async(
        conn, actor, f"proposal.{decision}", f"root_cause_proposal:{proposal_id}", decision=decision, note=note
    )
    return _place(row)
