"""Hot and cold spots: where cases concentrate beyond chance (Getis-Ord Gi*), on H3 cells.

A heat map restates where people are. Gi* asks whether a cell together with its ring of
neighbours holds more cases than the study area's average would put there; permutation
inference (esda's conditional randomisation) says how surprising that is. Thousands of cells are
tested at once, so p-values are cut at the false-discovery-rate threshold (Benjamini–Hochberg,
``esda.fdr``) instead of at alpha. The p-value is the tail of the permutation distribution as
esda fits it (its mean and spread: ``p_z_sim``), not the rank among the draws (``p_sim``): the
rank's floor, 1/(permutations + 1), cannot pass a BH cut over m cells unless m/(alpha·(permutations
+ 1)) cells share it — 241 cells of the city at resolution 8 — so a city-wide analysis would find
nothing however strong the clusters. The study area is every cell of the unit at the resolution —
empty cells count as zeros, or a whole city would read as one hot spot — and a cell needs at
least ``min_count`` cases of its own to be called hot: a quiet cell beside a busy one is not a
place to send a patrol.

Over time (``emerging``) the period is cut into equal steps and each step gets its own Gi*; a
cell's pattern comes from when it was hot and from the Mann–Kendall trend of its z-scores
(Kendall's tau against time): new, intensifying, persistent, diminishing, sporadic — the classes
of the space-time pattern mining planners know from ArcGIS, without the time neighbours of a full
space-time cube (a step's statistic is spatial only). Rates (cases per building, a population proxy)
replace counts when a busy place should not look hot merely for being dense.

esda's permutation kernel is compiled by numba on first use (~15 s) and kept in numba's cache
(``grid.on_demand``, which imports the analysis libraries when the first analysis needs them);
``warm_up`` runs it once on a tiny input: at each API start in a process of its own, which fills the
cache (``on_demand.compile_apart``), and in an API process when a planner opens their page (``prepare``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

import h3
import numpy as np
import shapely

from grid import on_demand
from grid.cells import cell_polygon

if TYPE_CHECKING:
    from libpysal.weights import W

MIN_RESOLUTION, MAX_RESOLUTION = 6, 10
HOT, COLD, NOT_SIGNIFICANT = "hot", "cold", "not_significant"
NEW, INTENSIFYING, PERSISTENT, DIMINISHING, SPORADIC = "new", "intensifying", "persistent", "diminishing", "sporadic"
PATTERNS = (NEW, INTENSIFYING, PERSISTENT, DIMINISHING, SPORADIC)
MOSTLY = 0.9  # share of steps hot that makes a place a lasting hot spot (ArcGIS's rule)


@dataclass(frozen=True)
class Spot:
    """One cell's verdict: its count, Gi* z-score, permutation p-value and class."""

    cell: int
    count: int
    z: float
    p: float
    kind: str

    def as_feature(self) -> dict[str, Any]:
        """A GeoJSON Feature with the hexagon as its geometry."""
        index = h3.int_to_str(self.cell)
        return {
            "type": "Feature",
            "id": index,
            "geometry": cell_polygon(index),
            "properties": {
                "h3": index,
                "count": self.count,
                "z": round(self.z, 3),
                "p": round(self.p, 4),
                "class": self.kind,
            },
        }


@lru_cache(maxsize=64)
def study_area(boundary: bytes, resolution: int) -> np.ndarray:
    """Every cell whose centre lies in ``boundary`` (a unit's, as WKB), as H3 integers (sorted).

    Kept per boundary and resolution (a city at resolution 8 takes a second to fill); a boundary
    that changes is another key. The array is read-only: callers share it.
    """
    if not MIN_RESOLUTION <= resolution <= MAX_RESOLUTION:
        raise ValueError(f"resolution must be {MIN_RESOLUTION}…{MAX_RESOLUTION}")
    cells = h3.geo_to_cells(shapely.geometry.mapping(shapely.from_wkb(boundary)), resolution)
    area = np.array(sorted(h3.str_to_int(c) for c in cells), dtype=np.uint64)
    area.flags.writeable = False
    return area


def forget() -> None:
    """Drop the kept study areas and weights: the next analysis builds them again (a cold start, measured)."""
    study_area.cache_clear()
    _ring_weights.cache_clear()


def ring_weights(cells: np.ndarray) -> W:
    """Binary weights: each cell's neighbours are the cells of its first ring inside the study area."""
    return _ring_weights(np.ascontiguousarray(cells, dtype=np.uint64).tobytes())


@lru_cache(maxsize=64)
def _ring_weights(cells: bytes) -> W:
    """Kept per study area: building a city's weights takes longer than testing them."""
    ids = np.frombuffer(cells, dtype=np.uint64)
    known = {int(c) for c in ids}
    neighbours = {
        int(c): [n for n in (h3.str_to_int(x) for x in h3.grid_ring(h3.int_to_str(int(c)), 1)) if n in known]
        for c in ids
    }
    return on_demand.weights(neighbours)


def gi_star(
    values: np.ndarray, weights: W, permutations: int, seed: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Gi* z-scores and p-values of ``values`` (aligned with the weights' ids), the focal cell included.

    p is the permutation p-value (the analytic one with no permutations). A study area without a
    single case has no statistic: every z is 0 and every p is 1; so has a cell whose draws never
    vary (its permutation spread is 0): its p is 1, never a discovery.
    """
    if not np.any(values):
        return np.zeros(len(values)), np.ones(len(values))
    with np.errstate(invalid="ignore", divide="ignore"):  # a spread of 0 gives NaN, handled below
        g = on_demand.esda().G_Local(
            values.astype(float),
            weights,
            transform="B",
            star=True,
            permutations=permutations,
            seed=seed,
            n_jobs=1,
            keep_simulations=True,
        )
    p = np.asarray(g.p_z_sim if permutations else g.p_norm, dtype=float)
    return np.nan_to_num(np.asarray(g.Zs, dtype=float)), np.nan_to_num(p, nan=1.0)


def classify(counts: np.ndarray, z: np.ndarray, p: np.ndarray, alpha: float, min_count: int) -> list[str]:
    """hot / cold / not_significant per cell: p under the FDR cut, z's sign, the count guard."""
    cut = on_demand.esda().fdr(p, alpha)
    kinds = []
    for count, z_score, p_value in zip(counts, z, p, strict=True):
        if p_value > cut:
            kinds.append(NOT_SIGNIFICANT)
        elif z_score > 0:
            kinds.append(HOT if count >= min_count else NOT_SIGNIFICANT)
        else:
            kinds.append(COLD)
    return kinds


def _checked(cells: np.ndarray) -> W:
    if len(cells) < 3:
        raise ValueError("the study area holds fewer than 3 cells: choose a finer resolution or a larger unit")
    return ring_weights(cells)


def _values(counts: np.ndarray, exposure: np.ndarray | None) -> np.ndarray:
    """Counts, or counts per unit of exposure (every cell's exposure must be positive)."""
    if exposure is None:
        return counts.astype(float)
    if np.any(exposure <= 0):
        raise ValueError("a rate needs a positive exposure in every cell: leave cells without any out of the area")
    return counts / exposure


def hotspots(
    cells: np.ndarray,
    counts: np.ndarray,
    *,
    permutations: int = 999,
    alpha: float = 0.05,
    min_count: int = 3,
    seed: int | None = None,
    exposure: np.ndarray | None = None,
) -> list[Spot]:
    """Every cell of the study area with its statistic and class; on rates when ``exposure`` is given."""
    z, p = gi_star(_values(counts, exposure), _checked(cells), permutations, seed)
    kinds = classify(counts, z, p, alpha, min_count)
    return [
        Spot(int(c), int(n), float(zc), float(pv), k)
        for c, n, zc, pv, k in zip(cells, counts, z, p, kinds, strict=True)
    ]


@dataclass(frozen=True)
class Trend:
    """One cell over the steps: its counts, class per step, the trend of its z-scores and its pattern."""

    cell: int
    counts: tuple[int, ...]
    kinds: tuple[str, ...]
    tau: float
    trend_p: float
    pattern: str | None


def pattern(kinds: list[str], tau: float, trend_p: float, alpha: float) -> str | None:
    """The emerging-hot-spot class of one cell from its class per step (oldest first) and its z trend.

    - new: hot in the latest steps without a break, never hot before that run (and not mostly hot);
    - intensifying / diminishing: hot in at least 90 % of the steps and the latest, z rising / falling
      significantly; persistent: the same without a significant trend;
    - sporadic: hot in the latest step, on and off before;
    - None: not hot in the latest step (whatever it was before).
    """
    hot = [kind == HOT for kind in kinds]
    if not hot[-1]:
        return None
    if sum(hot) >= MOSTLY * len(hot):
        if trend_p <= alpha:
            return INTENSIFYING if tau > 0 else DIMINISHING
        return PERSISTENT
    start = len(hot) - hot[::-1].index(False)  # where the latest unbroken run of hot steps began
    return SPORADIC if any(hot[:start]) else NEW


def emerging(
    cells: np.ndarray,
    counts_by_step: np.ndarray,
    *,
    permutations: int = 999,
    alpha: float = 0.05,
    min_count: int = 3,
    seed: int | None = None,
    exposure: np.ndarray | None = None,
    on_step: Callable[[int], None] | None = None,
) -> list[Trend]:
    """Gi* per step (rows of ``counts_by_step``, oldest first; columns aligned with ``cells``) and each cell's pattern.

    With fewer than 5 steps no Kendall trend can reach p ≤ 0.05, so lasting hot spots read as persistent.
    """
    steps = counts_by_step.shape[0]
    if steps < 2:
        raise ValueError("an emerging-hot-spot analysis needs at least 2 steps")
    weights = _checked(cells)
    zs, kinds = [], []
    for step, counts in enumerate(counts_by_step):
        z, p = gi_star(_values(counts, exposure), weights, permutations, None if seed is None else seed + step)
        zs.append(z)
        kinds.append(classify(counts, z, p, alpha, min_count))
        if on_step:
            on_step(step + 1)
    z_by_cell, kinds_by_cell = np.array(zs).T, list(zip(*kinds, strict=True))
    time = np.arange(steps)
    trends = []
    for i, cell in enumerate(cells):
        series = z_by_cell[i]
        tau, trend_p = on_demand.kendalltau(time, series) if np.ptp(series) > 0 else (0.0, 1.0)
        cell_kinds = list(kinds_by_cell[i])
        trends.append(
            Trend(
                int(cell),
                tuple(int(n) for n in counts_by_step[:, i]),
                tuple(cell_kinds),
                float(tau),
                float(trend_p),
                pattern(cell_kinds, float(tau), float(trend_p), alpha),
            )
        )
    return trends


@cache  # once a process
def prepare() -> threading.Thread:
    """Warm up in this process, in the background: a planner's page calls it as it opens, so the first analysis
    asked for finds the libraries loaded and the kernels ready (loading them takes 5–9 s; numba's cache keeps
    one of the three kernels, the one taking a function, from being reused across processes)."""
    thread = threading.Thread(target=warm_up, name="analysis-warm-up", daemon=True)
    thread.start()
    return thread


def warm_up() -> None:
    """Compile esda's permutation kernel once, on a tiny study area."""
    centre = h3.str_to_int(h3.latlng_to_cell(32.06, 118.80, 8))
    cells = np.array(sorted(h3.str_to_int(c) for c in h3.grid_disk(h3.int_to_str(centre), 2)), dtype=np.uint64)
    gi_star(np.arange(len(cells), dtype=float), ring_weights(cells), permutations=9, seed=0)
