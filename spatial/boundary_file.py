"""Reading a boundary file into a clean frame: columns found, CRS right, axes the right way.

Every check here fails with a message that says what to pass or fix; nothing is written yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError

from spatial.errors import InvalidInputError
from spatial.tiers import Tier, UnitKind

READERS = {".geojson", ".json", ".gpkg", ".shp", ".zip", ".fgb", ".parquet", ".geoparquet"}
POLYGONAL = {"Polygon", "MultiPolygon"}


class ParentBy(StrEnum):
    """How a unit's parent is found, and so which units may cross their parent's line.

    ``containment``: each unit lies within its parent (to the vertex-noise tolerance), linked by
    where it lies or by ``parent_column``. ``majority``: official files hold service areas that
    cross their parent's line (an island served from across the water); the parent is the one
    holding the largest share of the unit's area (a named parent must be that one) and every
    crossing is reported with its area.
    """

    CONTAINMENT = "containment"
    MAJORITY = "majority"


@dataclass(frozen=True)
class ImportOptions:
    """How to read one file: which tier it holds and which columns mean what."""

    tier: Tier
    kind: UnitKind = UnitKind.ADMINISTRATIVE
    code_column: str = "code"
    name_column: str = "name"
    parent_column: str | None = None
    members_column: str | None = None
    crs: str | None = None
    swap_axes: bool = False
    repair: bool = False
    parent_by: ParentBy = ParentBy.CONTAINMENT


def read_boundaries(path: Path, options: ImportOptions, max_mb: int) -> gpd.GeoDataFrame:
    """Columns ``code, name, parent_code, members, synthetic, properties, geometry`` in WGS84."""
    frame = _read(path, max_mb)
    frame = _to_wgs84(frame, options)
    return _normalise_columns(frame, options)


def _read(path: Path, max_mb: int) -> gpd.GeoDataFrame:
    if not path.exists():
        raise InvalidInputError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix not in READERS:
        raise InvalidInputError(
            f"{path.name}: unsupported file type {suffix!r}; use one of {', '.join(sorted(READERS))}"
        )
    size = path.stat().st_size
    if size == 0:
        raise InvalidInputError(f"{path.name} is empty (0 bytes)")
    if size > max_mb * 2**20:
        raise InvalidInputError(
            f"{path.name} is {size / 2**20:.0f} MB; the import limit is {max_mb} MB "
            "(CITYOPS_MAX_IMPORT_MB): split the file by parent unit or raise the limit"
        )
    try:
        if suffix in {".parquet", ".geoparquet"}:
            frame = gpd.read_parquet(path)
        else:
            frame = gpd.read_file(path, engine="pyogrio")
    except Exception as error:  # the drivers raise many types; all mean "unreadable"
        raise InvalidInputError(f"cannot read {path.name}: {error}") from None
    if len(frame) == 0:
        raise InvalidInputError(f"{path.name} has no features")
    missing = frame.geometry.isna() | frame.geometry.is_empty
    if missing.any():
        raise InvalidInputError(f"{path.name}: {int(missing.sum())} feature(s) have no geometry")
    types = set(frame.geom_type)
    if not types <= POLYGONAL:
        raise InvalidInputError(
            f"{path.name}: boundaries must be Polygon or MultiPolygon, found {', '.join(sorted(types - POLYGONAL))}"
        )
    return frame


def _to_wgs84(frame: gpd.GeoDataFrame, options: ImportOptions) -> gpd.GeoDataFrame:
    if options.crs:
        try:
            frame = frame.set_crs(CRS.from_user_input(options.crs), allow_override=True)
        except CRSError as error:
            raise InvalidInputError(f"--crs {options.crs!r} is not a CRS: {error}") from None
    if frame.crs is None:
        frame = frame.set_crs(4326)  # GeoJSON (RFC 7946) is always WGS84
    if options.swap_axes:
        frame = frame.set_geometry(shapely.transform(frame.geometry.values, lambda xy: xy[:, ::-1]))
    if not frame.crs.equals(CRS.from_epsg(4326)):
        frame = frame.to_crs(4326)
    west, south, east, north = frame.total_bounds
    if -180 <= west <= east <= 180 and -90 <= south <= north <= 90:
        return frame
    if -90 <= west <= east <= 90 and -180 <= south <= north <= 180:
        raise InvalidInputError(
            f"latitudes reach {max(abs(south), abs(north)):.4f}, beyond ±90, while longitudes stay "
            "within ±90: the axes look swapped (lat, lon). Pass --swap-axes to read them as lon, lat"
        )
    raise InvalidInputError(
        f"coordinates reach x={max(abs(west), abs(east)):.1f}, y={max(abs(south), abs(north)):.1f}: "
        f"not longitude/latitude, so the file's CRS ({frame.crs.to_string()}) is wrong or "
        "missing. Pass --crs with the real one, e.g. --crs EPSG:4549 (CGCS2000 3-degree "
        "Gauss-Krüger, central meridian 120°E) or --crs EPSG:32650 (UTM 50N)"
    )


def _column(frame: gpd.GeoDataFrame, name: str, flag: str) -> pd.Series:
    if name not in frame.columns:
        columns = ", ".join(c for c in frame.columns if c != frame.geometry.name)
        raise InvalidInputError(f"column {name!r} not found (columns: {columns}); pass {flag}")
    return frame[name]


def _codes(series: pd.Series) -> pd.Series:
    text = series.astype("string").str.strip()
    numeric = pd.to_numeric(series, errors="coerce")
    whole = numeric.notna() & (numeric % 1 == 0)  # 320102.0 read from a float column
    text[whole] = numeric[whole].astype("int64").astype("string")
    return text


def _normalise_columns(frame: gpd.GeoDataFrame, options: ImportOptions) -> gpd.GeoDataFrame:
    codes = _codes(_column(frame, options.code_column, "--code-column"))
    names = _column(frame, options.name_column, "--name-column").astype("string").str.strip()
    if codes.isna().any() or (codes == "").any():
        raise InvalidInputError(f"{int((codes.isna() | (codes == '')).sum())} feature(s) have no code")
    duplicated = sorted(set(codes[codes.duplicated()]))
    if duplicated:
        raise InvalidInputError(f"duplicate codes: {', '.join(duplicated[:20])}")
    if names.isna().any():
        missing = ", ".join(codes[names.isna()].head(20))
        raise InvalidInputError(f"features without a name: {missing}")
    parents = (
        _codes(_column(frame, options.parent_column, "--parent-column"))
        if options.parent_column
        else pd.Series(pd.NA, index=frame.index, dtype="string")
    )
    members = (
        _column(frame, options.members_column, "--members-column").astype("string").fillna("")
        if options.members_column
        else pd.Series("", index=frame.index, dtype="string")
    )
    if options.kind is UnitKind.MANAGEMENT and not options.members_column:
        raise InvalidInputError("a management unit needs --members-column (codes it manages)")
    synthetic = frame["synthetic"].astype(bool) if "synthetic" in frame.columns else False
    known = {
        options.code_column,
        options.name_column,
        options.parent_column,
        options.members_column,
        "synthetic",
        frame.geometry.name,
    }
    extra = [c for c in frame.columns if c not in known]
    properties = (
        [
            {key: (None if pd.isna(value) else value) for key, value in record.items()}  # nulls stay null
            for record in frame[extra].astype("string").to_dict(orient="records")
        ]
        if extra
        else [{}] * len(frame)
    )
    geometry = np.asarray([_as_multi(g) for g in frame.geometry], dtype=object)
    return gpd.GeoDataFrame(
        {
            "code": codes.astype(str).values,
            "name": names.astype(str).values,
            "parent_code": parents.values,
            "members": members.astype(str).values,
            "synthetic": synthetic,
            "properties": properties,
        },
        geometry=geometry,
        crs=4326,
    )


def _as_multi(geom: shapely.Polygon | shapely.MultiPolygon) -> shapely.MultiPolygon:
    return geom if isinstance(geom, shapely.MultiPolygon) else shapely.MultiPolygon([geom])
