"""The files of a hot-spot analysis: GeoJSON and CSV for GIS and spreadsheets, PNG maps, a text summary.

``hotspots.png`` shows the whole period's classes over the unit's outline with the top places
numbered; ``steps.png`` is the time view — one small map per step, the same extent and colours,
so a place that flares up, persists or fades reads left to right; ``summary.txt`` is the text a
planner pastes into a briefing.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import geopandas as gpd
import h3
import matplotlib
import numpy as np
import orjson
import pandas as pd
import shapely
from matplotlib.axes import Axes
from matplotlib.figure import Figure  # no pyplot: files only, no window, no global state between threads
from matplotlib.patches import Patch
from matplotlib.typing import RcKeyType

from command.hotspot_analysis import HotspotResult
from grid.cells import cells_to_polygons
from grid.hotspots import COLD, HOT, NOT_SIGNIFICANT

COLOURS = {HOT: "#d7301f", COLD: "#2b8cbe", NOT_SIGNIFICANT: "#f0f0f0"}
OUTLINE = "#555555"
FONTS: dict[RcKeyType, Any] = {
    "font.family": "sans-serif",
    "font.sans-serif": ["Noto Sans CJK SC", "WenQuanYi Micro Hei", "DejaVu Sans"],
}


def _cells(result: HotspotResult, classes: list[str]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"class": classes}, geometry=cells_to_polygons(result.cells), crs="EPSG:4326")


def _draw(ax: Axes, result: HotspotResult, classes: list[str], outline: gpd.GeoSeries) -> None:
    frame = _cells(result, classes)
    frame.plot(ax=ax, color=[COLOURS[c] for c in frame["class"]], linewidth=0)
    outline.boundary.plot(ax=ax, color=OUTLINE, linewidth=0.6)
    ax.set_axis_off()
    ax.set_aspect(1 / math.cos(math.radians(outline.union_all().centroid.y)))  # metres look square


LABELS = {HOT: "hot spot", COLD: "cold spot", NOT_SIGNIFICANT: "not significant"}


def _legend(figure: Figure) -> None:
    handles = [Patch(color=COLOURS[kind], label=label) for kind, label in LABELS.items()]
    figure.legend(handles=handles, loc="lower center", ncols=3, frameon=False)


def map_png(result: HotspotResult, path: Path, title: str) -> None:
    """The period's hot and cold cells over the unit, the top places numbered."""
    outline = gpd.GeoSeries([shapely.from_wkb(result.query.boundary)], crs="EPSG:4326")
    figure = Figure(figsize=(9, 9), dpi=110)
    ax = figure.add_subplot()
    _draw(ax, result, [s.kind for s in result.spots], outline)
    for rank, spot in enumerate(result.hot[:5], 1):
        lat, lon = h3.cell_to_latlng(h3.int_to_str(spot.cell))
        ax.annotate(str(rank), (lon, lat), xytext=(6, 6), textcoords="offset points", fontsize=11, weight="bold")
    ax.set_title(title, fontsize=11)
    _legend(figure)
    figure.savefig(path, bbox_inches="tight")


def steps_png(result: HotspotResult, path: Path, title: str) -> None:
    """Small multiples: each step's classes on its own map, oldest first."""
    assert result.trends is not None
    starts = result.query.period.starts
    columns = min(len(starts), 4)
    rows = math.ceil(len(starts) / columns)
    figure = Figure(figsize=(3.2 * columns, 3.4 * rows), dpi=100)
    axes = np.atleast_2d(figure.subplots(rows, columns, squeeze=False))
    outline = gpd.GeoSeries([shapely.from_wkb(result.query.boundary)], crs="EPSG:4326")
    for index, ax in enumerate(axes.flat):
        if index >= len(starts):
            ax.set_axis_off()
            continue
        _draw(ax, result, [t.kinds[index] for t in result.trends], outline)
        ax.set_title(f"{starts[index]:%Y-%m-%d} · {int(result.counts[index].sum()):,} cases", fontsize=9)
    figure.suptitle(title, fontsize=11)
    _legend(figure)
    figure.savefig(path, bbox_inches="tight")


def write_all(result: HotspotResult, directory: Path, title: str) -> list[Path]:
    """Every output file of the analysis in ``directory``; their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {name: directory / name for name in ("hotspots.geojson", "hotspots.csv", "hotspots.png", "summary.txt")}
    features = result.features(every_cell=True)
    collection = {"type": "FeatureCollection", "summary": result.summary(), "features": features}
    paths["hotspots.geojson"].write_bytes(orjson.dumps(collection))
    pd.DataFrame(result.rows()).to_csv(paths["hotspots.csv"], index=False)
    paths["summary.txt"].write_text(result.text() + "\n", encoding="utf-8")
    with matplotlib.rc_context(FONTS):  # unit names are Chinese: a CJK font (fonts-noto-cjk) where installed
        map_png(result, paths["hotspots.png"], title)
        if result.trends is not None:
            paths["steps.png"] = directory / "steps.png"
            steps_png(result, paths["steps.png"], title)
    return list(paths.values())
