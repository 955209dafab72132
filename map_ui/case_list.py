"""The case list and search (``/cases``): every case of the user's jurisdiction, closed and void included.

The form is a plain GET form, so a search is a link that can be shared and works without
JavaScript; htmx replaces only the results (and the problems shown next to the fields, out of
band) and pushes the search into the address bar. The search itself is the API's:
``command.case_search.resolve`` checks what was typed and ``command.listing`` runs it under the
user's row-level security, so the page's "导出 CSV" link — ``GET /api/v1/cases`` with the same
filters and ``format=csv`` — exports exactly the cases the page lists, through the masked export.

Dates are entered as Beijing dates: "from" is that day's 00:00 in the city's zone, "to" includes
the whole day it names.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from starlette.datastructures import QueryParams

from command.case_search import DEPARTMENTS_SQL, STATES_SQL, Problem, known, resolve
from command.listing import COUNT_CAP, MAX_LIMIT, ListFilter, count_cases, list_cases
from command.users import User
from map_ui.pages import PageAccess, render
from web.access import PUBLIC
from web.deps import scoped_connection
from web.services import ZoneDep

PAGE_SIZE = 50
FIELDS = ("q", "category", "state", "unit", "department", "from", "to", "overdue", "supervised")
CHOICES = {"": None, "true": True, "false": False}
CATEGORIES_SQL = "SELECT code, name FROM category ORDER BY code"
router = APIRouter(tags=["pages"], dependencies=[Depends(PUBLIC)], include_in_schema=False)
Reader = Annotated[User, Depends(PageAccess("cases:read"))]


@dataclass(frozen=True)
class Asked:
    """The form as typed (what is shown back in it) and what it asks for, or why it cannot."""

    values: dict[str, str]
    filter: ListFilter
    unit: str | None
    problems: dict[str, Problem]

    @classmethod
    def read(cls, query: QueryParams, user: User, zone: tzinfo) -> Asked:
        """The form's fields; a date or choice that cannot be read is a problem of its field."""
        values = {name: query.get(name, "").strip() for name in FIELDS}
        problems: dict[str, Problem] = {}
        days: dict[str, datetime | None] = {}
        for name, extra in (("from", 0), ("to", 1)):
            try:
                day = date.fromisoformat(values[name]) if values[name] else None
            except ValueError:
                problems[name] = Problem("list.problem.date", {"value": values[name]})
                day = None
            days[name] = None if day is None else datetime.combine(day + timedelta(days=extra), time(), zone)
        choices = {}
        for name in ("overdue", "supervised"):
            if values[name] not in CHOICES:
                problems[name] = Problem("list.problem.choice", {"value": values[name]})
            choices[name] = CHOICES.get(values[name])
        before = query.get("before_id", "")
        before_id = int(before) if before.isdigit() and len(before) < 19 else None
        asked = ListFilter(
            user.unit_id,
            user.unit_depth,
            PAGE_SIZE,
            before_id,
            values["category"],
            values["state"],
            days["from"],
            days["to"],
            None,
            values["q"],
            values["department"],
            choices["overdue"],
            choices["supervised"],
        )
        return cls(values, asked, values["unit"], problems)

    def query(self, **extra: str) -> str:
        """This search as the page's query string (filled fields only), with ``extra``."""
        return urlencode({k: v for k, v in {**self.values, **extra}.items() if v})

    def export(self, searched: ListFilter) -> str:
        """The API's CSV list of the same search (Beijing dates as times with their offset)."""
        names = {
            "q": self.values["q"],
            "category": self.values["category"],
            "state": self.values["state"],
            "unit": self.values["unit"],
            "department": self.values["department"],
            "overdue": self.values["overdue"],
            "supervised": self.values["supervised"],
            "since": searched.since.isoformat() if searched.since else "",
            "until": searched.until.isoformat() if searched.until else "",
        }
        return "/api/v1/cases?" + urlencode(
            {**{k: v for k, v in names.items() if v}, "limit": MAX_LIMIT, "format": "csv"}
        )


@router.get("/cases", response_class=HTMLResponse)
async def case_list(request: Request, user: Reader, zone: ZoneDep) -> HTMLResponse:
    """Search the cases of the user's jurisdiction (htmx: the results only)."""
    asked = Asked.read(request.query_params, user, zone)
    rows: list[dict[str, object]] = []
    matches = 0
    async with scoped_connection(request) as conn:
        searched, problems = await resolve(conn, user, asked.filter, asked.unit)
        problems = {**problems, **asked.problems}
        if not problems:
            rows = await list_cases(conn, searched)
            matches = await count_cases(conn, searched)
        partial = request.headers.get("HX-Request") == "true" and "HX-History-Restore-Request" not in request.headers
        lists = (
            {}
            if partial
            else {
                "states": await known(conn, STATES_SQL),
                "departments": await known(conn, DEPARTMENTS_SQL),
                "categories": (await (await conn.execute(CATEGORIES_SQL)).fetchall()),
            }
        )
    following = asked.query(before_id=str(rows[-1]["id"])) if len(rows) == PAGE_SIZE else None
    context: dict[str, Any] = {
        "asked": asked,
        "rows": rows,
        "matches": matches,
        "cap": COUNT_CAP,
        "problems": problems,
        "following": following,
        "first_page": asked.filter.before_id is None,
        "export": None if problems else asked.export(searched),
        "fields": FIELDS,
        **lists,
    }
    return render(request, "case_results.html" if partial else "cases.html", user, **context)
