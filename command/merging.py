"""Manual merge of two cases, and split — the undo of any merge, automatic or manual.

Every move of a report between cases is a row in ``case_merge``, so a case's history reads
back in order and nothing is decided twice. A merged-away case is not deleted: it points at the
case that absorbed it (``merged_into``) and comes back when one of its reports is split out.
A report that joined automatically leaves as a newly routed case of its own. Cases are locked
in id order, so a merge racing a split or another merge waits instead of interleaving.
"""

from __future__ import annotations

from typing import Any

import psycopg

from command.case_states import ENDED_STATES
from command.duplicates import similarity
from command.intake import notify, open_case
from command.queries.merging import COUNT, LOCK_CASES, LOCK_REPORT, MOVE_REPORTS, RECORD, REPORT_SQL
from command.routing import Severity
from command.taxonomy import fetch_category
from command.working_time import WorkingCalendar
from grid.locate import Locator
from spatial.audit import record_async
from spatial.errors import ConflictError, NotFoundError


def _is_open(row: tuple[object, ...]) -> bool:
    return row[1] is None and row[2] not in ENDED_STATES


async def _lock(conn: psycopg.AsyncConnection, *case_ids: int) -> dict[int, tuple[Any, ...]]:
    rows = {row[0]: row for row in await (await conn.execute(LOCK_CASES, (list(case_ids),))).fetchall()}
    missing = [str(i) for i in case_ids if i not in rows]
    if missing:
        raise NotFoundError(f"no case {', '.join(missing)}")
    return rows


async def merge_cases(
    conn: psycopg.AsyncConnection, into: int, other: int, reason: str, *, actor: str
) -> dict[str, object]:
    """Move every report of ``other`` into ``into``; ``other`` points at ``into`` from now on."""
    if into == other:
        raise ConflictError(f"case {into} cannot be merged into itself")
    async with conn.transaction():
        cases = await _lock(conn, into, other)
        for case_id in (into, other):
            if not _is_open(cases[case_id]):
                raise ConflictError(f"case {case_id} is {cases[case_id][2]} or merged already; only open cases merge")
        moved = [r[0] for r in await (await conn.execute(MOVE_REPORTS, (into, other))).fetchall()]
        await conn.execute(
            RECORD,
            {
                "kind": "manual",
                "from": other,
                "to": into,
                "reports": moved,
                "reason": reason,
                "actor": actor,
                "similarity": similarity(str(cases[into][3]), str(cases[other][3])),
            },
        )
        await conn.execute(COUNT, (len(moved), None, into))
        await conn.execute(COUNT, (-len(moved), into, other))
        await record_async(conn, actor, "case.merged", f"case:{into}", merged_case=other, reports=moved, reason=reason)
        await notify(conn, "case.merged", case_id=str(into), merged_case_id=str(other), reports=len(moved))
    return {"case_id": str(into), "merged_case_id": str(other), "reports_moved": len(moved)}


async def split_report(
    conn: psycopg.AsyncConnection,
    report_id: int,
    reason: str,
    locator: Locator,
    calendar: WorkingCalendar,
    *,
    actor: str,
) -> dict[str, object]:
    """Take a report out of its case: back to the case it was merged from, or into a new routed case."""
    async with conn.transaction():
        row = await (await conn.execute(REPORT_SQL, (report_id,))).fetchone()
        if row is None:
            raise NotFoundError(f"no report {report_id}")
        current, description, address, source, lon, lat, last_move, came_from = row
        cases = await _lock(conn, *{current, came_from} - {None})  # cases first, as merges lock them
        still = await (await conn.execute(LOCK_REPORT, (report_id,))).fetchone()
        if still is None or still[0] != current:
            raise ConflictError(f"report {report_id} moved to another case meanwhile; look again and retry")
        origin = cases.get(came_from) if last_move == "manual" else None
        if origin is not None and origin[1] in (None, current) and origin[2] not in ENDED_STATES:
            target = came_from
            await conn.execute(COUNT, (1, None, target))  # the merged-away case comes back
        else:
            if cases[current][4] <= 1:
                raise ConflictError(f"report {report_id} is the only report of case {current}; nothing to split from")
            category = await fetch_category(conn, str(cases[current][5]))
            location = await locator.locate_async(conn, lon, lat)
            target = await open_case(
                conn,
                location,
                category,
                Severity(cases[current][6]),
                calendar,
                lon=lon,
                lat=lat,
                description=description,
                address=address,
                source=source,
            )
        await conn.execute("UPDATE report SET case_id = %s WHERE id = %s", (target, report_id))
        await conn.execute(COUNT, (-1, None, current))
        await conn.execute(
            RECORD,
            {
                "kind": "split",
                "from": current,
                "to": target,
                "reports": [report_id],
                "reason": reason,
                "similarity": None,
                "actor": actor,
            },
        )
        await record_async(
            conn, actor, "report.split", f"report:{report_id}", from_case=current, to_case=target, reason=reason
        )
        await notify(conn, "case.split", case_id=str(current), new_case_id=str(target), report_id=str(report_id))
    return {"report_id": str(report_id), "from_case_id": str(current), "case_id": str(target)}
