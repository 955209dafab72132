"""The after-action report (总结评估) of a closed incident, computed from its tables as they stand.

Each part comes from its own table and an empty table gives an empty part, never an error: the timeline
(``incident_log``), the time to the first force on scene (the linked cases' assignments), how each
summoned department reported in (``incident_summons``), the tasks done on time (``incident_task``) and the
resources used (``resource_request``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

from incidents.lifecycle import read_incident
from incidents.queries.reports import FIRST_ON_SCENE, FORCES_COMMITTED, RESOURCES, SUMMONS, TASKS
from incidents.sitreps import listed
from incidents.timeline import entries
from incidents.vocabulary import IncidentState
from spatial.errors import ConflictError
from spatial.rows import one


def _minutes(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else round((end - start).total_seconds() / 60, 1)


async def after_action(conn: psycopg.AsyncConnection, incident_id: int) -> dict[str, Any]:
    """The report of a closed incident (an active one is still being written: 409)."""
    incident = await read_incident(conn, incident_id)
    if incident["state"] != IncidentState.CLOSED:
        raise ConflictError(f"incident {incident['code']} is still active: its after-action report follows its close")
    opened = datetime.fromisoformat(incident["opened_at"])
    first = one(await (await conn.execute(FIRST_ON_SCENE, {"id": incident_id, "opened": opened})).fetchone())[0]
    forces, first_committed = one(await (await conn.execute(FORCES_COMMITTED, (incident_id,))).fetchone())
    summons = [
        {
            "department": department,
            "summoned_at": summoned.isoformat(),
            "due_at": due_at.isoformat(),
            "liaison": liaison,
            "reported_at": reported.isoformat() if reported else None,
            "minutes": _minutes(summoned, reported),
            "on_time": reported is not None and reported <= due_at,
            "escalated": escalated is not None,
        }
        for department, summoned, due_at, liaison, reported, escalated in await (
            await conn.execute(SUMMONS, (incident_id,))
        ).fetchall()
    ]
    total, done, with_deadline, on_time, late, blocked = one(
        await (await conn.execute(TASKS, (incident_id,))).fetchone()
    )
    resources = [
        {
            "resource_type": code,
            "name": name,
            "name_en": name_en,
            "measure": measure,
            "requests": requests,
            "requested": int(requested),
            "committed": int(committed),
            "deployed_requests": deployed,
        }
        for code, name, name_en, measure, requests, requested, committed, deployed in await (
            await conn.execute(RESOURCES, (incident_id,))
        ).fetchall()
    ]
    return {
        "incident": incident,
        "duration_minutes": _minutes(opened, datetime.fromisoformat(incident["closed_at"])),
        "first_on_scene": {
            "at": first.isoformat() if first else None,
            "minutes": _minutes(opened, first),
            "forces_committed": forces,
            "first_committed_at": first_committed.isoformat() if first_committed else None,
        },
        "summons": summons,
        "tasks": {
            "total": total,
            "done": done,
            "with_deadline": with_deadline,
            "done_on_time": on_time,
            "late": late,
            "blocked": blocked,
        },
        "resources": resources,
        "sitreps": [s for s in await listed(conn, incident_id) if s["state"] == "issued"],
        "timeline": await entries(conn, incident_id),
    }
