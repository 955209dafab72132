"""A file of things that stand at points (forces, sensors): CSV with lon/lat columns, or GeoJSON points.

Either way the rows come back as text columns, the point as ``lon`` and ``lat`` (empty when a row has
none), so each directory checks one shape of table whatever the file was.
"""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import pandas as pd

from spatial.errors import InvalidInputError

MAX_PROBLEMS = 50  # problems a refusal lists (it counts them all)


def read_points(path: Path, what: str) -> pd.DataFrame:
    """The file as text columns (GeoJSON points become lon/lat, in WGS84); ``what`` names the rows in errors."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    if suffix in (".geojson", ".json"):
        frame = gpd.read_file(path)
        if frame.crs is not None and frame.crs.to_epsg() != 4326:
            frame = frame.to_crs(4326)
        if not frame.geometry.is_empty.all() and set(frame.geom_type.dropna()) - {"Point"}:
            raise InvalidInputError(f"{path.name}: {what} are points, not {set(frame.geom_type)}")
        table = pd.DataFrame(frame.drop(columns="geometry")).fillna("").astype(str)
        table["lon"] = [f"{p.x}" if p is not None and not p.is_empty else "" for p in frame.geometry]
        table["lat"] = [f"{p.y}" if p is not None and not p.is_empty else "" for p in frame.geometry]
        return table
    raise InvalidInputError(f"{path.name}: a file of {what} is .csv or .geojson")


def point_of(row: dict[str, str]) -> tuple[float, float] | None:
    """A row's lon/lat as numbers in range, None when it has neither; ValueError says what is wrong."""
    lon, lat = row.get("lon", ""), row.get("lat", "")
    if not lon and not lat:
        return None
    try:
        x, y = float(lon), float(lat)
    except ValueError:
        raise ValueError(f"lon/lat {lon!r}, {lat!r} are not numbers (give both or neither)") from None
    if not (math.isfinite(x) and math.isfinite(y) and -180 <= x <= 180 and -90 <= y <= 90):
        raise ValueError(f"lon/lat {lon}, {lat} are outside -180…180 / -90…90 (lon first)")
    return x, y


def refuse(path: Path, problems: list[str]) -> None:
    """Refuse the file when it has problems: each (up to ``MAX_PROBLEMS``) by row, and that nothing was written."""
    if not problems:
        return
    shown = problems[:MAX_PROBLEMS]
    more = f"\n  … and {len(problems) - MAX_PROBLEMS} more" if len(shown) < len(problems) else ""
    raise InvalidInputError(
        f"{path.name}: {len(problems)} problem(s), nothing was written:\n  " + "\n  ".join(shown) + more
    )
