"""Unified dispatch (统一调度): forces committed to an incident are held by it until released.

One active hold per force (the unique index ``ux_incident_force_held``): a force another incident
holds is a 409 naming that incident, even when row-level security hides it from the caller
(``cityops_incident_holding``). While held, only the incident's commanding chain assigns the force
to cases — the trigger ``assignment_unified_dispatch`` refuses everyone else, whatever path books
the force. Forces go back by an explicit release, or all at once when the incident closes.
"""

from __future__ import annotations

from typing import Any

import psycopg

from command.users import User
from incidents.command import work_inside
from incidents.queries.holds import COMMIT, HOLDING, LIST, RELEASE, VISIBLE_FORCES
from incidents.timeline import log
from spatial.errors import ConflictError, InvalidInputError, NotFoundError

MAX_FORCES = 200


def _check(force_ids: list[int]) -> list[int]:
    if not 1 <= len(force_ids) <= MAX_FORCES or len(set(force_ids)) != len(force_ids):
        raise InvalidInputError(f"force_ids must list 1–{MAX_FORCES} different forces")
    return sorted(force_ids)


async def commit_forces(
    conn: psycopg.AsyncConnection, user: User, incident_id: int, force_ids: list[int]
) -> list[dict[str, Any]]:
    """Hold the forces for the incident: all or none; each must be the caller's to see, and free of holds."""
    wanted = _check(force_ids)
    async with conn.transaction():
        incident = await work_inside(conn, user, incident_id)
        seen = {r[0] for r in await (await conn.execute(VISIBLE_FORCES, (wanted,))).fetchall()}
        if missing := [f for f in wanted if f not in seen]:
            raise NotFoundError(f"no forces {', '.join(map(str, missing[:20]))} in your jurisdiction")
        for force_code, holder, code, title in await (await conn.execute(HOLDING, (wanted,))).fetchall():
            if holder == incident_id:
                raise ConflictError(f"force {force_code} is committed to incident {code} already")
            raise ConflictError(
                f"force {force_code} is committed to incident {code} ({title}): its commander releases it"
            )
        try:
            async with conn.transaction():  # a savepoint: a hold taken a moment ago by another incident
                committed = [
                    r[0] for r in await (await conn.execute(COMMIT, (incident_id, user.username, wanted))).fetchall()
                ]
        except psycopg.errors.UniqueViolation:
            raise ConflictError(
                "another incident took one of these forces a moment ago: reload and try again"
            ) from None
        await log(conn, incident_id, "forces_committed", user.username, "", forces=committed)
    return await forces_of(conn, incident.id)


async def release_forces(
    conn: psycopg.AsyncConnection, user: User, incident_id: int, force_ids: list[int], note: str = ""
) -> list[dict[str, Any]]:
    """Give held forces back to their units (the incident's close releases the rest)."""
    wanted = _check(force_ids)
    async with conn.transaction():
        incident = await work_inside(conn, user, incident_id)
        released = [r[0] for r in await (await conn.execute(RELEASE, (incident_id, wanted))).fetchall()]
        if not_held := sorted(set(wanted) - set(released)):
            raise ConflictError(f"forces {', '.join(map(str, not_held))} are not held by incident {incident.code}")
        await log(conn, incident_id, "forces_released", user.username, note, forces=released)
    return await forces_of(conn, incident_id)


async def forces_of(conn: psycopg.AsyncConnection, incident_id: int, history: bool = False) -> list[dict[str, Any]]:
    """The forces the incident holds (with ``history``, those it held and released too)."""
    rows = await (await conn.execute(LIST, (incident_id, history))).fetchall()
    return [
        {
            "force_id": force_id,
            "code": code,
            "name": name,
            "kind": kind,
            "status": status,
            "committed_by": by,
            "committed_at": at.isoformat(),
            "released_at": released.isoformat() if released else None,
        }
        for force_id, code, name, kind, status, by, at, released in rows
    ]
