"""Chinese web-map coordinates (GCJ-02, BD-09) to WGS84 — the one place they are converted.

GCJ-02 ("Mars coordinates", used by AMap, Tencent and WeChat locations) is WGS84 moved by a
legally mandated, location-dependent offset of a few hundred metres; BD-09 (Baidu) adds a second
shift on top. Neither is an EPSG/PROJ CRS, so pyproj cannot convert them. The platform stores
only WGS84/CGCS2000: every location is converted here, at the edge, tagged with its source.

The forward offset is the published public algorithm (Krasovsky ellipsoid constants). There is
no closed-form inverse: ``gcj02_to_wgs84`` iterates the forward transform until the residual is
below 1e-10° (~0.01 mm), typically in 3–4 steps. Outside China the offset is not applied, as
every GCJ-02 implementation does.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

import numpy as np
from numpy.typing import ArrayLike, NDArray

from spatial.errors import InvalidInputError

KRASOVSKY_A = 6378245.0
KRASOVSKY_EE = 0.00669342162296594323
BD_FACTOR = np.pi * 3000.0 / 180.0
INVERSE_TOLERANCE_DEG = 1e-10
Array = NDArray[np.float64]


class SourceCrs(StrEnum):
    """Coordinate systems a location may arrive in."""

    WGS84 = "wgs84"
    CGCS2000 = "cgcs2000"  # within centimetres of WGS84: treated as WGS84 (see STYLE.md CRS policy)
    GCJ02 = "gcj02"
    BD09 = "bd09"


def parse_source_crs(value: str) -> SourceCrs:
    """A SourceCrs from user input, or an error listing the accepted names."""
    try:
        return SourceCrs(value.strip().lower().replace("-", ""))
    except ValueError:
        valid = ", ".join(s.value for s in SourceCrs)
        raise InvalidInputError(f"unknown crs {value!r}; use one of: {valid}") from None


def in_china(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.bool_]:
    """The rough rectangle inside which the GCJ-02 offset applies."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    return (lon >= 72.004) & (lon <= 137.8347) & (lat >= 0.8293) & (lat <= 55.8271)


def _offset(lon: Array, lat: Array) -> tuple[Array, Array]:
    x, y = lon - 105.0, lat - 35.0
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    d_lat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x)) + common
    d_lat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    d_lat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    d_lon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x)) + common
    d_lon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    d_lon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    rad_lat = np.radians(lat)
    magic = 1.0 - KRASOVSKY_EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    d_lat = d_lat * 180.0 / ((KRASOVSKY_A * (1.0 - KRASOVSKY_EE)) / (magic * sqrt_magic) * np.pi)
    d_lon = d_lon * 180.0 / (KRASOVSKY_A / sqrt_magic * np.cos(rad_lat) * np.pi)
    return d_lon, d_lat


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[Array, Array]:
    """WGS84 → GCJ-02 (for drawing on a GCJ-02 basemap only; never stored)."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    d_lon, d_lat = _offset(lon, lat)
    inside = in_china(lon, lat)
    return np.where(inside, lon + d_lon, lon), np.where(inside, lat + d_lat, lat)


def _invert(
    forward: Callable[[Array, Array], tuple[Array, Array]], lon: Array, lat: Array, guess: tuple[Array, Array]
) -> tuple[Array, Array]:
    """Solve forward(x) = (lon, lat) by fixed-point steps from ``guess`` (the offsets are smooth)."""
    x_lon, x_lat = guess
    for _ in range(30):
        f_lon, f_lat = forward(x_lon, x_lat)
        e_lon, e_lat = f_lon - lon, f_lat - lat
        x_lon, x_lat = x_lon - e_lon, x_lat - e_lat
        if np.all(np.abs(e_lon) < INVERSE_TOLERANCE_DEG) and np.all(np.abs(e_lat) < INVERSE_TOLERANCE_DEG):
            break
    return x_lon, x_lat


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[Array, Array]:
    """GCJ-02 → WGS84 by fixed-point iteration of the forward transform."""
    g_lon, g_lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    return _invert(wgs84_to_gcj02, g_lon, g_lat, (g_lon, g_lat))


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[Array, Array]:
    """Baidu BD-09 → GCJ-02: the published closed form, refined until it inverts the forward one.

    The closed form alone is off by up to ~3 cm; a few fixed-point steps make it exact.
    """
    b_lon, b_lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    x, y = b_lon - 0.0065, b_lat - 0.006
    z = np.hypot(x, y) - 0.00002 * np.sin(y * BD_FACTOR)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * BD_FACTOR)
    return _invert(gcj02_to_bd09, b_lon, b_lat, (z * np.cos(theta), z * np.sin(theta)))


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[Array, Array]:
    """GCJ-02 → Baidu BD-09 (the inverse of ``bd09_to_gcj02``)."""
    x, y = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    z = np.hypot(x, y) + 0.00002 * np.sin(y * BD_FACTOR)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * BD_FACTOR)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def to_wgs84(lon: ArrayLike, lat: ArrayLike, source: SourceCrs) -> tuple[Array, Array]:
    """Any accepted source system → WGS84 (scalars or arrays)."""
    if source is SourceCrs.GCJ02:
        return gcj02_to_wgs84(lon, lat)
    if source is SourceCrs.BD09:
        return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
