"""The coordinate reference systems ``/ogc`` offers (OGC API Features Part 2: CRS by reference).

Geometries are stored as PostGIS SRID 4326 with longitude first — WGS84 in CRS84's axis order —
so CRS84 is the storage CRS and needs no transformation. The others are made in PostGIS when a
request names them: ``ST_Transform`` to the CRS's SRID, then ``ST_FlipCoordinates`` where the
CRS's own axis order is latitude first (EPSG:4326 and EPSG:4490 as EPSG defines them; PostGIS
and PROJ always hand out longitude first).

CGCS2000 (EPSG:4490, China's geodetic datum) and WGS84 agree to a few centimetres, and PROJ's EPSG
database holds no transformation between them, so PROJ applies its ballpark (null) transformation:
the numbers are carried over unchanged. That is within the centimetres the two datums differ by,
and it keeps a round trip exact — a point sent out in EPSG:4490 and read back is where it was stored.

Every CRS serves coordinates to about 0.1 mm (9 decimals of a degree, 4 of a metre): the stored
coordinates are full doubles, and a client comparing two CRSs should see the transformation, not
rounding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from spatial.errors import BadQueryError

STORAGE_SRID = 4326  # every geometry column (spatial/migrations), longitude first
WEB_MERCATOR_LIMIT = 20037508.342789244  # EPSG:3857's square world, metres from the origin


@dataclass(frozen=True)
class Axis:
    """One axis of a CRS, in its own order: its name in messages and the values it takes."""

    name: str
    low: float
    high: float


LON, LAT = Axis("lon", -180.0, 180.0), Axis("lat", -90.0, 90.0)
EASTING, NORTHING = (Axis(name, -WEB_MERCATOR_LIMIT, WEB_MERCATOR_LIMIT) for name in ("x", "y"))


@dataclass(frozen=True)
class Crs:
    """A CRS offered: its URI, PostGIS SRID, axes in its own order, and the decimals it is served with."""

    uri: str
    srid: int
    axes: tuple[Axis, Axis]
    decimals: int

    @property
    def latitude_first(self) -> bool:
        """Latitude is the first axis (EPSG's geographic CRSs); PostGIS always has longitude first."""
        return self.axes[0] == LAT

    def geojson(self, column: str) -> str:
        """SQL for the GeoJSON geometry of ``column`` (stored in SRID 4326) in this CRS.

        Option 0: no GeoJSON 2008 ``crs`` member (PostGIS adds one for any SRID but 4326); the
        CRS travels in the ``Content-Crs`` header, as Part 2 says.
        """
        geometry = column if self.srid == STORAGE_SRID else f"ST_Transform({column}, {self.srid})"
        if self.latitude_first:
            geometry = f"ST_FlipCoordinates({geometry})"
        return f"ST_AsGeoJSON({geometry}, {self.decimals}, 0)"

    def envelope(self) -> str:
        """SQL for the box ``%(w)s, %(s)s, %(e)s, %(n)s`` (x first: longitude or easting) in the storage SRID.

        The corners are enough: each of the offered CRSs maps meridians and parallels to
        straight lines, so the box's edges stay the box's edges in SRID 4326.
        """
        box = f"ST_MakeEnvelope(%(w)s, %(s)s, %(e)s, %(n)s, {self.srid})"
        return box if self.srid == STORAGE_SRID else f"ST_Transform({box}, {STORAGE_SRID})"

    def box(self, values: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        """A bbox in this CRS's axis order (min, min, max, max), checked, as (west, south, east, north)."""
        first, second = self.axes
        for value, axis in zip(values, (first, second, first, second), strict=True):
            if not math.isfinite(value) or not axis.low <= value <= axis.high:
                raise BadQueryError(
                    f"bbox: {axis.name}={value} is outside {axis.low:g}…{axis.high:g} in {self.uri} "
                    f"(its order is {self.order()})"
                )
        if values[0] > values[2] or values[1] > values[3]:
            raise BadQueryError(f"bbox: minimum must not exceed maximum ({self.order()} in {self.uri})")
        return (values[1], values[0], values[3], values[2]) if self.latitude_first else values

    def order(self) -> str:
        """The bbox's order in words: ``minLat,minLon,maxLat,maxLon``."""
        names = [axis.name.capitalize() if len(axis.name) > 1 else axis.name.upper() for axis in self.axes]
        return ",".join(f"{end}{name}" for end in ("min", "max") for name in names)


CRS84 = Crs("http://www.opengis.net/def/crs/OGC/1.3/CRS84", STORAGE_SRID, (LON, LAT), 9)
OFFERED: dict[str, Crs] = {
    crs.uri: crs
    for crs in (
        CRS84,
        Crs("http://www.opengis.net/def/crs/EPSG/0/4326", 4326, (LAT, LON), 9),
        Crs("http://www.opengis.net/def/crs/EPSG/0/4490", 4490, (LAT, LON), 9),  # CGCS2000
        Crs("http://www.opengis.net/def/crs/EPSG/0/3857", 3857, (EASTING, NORTHING), 4),  # Web Mercator
    )
}
STORAGE_CRS = CRS84  # SRID 4326 as PostGIS keeps it: longitude first, so no transformation at all


def offered(name: str, value: str | None) -> Crs:
    """The CRS a ``crs`` or ``bbox-crs`` parameter names (CRS84 when absent), or a 400 listing the offered ones."""
    if value is None:
        return CRS84
    if value not in OFFERED:
        raise BadQueryError(f"{name}: {value!r} is not offered; use one of {', '.join(OFFERED)}")
    return OFFERED[value]
