"""The board's work panels: departments summoned and reporting in (吹哨报到), tasks by assignee, resources
requested and the forces the incident holds. Each loader reads through the caller's scoped connection what
its partial template (``_incident_<name>.html``) shows as ``panel``.
"""

from __future__ import annotations

from typing import Any

import psycopg

from command.users import User
from incidents.holds import forces_of
from incidents.resources import incident_resources
from incidents.summons import summons_of
from incidents.tasks import tasks_of
from incidents.vocabulary import Priority


async def summons_panel(conn: psycopg.AsyncConnection, incident: dict[str, Any], user: User) -> dict[str, Any]:
    """Who was summoned, who has reported in (with their liaison), who is late; the liaison's own button."""
    summons = await summons_of(conn, incident["id"])
    return {
        "summons": summons,
        "mine": [s for s in summons if s["department"] == user.department and not s["stationed"]],
    }


async def tasks_panel(conn: psycopg.AsyncConnection, incident: dict[str, Any], user: User) -> dict[str, Any]:
    """Tasks grouped by assignee (a department, a unit, a force), in the order they were set."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for task in await tasks_of(conn, incident["id"]):
        groups.setdefault(task["assignee"].get("name") or task["assignee"].get("code") or "—", []).append(task)
    return {"groups": groups, "priorities": list(Priority)}


async def resources_panel(conn: psycopg.AsyncConnection, incident: dict[str, Any], user: User) -> dict[str, Any]:
    """Resources by type (requested / committed / on scene / released) and the forces the incident holds."""
    return {**await incident_resources(conn, incident["id"]), "forces": await forces_of(conn, incident["id"])}
