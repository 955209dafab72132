"""Case history as a GeoParquet archive: what the scale-out path reads when history outgrows one machine.

One file per ``rows_per_file`` cases (ordered by filing time), each a GeoDataFrame with the point,
the case's H3 cell as the platform stored it, category, source, filing time (UTC) and unit chain
— enough to redo any hot-spot count exactly as the database does it, scope included. Free text
and personal data are not written: an archive travels to other machines.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy import Engine, text

COLUMNS = ("id", "cell", "category_code", "source", "filed_at", "units", "geometry")
EXPORT = """
SELECT id, cell, category_code, source::text AS source, filed_at, units, ST_X(geom) AS lon, ST_Y(geom) AS lat
FROM case_file WHERE filed_at >= :since AND filed_at < :until AND state <> 'void'
ORDER BY filed_at, id
"""
COUNT = "SELECT count(*) FROM case_file WHERE filed_at >= :since AND filed_at < :until AND state <> 'void'"


def _frame(chunk: pd.DataFrame) -> gpd.GeoDataFrame:
    geometry = shapely.points(chunk["lon"].to_numpy(), chunk["lat"].to_numpy())
    frame = chunk.drop(columns=["lon", "lat"]).assign(filed_at=pd.to_datetime(chunk["filed_at"], utc=True))
    return gpd.GeoDataFrame(frame, geometry=geometry, crs="EPSG:4326")


def export_cases(
    engine: Engine,
    directory: Path,
    since: datetime,
    until: datetime,
    *,
    rows_per_file: int = 250_000,
    progress: Callable[[int, int], None] | None = None,
) -> list[Path]:
    """Write the cases filed in ``[since, until)`` (not voided) as numbered GeoParquet files; their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with engine.connect().execution_options(stream_results=True) as conn:
        total = conn.execute(text(COUNT), {"since": since, "until": until}).scalar_one()
        chunks = pd.read_sql(text(EXPORT), conn, params={"since": since, "until": until}, chunksize=rows_per_file)
        for number, chunk in enumerate(chunks):
            if chunk.empty:  # nothing filed in the period: no file
                break
            path = directory / f"cases-{number:05d}.parquet"
            _frame(chunk).to_parquet(path, index=False)
            written.append(path)
            if progress:
                progress(min((number + 1) * rows_per_file, total), total)
    return written
