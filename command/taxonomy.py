"""Case categories as data: read and check a category table, write it to the store.

Every row is checked before anything is written (codes, kinds, tiers, numbers), and a bad row
is reported by its line number, so a city can edit the table without touching code.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Connection, text

from command.working_time import LimitKind, TimeLimit
from spatial.audit import record
from spatial.errors import InvalidInputError
from spatial.tiers import Tier

DEFAULT_CATEGORIES = Path(__file__).parent / "categories.csv"
TYPES = ("component", "event")


@dataclass(frozen=True)
class Category:
    """One 小类 and its standard."""

    code: str
    type: str
    major_code: str
    major_name: str
    major_name_en: str
    minor_code: str
    name: str
    name_en: str
    filing_condition: str
    closing_condition: str
    time_limit: float
    limit_kind: str
    responsible_tier: str
    departments: tuple[str, ...]
    duplicate_radius_m: float
    duplicate_window_hours: float
    sensitive: bool

    @property
    def limit(self) -> TimeLimit:
        """The time limit, ready for the working calendar."""
        return TimeLimit(self.time_limit, LimitKind(self.limit_kind))


def _number(row: dict[str, str], key: str, line: int, *, positive: bool) -> float:
    try:
        value = float(row[key])
    except (TypeError, ValueError):
        raise InvalidInputError(f"line {line}: {key} must be a number, got {row[key]!r}") from None
    if value < 0 or (positive and value == 0):
        raise InvalidInputError(f"line {line}: {key} must be {'positive' if positive else '≥ 0'}, got {value}")
    return value


def _category(row: dict[str, str], line: int) -> Category:
    missing = [f.name for f in fields(Category) if not (row.get(f.name) or "").strip()]
    if missing:
        raise InvalidInputError(f"line {line}: empty or missing {', '.join(missing)}")
    if row["type"] not in TYPES:
        raise InvalidInputError(f"line {line}: type must be component or event, got {row['type']!r}")
    if row["limit_kind"] not in {kind.value for kind in LimitKind}:
        kinds = ", ".join(kind.value for kind in LimitKind)
        raise InvalidInputError(f"line {line}: limit_kind must be one of {kinds}, got {row['limit_kind']!r}")
    if row["responsible_tier"] not in {tier.value for tier in Tier}:
        raise InvalidInputError(f"line {line}: unknown responsible_tier {row['responsible_tier']!r}")
    if row["sensitive"].lower() not in ("true", "false"):
        raise InvalidInputError(f"line {line}: sensitive must be true or false, got {row['sensitive']!r}")
    return Category(
        code=row["code"].strip(),
        type=row["type"],
        major_code=row["major_code"],
        major_name=row["major_name"],
        major_name_en=row["major_name_en"],
        minor_code=row["minor_code"],
        name=row["name"],
        name_en=row["name_en"],
        filing_condition=row["filing_condition"],
        closing_condition=row["closing_condition"],
        time_limit=_number(row, "time_limit", line, positive=True),
        limit_kind=row["limit_kind"],
        responsible_tier=row["responsible_tier"],
        departments=tuple(d.strip() for d in row["departments"].split(";") if d.strip()),
        duplicate_radius_m=_number(row, "duplicate_radius_m", line, positive=False),
        duplicate_window_hours=_number(row, "duplicate_window_hours", line, positive=False),
        sensitive=row["sensitive"].lower() == "true",
    )


def read_categories(path: Path = DEFAULT_CATEGORIES) -> list[Category]:
    """Every category of a CSV table (``#`` lines are comments), checked row by row."""
    if not path.exists():
        raise InvalidInputError(f"{path}: no such file")
    with path.open(encoding="utf-8") as handle:
        lines = [(number, line) for number, line in enumerate(handle, start=1) if not line.startswith("#")]
    reader = csv.DictReader(line for _, line in lines)
    categories = [_category(row, lines[index + 1][0]) for index, row in enumerate(reader)]
    if not categories:
        raise InvalidInputError(f"{path.name} has no categories")
    codes = [category.code for category in categories]
    duplicated = sorted({code for code in codes if codes.count(code) > 1})
    if duplicated:
        raise InvalidInputError(f"duplicate category codes: {', '.join(duplicated)}")
    return categories


def write_categories(conn: Connection, categories: list[Category], *, actor: str = "system") -> int:
    """Upsert by code in the caller's transaction (audited as ``actor``); returns how many rows were written."""
    rows = [{**asdict(c), "departments": list(c.departments)} for c in categories]
    columns = [f.name for f in fields(Category)]
    assignments = ", ".join(f"{column} = EXCLUDED.{column}" for column in columns if column != "code")
    conn.execute(
        text(f"""
        INSERT INTO category ({", ".join(columns)}, updated_at)
        SELECT {", ".join(columns)}, now() FROM json_populate_recordset(NULL::category, CAST(:rows AS json))
        ON CONFLICT (code) DO UPDATE SET {assignments}, updated_at = now()
        """),
        {"rows": json.dumps(rows, ensure_ascii=False)},
    )
    record(conn, actor, "categories.loaded", "category", codes=len(rows))
    return len(rows)


CATEGORY_SQL = "SELECT {} FROM category WHERE code = %s".format(", ".join(f.name for f in fields(Category)))


def category_from_row(row: tuple[Any, ...]) -> Category:
    """A Category from a row of CATEGORY_SQL (departments arrive as a list)."""
    values: dict[str, Any] = dict(zip((f.name for f in fields(Category)), row, strict=True))
    values["departments"] = tuple(values["departments"])
    values["responsible_tier"] = str(values["responsible_tier"])
    return Category(**values)


async def fetch_category(conn: psycopg.AsyncConnection, code: str) -> Category:
    """The category with this code, or an error that lists the valid codes (as intake must)."""
    row = await (await conn.execute(CATEGORY_SQL, (code,))).fetchone()
    if row is None:
        known = await (await conn.execute("SELECT code FROM category ORDER BY code")).fetchall()
        raise InvalidInputError(f"unknown category {code!r}; valid codes: {', '.join(c[0] for c in known)}")
    return category_from_row(row)


def list_categories(conn: Connection) -> list[tuple[str, str, str, float, str, str, str]]:
    """The categories in force by code: code, name, English name, time limit, its kind, tier, departments (、)."""
    rows = conn.execute(
        text(
            "SELECT code, name, name_en, time_limit, limit_kind, responsible_tier, "
            "array_to_string(departments, '、') FROM category ORDER BY code"
        )
    )
    return [tuple(row) for row in rows]


def category_codes(conn: Connection) -> list[str]:
    """Every category's code, in order."""
    return list(conn.execute(text("SELECT code FROM category ORDER BY code")).scalars())
