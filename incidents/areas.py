"""An incident's areas: drawn on the map, a buffer round a point, or units joined — kept inside the city.

Areas are never overwritten: a new perimeter retires the old one (``retired_at``), so the timeline can
say what the area was when. What lies outside the city is clipped off and the answer says how much;
an area wholly outside is refused. Every change refreshes who sees the incident (its ``units``) and
is written on the timeline.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import psycopg
import shapely

from incidents.queries.areas import CURRENT, INSERT, REFRESH_UNITS, RETIRE_KIND, RETIRE_ONE, SHAPE, UNKNOWN_UNITS
from incidents.timeline import log
from incidents.vocabulary import AreaKind, Derivation
from spatial.coords import validate_lon_lat
from spatial.errors import InvalidInputError, NotFoundError
from spatial.polygons import checked_polygon
from spatial.rows import one

MAX_BUFFER_M = 50_000
MAX_UNITS = 200
MIN_AREA_M2 = 1.0  # what is left inside the city must be an area, not a sliver along its edge


@dataclass(frozen=True)
class AreaSpec:
    """One area as given: exactly one of a GeoJSON ``geometry``, a ``buffer_m`` round ``lon``/``lat``, or ``units``."""

    kind: AreaKind
    label: str = ""
    geometry: str | None = None
    buffer_m: float | None = None
    lon: float | None = None
    lat: float | None = None
    units: tuple[str, ...] = ()

    @property
    def derived(self) -> Derivation:
        """How the geometry is made, or an error when the spec gives none or several."""
        given = [
            d
            for d, present in (
                (Derivation.DRAWN, self.geometry is not None),
                (Derivation.BUFFER, self.buffer_m is not None),
                (Derivation.UNITS, bool(self.units)),
            )
            if present
        ]
        if len(given) != 1:
            raise InvalidInputError(
                f"area {self.kind}: give exactly one of geometry (GeoJSON), buffer_m (with lon, lat) or units"
            )
        return given[0]


def _parameters(spec: AreaSpec) -> dict[str, Any]:
    derived = spec.derived
    params: dict[str, Any] = {"derived": derived.value, "wkb": None, "lon": None, "lat": None, "radius_m": None}
    params["units"] = list(spec.units)
    if derived is Derivation.DRAWN:
        params["wkb"] = shapely.to_wkb(checked_polygon(str(spec.geometry), f"area {spec.kind}"))
    elif derived is Derivation.BUFFER:
        if spec.lon is None or spec.lat is None:
            raise InvalidInputError(f"area {spec.kind}: a buffer needs lon and lat (its centre)")
        params["lon"], params["lat"] = validate_lon_lat(spec.lon, spec.lat)
        if not 1 <= float(spec.buffer_m or 0) <= MAX_BUFFER_M:
            raise InvalidInputError(f"area {spec.kind}: buffer_m must be 1…{MAX_BUFFER_M} metres")
        params["radius_m"] = float(spec.buffer_m or 0)
    elif len(spec.units) > MAX_UNITS:
        raise InvalidInputError(f"area {spec.kind}: at most {MAX_UNITS} units, got {len(spec.units)}")
    return params


async def add_area(conn: psycopg.AsyncConnection, incident_id: int, spec: AreaSpec, actor: str) -> dict[str, Any]:
    """Store ``spec`` as a current area of the incident (replacing the current one of a single kind)."""
    params = _parameters(spec)
    if spec.units:
        unknown = [r[0] for r in await (await conn.execute(UNKNOWN_UNITS, (list(spec.units),))).fetchall()]
        if unknown:
            raise InvalidInputError(f"area {spec.kind}: no units with the codes {', '.join(unknown)}")
    wkb, given_m2, inside_m2 = one(await (await conn.execute(SHAPE, params)).fetchone())
    if wkb is None or inside_m2 < MIN_AREA_M2:
        raise InvalidInputError(f"area {spec.kind} lies outside the city: draw it inside the city's boundary")
    retired = []
    if spec.kind.single:
        retired = [r[0] for r in await (await conn.execute(RETIRE_KIND, (incident_id, spec.kind.value))).fetchall()]
    area_id, created_at = one(
        await (
            await conn.execute(
                INSERT, (incident_id, spec.kind.value, spec.label, wkb, params["derived"], inside_m2, actor)
            )
        ).fetchone()
    )
    await conn.execute(REFRESH_UNITS, (incident_id,))
    clipped_m2 = max(given_m2 - inside_m2, 0.0)
    detail = {"area_id": area_id, "kind": spec.kind.value, "derived": params["derived"], "area_m2": round(inside_m2)}
    if retired:
        detail["replaces"] = retired
    if clipped_m2 >= MIN_AREA_M2:
        detail["clipped_m2"] = round(clipped_m2)
    await log(conn, incident_id, "area_set", actor, spec.label, **detail)
    return {**detail, "label": spec.label, "created_at": created_at.isoformat()}


async def retire_area(conn: psycopg.AsyncConnection, incident_id: int, area_id: int, actor: str) -> None:
    """Take a current area off the map (kept in the history); unknown or already retired: 404."""
    row = await (await conn.execute(RETIRE_ONE, (incident_id, area_id))).fetchone()
    if row is None:
        raise NotFoundError(f"incident {incident_id} has no current area {area_id}")
    await conn.execute(REFRESH_UNITS, (incident_id,))
    await log(conn, incident_id, "area_retired", actor, "", area_id=area_id, kind=row[0])


async def current_areas(conn: psycopg.AsyncConnection, incident_id: int) -> list[dict[str, Any]]:
    """The incident's current areas as GeoJSON features (kind, label, how derived, m²)."""
    rows = await (await conn.execute(CURRENT, (incident_id,))).fetchall()
    return [
        {
            "type": "Feature",
            "id": area_id,
            "geometry": json.loads(geometry),
            "properties": {
                "kind": kind,
                "label": label,
                "derived": derived,
                "area_m2": round(area_m2),
                "created_by": by,
                "created_at": at.isoformat(),
            },
        }
        for area_id, kind, label, derived, area_m2, by, at, geometry in rows
    ]
