"""Topology checks run before an import writes anything.

Overlays are computed in WGS84, where generated and official tilings share their vertices
exactly; only the residues (overlap, gap, spill-over) are projected to measure them in m². A
residue smaller than the tolerance is noise from vertex rounding, not a data error.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
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
        Problem(
            "outside_parent",
            f"{code} reaches {area:,.0f} m² outside its parent {parent} (a unit served "
            "across its parent's line is accepted with --parent-by majority)",
            (code, parent),
            area,
        )
        for code, parent, area in zip(children.code, children.parent_code, areas, strict=True)
        if area > ctx.tolerance_m2
    ]


def parent_shares(children: gpd.GeoDataFrame, parents: gpd.GeoDataFrame) -> pd.DataFrame:
    """Every (child ``code``, ``parent``) pair sharing area, with that area (``area_m2``), largest first per child.

    Units touching along an edge share no area and are left out.
    """
    child_geoms, parent_geoms = children.geometry.values, parents.geometry.values
    child, parent = shapely.STRtree(parent_geoms).query(child_geoms, predicate="intersects")
    shared = areas_m2(shapely.intersection(child_geoms[child], parent_geoms[parent]))
    pairs = pd.DataFrame(
        {"code": np.asarray(children.code)[child], "parent": np.asarray(parents.code)[parent], "area_m2": shared}
    )
    return pairs[pairs.area_m2 > 0].sort_values(["code", "area_m2"], ascending=[True, False], ignore_index=True)


@dataclass(frozen=True)
class Crossing:
    """Part of a unit lying in another parent than its own: accepted, and reported with its area."""

    code: str
    parent: str
    into: str
    area_m2: float
    share: float  # of the unit's whole area

    def as_dict(self) -> dict[str, Any]:
        """Plain form for the import's report (JSON)."""
        return {
            "code": self.code,
            "parent": self.parent,
            "into": self.into,
            "area_m2": round(self.area_m2, 1),
            "share": round(self.share, 4),
        }


def check_crossings(
    children: gpd.GeoDataFrame, parents: gpd.GeoDataFrame, shares: pd.DataFrame, ctx: CheckContext
) -> tuple[list[Problem], list[Crossing]]:
    """Units linked to the parent holding the largest share of their area: what crosses into other parents.

    A named parent (``parent_code`` from the file) that does not hold the largest share is an
    error, and so is any part outside every parent: crossing a line between two parents is a
    service arrangement, leaving the jurisdiction is a wrong file.
    """
    area = pd.Series(areas_m2(children.geometry.values), index=np.asarray(children.code))
    assigned = pd.Series(np.asarray(children.parent_code), index=np.asarray(children.code))
    largest = shares.drop_duplicates("code").set_index("code")
    problems: list[Problem] = []
    crossings: list[Crossing] = []
    for code, into, shared in shares.itertuples(index=False):
        if into != assigned[code] and shared > ctx.tolerance_m2:
            crossings.append(Crossing(code, assigned[code], into, float(shared), float(shared / area[code])))
    own = shares.set_index(["code", "parent"]).area_m2
    for code, parent in assigned.items():
        if code not in largest.index:
            continue  # on no parent at all: reported below, as outside every parent
        held = float(own.get((code, parent), 0.0))
        top = largest.loc[code]
        if top.parent != parent and top.area_m2 - held > ctx.tolerance_m2:
            message = (
                f"{code}: its parent {parent} holds {held / area[code]:.0%} of its area, {top.parent} "
                f"holds {top.area_m2 / area[code]:.0%}; name {top.parent} as its parent, or leave the parent "
                "column out to link each unit to the parent holding most of it"
            )
            problems.append(Problem("parent_not_majority", message, (code, parent), held))
    parent_geom = parents.set_index("code").geometry
    on = shares.groupby("code").parent.apply(list)
    outside = areas_m2(
        np.asarray(
            [
                _minus_each(geom, parent_geom[on.get(code, [])].values)
                for code, geom in zip(children.code, children.geometry.values, strict=True)
            ],
            dtype=object,
        )
    )
    problems += [
        Problem("outside_parents", f"{code} reaches {spill:,.0f} m² outside every loaded parent unit", (code,), spill)
        for code, spill in zip(children.code, outside, strict=True)
        if spill > ctx.tolerance_m2
    ]
    return problems, crossings


def _minus_each(geom: shapely.Geometry, others: np.ndarray) -> shapely.Geometry:
    """``geom`` less each of ``others`` in turn: no union of neighbours, whose hairline slivers
    (1e-16 deg²) have made GEOS answer a difference with the whole polygon."""
    for other in others:
        geom = shapely.difference(geom, other)
    return geom


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
        Problem("sibling_overlap", f"{codes[i]} and {codes[j]} overlap by {area:,.0f} m²", (codes[i], codes[j]), area)
        for i, j, area in zip(left, right, areas, strict=True)
        if area > ctx.tolerance_m2
    ]


def check_gaps(
    children: gpd.GeoDataFrame, parents: gpd.GeoDataFrame, ctx: CheckContext, crossings: Iterable[Crossing] = ()
) -> list[Problem]:
    """Children cover each parent that has any: no uncovered area left over.

    A unit crossing into a neighbouring parent (``--parent-by majority``) covers its part of that
    parent too: the island is covered, by the unit serving it. Only the crossing units are added to
    a parent's own children, not every unit touching it: GEOS has answered the difference of a
    street and such a union (hairline slivers of 1e-16 deg² between neighbours) with the whole street.
    """
    members: dict[str, list[shapely.Geometry]] = {}
    for parent, geom in zip(children.parent_code, children.geometry.values, strict=True):
        if not pd.isna(parent):
            members.setdefault(parent, []).append(geom)
    geometry = children.set_index("code").geometry
    for crossing in crossings:
        members.setdefault(crossing.into, []).append(geometry[crossing.code])
    covered = parents[parents.code.isin(list(members))]
    unions = np.asarray([shapely.union_all(members[code]) for code in covered.code], dtype=object)
    gaps = shapely.difference(covered.geometry.values, unions)
    areas = areas_m2(gaps)
    return [
        Problem("coverage_gap", f"{code}: {area:,.0f} m² are not covered by any child unit", (code,), area)
        for code, area in zip(covered.code, areas, strict=True)
        if area > ctx.tolerance_m2
    ]


def check_members_union(unit: gpd.GeoSeries, members: gpd.GeoDataFrame, ctx: CheckContext) -> list[Problem]:
    """A management unit's outline is the union of the units it manages."""
    union = shapely.union_all(members.geometry.values)
    residue = shapely.symmetric_difference(unit.geometry, union)
    area = float(areas_m2(np.asarray([residue], dtype=object))[0])
    if area <= ctx.tolerance_m2:
        return []
    return [
        Problem(
            "management_outline",
            f"{unit.code} differs from the union of its members by {area:,.0f} m²",
            (unit.code,),
            area,
        )
    ]


def detect_swapped_axes(children: gpd.GeoDataFrame, parents: gpd.GeoDataFrame) -> bool:
    """True when the children miss every parent but would fall inside them with x and y swapped."""
    union = shapely.union_all(parents.geometry.values)
    shapely.prepare(union)
    points = children.geometry.representative_point().values
    if shapely.intersects(union, points).mean() > 0.1:
        return False
    swapped = shapely.transform(points, lambda xy: xy[:, ::-1])
    return bool(shapely.intersects(union, swapped).mean() > 0.5)
