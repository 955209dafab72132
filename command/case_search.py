"""The case search: what a person asks for (codes or names) checked and turned into a ``ListFilter``.

One resolution serves the ``/cases`` page and ``GET /api/v1/cases``, so a search link and its CSV
export (the API's masked list) find the same cases. Names are checked against the database, not a
copy: the states are those of the state machine (``case_action``), the departments those the
categories route to, a unit must be the caller's or below it. A problem names its field and carries
a message key (``list.problem.*``) with its values, so the page shows it in words next to the field
and the API answers 422 with the same sentence in English.

A unit chosen in the search becomes the list's scope (``ListFilter.scope_unit``): the caller's
row-level security still applies, and the list scans that unit's index instead of the caller's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import psycopg

from command.listing import ListFilter
from command.queries.case_search import DEPARTMENTS_SQL, RESOLVE_SQL, STATES_SQL
from command.users import User

MAX_TEXT = 100
TEXTS = ("q", "category", "state", "department")  # typed by people: trimmed, empty is no filter


@dataclass(frozen=True)
class Problem:
    """Why one field cannot be searched as given: a message key (``list.problem.*``) and its values."""

    key: str
    values: dict[str, str] = field(default_factory=dict)


def _text(value: str | None) -> str | None:
    """What was typed, trimmed; an empty field is no filter."""
    return (value or "").strip() or None


def described(problems: dict[str, Problem], words: Callable[..., str]) -> str:
    """The problems as one sentence per field (``state: …; unit: …``) in the language of ``words``."""
    return "; ".join(f"{name}: {words(p.key, **p.values)}" for name, p in problems.items())


async def known(conn: psycopg.AsyncConnection, sql: str) -> list[str]:
    """The states (``STATES_SQL``) or departments (``DEPARTMENTS_SQL``) a search may name."""
    return [r[0] for r in await (await conn.execute(sql)).fetchall()]


def checked(asked: ListFilter, unit: str | None) -> dict[str, Problem]:
    """Problems visible without the database (lengths, a window ending before it starts)."""
    typed = {
        "q": asked.q,
        "category": asked.category,
        "state": asked.state,
        "unit": unit,
        "department": asked.department,
    }
    problems = {
        name: Problem("list.problem.too_long", {"max": str(MAX_TEXT)})
        for name, value in typed.items()
        if len(value or "") > MAX_TEXT
    }
    if asked.since is not None and asked.until is not None and asked.until <= asked.since:
        problems["until"] = Problem("list.problem.window")
    return problems


async def resolve(
    conn: psycopg.AsyncConnection, user: User, asked: ListFilter, unit: str | None = None
) -> tuple[ListFilter, dict[str, Problem]]:
    """``asked`` as the list runs it (a category by its code, the scope narrowed to ``unit``), or the problems.

    ``asked`` holds what was typed (a category's code or name, a state, a department) in the
    caller's scope; the problems are by field, and a search with any is not run.
    """
    trimmed: dict[str, Any] = {name: _text(getattr(asked, name)) for name in TEXTS}  # fields named at run time
    asked = replace(asked, **trimmed)
    unit = _text(unit)
    problems = checked(asked, unit)
    if problems:
        return asked, problems
    params = {
        "category": asked.category,
        "unit": unit,
        "state": asked.state,
        "department": asked.department,
        "caller": user.unit_id,
    }
    row = await (await conn.execute(RESOLVE_SQL, params)).fetchone()
    assert row is not None  # a SELECT without FROM: always one row
    category, chosen, state_known, department_known = row
    if asked.category is not None and category is None:
        problems["category"] = Problem("list.problem.category", {"value": asked.category})
    if not state_known:
        states = ", ".join(await known(conn, STATES_SQL))
        problems["state"] = Problem("list.problem.state", {"value": asked.state or "", "known": states})
    if not department_known:
        named = "、".join(await known(conn, DEPARTMENTS_SQL))
        problems["department"] = Problem("list.problem.department", {"value": asked.department or "", "known": named})
    if unit is not None and (chosen is None or not chosen[2]):  # another jurisdiction's unit reads as unknown
        problems["unit"] = Problem("list.problem.unit", {"value": unit})
    elif unit is not None and chosen[3]:
        problems["unit"] = Problem("list.problem.building", {"value": unit})
    elif unit is not None:
        asked = replace(asked, scope_unit=chosen[0], scope_depth=chosen[1])
    return replace(asked, category=category), problems
