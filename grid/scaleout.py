"""The hot-spot count on a Dask cluster: history read partition by partition from a GeoParquet archive.

Only the counting scales with history; the statistics run on one row per cell and step. So
each partition (a file of ``command.archive``) is filtered to the analysis — window, unit chain,
categories, sources — and binned into (cell, step) counts where it lies; only those counts
travel back and are summed. The binning is the database's own: the parent of the case's stored
cell (H3 by bit arithmetic, h3ronpy here, ``cityops_h3_parent`` there) and equal steps from
``since``, so the result equals ``grid.binning.counts_by_step`` on the same cases.
"""

from __future__ import annotations

from pathlib import Path

import dask_geopandas
import h3ronpy
import numpy as np
import pandas as pd
from distributed import Client

from grid.binning import Steps
from grid.hexagons import HexFilter
from spatial.errors import InvalidInputError

COLUMNS = ["cell", "category_code", "source", "filed_at", "units", "geometry"]
META = pd.DataFrame(
    {"cell": pd.Series(dtype="uint64"), "step": pd.Series(dtype="int64"), "n": pd.Series(dtype="int64")}
)


def bin_partition(frame: pd.DataFrame, filter_: HexFilter, steps: Steps) -> pd.DataFrame:
    """One partition's cases of the analysis, counted per (cell at the filter's resolution, step)."""
    since = pd.Timestamp(steps.since)
    keep = (frame["filed_at"] >= since) & (frame["filed_at"] < pd.Timestamp(steps.until))
    keep &= frame["units"].map(lambda chain: filter_.scope_unit in chain).astype(bool)
    if filter_.categories:
        keep &= frame["category_code"].str.startswith(tuple(filter_.categories))
    if filter_.sources:
        keep &= frame["source"].isin(filter_.sources)
    chosen = frame[keep]
    if chosen.empty:
        return META.copy()
    cells = np.asarray(h3ronpy.change_resolution(chosen["cell"].to_numpy(dtype=np.uint64), filter_.resolution))
    seconds = (chosen["filed_at"] - since).dt.total_seconds().to_numpy()
    step = np.minimum(np.floor(seconds / steps.width.total_seconds()), steps.count - 1).astype(np.int64)
    counted = pd.DataFrame({"cell": cells, "step": step}).value_counts().rename("n").reset_index()
    return counted.astype(META.dtypes.to_dict())


def archive_counts(archive: Path, filter_: HexFilter, steps: Steps, client: Client) -> dict[tuple[int, int], int]:
    """Cases per (cell, step) of the archive's files, counted on the cluster behind ``client``."""
    files = sorted(str(p) for p in archive.glob("*.parquet"))
    if not files:
        raise InvalidInputError(f"no .parquet files in {archive}: write one with `cityops archive`")
    cases = dask_geopandas.read_parquet(files, columns=COLUMNS)
    per_partition = cases.map_partitions(bin_partition, filter_, steps, meta=META)
    totals = client.compute(per_partition.groupby(["cell", "step"])["n"].sum()).result()
    return {(int(cell), int(step)): int(n) for (cell, step), n in totals.items()}
