"""A hot-spot analysis of a unit from the database: count, test, classify, name the places.

One path for the API, the CLI and the benchmark: the database counts cases per cell and step
(``grid.binning``); the statistics (``grid.hotspots``) run on the counts in the caller's thread
(CPU-bound — the API hands it to a worker thread); the hottest places get the names of the street
and community they lie in, so the summary reads as places, not as hexagon ids.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypedDict

import h3
import numpy as np
import psycopg

from grid.binning import Steps, buildings_per_cell, counts_by_step
from grid.hexagons import HexFilter
from grid.hotspots import COLD, HOT, NOT_SIGNIFICANT, PATTERNS, Spot, Trend, emerging, hotspots, study_area
from spatial.errors import InvalidInputError

MAX_CELLS = 20_000  # a study area larger wants a coarser resolution (the draws are kept: 8 kB a cell)
TOP = 5
RATES = ("count", "buildings")
# the deepest street or community holding the point, then the street and community of its chain: a
# community serving across its street's line (``--parent-by majority``) names its own street, not the one under it
PLACE = """
WITH here AS (
    SELECT ancestors || id AS chain FROM unit
    WHERE tier IN ('street', 'community') AND kind = 'administrative'
      AND ST_Covers(geom, ST_SetSRID(ST_Point(%s, %s), 4326))
    ORDER BY tier DESC, code LIMIT 1
)
SELECT string_agg(a.name, ' · ' ORDER BY a.tier) FROM here JOIN unit a ON a.id = ANY(here.chain)
WHERE a.tier IN ('street', 'community')
"""
Progress = Callable[[str, float], None]
CaseCounter = Callable[["HotspotQuery"], dict[tuple[int, int], int]]


class GiSettings(TypedDict):
    """The Gi* options ``hotspots`` and ``emerging`` share."""

    permutations: int
    alpha: float
    min_count: int
    seed: int | None
    exposure: np.ndarray | None


@dataclass(frozen=True)
class HotspotQuery:
    """What to analyse: a unit (id, code, boundary as WKB), which cases, how finely, how strictly."""

    unit_id: int
    unit_code: str
    boundary: bytes
    since: datetime
    until: datetime
    resolution: int = 8
    categories: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    steps: int = 1
    permutations: int = 999
    alpha: float = 0.05
    min_count: int = 3
    rate: str = "count"
    seed: int | None = 12345

    def __post_init__(self) -> None:
        if self.rate not in RATES:
            raise InvalidInputError(f"rate must be one of {', '.join(RATES)}, got {self.rate!r}")

    @property
    def filter(self) -> HexFilter:
        """The rows that count: every case not voided, filed in the period, in the unit."""
        return HexFilter(
            self.unit_id, self.resolution, None, self.categories, "reported", self.since, self.until, self.sources
        )

    @property
    def period(self) -> Steps:
        """The period's steps (one: no time view)."""
        return Steps(self.since, self.until, self.steps)


@dataclass
class HotspotResult:
    """Every cell of the study area: the whole period's verdict and, with steps, its pattern over time."""

    query: HotspotQuery
    cells: np.ndarray
    counts: np.ndarray  # steps × cells
    spots: list[Spot]
    trends: list[Trend] | None
    places: dict[int, str] = field(default_factory=dict)

    @property
    def hot(self) -> list[Spot]:
        """Hot cells, strongest first."""
        return sorted((s for s in self.spots if s.kind == HOT), key=lambda s: (-s.z, -s.count))

    def pattern_of(self) -> dict[int, str | None]:
        """Each cell's emerging pattern (empty without steps)."""
        return {t.cell: t.pattern for t in self.trends or ()}

    def features(self, every_cell: bool = False) -> list[dict[str, object]]:
        """GeoJSON features: the significant cells (or all), with the pattern and counts per step."""
        trends = {t.cell: t for t in self.trends or ()}
        features = []
        for spot in self.spots:
            trend = trends.get(spot.cell)
            if not every_cell and spot.kind == NOT_SIGNIFICANT and not (trend and trend.pattern):
                continue
            feature = spot.as_feature()
            if trend is not None:
                feature["properties"] |= {
                    "pattern": trend.pattern,
                    "counts": list(trend.counts),
                    "classes": list(trend.kinds),
                    "trend_tau": round(trend.tau, 3),
                }
            if spot.cell in self.places:
                feature["properties"]["place"] = self.places[spot.cell]
            features.append(feature)
        return features

    def rows(self) -> list[dict[str, object]]:
        """One flat row per cell (CSV): id, centre, count, z, p, class, pattern and the count of each step."""
        patterns = self.pattern_of()
        rows = []
        for i, spot in enumerate(self.spots):
            lat, lon = h3.cell_to_latlng(h3.int_to_str(spot.cell))
            row: dict[str, object] = {
                "h3": h3.int_to_str(spot.cell),
                "lon": round(lon, 6),
                "lat": round(lat, 6),
                "count": spot.count,
                "z": round(spot.z, 4),
                "p": round(spot.p, 4),
                "class": spot.kind,
                "pattern": patterns.get(spot.cell),
                "place": self.places.get(spot.cell),
            }
            if self.trends is not None:
                row |= {f"step_{s + 1}": int(self.counts[s, i]) for s in range(self.counts.shape[0])}
            rows.append(row)
        return rows

    def summary(self) -> dict[str, Any]:
        """The figures of the answer: sizes, settings, classes, patterns and the top places."""
        q = self.query
        patterns = self.pattern_of()
        return {
            "unit": q.unit_code,
            "from": q.since.isoformat(),
            "to": q.until.isoformat(),
            "resolution": q.resolution,
            "cell_km2": round(h3.average_hexagon_area(q.resolution, "km^2"), 3),
            "rate": q.rate,
            "cells": len(self.spots),
            "cases": int(self.counts.sum()),
            "hot": len(self.hot),
            "cold": sum(s.kind == COLD for s in self.spots),
            "permutations": q.permutations,
            "alpha": q.alpha,
            "min_count": q.min_count,
            "steps": [s.isoformat() for s in q.period.starts],
            "patterns": {p: sum(v == p for v in patterns.values()) for p in PATTERNS} if self.trends else None,
            "top": [
                {
                    "h3": h3.int_to_str(s.cell),
                    "count": s.count,
                    "z": round(s.z, 2),
                    "place": self.places.get(s.cell),
                    "pattern": patterns.get(s.cell),
                }
                for s in self.hot[:TOP]
            ],
        }

    def text(self) -> str:
        """A short summary a planner reads: the period, what was found and the top places."""
        s = self.summary()
        lines = [
            f"Unit {s['unit']}, {s['from'][:10]} – {s['to'][:10]}: {s['cases']:,} cases in {s['cells']:,} cells of "
            f"~{s['cell_km2']} km² (H3 resolution {s['resolution']}"
            + (", rates per building)." if s["rate"] == "buildings" else ")."),
            f"{s['hot']} hot and {s['cold']} cold cells (Getis-Ord Gi*, {s['permutations']} permutations, "
            f"false-discovery rate {s['alpha']:.0%}, at least {s['min_count']} cases to be hot).",
        ]
        if s["patterns"]:
            lines.append(f"Over {len(s['steps'])} steps: " + ", ".join(f"{n} {p}" for p, n in s["patterns"].items()))
        for rank, top in enumerate(s["top"], 1):
            pattern = f", {top['pattern']}" if top["pattern"] else ""
            lines.append(
                f"{rank}. {top['place'] or 'outside named units'} ({top['h3']}): {top['count']} cases, "
                f"z {top['z']}{pattern}"
            )
        if not s["top"]:
            lines.append("No place stands out beyond chance.")
        return "\n".join(lines)


def study(
    query: HotspotQuery,
    counted: dict[tuple[int, int], int],
    exposure: dict[int, int] | None,
    progress: Progress | None = None,
) -> HotspotResult:
    """The statistics on counts already read: study area, Gi* for the period and per step, patterns."""
    report = progress or (lambda stage, fraction: None)
    report("study area", 0.3)
    # every cell whose centre is in the unit, and the edge cells holding its cases: no case is left out
    holding = np.array(sorted({cell for cell, _ in counted}), dtype=np.uint64)
    cells = np.union1d(study_area(query.boundary, query.resolution), holding)
    if exposure is not None:
        cells = cells[[exposure.get(int(c), 0) > 0 for c in cells]]
    if len(cells) > MAX_CELLS:
        raise InvalidInputError(
            f"{len(cells):,} cells at resolution {query.resolution}: choose a coarser one (≤ {MAX_CELLS:,})"
        )
    index = {int(c): i for i, c in enumerate(cells)}
    counts = np.zeros((query.steps, len(cells)), dtype=np.int64)
    for (cell, step), n in counted.items():
        if cell in index:
            counts[step, index[cell]] = n
    weights = None if exposure is None else np.array([exposure[int(c)] for c in cells], dtype=float)
    settings: GiSettings = {
        "permutations": query.permutations,
        "alpha": query.alpha,
        "min_count": query.min_count,
        "seed": query.seed,
        "exposure": weights,
    }
    try:
        report("Gi* over the period", 0.4)
        spots = hotspots(cells, counts.sum(axis=0), **settings)

        def on_step(done: int) -> None:
            report(f"Gi* of step {done}/{query.steps}", 0.5 + 0.45 * done / query.steps)

        trends = emerging(cells, counts, **settings, on_step=on_step) if query.steps > 1 else None
    except ValueError as error:
        raise InvalidInputError(str(error)) from None
    return HotspotResult(query, cells, counts, spots, trends)


async def read_counts(
    conn: psycopg.AsyncConnection, query: HotspotQuery, count: CaseCounter | None = None
) -> tuple[dict[tuple[int, int], int], dict[int, int] | None]:
    """Cases per (cell, step) — by the database, or by ``count`` (the archive on a cluster) — and, for rates,
    buildings per cell."""
    counted = count(query) if count else await counts_by_step(conn, query.filter, query.period)
    exposure = await buildings_per_cell(conn, query.unit_id, query.resolution) if query.rate == "buildings" else None
    return counted, exposure


async def analyse(
    conn: psycopg.AsyncConnection,
    query: HotspotQuery,
    *,
    count: CaseCounter | None = None,
    progress: Progress | None = None,
) -> HotspotResult:
    """The whole analysis in the calling thread (the command line's and the benchmark's path)."""
    report = progress or (lambda stage, fraction: None)
    report("counting cases", 0.05)
    counted, exposure = await read_counts(conn, query, count)
    result = study(query, counted, exposure, progress)
    report("naming places", 0.97)
    await name_places(conn, result)
    report("done", 1.0)
    return result


async def name_places(conn: psycopg.AsyncConnection, result: HotspotResult) -> None:
    """The street and community of each top hot cell's centre."""
    for spot in result.hot[:TOP]:
        lat, lon = h3.cell_to_latlng(h3.int_to_str(spot.cell))
        name = (await (await conn.execute(PLACE, (lon, lat))).fetchone() or (None,))[0]
        if name:
            result.places[spot.cell] = name
