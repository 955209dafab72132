"""The directory file: who and what can be sent, whose it is, what it can do, when it is on duty.

A file (CSV, or GeoJSON points) lists forces by code; loading it creates new forces and updates
known ones (status and history stay), all or nothing: every problem is reported by row and
column and nothing is written while any remains. Columns:

``code, name, kind, unit, department, capabilities, shift, contact_name, contact_phone, members,
lon, lat, fixed_post`` — capabilities and members separated by ``;``, shift as ``08:00-20:00``
(may cross midnight; empty: always on duty), lon/lat an optional starting position (GeoJSON: the
point), ``fixed_post`` (``true``/``false``, optional) for a force standing at a depot or station:
its position is its home, which does not go stale (migration 0019).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

import h3
import pandas as pd
from sqlalchemy import Connection, Engine, text

from forces.positions import CELL_RESOLUTION
from forces.queries.directory import MEMBERS, PLACE, UPSERT
from forces.vocabulary import KINDS, ForceKind
from spatial.audit import record
from spatial.point_file import point_of, read_points, refuse

CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
SHIFT = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")
PHONE = re.compile(r"^\+?[0-9 -]{5,20}$")


@dataclass
class DirectoryLoad:
    """What a directory load did."""

    rows: int = 0
    inserted: int = 0
    updated: int = 0
    placed: int = 0
    problems: list[str] = field(default_factory=list)


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(";") if part.strip()]


def _shift(value: str) -> tuple[time | None, time | None]:
    if not value:
        return None, None
    match = SHIFT.match(value)
    if not match:
        raise ValueError(f"shift {value!r} is not HH:MM-HH:MM (e.g. 08:00-20:00, or 20:00-08:00 overnight)")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if (h1, m1) == (h2, m2):
        raise ValueError(f"shift {value!r} starts and ends at the same time (leave it empty for always on duty)")
    return time(h1, m1), time(h2, m2)


def _flag(value: str) -> bool:
    if value.lower() in ("", "false", "0", "no"):
        return False
    if value.lower() in ("true", "1", "yes"):
        return True
    raise ValueError(f"fixed_post {value!r} is not true or false")


def _known(conn: Connection, table: str, column: str) -> set[str]:
    return set(conn.execute(text(f"SELECT {column} FROM {table}")).scalars())


def check_rows(conn: Connection, table: pd.DataFrame) -> tuple[list[dict[str, Any]], list[str]]:
    """Each row as the database wants it, and the problems (row numbers as in a spreadsheet)."""
    required = {"code", "name", "kind", "unit"}
    missing = required - set(table.columns)
    if missing:
        return [], [
            f"missing column(s) {', '.join(sorted(missing))}; columns are code, name, kind, unit, "
            "department, capabilities, shift, contact_name, contact_phone, members, lon, lat, "
            "fixed_post"
        ]
    units, capabilities = _known(conn, "unit", "code"), _known(conn, "capability", "code")
    stored = {code: kind for code, kind in conn.execute(text("SELECT code, kind::text FROM force"))}
    kinds = {**stored, **dict(zip(table["code"], table["kind"], strict=True))}
    rows: list[dict[str, Any]]
    problems: list[str]
    seen: set[str]
    rows, problems, seen = [], [], set()
    for number, raw in enumerate(table.to_dict("records"), start=2):
        row = {k: str(v).strip() for k, v in raw.items()}
        try:
            rows.append(_row(row, units, capabilities, kinds, seen))
        except ValueError as error:
            problems.append(f"row {number} ({row.get('code') or 'no code'}): {error}")
    return rows, problems


def _row(
    row: dict[str, str], units: set[str], capabilities: set[str], kinds: dict[str, str], seen: set[str]
) -> dict[str, Any]:
    code, kind = row["code"], row["kind"]
    if not CODE.match(code):
        raise ValueError("code must be 1–64 letters, digits, '.', '_' or '-'")
    if code in seen:
        raise ValueError(f"code {code} appears twice")
    seen.add(code)
    if not row["name"] or len(row["name"]) > 100:
        raise ValueError("name must be 1–100 characters")
    if kind not in KINDS:
        raise ValueError(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    if row["unit"] not in units:
        raise ValueError(f"unit {row['unit']!r} is not a loaded unit code")
    caps = _split(row.get("capabilities", ""))
    unknown = sorted(set(caps) - capabilities)
    if unknown:
        raise ValueError(f"unknown capabilities {', '.join(unknown)} (see `cityops forces capabilities`)")
    members = _split(row.get("members", ""))
    if members and kind != ForceKind.TEAM:
        raise ValueError("only a team has members")
    not_people = [m for m in members if kinds.get(m) != ForceKind.PERSON]
    if not_people:
        raise ValueError(f"members {', '.join(not_people)} are not people in the directory")
    phone, name = row.get("contact_phone", ""), row.get("contact_name", "")
    if phone and not PHONE.match(phone):
        raise ValueError(f"contact_phone {phone!r} is not a phone number")
    start, end = _shift(row.get("shift", ""))
    position = point_of(row)
    fixed_post = _flag(row.get("fixed_post", ""))
    if fixed_post and position is None:
        raise ValueError("a fixed-post force needs lon/lat: its post (depot, station) is its home")
    contact = {k: v for k, v in (("name", name), ("phone", phone)) if v} or None
    out: dict[str, Any] = {
        "code": code,
        "name": row["name"],
        "kind": kind,
        "unit": row["unit"],
        "department": row.get("department") or None,
        "caps": sorted(set(caps)),
        "shift_start": start,
        "shift_end": end,
        "contact": contact,
        "members": members if kind == ForceKind.TEAM else None,
        "fixed_post": fixed_post,
    }
    if position:
        out["lon"], out["lat"] = position
        out["cell"] = h3.str_to_int(h3.latlng_to_cell(position[1], position[0], CELL_RESOLUTION))
    return out


def _json(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, default=lambda v: v.isoformat() if isinstance(v, time) else str(v), ensure_ascii=False)


def load_directory(engine: Engine, path: Path, *, actor: str, synthetic: bool = False) -> DirectoryLoad:
    """Check the whole file, then write it in one transaction (audited as ``actor``)."""
    table = read_points(path, "forces")
    result = DirectoryLoad(rows=len(table))
    with engine.begin() as conn:
        rows, result.problems = check_rows(conn, table)
        refuse(path, result.problems)
        written = conn.execute(UPSERT, {"rows": _json(rows), "synthetic": synthetic}).scalars().all()
        result.inserted = sum(written)
        result.updated = len(written) - result.inserted
        teams = [r for r in rows if r["members"] is not None]
        if teams:
            for statement in MEMBERS:
                conn.execute(statement, {"rows": _json(teams)})
        placed = [r for r in rows if "lon" in r]
        if placed:
            conn.execute(PLACE, {"rows": _json(placed), "at": datetime.now(UTC)})
        result.placed = len(placed)
        conn.execute(text("ANALYZE force, force_position"))  # fresh statistics for the dispatch queries
        record(
            conn,
            actor,
            "forces.loaded",
            f"forces:{len(rows)}",
            file=path.name,
            inserted=result.inserted,
            updated=result.updated,
            placed=result.placed,
        )
    return result


def capabilities(conn: Connection) -> list[tuple[str, str, str]]:
    """The capabilities a force may have, by code: (code, name, English name)."""
    rows = conn.execute(text("SELECT code, name, name_en FROM capability ORDER BY code"))
    return [(code, name, name_en) for code, name, name_en in rows]
