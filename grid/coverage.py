"""Cell → unit coverage: the index that makes locate a lookup for most points.

Each cell that touches the tiling tier is *interior* (wholly inside one unit: the answer) or
*boundary* (its candidate units, tested exactly with point-in-polygon). The resolution follows
the unit sizes: small enough that most of a typical unit is interior cells.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import shapely

from grid.cells import candidate_cells, cell_area_m2, cells_to_polygons

# A cell counts as interior only if it sits this far inside the unit (about 1 mm): H3 edges
# are geodesic while shapely's are straight in lon/lat; they differ by far less than this.
INTERIOR_MARGIN_DEG = 1e-8
MIN_CELLS_PER_UNIT = 30
RESOLUTIONS = range(6, 13)


@dataclass(frozen=True)
class Coverage:
    """Sorted cells with their owner (unit id, or -1 for boundary) and CSR candidate lists."""

    resolution: int
    cells: np.ndarray  # int64, sorted
    owner: np.ndarray  # int64 unit id, -1 where the cell is a boundary cell
    candidate_offsets: np.ndarray  # int64, len(cells) + 1
    candidate_ids: np.ndarray  # int64 unit ids, sorted by unit code within a cell

    @property
    def interior_count(self) -> int:
        """How many cells answer by lookup alone."""
        return int((self.owner >= 0).sum())

    @property
    def boundary_count(self) -> int:
        """How many cells need the exact test."""
        return int((self.owner < 0).sum())


def choose_resolution(unit_areas_m2: np.ndarray) -> int:
    """Finest-needed resolution: the median unit holds at least MIN_CELLS_PER_UNIT cells."""
    median = float(np.median(unit_areas_m2))
    for resolution in RESOLUTIONS:
        if median / cell_area_m2(resolution) >= MIN_CELLS_PER_UNIT:
            return resolution
    return RESOLUTIONS[-1]


def grow_polygons(polygons: np.ndarray, margin: float) -> np.ndarray:
    """Push every vertex of convex polygons outward from their centre by ``margin``.

    For hexagons this is a buffer, computed on the coordinate arrays at once instead of one
    GEOS buffer per cell (half a million cells take milliseconds, not seconds).
    """
    coords, owner = shapely.get_coordinates(polygons, return_index=True)
    counts = np.bincount(owner, minlength=len(polygons))
    centres = np.column_stack(
        [np.bincount(owner, weights=coords[:, axis], minlength=len(polygons)) / counts for axis in (0, 1)]
    )
    offset = coords - centres[owner]
    length = np.hypot(offset[:, 0], offset[:, 1])
    moved = centres[owner] + offset * ((length + margin) / length)[:, None]
    grown = shapely.polygons(shapely.linearrings(moved, indices=owner))
    assert isinstance(grown, np.ndarray)  # rings by owner index in, one polygon per owner out
    return grown


def build_coverage(
    unit_ids: np.ndarray,
    geoms: np.ndarray,
    resolution: int,
    progress: Callable[[float], None] | None = None,
) -> Coverage:
    """Classify every cell touching ``geoms`` (ordered by unit code) as interior or boundary."""
    geoms = np.asarray(geoms, dtype=object)
    pair_cells, pair_units = [], []
    for index, geom in enumerate(geoms):
        cells = candidate_cells(geom, resolution)
        pair_cells.append(cells)
        pair_units.append(np.full(len(cells), index, dtype=np.int64))
        if progress and index % 500 == 0:
            progress(0.5 * index / len(geoms))
    cells_all = np.concatenate(pair_cells)
    units_all = np.concatenate(pair_units)
    unique_cells, cell_index = np.unique(cells_all, return_inverse=True)
    polygons = cells_to_polygons(unique_cells)
    if progress:
        progress(0.7)
    shapely.prepare(geoms)
    touching = shapely.intersects(geoms[units_all], polygons[cell_index])
    cell_index, units_all = cell_index[touching], units_all[touching]
    grown = grow_polygons(polygons, INTERIOR_MARGIN_DEG)
    inside = shapely.contains_properly(geoms[units_all], grown[cell_index])
    if progress:
        progress(0.9)
    # order pairs by cell, then by unit order (= code order) so candidate lists are stable
    order = np.lexsort((units_all, cell_index))
    cell_index, units_all, inside = cell_index[order], units_all[order], inside[order]
    kept_cells, first, counts = np.unique(cell_index, return_index=True, return_counts=True)
    interior = (counts == 1) & inside[first]
    owner = np.where(interior, unit_ids[units_all[first]], -1)
    boundary_pair = np.repeat(~interior, counts)
    per_cell = np.where(interior, 0, counts)
    offsets = np.concatenate([[0], np.cumsum(per_cell)])
    return Coverage(
        resolution=resolution,
        cells=unique_cells[kept_cells],
        owner=owner.astype(np.int64),
        candidate_offsets=offsets.astype(np.int64),
        candidate_ids=unit_ids[units_all[boundary_pair]].astype(np.int64),
    )
