"""Topology checks run before an import writes anything.

Overlays are computed in WGS84, where generated and official tilings share their vertices
exactly; only the residues (overlap, gap, spill-over) are projected to measure them in m². A
residue smaller than the tolerance is noise from vertex rounding, not a data error.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely
from shapely.validation import explain_validity

from spatial.errors import Problem
from spatial.measure import areas_m2


@dataclass(frozen=True)
class CheckContext:
    """The area below which residues are ignored."""

    tolerance_m2: float


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    parts = shapely.get_parts(geom)
    while any(p.geom_type in ("MultiPolygon", "GeometryCollection") for p in parts):
        parts = shapely.get_parts(parts)
    return shapely.MultiPolygon([p for p in parts if p.geom_type == "Polygon" and not p.is_empty])


def check_validity(frame: gpd.GeoDataFrame, repair: bool) -> tuple[gpd.GeoDataFrame, list[Problem]]:
    """Invalid geometry is repaired with a report (``repair``) or reported as an error."""
    invalid = ~frame.geometry.is_valid
    if not invalid.any():
        return frame, []
    problems = [
        Problem("invalid_geometry", f"{code}: {explain_validity(geom)}", (code,))
        for code, geom in zip(frame.code[invalid], frame.geometry[invalid], strict=True)
    ]
    if not repair:
        return frame, problems
    fixed = frame.copy()
    fixed.loc[invalid, "geometry"] = [_polygonal(shapely.make_valid(g)) for g in frame.geometry[invalid]]
    for problem in problems:
        problem.check = "repaired_geometry"
    return fixed, problems


def check_inside_parents(children: gpd.GeoDataFrame, parents: gpd.GeoDataFrame, ctx: CheckContext) -> list[Problem]:
    """Each child lies within the parent named in ``parent_code``."""
    parent_geom = parents.set_index("code").geometry
    spill = shapely.difference(children.geometry.values, parent_geom.reindex(children.parent_code).values)
    areas = areas_m2(spill)
    return [
        Problem("outside_parent", f"{code} reaches {area:,.0f} m² outside its parent {parent}",
                (code, parent), area)
        for code, parent, area in zip(children.code, children.parent_code, areas, strict=True)
        if area > ctx.tolerance_m2
    ]  # fmt: skip


def check_sibling_overlaps(units: gpd.GeoDataFrame, ctx: CheckContext) -> list[Problem]:
    """No two units of the same tier overlap (touching along an edge is fine)."""
    geoms = units.geometry.values
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    pairs = left < right
    left, right = left[pairs], right[pairs]
    if len(left) == 0:
        return []
    overlap = shapely.intersection(geoms[left], geoms[right])
    areas = areas_m2(overlap)
    codes = units.code.values
    return [
        Problem("sibling_overlap", f"{codes[i]} and {codes[j]} overlap by {area:,.0f} m²",
                (codes[i], codes[j]), area)
        for i, j, area in zip(left, right, areas, strict=True)
        if area > ctx.tolerance_m2
    ]  # fmt: skip


def check_gaps(children: gpd.GeoDataFrame, parents: gpd.GeoDataFrame, ctx: CheckContext) -> list[Problem]:
    """Children cover each parent that has any: no uncovered area left over."""
    unions = children.groupby("parent_code").geometry.apply(lambda g: shapely.union_all(g.values))
    covered = parents[parents.code.isin(unions.index)]
    gaps = shapely.difference(covered.geometry.values, unions.reindex(covered.code).values)
    areas = areas_m2(gaps)
    return [
        Problem("coverage_gap", f"{code}: {area:,.0f} m² are not covered by any child unit",
                (code,), area)
        for code, area in zip(covered.code, areas, strict=True)
        if area > ctx.tolerance_m2
    ]  # fmt: skip


def check_members_union(unit: gpd.GeoSeries, members: gpd.GeoDataFrame, ctx: CheckContext) -> list[Problem]:
    """A management unit's outline is the union of the units it manages."""
    union = shapely.union_all(members.geometry.values)
    residue = shapely.symmetric_difference(unit.geometry, union)
    area = float(areas_m2(np.asarray([residue], dtype=object))[0])
    if area <= ctx.tolerance_m2:
        return []
    return [Problem("management_outline", f"{unit.code} differs from the union of its members "
                    f"by {area:,.0f} m²", (unit.code,), area)]  # fmt: skip


def detect_swapped_axes(children: gpd.GeoDataFrame, parents: gpd.GeoDataFrame) -> bool:
    """True when the children miss every parent but would fall inside them with x and y swapped."""
    union = shapely.union_all(parents.geometry.values)
    shapely.prepare(union)
    points = children.geometry.representative_point().values
    if shapely.intersects(union, points).mean() > 0.1:
        return False
    swapped = shapely.transform(points, lambda xy: xy[:, ::-1])
    return bool(shapely.intersects(union, swapped).mean() > 0.5)
