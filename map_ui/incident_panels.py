"""The board's work panels: departments summoned and reporting in (吹哨报到), tasks by assignee, resources
requested and the forces the incident holds. Each loader reads through the caller's scoped connection what
its partial template (``_incident_<name>.html``) shows as ``panel``.
"""

from __future__ import annotations

from typing import Any

import psycopg

from command.users import User
from incidents.holds import forces_of
from incidents.resources import Side, incident_resources, resource_types, side_moves
from incidents.summons import summons_of
from incidents.tasks import MOVES, answers_for, tasks_of
from incidents.vocabulary import Priority


async def summons_panel(conn: psycopg.AsyncConnection, incident: dict[str, Any], user: User) -> dict[str, Any]:
    """Who was summoned, who has reported in (with their liaison), who is late; the liaison's own button."""
    summons = await summons_of(conn, incident["id"])
    return {
        "summons": summons,
        "mine": [s for s in summons if s["department"] == user.department and not s["stationed"]],
    }


def _answers_for(user: User, assignee: dict[str, Any]) -> bool:
    kind = assignee["kind"]
    return answers_for(
        user,
        assignee["name"] if kind == "department" else None,
        assignee["id"] if kind == "unit" else None,
        assignee["id"] if kind == "force" else None,
    )


async def tasks_panel(conn: psycopg.AsyncConnection, incident: dict[str, Any], user: User) -> dict[str, Any]:
    """Tasks grouped by assignee (a department, a unit, a force), in the order they were set; the moves each
    state allows, and which tasks are the viewer's own to move (the command moves any)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    mine: set[int] = set()
    for task in await tasks_of(conn, incident["id"]):
        groups.setdefault(task["assignee"].get("name") or task["assignee"].get("code") or "—", []).append(task)
        if _answers_for(user, task["assignee"]):
            mine.add(task["id"])
    moves = {state.value: sorted(target.value for target in targets) for state, targets in MOVES.items()}
    return {"groups": groups, "priorities": list(Priority), "mine": mine, "moves": moves}


async def resources_panel(conn: psycopg.AsyncConnection, incident: dict[str, Any], user: User) -> dict[str, Any]:
    """Resources by type (requested / committed / on scene / released), each request with the command's moves
    its state allows, the types a request may name, and the forces the incident holds."""
    resources = await incident_resources(conn, incident["id"])
    for item in resources["requests"]:
        item["ours"] = side_moves(item["allowed"], Side.REQUESTER)
    return {**resources, "types": await resource_types(conn), "forces": await forces_of(conn, incident["id"])}
