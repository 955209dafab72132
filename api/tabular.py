"""One list, three formats: JSON for programs, GeoJSON for maps, CSV for spreadsheets.

Rows are flat dicts with ``lon``/``lat`` (None: a feature without geometry, a force never
tracked). CSV cells that a spreadsheet would run as a formula (starting with = + - @, tab or
CR) are prefixed with an apostrophe (OWASP CSV injection): a report's description is written
by the public.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from enum import StrEnum

from fastapi import Request
from fastapi.responses import Response

from api.geojson import FastJSONResponse, GeoJSONResponse

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class ListFormat(StrEnum):
    """The formats a list endpoint answers in (``?format=``)."""

    json = "json"
    geojson = "geojson"
    csv = "csv"


def _cell(value: object) -> object:
    if isinstance(value, list):
        value = ";".join(map(str, value))
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _csv(rows: Sequence[dict[str, object]], fields: Sequence[str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(fields)
    writer.writerows([_cell(row[f]) for f in fields] for row in rows)
    return ("\ufeff" + out.getvalue()).encode()  # the byte-order mark makes Excel read UTF-8 Chinese


def csv_response(
    rows: Sequence[dict[str, object]], fields: Sequence[str], name: str, headers: dict[str, str] | None = None
) -> Response:
    """``rows`` as a CSV download (UTF-8 with BOM, formulas neutralised)."""
    disposition = {"Content-Disposition": f'attachment; filename="{name}.csv"'}
    headers = {**(headers or {}), **disposition}
    return Response(_csv(rows, fields), media_type="text/csv; charset=utf-8", headers=headers)


def next_link(request: Request, rows: Sequence[dict[str, object]], limit: int) -> str | None:
    """The next page (older rows), or None when this one was not full."""
    if len(rows) < limit:
        return None
    return str(request.url.include_query_params(before_id=rows[-1]["id"]))


def render_list(
    request: Request, rows: Sequence[dict[str, object]], fields: Sequence[str], fmt: ListFormat, limit: int, name: str
) -> Response:
    """``rows`` in the requested format, with a link to the next page where there is one."""
    following = next_link(request, rows, limit)
    link = {"Link": f'<{following}>; rel="next"'} if following else {}
    if fmt is ListFormat.csv:
        return csv_response(rows, fields, name, link)
    if fmt is ListFormat.geojson:
        features = [
            {
                "type": "Feature",
                "id": row["id"],
                "geometry": None if row["lon"] is None else {"type": "Point", "coordinates": [row["lon"], row["lat"]]},
                "properties": {k: v for k, v in row.items() if k not in ("lon", "lat")},
            }
            for row in rows
        ]
        return GeoJSONResponse({"type": "FeatureCollection", "features": features, "next": following}, headers=link)
    return FastJSONResponse({"items": rows, "next": following}, headers=link)
