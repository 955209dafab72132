"""The query of an items request, checked as OGC API Features asks: anything it does not define is a 400."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from starlette.datastructures import QueryParams

from api.ogc.collections import Collection
from api.ogc.crs import Crs, offered
from spatial.errors import BadQueryError

DEFAULT_LIMIT, MAX_LIMIT = 10, 10_000
STANDARD = ("bbox", "bbox-crs", "crs", "limit", "offset", "datetime", "f")


@dataclass(frozen=True)
class ItemQuery:
    """What an items request asks for.

    bbox (west, south, east, north, in bbox_crs), limit, offset, a datetime interval (either end
    open), queryable values, and the CRS the features are answered in.
    """

    bbox: tuple[float, float, float, float] | None
    bbox_crs: Crs
    limit: int
    offset: int
    start: datetime | None
    end: datetime | None
    filters: dict[str, str]
    crs: Crs


def _integer(params: QueryParams, name: str, default: int, low: int) -> int:
    value = params.get(name)
    if value is None:
        return default
    if not value.isdigit() or int(value) < low:
        raise BadQueryError(f"{name} must be a whole number ≥ {low}, got {value!r}")
    return int(value)


def _instant(text: str) -> datetime | None:
    if text in ("", ".."):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadQueryError(f"datetime: {text!r} is not an RFC 3339 date-time (2026-11-27T08:00:00Z)") from None
    if moment.tzinfo is None:
        raise BadQueryError(f"datetime: {text!r} needs a time zone (Z or +08:00)")
    return moment


def _interval(value: str | None) -> tuple[datetime | None, datetime | None]:
    if value is None:
        return None, None
    if "/" not in value:
        moment = _instant(value)
        if moment is None:
            raise BadQueryError("datetime: give an instant or an interval start/end ('..' for an open end)")
        return moment, moment
    first, _, last = value.partition("/")
    start, end = _instant(first), _instant(last)
    if start and end and start > end:
        raise BadQueryError("datetime: the interval's start is after its end")
    return start, end


def _bbox(value: str | None, crs: Crs) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    parts = value.split(",")
    if len(parts) == 6:  # minimum and maximum elevation are accepted and not used
        parts = [parts[0], parts[1], parts[3], parts[4]]
    if len(parts) != 4:
        raise BadQueryError(f"bbox needs 4 numbers {crs.order()} (the order of {crs.uri}); got {len(parts)}")
    try:
        numbers = tuple(float(part) for part in parts)
    except ValueError:
        raise BadQueryError(f"bbox must be numbers, got {value!r}") from None
    return crs.box(numbers)  # type: ignore[arg-type]  # four, counted above


def item_query(params: QueryParams, collection: Collection) -> ItemQuery:
    """The request's query, or a 400 naming what is wrong (an unknown parameter included)."""
    allowed = (*STANDARD, *collection.queryables)
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise BadQueryError(f"unknown query parameter {', '.join(unknown)}; this collection takes {', '.join(allowed)}")
    if params.get("f", "json") not in ("json", "geojson"):
        raise BadQueryError("f: only json (GeoJSON) is served")
    start, end = _interval(params.get("datetime"))
    filters = {name: params[name] for name in collection.queryables if name in params}
    if any(len(value) > 64 for value in filters.values()):
        raise BadQueryError("queryable values are at most 64 characters")
    limit = min(_integer(params, "limit", DEFAULT_LIMIT, 1), MAX_LIMIT)
    bbox_crs = offered("bbox-crs", params.get("bbox-crs"))
    return ItemQuery(
        _bbox(params.get("bbox"), bbox_crs),
        bbox_crs,
        limit,
        _integer(params, "offset", 0, 0),
        start,
        end,
        filters,
        offered("crs", params.get("crs")),
    )
