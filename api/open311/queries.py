"""GeoReport v2 views of the store: categories as services, reports as service requests.

A service request is one submission (a report): a citizen who reported gets their own id back,
even when the city merged it with other reports of the same incident — the shared case shows
through ``status`` and the documented extension fields ``cityops_case_id``/``cityops_state``.
Nothing personal is published: no reporter field exists in these views, and locations of
sensitive categories are snapped to the centre of their H3 resolution-8 parent (~0.7 km²).
``address`` is always a string (clients require one): the address the reporter gave, else the
case's (given by its first report, or generated from its place: migration 0022); for sensitive
categories only the community the place lies in, as coarse as the snapped point.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo

import h3
import psycopg

from command.case_states import ENDED_STATES

PUBLIC_RESOLUTION = 8
TYPE_NAMES = {"component": "部件", "event": "事件"}

SERVICES_SQL = """
SELECT code, type, major_name, major_name_en, name, name_en, filing_condition, time_limit, limit_kind
FROM category WHERE ({where}) ORDER BY code
"""
REQUESTS_SQL = """
SELECT r.id, e.id, e.state, c.code, c.name, c.sensitive, r.description, u.name, r.created_at, e.updated_at,
       e.deadline, CASE WHEN c.sensitive THEN cityops_grid_address(e.grid_id, 'community')
                        ELSE coalesce(nullif(btrim(r.address), ''), e.address) END, ST_X(r.geom), ST_Y(r.geom), e.cell,
       (SELECT rm.sha256 FROM report_media rm WHERE rm.report_id = r.id ORDER BY rm.position LIMIT 1),
       e.report_count
FROM report r JOIN case_file e ON e.id = r.case_id JOIN category c ON c.code = e.category_code
JOIN unit u ON u.id = e.responsible_unit_id
WHERE {where}
ORDER BY r.created_at DESC, r.id DESC
LIMIT %(limit)s OFFSET %(offset)s
"""


def service(row: tuple[object, ...]) -> dict[str, object]:
    """A category as a GeoReport service (every category takes the optional severity attribute)."""
    code, kind, major, major_en, name, name_en, filing, limit, limit_kind = row
    return {
        "service_code": code,
        "service_name": name,
        "description": f"{name_en}. 立案条件 (filed when): {filing}. Time limit: {limit} {limit_kind}.",
        "metadata": True,
        "type": "realtime",
        "keywords": f"{name_en}, {major}, {major_en}",
        "group": f"{TYPE_NAMES[str(kind)]}·{major}",
    }


async def services(conn: psycopg.AsyncConnection, code: str | None = None) -> list[dict[str, object]]:
    """All services, or the one with this code (an empty list when there is none)."""
    where, params = ("code = %s", (code,)) if code is not None else ("true", ())
    return [service(row) for row in await (await conn.execute(SERVICES_SQL.format(where=where), params)).fetchall()]


@dataclass(frozen=True)
class RequestFilter:
    """What GET requests may ask for; ``ids`` overrides the rest, as the spec says."""

    ids: tuple[int, ...] = ()
    codes: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    statuses: tuple[str, ...] = ()
    limit: int = 1000
    offset: int = 0

    def sql(self) -> tuple[str, dict[str, object]]:
        """The WHERE clause and its parameters."""
        params: dict[str, object] = {"limit": self.limit, "offset": self.offset}
        if self.ids:
            return "r.id = ANY(%(ids)s)", {**params, "ids": list(self.ids)}
        clauses = ["r.created_at >= %(start)s", "r.created_at < %(end)s"]
        params |= {"start": self.start, "end": self.end}
        if self.codes:
            clauses.append("e.category_code = ANY(%(codes)s)")
            params["codes"] = list(self.codes)
        if set(self.statuses) == {"open"}:
            clauses.append("e.state <> ALL(%(closed)s)")
        elif set(self.statuses) == {"closed"}:
            clauses.append("e.state = ANY(%(closed)s)")
        params["closed"] = list(ENDED_STATES)
        return " AND ".join(clauses), params


def _public_point(lon: float, lat: float, cell: int, sensitive: bool) -> tuple[float, float]:
    if not sensitive:
        return lon, lat
    centre_lat, centre_lon = h3.cell_to_latlng(h3.cell_to_parent(h3.int_to_str(cell), PUBLIC_RESOLUTION))
    return round(centre_lon, 6), round(centre_lat, 6)


def service_request(row: tuple[object, ...], zone: tzinfo, media_base: str) -> dict[str, object]:
    """A report as a GeoReport service request: every standard field present, null where unknown."""
    (
        rid,
        case_id,
        state,
        code,
        name,
        sensitive,
        description,
        agency,
        requested,
        updated,
        deadline,
        address,
        lon,
        lat,
        cell,
        media,
        reports,
    ) = row
    public_lon, public_lat = _public_point(lon, lat, cell, bool(sensitive))  # type: ignore[arg-type]
    others = int(reports) - 1  # type: ignore[call-overload]
    return {
        "service_request_id": str(rid),
        "status": "closed" if state in ENDED_STATES else "open",
        "status_notes": f"merged with {others} other report(s) of the same incident (与另外 {others} 份报告合并)"
        if others > 0
        else None,
        "service_name": name,
        "service_code": code,
        "description": description,
        "agency_responsible": agency,
        "service_notice": None,
        "requested_datetime": requested.astimezone(zone).isoformat(),  # type: ignore[attr-defined]
        "updated_datetime": updated.astimezone(zone).isoformat(),  # type: ignore[attr-defined]
        "expected_datetime": deadline.astimezone(zone).isoformat(),  # type: ignore[attr-defined]
        "address": address,
        "address_id": None,
        "zipcode": None,
        "lat": public_lat,
        "long": public_lon,
        "media_url": f"{media_base}/{media}" if media else None,
        "cityops_case_id": str(case_id),
        "cityops_state": state,
    }


async def service_requests(
    conn: psycopg.AsyncConnection, where: RequestFilter, zone: tzinfo, media_base: str
) -> list[dict[str, object]]:
    """The matching requests, newest first."""
    clause, params = where.sql()
    rows = await (await conn.execute(REQUESTS_SQL.format(where=clause), params)).fetchall()
    return [service_request(row, zone, media_base) for row in rows]
