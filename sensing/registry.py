"""The sensor registry file: which devices stand where, of what kind, whose they are and what they watch.

A file (CSV, or GeoJSON points) lists sensors by code — the device id of its MQTT topic; loading it
creates new sensors and updates known ones, all or nothing: every problem is reported by row and
column and nothing is written while any remains. Columns:

``code, kind, name, lon, lat, unit, department, asset, state`` — ``kind`` one of the kinds
(``cityops sensors kinds``), ``unit`` the owner unit's code (empty: the grid the point lies in),
``department`` the one that maintains it, ``asset`` what it watches (a river section, a manhole, a
pipe), ``state`` active (default), maintenance or retired. A sensor moved or retired closes its open
alarms (the registry's trigger, migration 0038).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h3
import pandas as pd
from sqlalchemy import Connection, Engine, text

from sensing.queries.registry import OUTSIDE, UPSERT
from spatial.audit import record
from spatial.point_file import point_of, read_points, refuse

CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
STATES = ("active", "maintenance", "retired")
CELL_RESOLUTION = 9  # ~0.1 km² cells: an area rule's neighbourhoods are rings of them
COLUMNS = "code, kind, name, lon, lat, unit, department, asset, state"


@dataclass
class RegistryLoad:
    """What a registry load did."""

    rows: int = 0
    inserted: int = 0
    updated: int = 0
    problems: list[str] = field(default_factory=list)


def check_rows(conn: Connection, table: pd.DataFrame) -> tuple[list[dict[str, Any]], list[str]]:
    """Each row as the database wants it, and the problems (row numbers as in a spreadsheet)."""
    missing = {"code", "kind", "name", "lon", "lat"} - set(table.columns)
    if missing:
        return [], [f"missing column(s) {', '.join(sorted(missing))}; columns are {COLUMNS}"]
    kinds = set(conn.execute(text("SELECT code FROM sensor_kind")).scalars())
    units = set(conn.execute(text("SELECT code FROM unit")).scalars())
    rows: list[dict[str, Any]] = []
    problems: list[str] = []
    seen: set[str] = set()
    for number, raw in enumerate(table.to_dict("records"), start=2):
        row = {k: str(v).strip() for k, v in raw.items()}
        try:
            rows.append(_row(row, kinds, units, seen) | {"number": number})
        except ValueError as error:
            problems.append(f"row {number} ({row.get('code') or 'no code'}): {error}")
    if rows and not problems:  # where each point lies needs the database: one query for the file
        for number, code in conn.execute(OUTSIDE, {"rows": json.dumps(rows, ensure_ascii=False)}):
            problems.append(f"row {number} ({code}): lon/lat lie outside the city's grids")
    return rows, problems


def _row(row: dict[str, str], kinds: set[str], units: set[str], seen: set[str]) -> dict[str, Any]:
    code, kind = row["code"], row["kind"]
    if not CODE.match(code):
        raise ValueError("code must be 1–64 letters, digits, '.', '_' or '-' (it is the device's MQTT topic)")
    if code in seen:
        raise ValueError(f"code {code} appears twice")
    seen.add(code)
    if kind not in kinds:
        raise ValueError(f"kind {kind!r} is not one of {', '.join(sorted(kinds))}")
    if not row["name"] or len(row["name"]) > 200:
        raise ValueError("name must be 1–200 characters")
    position = point_of(row)
    if position is None:
        raise ValueError("a sensor stands somewhere: give lon and lat (WGS84)")
    unit = row.get("unit", "")
    if unit and unit not in units:
        raise ValueError(f"unit {unit!r} is not a loaded unit code")
    state = row.get("state", "") or "active"
    if state not in STATES:
        raise ValueError(f"state {state!r} is not one of {', '.join(STATES)}")
    lon, lat = position
    return {
        "code": code,
        "kind": kind,
        "name": row["name"],
        "lon": lon,
        "lat": lat,
        "cell": h3.str_to_int(h3.latlng_to_cell(lat, lon, CELL_RESOLUTION)),
        "unit": unit or None,
        "department": row.get("department") or None,
        "asset": row.get("asset") or None,
        "state": state,
    }


def load_registry(engine: Engine, path: Path, *, actor: str, synthetic: bool = False) -> RegistryLoad:
    """Check the whole file, then write it in one transaction (audited as ``actor``)."""
    table = read_points(path, "sensors")
    result = RegistryLoad(rows=len(table))
    with engine.begin() as conn:
        rows, result.problems = check_rows(conn, table)
        refuse(path, result.problems)
        written = conn.execute(UPSERT, {"rows": json.dumps(rows, ensure_ascii=False), "synthetic": synthetic})
        flags = written.scalars().all()
        result.inserted = sum(flags)
        result.updated = len(flags) - result.inserted
        conn.execute(text("ANALYZE sensor, sensor_status"))
        record(conn, actor, "sensors.loaded", f"sensors:{len(rows)}", file=path.name, **_counts(result))
    return result


def _counts(result: RegistryLoad) -> dict[str, int]:
    return {"inserted": result.inserted, "updated": result.updated}
