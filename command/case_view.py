"""What a case and a report look like to the people handling them.

Reporter contact is masked unless the caller may read personal data (``reveal``); the caller
then audits the disclosure (``spatial.privacy.audit_disclosure``).

A case shows the tier chain it was located in (city … grid), as stored with its grid.

Times come as the session reads them: the API's sessions are in the city's zone (``spatial.db``),
so each carries the city's offset (+08:00 for Nanjing).

One query per part — the case, its reports with their media, its merge history — keeps each
readable, and a case page needs all three anyway.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

from command.queries.case_view import CASE_SQL, MERGES_SQL, REPORTS_SQL
from spatial.errors import NotFoundError
from spatial.privacy import mask_contact


def _report(row: tuple[Any, ...], reveal: bool) -> dict[str, object]:
    rid, case_id, source, description, address, lon, lat, given, reporter, created, media = row
    return {
        "id": str(rid),
        "case_id": str(case_id),
        "source": source,
        "description": description,
        "address": address,
        "location": {"type": "Point", "coordinates": [lon, lat]},
        "given": given,
        "reporter": reporter if reveal else mask_contact(reporter),
        "created_at": created.isoformat(),
        "media": [{**m, "url": f"/api/v1/media/{m['sha256']}"} for m in media],
    }


async def report_view(conn: psycopg.AsyncConnection, report_id: int, *, reveal: bool = False) -> dict[str, object]:
    """One report, its media and the case it belongs to now."""
    row = await (await conn.execute(REPORTS_SQL.format(where="r.id = %s"), (report_id,))).fetchone()
    if row is None:
        raise NotFoundError(f"no report {report_id}")
    return _report(row, reveal)


async def case_view(conn: psycopg.AsyncConnection, case_id: int, *, reveal: bool = False) -> dict[str, Any]:
    """A case with everything that routed it, every report it holds and every merge that touched it."""
    row = await (await conn.execute(CASE_SQL, (case_id,))).fetchone()
    if row is None:
        raise NotFoundError(f"no case {case_id}")
    (
        cid,
        code,
        name,
        name_en,
        severity,
        state,
        lon,
        lat,
        cell,
        grid_code,
        grid_name,
        unit_code,
        unit_name,
        unit_tier,
        departments,
        filed,
        deadline,
        trace,
        description,
        address,
        source,
        count,
        merged_into,
        created,
        updated,
        closed,
        external_id,
        chain,
    ) = row
    reports = await (await conn.execute(REPORTS_SQL.format(where="r.case_id = %s"), (case_id,))).fetchall()
    merges = await (await conn.execute(MERGES_SQL, (case_id, case_id))).fetchall()

    def when(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "id": str(cid),
        "category": {"code": code, "name": name, "name_en": name_en},
        "severity": severity,
        "state": state,
        "location": {"type": "Point", "coordinates": [lon, lat]},
        "cell": cell,
        "grid": {"code": grid_code, "name": grid_name},
        "chain": chain,
        "responsible": {"code": unit_code, "name": unit_name, "tier": unit_tier, "departments": departments},
        "filed_at": when(filed),
        "deadline": when(deadline),
        "routing_trace": trace,
        "description": description,
        "address": address,
        "source": source,
        "report_count": count,
        "merged_into": str(merged_into) if merged_into else None,
        "external_id": external_id,
        "created_at": when(created),
        "updated_at": when(updated),
        "closed_at": when(closed),
        "reports": [_report(r, reveal) for r in reports],
        "merges": [
            {
                "kind": kind,
                "report_id": str(rid) if rid else None,
                "from_case_id": str(src) if src else None,
                "to_case_id": str(dst),
                "distance_m": dist,
                "similarity": sim,
                "actor": actor,
                "reason": reason,
                "at": when(at),
            }
            for kind, rid, src, dst, dist, sim, actor, reason, at in merges
        ],
    }
