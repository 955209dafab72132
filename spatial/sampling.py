"""Random points inside an area (demo directories, simulated traffic)."""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry


def random_point_in(area: BaseGeometry, rng: np.random.Generator, tries: int = 16) -> tuple[float, float]:
    """A uniformly random point of ``area``: rejection sampling in its box, ``tries`` candidates a round."""
    west, south, east, north = area.bounds
    while True:
        xs, ys = rng.uniform(west, east, tries), rng.uniform(south, north, tries)
        inside = shapely.contains_xy(area, xs, ys)
        if inside.any():
            i = int(np.argmax(inside))
            return float(xs[i]), float(ys[i])
