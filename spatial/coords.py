"""Coordinate validation shared by every entry point: one wording for one mistake."""

from __future__ import annotations

import math

from spatial.errors import InvalidInputError


def validate_lon_lat(lon: float, lat: float) -> tuple[float, float]:
    """Finite WGS84 longitude/latitude, or an error that says which and how to fix it."""
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise InvalidInputError(f"coordinates must be finite numbers, got lon={lon}, lat={lat}")
    if not -90 <= lat <= 90:
        hint = (
            " — it looks like lon and lat are swapped (pass lon first, e.g. lon=118.78&lat=32.04)"
            if -90 <= lon <= 90 and -180 <= lat <= 180
            else ""
        )
        raise InvalidInputError(f"lat={lat} is outside -90…90{hint}")
    if not -180 <= lon <= 180:
        raise InvalidInputError(f"lon={lon} is outside -180…180")
    return lon, lat
