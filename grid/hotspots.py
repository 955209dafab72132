"""Hot and cold spots: where cases concentrate beyond chance (Getis-Ord Gi*), on H3 cells.

A heat map restates where people are. Gi* asks whether a cell together with its ring of
neighbours holds more cases than the study area's average would put there; permutation
inference (esda's conditional randomisation) says how surprising that is. Hundreds of cells are
tested at once, so p-values are cut at the false-discovery-rate threshold (Benjamini–Hochberg,
``esda.fdr``) instead of at alpha. The study area is every cell of the unit at the resolution —
empty cells count as zeros, or a whole city would read as one hot spot — and a cell needs at
least ``min_count`` cases of its own to be called hot: a quiet cell beside a busy one is not a
place to send a patrol.

esda's permutation kernel is compiled by numba on first use (~15 s); ``warm_up`` runs it once on
a tiny input so no request pays for it (the API calls it at start, off the event loop).
"""

from __future__ import annotations

from dataclasses import dataclass

import esda
import h3
import numpy as np
import shapely
from libpysal.weights import W

MIN_RESOLUTION, MAX_RESOLUTION = 6, 10
HOT, COLD, NOT_SIGNIFICANT = "hot", "cold", "not_significant"


@dataclass(frozen=True)
class Spot:
    """One cell's verdict: its count, Gi* z-score, permutation p-value and class."""

    cell: int
    count: int
    z: float
    p: float
    kind: str

    def as_feature(self) -> dict[str, object]:
        """A GeoJSON Feature with the hexagon as its geometry."""
        index = h3.int_to_str(self.cell)
        ring = [[round(lng, 6), round(lat, 6)] for lat, lng in h3.cell_to_boundary(index)]
        return {"type": "Feature", "id": index, "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
                "properties": {"h3": index, "count": self.count, "z": round(self.z, 3), "p": round(self.p, 4),
                               "class": self.kind}}  # fmt: skip


def study_area(area: shapely.Geometry, resolution: int) -> np.ndarray:
    """Every cell whose centre lies in ``area`` (a unit's boundary), as H3 integers."""
    if not MIN_RESOLUTION <= resolution <= MAX_RESOLUTION:
        raise ValueError(f"resolution must be {MIN_RESOLUTION}…{MAX_RESOLUTION}")
    cells = h3.geo_to_cells(shapely.geometry.mapping(area), resolution)
    return np.array(sorted(h3.str_to_int(c) for c in cells), dtype=np.uint64)


def ring_weights(cells: np.ndarray) -> W:
    """Binary weights: each cell's neighbours are the cells of its first ring inside the study area."""
    known = {int(c) for c in cells}
    neighbours = {
        int(c): [n for n in (h3.str_to_int(x) for x in h3.grid_ring(h3.int_to_str(int(c)), 1)) if n in known]
        for c in cells
    }
    return W(neighbours, silence_warnings=True)


def gi_star(cells: np.ndarray, counts: np.ndarray, permutations: int, seed: int | None = None) -> esda.G_Local:
    """Gi* of ``counts`` over ``cells`` (aligned), binary ring weights, the focal cell included."""
    return esda.G_Local(counts.astype(float), ring_weights(cells), transform="B", star=True,
                        permutations=permutations, seed=seed, n_jobs=1, keep_simulations=False)  # fmt: skip


def classify(counts: np.ndarray, g: esda.G_Local, alpha: float, min_count: int) -> list[str]:
    """hot / cold / not_significant per cell: permutation p under the FDR cut, z's sign, the count guard."""
    p = g.p_sim if g.permutations else g.p_norm
    cut = esda.fdr(p, alpha)
    kinds = []
    for count, z, p_value in zip(counts, g.Zs, p, strict=True):
        if p_value > cut:
            kinds.append(NOT_SIGNIFICANT)
        elif z > 0:
            kinds.append(HOT if count >= min_count else NOT_SIGNIFICANT)
        else:
            kinds.append(COLD)
    return kinds


def hotspots(
    cells: np.ndarray, counts: np.ndarray, *, permutations: int = 999, alpha: float = 0.05, min_count: int = 3,
    seed: int | None = None,
) -> list[Spot]:  # fmt: skip
    """Every cell of the study area with its statistic and class."""
    if len(cells) < 3:
        raise ValueError("the study area holds fewer than 3 cells: choose a finer resolution or a larger unit")
    g = gi_star(cells, counts, permutations, seed)
    p = g.p_sim if permutations else g.p_norm
    kinds = classify(counts, g, alpha, min_count)
    return [Spot(int(c), int(n), float(z), float(pv), k) for c, n, z, pv, k in
            zip(cells, counts, g.Zs, p, kinds, strict=True)]  # fmt: skip


def warm_up() -> None:
    """Compile esda's permutation kernel once, on a tiny study area."""
    centre = h3.str_to_int(h3.latlng_to_cell(32.06, 118.80, 8))
    cells = np.array(sorted(h3.str_to_int(c) for c in h3.grid_disk(h3.int_to_str(centre), 2)), dtype=np.uint64)
    gi_star(cells, np.arange(len(cells)), permutations=9, seed=0)
