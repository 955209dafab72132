"""What an incident touches: units, buildings, open cases and forces inside its current areas.

One request answers the board and the situation report alike (regulation art. 10: the centre sees
the whole picture); the counts are exact (each candidate tested against the areas, not their boxes).
"""

from __future__ import annotations

from typing import Any

import psycopg

from incidents.queries.impact import IMPACT
from spatial.rows import one


async def impact(conn: psycopg.AsyncConnection, incident_id: int) -> dict[str, Any]:
    """The incident's impact as the caller may see it (cases and forces scoped like everything else)."""
    m2, units, grids, buildings, cases, by_category, linked, forces = one(
        await (await conn.execute(IMPACT, {"id": incident_id}, prepare=True)).fetchone()
    )
    by_tier: dict[str, list[dict[str, str]]] = {"district": [], "street": [], "community": []}
    for unit in units:
        by_tier[unit["tier"]].append({"code": unit["code"], "name": unit["name"]})
    return {
        "area_m2": round(m2 or 0),
        "units": by_tier,
        "counts": {
            "districts": len(by_tier["district"]),
            "streets": len(by_tier["street"]),
            "communities": len(by_tier["community"]),
            "grids": grids,
            "buildings": buildings,
            "open_cases": cases,
            "linked_open_cases": linked,
            "forces": sum(forces.values()),
        },
        "open_cases_by_category": by_category,
        "forces_by_status": forces,
    }
