"""Who to send: the k nearest available forces that can do the job, with the reason for each.

The ranking itself is one database call (``cityops_rank_forces``, migrations 0013 and 0019: a
force at a fixed post without a fresh fix stands at its home and is not stale): exact
geodesic distance within preference tiers — the responsible unit's own forces (its subtree and
its district), then neighbouring units', then the rest of the city — because 属地 (the
territorial unit) handles its own cases first and borrowing is coordinated allocation. Next to
the chosen, the answer lists the nearer forces that were passed over and why (busy, stale
position, off shift, lacking the capability, a less preferred unit), and a shortfall when
fewer than k qualify: a commander must be able to see why the list looks as it does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row

from forces.queries.recommend import CAPABILITIES, CASE_SITE, RANK
from spatial.errors import InvalidInputError, NotFoundError

MAX_K = 50
PASSED_OVER = 10
TIER_REASONS = ("responsible_unit", "neighbouring_unit", "other_unit")


@dataclass(frozen=True)
class Need:
    """What the case needs and how fresh a position must be to count."""

    k: int
    capabilities: tuple[str, ...]
    stale_after: timedelta
    zone: ZoneInfo
    look_m: float = 3000.0  # how far to explain when nothing qualifies


async def check_capabilities(conn: psycopg.AsyncConnection, capabilities: tuple[str, ...]) -> None:
    """Refuse capabilities the directory does not know, naming the known ones."""
    if not capabilities:
        return
    known = {row[0] for row in await (await conn.execute(CAPABILITIES)).fetchall()}
    unknown = sorted(set(capabilities) - known)
    if unknown:
        raise InvalidInputError(f"unknown capability {', '.join(unknown)}; known: {', '.join(sorted(known))}")


def eta_seconds(distance_m: float, speed_kmh: float, detour: float) -> int:
    """Straight-line distance stretched by the road detour factor, at the kind's average speed."""
    return round(distance_m * detour / (speed_kmh / 3.6))


def _card(row: dict[str, Any], scope_unit: int) -> dict[str, Any]:
    card = {
        "id": row["id"],
        "code": row["code"],
        "name": row["name"],
        "kind": row["kind"],
        "unit": {"code": row["unit_code"], "name": row["unit_name"]},
        "department": row["department"],
        "capabilities": row["capabilities"],
        "status": row["status"],
        "position": None
        if row["lon"] is None
        else {"lon": row["lon"], "lat": row["lat"], "fixed_at": row["fixed_at"].isoformat()},
        "distance_m": round(row["distance_m"], 1),
        "eta_s": eta_seconds(row["distance_m"], row["speed_kmh"], row["detour"]),
        "in_your_jurisdiction": scope_unit in row["units"],
    }
    return card


async def check_need(conn: psycopg.AsyncConnection, need: Need) -> None:
    """Refuse a k out of range or an unknown capability before anything is read."""
    if not 1 <= need.k <= MAX_K:
        raise InvalidInputError(f"k must be 1–{MAX_K}")
    await check_capabilities(conn, need.capabilities)


async def rank_near(
    conn: psycopg.AsyncConnection, at: object, own: int, need: Need, scope_unit: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The chosen force cards nearest ``at`` (a point geometry) in ``own``'s preference tiers, and the
    nearer ones passed over with their reason; a case's candidates and an incident's nearest forces
    for its whole area both rank this way (``check_need`` first)."""
    now = datetime.now(need.zone)
    params = {
        "at": at,
        "own": own,
        "k": need.k,
        "caps": list(need.capabilities),
        "fresh": now - need.stale_after,
        "local": now.time(),
        "look": need.look_m,
        "passed": PASSED_OVER,
    }
    async with conn.cursor(row_factory=dict_row) as cur:
        rows = await (await cur.execute(RANK, params, prepare=True)).fetchall()
    chosen: list[dict[str, Any]]
    passed: list[dict[str, Any]]
    chosen, passed = [], []
    for row in rows:
        card = _card(row, scope_unit)
        if row["reason"] is None:
            rank_in_tier = sum(1 for c in chosen if c["tier"] == row["tier"]) + 1
            card["tier"] = row["tier"]
            card["reasons"] = [
                TIER_REASONS[row["tier"]],
                "nearest_available" if rank_in_tier == 1 else f"nearest_available_{rank_in_tier}",
            ]
            if not card["in_your_jurisdiction"]:
                card["reasons"].append("request_from_owner")
            chosen.append(card)
        else:
            card["reason"] = row["reason"]
            passed.append(card)
    return chosen, passed


def shortfall(chosen: list[dict[str, Any]], need: Need) -> dict[str, Any] | None:
    """Why fewer than k were chosen, or None when k were."""
    if len(chosen) >= need.k:
        return None
    return {
        "missing": need.k - len(chosen),
        "reason": f"only {len(chosen)} available, on-shift force(s) at a fixed post or with a position "
        f"fresher than {int(need.stale_after.total_seconds() // 60)} min"
        + (f" and capabilities {', '.join(need.capabilities)}" if need.capabilities else ""),
    }


async def candidates(conn: psycopg.AsyncConnection, case_id: int, need: Need, scope_unit: int) -> dict[str, Any]:
    """The recommendation card for a case the caller can see (else NotFoundError)."""
    await check_need(conn, need)
    case = await (await conn.execute(CASE_SITE, (case_id,))).fetchone()
    if case is None:
        raise NotFoundError(f"no case {case_id}")
    chosen, passed = await rank_near(conn, case[0], case[1], need, scope_unit)
    answer: dict[str, Any] = {
        "case_id": case_id,
        "k": need.k,
        "capabilities": list(need.capabilities),
        "candidates": chosen,
        "passed_over": passed,
    }
    if (short := shortfall(chosen, need)) is not None:
        answer["shortfall"] = short
    if case[2] is not None:
        answer["warning"] = "the case is closed"
    return answer
