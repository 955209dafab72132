"""Polygons people draw or send (a search area, an incident's zones): one check, one wording.

A polygon from a client is GeoJSON in WGS84 (lon, lat). It must parse, be a Polygon or
MultiPolygon, stay within the vertex budget, lie on the globe and be valid — a self-intersection is
refused with the place GEOS found it, so the person can see which corner to move.
"""

from __future__ import annotations

import shapely
from shapely.geometry.base import BaseGeometry

from spatial.errors import InvalidInputError

MAX_VERTICES = 2000


def checked_polygon(given: str, field: str, max_vertices: int = MAX_VERTICES) -> BaseGeometry:
    """``given`` (GeoJSON geometry text) as a valid shapely (Multi)Polygon, or an error naming ``field``."""
    try:
        shape = shapely.from_geojson(given)
    except shapely.errors.GEOSException:
        raise InvalidInputError(f"{field} must be a GeoJSON Polygon or MultiPolygon geometry") from None
    if shape.geom_type not in ("Polygon", "MultiPolygon") or shape.is_empty:
        raise InvalidInputError(f"{field} must be a Polygon or MultiPolygon, not {shape.geom_type}")
    if shapely.get_num_coordinates(shape) > max_vertices:
        raise InvalidInputError(f"{field} has more than {max_vertices} vertices: simplify it")
    west, south, east, north = shape.bounds
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise InvalidInputError(f"{field} is outside lon -180…180 / lat -90…90 (GeoJSON is lon, lat)")
    if not shape.is_valid:
        raise InvalidInputError(f"{field} is not a valid polygon: {shapely.is_valid_reason(shape)}")
    return shape
