"""Who may command an incident: the commanding unit's chain for the incident itself, and the units its
areas touch for the work inside them (a street commands only inside its street; the city everywhere).

Row-level security already hides incidents outside the caller's reach; these checks say, in words,
why a visible incident still may not be changed by this caller.
"""

from __future__ import annotations

import psycopg

from command.users import User
from incidents.queries.lifecycle import CHAIN
from spatial.errors import ForbiddenError
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
