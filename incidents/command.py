"""Who may command an incident: the commanding unit's chain for the incident itself, and the units its
areas touch for the work inside them (a street commands only inside its street; the city everywhere).

Row-level security already hides incidents outside the caller's reach; these checks say, in words,
why a visible incident still may not be changed by this caller.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from command.users import User
from incidents.queries.lifecycle import CHAIN
from incidents.queries.summons import INCIDENT
from incidents.vocabulary import IncidentState
from spatial.errors import ConflictError, ForbiddenError, NotFoundError
from spatial.rows import one

COMMAND = "incidents:command"


async def chain_of(conn: psycopg.AsyncConnection, unit_id: int) -> list[int]:
    """The unit and its ancestors (ids), city first."""
    return list(one(await (await conn.execute(CHAIN, (unit_id,))).fetchone())[0])


async def require_commanding(conn: psycopg.AsyncConnection, user: User, commanding_unit_id: int, code: str) -> None:
    """The caller commands the incident itself (level, areas, command, close): their unit is the
    commanding unit or above it."""
    if user.department is not None or user.unit_id not in await chain_of(conn, commanding_unit_id):
        raise ForbiddenError(
            f"incident {code} is commanded by another unit: its level, areas and command are changed there or above"
        )


def require_inside(user: User, units: list[int], code: str) -> None:
    """The caller works inside the incident (summons, tasks, resources): its areas touch their unit, or
    they are in its commanding chain (``units`` holds both)."""
    if user.department is not None or user.unit_id not in units:
        raise ForbiddenError(f"incident {code} does not reach your unit: you command only inside your jurisdiction")


@dataclass(frozen=True)
class Reached:
    """An active incident the caller works inside, its row locked for the change."""

    id: int
    code: str
    title: str
    units: list[int]
    departments: list[str]


async def work_inside(conn: psycopg.AsyncConnection, user: User, incident_id: int) -> Reached:
    """Lock the incident for work inside it (summons, tasks, forces): 404 unseen, 409 closed, 403 out of reach."""
    row = await (await conn.execute(INCIDENT, (incident_id,))).fetchone()
    if row is None:
        raise NotFoundError(f"no incident {incident_id} in your jurisdiction")
    code, title, state, units, departments = row
    if state != IncidentState.ACTIVE:
        raise ConflictError(f"incident {code} is closed")
    require_inside(user, list(units), code)
    return Reached(incident_id, code, title, list(units), list(departments))
