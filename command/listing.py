"""Lists of cases and reports: filtered, newest first, paged by id — and only what the caller may see.

The connection carries the caller's scope and row-level security applies it, so a list cannot
show more than its caller's subtree whatever its filters say. The scope is also given to the
query as a plain condition: the planner cannot see inside the policy's session setting, and
with the value in hand it picks the right plan — for the whole city a backward scan of the
newest cases (2 s → 1 ms at 1 M cases); for a district or street a backward scan of the
index on that position of ``units`` (migration 0010), which reads one page of cases however
many the unit holds; for smaller units the units index. Reports are listed where they were
filed (their own units), so the newest-first scan runs on the report table itself.
Contacts come out masked unless the caller may read personal data.

The case search (``command.case_search``, the ``/cases`` page and ``GET /api/v1/cases``) adds
conditions on the case — a number or place (``q``), a department, overdue, supervised — without
changing that plan: a narrower unit becomes the scope itself (so a street chosen in the form
scans the street's index), and the other conditions filter the newest-first scan. A count of
matches stops at ``COUNT_CAP`` (the page says "more than …"), so it costs at most what a page does.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import psycopg

from command.queries.listing import CASES_SQL, COUNT_SQL, MATCHES, ON_CASE, OVERDUE, REPORTS_SQL
from spatial.privacy import mask_contact

MAX_LIMIT = 1000
COUNT_CAP = 1000
POSITION_INDEXED = (2, 3)  # district and street: event ((units[2]), id), ((units[3]), id)

CASE_FIELDS = (
    "id",
    "category",
    "category_name",
    "category_name_en",
    "severity",
    "state",
    "responsible_code",
    "responsible_name",
    "departments",
    "handling_department",
    "filed_at",
    "deadline",
    "due_at",
    "overdue",
    "supervised",
    "external_id",
    "report_count",
    "description",
    "address",
    "lon",
    "lat",
)
TIMES = frozenset(("filed_at", "deadline", "due_at"))
REPORT_FIELDS = (
    "id",
    "case_id",
    "category",
    "state",
    "source",
    "description",
    "address",
    "created_at",
    "lon",
    "lat",
    "reporter_name",
    "reporter_phone",
)


@dataclass(frozen=True)
class ListFilter:
    """What a list is narrowed to; every value is bound as a parameter, never spliced into SQL."""

    scope_unit: int
    scope_depth: int
    limit: int = 100
    before_id: int | None = None
    category: str | None = None
    state: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    bbox: tuple[float, float, float, float] | None = None
    q: str | None = None
    department: str | None = None
    overdue: bool | None = None
    supervised: bool | None = None

    def where(
        self, alias: str, time_column: str, on_case: str = "{condition}", *, by_position: bool = False
    ) -> tuple[str, dict[str, object]]:
        """SQL conditions on table ``alias`` (its id, time, units) and their parameters.

        ``on_case`` wraps conditions on the case (category, state) for rows that are not cases;
        ``by_position`` states the scope as the unit at its depth (the indexed form, for cases).
        """
        if by_position and int(self.scope_depth) in POSITION_INDEXED:  # a literal: the index names units[2]
            conditions = [f"{alias}.units[{int(self.scope_depth)}] = %(scope_unit)s"]
        else:
            conditions = [f"{alias}.units @> ARRAY[%(scope_unit)s::bigint]"]
        params: dict[str, object] = {"limit": self.limit, "scope_unit": self.scope_unit}
        for name, sql in (
            ("before_id", f"{alias}.id < %(before_id)s"),
            ("category", on_case.format(condition="e.category_code = %(category)s")),
            ("state", on_case.format(condition="e.state = %(state)s")),
            ("since", f"{alias}.{time_column} >= %(since)s"),
            ("until", f"{alias}.{time_column} < %(until)s"),
            ("q", on_case.format(condition=MATCHES)),
            (
                "department",
                on_case.format(
                    condition="(e.handling_department = %(department)s OR e.departments @> ARRAY[%(department)s])"
                ),
            ),
            ("overdue", on_case.format(condition=f"{OVERDUE} = %(overdue)s")),
            ("supervised", on_case.format(condition="e.supervised = %(supervised)s")),
        ):
            value = getattr(self, name)
            if value is not None:
                conditions.append(sql)
                params[name] = value
        if self.q is not None:
            params["q_id"] = int(self.q) if self.q.isdigit() and len(self.q) < 19 else None
            params["q_like"] = "%" + self.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        if self.bbox is not None:
            conditions.append(f"{alias}.geom && ST_MakeEnvelope(%(w)s, %(s)s, %(e)s, %(n)s, 4326)")
            params.update(zip(("w", "s", "e", "n"), self.bbox, strict=True))
        return " AND ".join(conditions), params


async def _cases(conn: psycopg.AsyncConnection, sql: str, filter_: ListFilter) -> list[tuple[Any, ...]]:
    where, params = filter_.where("e", "filed_at", by_position=True)
    async with conn.transaction():
        if filter_.scope_depth in POSITION_INDEXED:
            # The planner cannot know how many cases the policy's session setting lets through and
            # prices a bitmap scan and sort of all the unit's cases below one page of its index
            # (measured: a district 14.8 ms vs 0.9 ms, a street 5.7 vs 0.6); this query only, not the session.
            await conn.execute("SET LOCAL enable_bitmapscan = off")
        return await (await conn.execute(sql.format(where=where), params)).fetchall()


async def list_cases(conn: psycopg.AsyncConnection, filter_: ListFilter) -> list[dict[str, object]]:
    """Cases, newest first (no personal data in a case row); ``due_at``: the open stage's due time.

    Times in the session's zone (the API's: the city's, see ``spatial.db.session_options``).
    """
    out = []
    for r in await _cases(conn, CASES_SQL, filter_):
        row: dict[str, Any] = dict(zip(CASE_FIELDS, (str(r[0]), *r[1:]), strict=True))
        out.append({k: v.isoformat() if k in TIMES and v is not None else v for k, v in row.items()})
    return out


async def count_cases(conn: psycopg.AsyncConnection, filter_: ListFilter) -> int:
    """How many cases match (all pages), counted up to ``COUNT_CAP + 1``: more reads as "more than COUNT_CAP"."""
    whole = replace(filter_, before_id=None, limit=COUNT_CAP + 1)
    return (await _cases(conn, COUNT_SQL, whole))[0][0]


async def list_reports(conn: psycopg.AsyncConnection, filter_: ListFilter, *, reveal: bool) -> list[dict[str, object]]:
    """Reports, newest first, with the reporter's name and phone (masked unless ``reveal``)."""
    where, params = filter_.where("r", "created_at", ON_CASE)
    rows = await (await conn.execute(REPORTS_SQL.format(where=where), params)).fetchall()
    out = []
    for r in rows:
        contact = (r[10] if reveal else mask_contact(r[10])) or {}
        out.append(
            dict(
                zip(
                    REPORT_FIELDS,
                    (
                        str(r[0]),
                        str(r[1]),
                        *r[2:7],
                        r[7].isoformat(),
                        r[8],
                        r[9],
                        contact.get("name"),
                        contact.get("phone"),
                    ),
                    strict=True,
                )
            )
        )
    return out
