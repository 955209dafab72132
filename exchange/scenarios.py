"""The registry of application scenarios (应用场景, regulation art. 13), kept by city command.

A scenario is something a district or department built on the platform — flood watch, street-order
management, business-environment complaints, civilised-city inspections — in one of the regulation's
four fields. It names its owner, its status, and what feeds it: case categories and report sources
(an empty list means all). Its public indicators are computed from the cases those feed
(``exchange.public_figures``), so a scenario can never claim figures the platform does not hold.

Writes are versioned (a stale form gets a 409, never a lost update) and audited; row-level security
lets only a city-wide scope write (migration 0050), the ``scenarios:manage`` permission guards the
routes.
"""

from __future__ import annotations

import csv
from enum import StrEnum
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from spatial.audit import record_async
from spatial.errors import ConflictError, InvalidInputError, NotFoundError, StaleVersionError, problems_text


class ScenarioField(StrEnum):
    """The four fields the regulation names."""

    emergency = "emergency"  # 应急
    daily = "daily"  # 日常管理
    economy = "economy"  # 经济运行
    civilisation = "civilisation"  # 城市文明


class ScenarioStatus(StrEnum):
    """Where a scenario stands: only live ones show indicators on the public page."""

    planned = "planned"
    building = "building"
    live = "live"
    retired = "retired"


SOURCES = ("grid_worker", "hotline", "citizen_app", "sensor", "department")
COLUMNS = """s.id, s.code, s.name, s.name_en, s.field, s.status, u.code AS owner_unit, u.name AS owner_unit_name,
    s.owner_department, s.description, s.description_en, s.categories::text[] AS categories,
    s.sources::text[] AS sources, s.version, s.updated_at, s.updated_by"""
LISTED = f"SELECT {COLUMNS} FROM scenario s JOIN unit u ON u.id = s.owner_unit_id ORDER BY s.field, s.code"
ONE = f"SELECT {COLUMNS} FROM scenario s JOIN unit u ON u.id = s.owner_unit_id WHERE s.code = %s"
INSERT = """
INSERT INTO scenario (code, name, name_en, field, status, owner_unit_id, owner_department, description,
                      description_en, categories, sources, updated_by)
SELECT %(code)s, %(name)s, %(name_en)s, %(field)s, %(status)s, u.id, %(owner_department)s, %(description)s,
       %(description_en)s, %(categories)s, %(sources)s::report_source[], %(actor)s
FROM unit u WHERE u.code = %(owner_unit)s
ON CONFLICT (code) DO NOTHING
RETURNING code
"""
UPDATE = """
UPDATE scenario s SET name = %(name)s, name_en = %(name_en)s, field = %(field)s, status = %(status)s,
       owner_unit_id = u.id, owner_department = %(owner_department)s, description = %(description)s,
       description_en = %(description_en)s, categories = %(categories)s, sources = %(sources)s::report_source[],
       version = s.version + 1, updated_at = now(), updated_by = %(actor)s
FROM unit u
WHERE u.code = %(owner_unit)s AND s.code = %(code)s AND s.version = %(version)s
RETURNING s.code
"""
KNOWN_UNIT = "SELECT 1 FROM unit WHERE code = %s AND tier IN ('city', 'district', 'street')"
KNOWN_CATEGORIES = "SELECT array_agg(code ORDER BY code) FROM category WHERE code = ANY(%s)"


class ScenarioIn(BaseModel):
    """A scenario as city command writes it (the form and ``POST/PUT /api/v1/scenarios``)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,39}$", description="Short lower-case id: flood-watch")
    name: str = Field(min_length=1, max_length=80, description="Chinese name")
    name_en: str = Field(min_length=1, max_length=120)
    field: ScenarioField
    status: ScenarioStatus = ScenarioStatus.planned
    owner_unit: str = Field(min_length=1, max_length=32, description="Code of the owning city, district or street")
    owner_department: str | None = Field(default=None, max_length=80)
    description: str = Field(default="", max_length=2000)
    description_en: str = Field(default="", max_length=2000)
    categories: list[str] = Field(default_factory=list, max_length=100, description="Case category codes; none: all")
    sources: list[str] = Field(default_factory=list, max_length=5, description="Report sources; none: all")

    @field_validator("sources")
    @classmethod
    def _known_sources(cls, sources: list[str]) -> list[str]:
        unknown = sorted(set(sources) - set(SOURCES))
        if unknown:
            raise ValueError(f"unknown source(s) {', '.join(unknown)}; one of {', '.join(SOURCES)}")
        return sorted(set(sources))

    @field_validator("owner_department")
    @classmethod
    def _blank_is_none(cls, department: str | None) -> str | None:
        return department or None


async def listed(conn: psycopg.AsyncConnection) -> list[dict[str, Any]]:
    """Every scenario, by field then code."""
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(LISTED)
        return await cursor.fetchall()


async def one(conn: psycopg.AsyncConnection, code: str) -> dict[str, Any]:
    """One scenario by code, or NotFoundError."""
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(ONE, (code,))
        found = await cursor.fetchone()
    if found is None:
        raise NotFoundError(f"no scenario {code}")
    return found


async def _checked(conn: psycopg.AsyncConnection, draft: ScenarioIn, actor: str) -> dict[str, Any]:
    """The draft's values for SQL, after the checks that need the database (its owner and its categories)."""
    if await (await conn.execute(KNOWN_UNIT, (draft.owner_unit,))).fetchone() is None:
        raise InvalidInputError(f"owner_unit {draft.owner_unit} is not a city, district or street code")
    categories = sorted(set(draft.categories))
    row = await (await conn.execute(KNOWN_CATEGORIES, (categories,))).fetchone()
    known = set((row[0] if row else None) or ())
    unknown = [code for code in categories if code not in known]
    if unknown:
        raise InvalidInputError(f"unknown categor(y/ies) {', '.join(unknown)} (see GET /api/v1/categories)")
    return draft.model_dump(mode="json") | {"categories": categories, "actor": actor}


async def add(conn: psycopg.AsyncConnection, draft: ScenarioIn, actor: str) -> dict[str, Any]:
    """Register a new scenario; ConflictError when its code is taken."""
    values = await _checked(conn, draft, actor)
    if await (await conn.execute(INSERT, values)).fetchone() is None:
        raise ConflictError(f"scenario {draft.code} exists; change it with its version")
    await record_async(conn, actor, "scenario.added", draft.code, status=draft.status.value)
    return await one(conn, draft.code)


async def change(conn: psycopg.AsyncConnection, draft: ScenarioIn, version: int, actor: str) -> dict[str, Any]:
    """Rewrite a scenario as of ``version``; StaleVersionError when someone changed it since."""
    before = await one(conn, draft.code)
    values = await _checked(conn, draft, actor) | {"version": version}
    if await (await conn.execute(UPDATE, values)).fetchone() is None:
        raise StaleVersionError(f"scenario {draft.code} is at version {before['version']}, not {version}; reload it")
    await record_async(
        conn, actor, "scenario.changed", draft.code, status=draft.status.value, was=before["status"], version=version
    )
    return await one(conn, draft.code)


def read_file(path: Path) -> list[ScenarioIn]:
    """Scenarios from a CSV file (columns as ``ScenarioIn``; lists separated by ``;``), all checked first.

    InvalidInputError names every bad row (row numbers as in a spreadsheet); nothing is read otherwise.
    """
    drafts: list[ScenarioIn] = []
    problems: list[str] = []
    with path.open(newline="", encoding="utf-8-sig") as handle:
        for number, row in enumerate(csv.DictReader(line for line in handle if not line.startswith("#")), start=2):
            values: dict[str, Any] = {k: (v or "").strip() for k, v in row.items() if k}
            for name in ("categories", "sources"):
                values[name] = [item.strip() for item in values.get(name, "").split(";") if item.strip()]
            try:
                drafts.append(ScenarioIn.model_validate(values))
            except ValidationError as error:
                problems.append(f"row {number} ({values.get('code') or 'no code'}): {problems_text(error.errors())}")
    if problems:
        raise InvalidInputError(f"{path.name}: " + " | ".join(problems))
    return drafts


async def load(conn: psycopg.AsyncConnection, drafts: list[ScenarioIn], actor: str) -> tuple[int, int, int]:
    """Add the new scenarios and rewrite the changed ones, in one transaction: (added, changed, unchanged)."""
    added = changed = unchanged = 0
    async with conn.transaction():
        for draft in drafts:
            try:
                current = await one(conn, draft.code)
            except NotFoundError:
                await add(conn, draft, actor)
                added += 1
                continue
            if ScenarioIn.model_validate({name: current[name] for name in ScenarioIn.model_fields}) == draft:
                unchanged += 1
            else:
                await change(conn, draft, current["version"], actor)
                changed += 1
    return added, changed, unchanged
