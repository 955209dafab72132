"""Directory queries for the command screen: which forces, where, in what state — and how many.

Rows come through the caller's scope (row-level security on ``force``); the filters narrow it
to a unit's subtree, capabilities, statuses, kinds, and an area (bbox, a circle, a polygon).
Contact is personal data: masked unless the caller may read it (and then audited by the route).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from forces.dispatch import release
from forces.vocabulary import STATUSES, ForceStatus
from spatial.audit import record_async
from spatial.errors import ConflictError, InvalidInputError, NotFoundError
from spatial.privacy import mask_contact

FORCE_FIELDS = (
    "id",
    "code",
    "name",
    "kind",
    "unit_code",
    "unit_name",
    "department",
    "capabilities",
    "status",
    "status_at",
    "shift",
    "contact_name",
    "contact_phone",
    "lon",
    "lat",
    "fixed_at",
    "stale",
    "case_id",
)
FORCES_SQL = """
SELECT f.id, f.code, f.name, f.kind::text AS kind, u.code AS unit_code, u.name AS unit_name, f.department,
       f.capabilities, f.status::text AS status, f.status_at, f.shift_start, f.shift_end, f.contact,
       ST_X(p.geom) AS lon, ST_Y(p.geom) AS lat, p.fixed_at, f.fixed_post,
       (SELECT a.case_id FROM assignment a WHERE a.force_id = f.id AND a.released_at IS NULL) AS case_id
FROM force f JOIN unit u ON u.id = f.unit_id LEFT JOIN force_position p ON p.force_id = f.id
WHERE {where}
ORDER BY f.id DESC LIMIT %(limit)s
"""
COUNTS_SQL = """
SELECT coalesce(c.code, u.code) AS code, coalesce(c.name, u.name) AS name, f.status::text AS status, count(*) AS n,
       count(*) FILTER (WHERE NOT f.fixed_post AND (p.fixed_at IS NULL OR p.fixed_at < %(fresh)s)) AS stale
FROM unit u
JOIN force f ON f.units @> ARRAY[u.id]
LEFT JOIN unit c ON c.id = ANY(f.units) AND (c.parent_id = u.id OR c.admin_parent_id = u.id)
LEFT JOIN force_position p ON p.force_id = f.id
WHERE u.code = %(unit)s
GROUP BY 1, 2, 3 ORDER BY 1, 3
"""
STATUS_CHANGE = "UPDATE force SET status = %s::force_status WHERE id = %s RETURNING code"
ACTIVE = "SELECT id FROM assignment WHERE force_id = %s AND released_at IS NULL"


@dataclass(frozen=True)
class ForceFilter:
    """What a directory list is narrowed to; every value is bound as a parameter."""

    limit: int = 100
    before_id: int | None = None
    unit: str | None = None
    capabilities: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    bbox: tuple[float, float, float, float] | None = None
    near: tuple[float, float, float] | None = None  # lon, lat, radius in metres
    within_wkb: bytes | None = None
    stale_after: timedelta = field(default=timedelta(minutes=30))

    def where(self) -> tuple[str, dict[str, object]]:
        """SQL conditions on ``f`` (force), ``p`` (position), ``u`` (unit) and their parameters."""
        conditions, params = ["true"], dict[str, object](limit=self.limit)
        simple = (
            ("before_id", "f.id < %(before_id)s", self.before_id),
            ("unit", "f.units @> ARRAY[(SELECT id FROM unit WHERE code = %(unit)s)]", self.unit),
            ("capabilities", "f.capabilities @> %(capabilities)s", list(self.capabilities) or None),
            ("statuses", "f.status::text = ANY(%(statuses)s)", list(self.statuses) or None),
            ("kinds", "f.kind::text = ANY(%(kinds)s)", list(self.kinds) or None),
            ("within", "ST_Intersects(p.geom, ST_GeomFromWKB(%(within)s, 4326))", self.within_wkb),
        )
        for name, sql, value in simple:
            if value is not None:
                conditions.append(sql)
                params[name] = value
        if self.bbox is not None:
            conditions.append("p.geom && ST_MakeEnvelope(%(w)s, %(s)s, %(e)s, %(n)s, 4326)")
            params.update(zip(("w", "s", "e", "n"), self.bbox, strict=True))
        if self.near is not None:
            conditions.append(
                "p.geom && cityops_metre_box(ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326), %(r)s)"
                " AND ST_DWithin(p.geom::geography, ST_MakePoint(%(lon)s, %(lat)s)::geography, %(r)s)"
            )
            params.update(zip(("lon", "lat", "r"), self.near, strict=True))
        return " AND ".join(conditions), params


def _row(r: dict[str, Any], reveal: bool, fresh: datetime) -> dict[str, Any]:
    contact = (r["contact"] if reveal else mask_contact(r["contact"])) or {}
    shift = None if r["shift_start"] is None else f"{r['shift_start']:%H:%M}-{r['shift_end']:%H:%M}"
    return {
        "id": r["id"],
        "code": r["code"],
        "name": r["name"],
        "kind": r["kind"],
        "unit_code": r["unit_code"],
        "unit_name": r["unit_name"],
        "department": r["department"],
        "capabilities": r["capabilities"],
        "status": r["status"],
        "status_at": r["status_at"].isoformat(),
        "shift": shift,
        "contact_name": contact.get("name"),
        "contact_phone": contact.get("phone"),
        "lon": r["lon"],
        "lat": r["lat"],
        "fixed_at": None if r["fixed_at"] is None else r["fixed_at"].isoformat(),
        "stale": not r["fixed_post"] and (r["fixed_at"] is None or r["fixed_at"] < fresh),
        "case_id": r["case_id"],
    }


async def list_forces(conn: psycopg.AsyncConnection, filter_: ForceFilter, *, reveal: bool) -> list[dict[str, Any]]:
    """Forces in scope matching the filter, newest id first."""
    where, params = filter_.where()
    fresh = datetime.now().astimezone() - filter_.stale_after
    async with conn.cursor(row_factory=dict_row) as cur:
        rows = await (await cur.execute(FORCES_SQL.format(where=where), params)).fetchall()
    return [_row(r, reveal, fresh) for r in rows]


async def get_force(conn: psycopg.AsyncConnection, force_id: int, stale_after: timedelta, *, reveal: bool) -> dict:
    """One force in scope (else NotFoundError), with its team members or teams."""
    filter_ = ForceFilter(limit=1, stale_after=stale_after)
    where, params = filter_.where()
    async with conn.cursor(row_factory=dict_row) as cur:
        row = await (
            await cur.execute(FORCES_SQL.format(where=where + " AND f.id = %(id)s"), {**params, "id": force_id})
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no force {force_id}")
        members = await (
            await cur.execute(
                "SELECT f.id, f.code, f.name FROM team_member m JOIN force f ON f.id = m.member_id WHERE "
                "m.team_id = %s "
                "ORDER BY f.code",
                (force_id,),
            )
        ).fetchall()
        teams = await (
            await cur.execute(
                "SELECT f.id, f.code, f.name FROM team_member m JOIN force f ON f.id = m.team_id WHERE "
                "m.member_id = %s "
                "ORDER BY f.code",
                (force_id,),
            )
        ).fetchall()
    force = _row(row, reveal, datetime.now().astimezone() - stale_after)
    return {**force, "members": members, "teams": teams}


async def count_forces(conn: psycopg.AsyncConnection, unit: str, stale_after: timedelta) -> dict[str, Any]:
    """Forces under ``unit`` by child unit and status (the command screen's table), with stale counts."""
    params = {"unit": unit, "fresh": datetime.now().astimezone() - stale_after}
    rows = await (await conn.execute(COUNTS_SQL, params)).fetchall()
    if not rows and await (await conn.execute("SELECT FROM unit WHERE code = %s", (unit,))).fetchone() is None:
        raise NotFoundError(f"no unit {unit}")
    table: dict[str, dict[str, Any]] = {}
    totals = dict.fromkeys(STATUSES, 0) | {"stale": 0}
    for code, name, status, n, stale in rows:
        entry = table.setdefault(code, {"code": code, "name": name, **dict.fromkeys(STATUSES, 0), "stale": 0})
        entry[status] += n
        entry["stale"] += stale
        totals[status] += n
        totals["stale"] += stale
    return {"unit": unit, "rows": list(table.values()), "total": totals}


async def change_status(conn: psycopg.AsyncConnection, force_id: int, status: str, actor: str) -> None:
    """Move a force along the status machine; becoming available ends its assignment (job done)."""
    if status not in STATUSES:
        raise InvalidInputError(f"status must be one of {', '.join(STATUSES)}")
    if status == ForceStatus.ASSIGNED:
        raise ConflictError("a force is assigned to a case with POST /api/v1/cases/{id}/assignments")
    async with conn.transaction():
        active = await (await conn.execute(ACTIVE, (force_id,))).fetchone()
        if active is not None and status == ForceStatus.AVAILABLE:
            await release(conn, active[0], "completed", actor)
            return
        try:
            async with conn.transaction():
                row = await (await conn.execute(STATUS_CHANGE, (status, force_id))).fetchone()
        except psycopg.errors.CheckViolation as refused:
            raise ConflictError(f"{refused.diag.message_primary}; {refused.diag.message_detail}") from None
        if row is None:
            raise NotFoundError(f"no force {force_id}")
        await record_async(conn, actor, "forces.status", f"force:{force_id}", status=status)
