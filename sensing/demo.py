"""A demo sensor registry for the loaded hierarchy (~20,000 devices), written as a registry file.

Modelled on where a Chinese city's 城市生命线 and IoT programmes put their devices: water-level gauges
along the rivers and lake shores and strain gauges on their bridges, manhole-cover monitors and
street-light meters along the streets of the urban districts (the edges of their grids, a few metres
in), gas detectors and smoke detectors in the old quarters (玄武, 秦淮, 鼓楼), noise and PM2.5
stations in the urban districts, rain gauges across the whole city and traffic counters on urban
streets. Seeded, so the same hierarchy gives the same file; the file is ordinary input for
``cityops load sensors``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from sqlalchemy import Engine, text

from spatial.sampling import random_point_in

URBAN = ("320102", "320104", "320105", "320106", "320113", "320114")  # the main city's districts
OLD_QUARTERS = ("320102", "320104", "320106")  # 玄武, 秦淮, 鼓楼
INSET_DEGREES = 0.00004  # ~4 m: a street device stands inside its grid, not on the line two grids share
COLUMNS = ["code", "kind", "name", "lon", "lat", "unit", "department", "asset", "state"]
GRIDS = text("""
SELECT g.code, g.name, d.code AS district, ST_AsBinary(g.geom) AS geom
FROM unit g JOIN unit d ON d.id = g.ancestors[2]
WHERE g.tier = 'grid' ORDER BY g.code
""")


@dataclass(frozen=True)
class Placement:
    """How many devices of a kind, where (``streets``: along grid edges; ``areas``: anywhere in a grid;
    ``water``: along the waterways), in which districts, maintained by whom, named how."""

    kind: str
    prefix: str
    count: int
    where: str
    districts: tuple[str, ...] | None
    department: str
    label: str


PLACEMENTS = (
    Placement("manhole_tilt", "MH", 7000, "streets", URBAN, "水务局", "井盖倾角监测"),
    Placement("manhole_open", "MO", 2000, "streets", URBAN, "水务局", "井盖开启监测"),
    Placement("streetlight_power", "SL", 3000, "streets", URBAN, "城市管理局", "路灯电量监测"),
    Placement("traffic_flow", "TF", 1000, "streets", URBAN, "公安交警", "车流量检测器"),
    Placement("gas", "GS", 3000, "areas", OLD_QUARTERS, "燃气集团", "燃气泄漏监测"),
    Placement("smoke", "SM", 1500, "areas", OLD_QUARTERS, "应急管理局", "独立式烟感"),
    Placement("noise", "NS", 800, "areas", URBAN, "生态环境局", "噪声监测站"),
    Placement("pm25", "PM", 500, "areas", URBAN, "生态环境局", "颗粒物监测站"),
    Placement("rain_gauge", "RG", 300, "areas", None, "水务局", "雨量站"),
    Placement("water_level", "WL", 650, "water", None, "水务局", "水位站"),
    Placement("strain", "ST", 250, "water", None, "城乡建设委员会", "桥梁应变监测"),
)


def generate_registry(engine: Engine, waterways: Path, path: Path, *, seed: int = 20261204) -> int:
    """Write the demo registry for the grids in the database; returns how many sensors it lists."""
    with engine.connect() as conn:
        grids = gpd.GeoDataFrame.from_postgis(GRIDS, conn, geom_col="geom", crs=4326)
    rivers = gpd.read_file(waterways).to_crs(4326)
    city = shapely.STRtree(grids.geometry.values)
    rng = np.random.default_rng(seed)
    rows: list[list[object]] = []
    for placement in PLACEMENTS:
        chosen = grids if placement.districts is None else grids[grids.district.isin(placement.districts)]
        if placement.where == "water":
            points = _along(rivers, placement.count, city, grids, rng)
        else:
            points = _in_grids(chosen, placement.count, placement.where == "streets", rng)
        for number, (lon, lat, grid, asset) in enumerate(points, start=1):
            code = f"{placement.prefix}-{number:05d}"
            rows.append(
                [code, placement.kind, f"{placement.label} {code}", f"{lon:.6f}", f"{lat:.6f}", grid,
                 placement.department, asset, "active"]
            )  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    return len(rows)


def _in_grids(
    grids: gpd.GeoDataFrame, count: int, on_streets: bool, rng: np.random.Generator
) -> list[tuple[float, float, str, str]]:
    """``count`` points in randomly chosen grids: on a street (the grid's edge, a few metres in) or anywhere."""
    picks = rng.integers(0, len(grids), count)
    shapes = grids.geometry.values
    points = []
    for i in picks:
        grid = shapes[i]
        if on_streets:
            inner = grid.buffer(-INSET_DEGREES)
            edge = (inner if not inner.is_empty else grid).boundary
            point = shapely.line_interpolate_point(edge, rng.random(), normalized=True)
            lon, lat = point.x, point.y
        else:
            lon, lat = random_point_in(grid, rng)
        points.append((lon, lat, str(grids.code.iloc[i]), f"{grids.name.iloc[i]}"))
    return points


def _along(
    rivers: gpd.GeoDataFrame, count: int, city: shapely.STRtree, grids: gpd.GeoDataFrame, rng: np.random.Generator
) -> list[tuple[float, float, str, str]]:
    """``count`` points spread along the waterways by length, each kept only where a grid holds it."""
    lengths = rivers.to_crs(32650).geometry.length.to_numpy()  # metres (UTM 50N)
    share = lengths / lengths.sum()
    points: list[tuple[float, float, str, str]] = []
    while len(points) < count:
        river = int(rng.choice(len(rivers), p=share))
        point = shapely.line_interpolate_point(rivers.geometry.iloc[river], rng.random(), normalized=True)
        hits = city.query(point, predicate="covered_by")
        if len(hits):
            grid = int(hits.min())
            points.append((point.x, point.y, str(grids.code.iloc[grid]), str(rivers.name.iloc[river])))
    return points
