"""Point → grid → whole tier chain, exact at every boundary.

At most one round trip (none while the process's index is fresh: ``grid.locate_index``): the
H3 cell is computed here, PostGIS looks it up; an interior cell answers
at once, a boundary cell tests its few candidate units with ST_Covers in candidate (code)
order, so a point exactly on a shared edge always goes to the same unit — the one with the
lowest code — in the database and in the batch path alike. A point in a sliver gap between
two units (overlay residue, thinner than SNAP_DEG) goes to the lowest-coded one within SNAP_DEG.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import psycopg
import shapely
from sqlalchemy import Connection, text

from grid.cells import cell_to_string, point_to_cell, points_to_cells
from grid.coverage import Coverage
from grid.coverage_store import RESOLUTION_SQL, read_coverage
from spatial.coords import validate_lon_lat
from spatial.driver import psycopg_connection
from spatial.errors import NotFoundError, OutsideJurisdictionError

if TYPE_CHECKING:
    from grid.locate_index import FollowedIndex

# Runs on the psycopg connection, the hottest query of the platform: two primary-key probes;
# boundary cells and grids with buildings call the functions of migration 0002, which run only
# for them. Positional parameters (psycopg binds a tuple faster than a dict), in this order:
# lon, lat (building), lon, lat, snap (boundary pick), cell.
LOCATE_SQL = """
SELECT c.unit_id IS NOT NULL AS interior, g.chain::text AS chain, g.boundary_version_id,
       CASE WHEN g.has_buildings THEN cityops_building_at(g.id, %s, %s) END AS building
FROM h3_cell c
JOIN unit g ON g.id = coalesce(c.unit_id, cityops_pick(c.candidates, %s, %s, %s))
WHERE c.cell = %s
"""

# Overlays leave slivers between neighbouring units, far thinner than this (about 0.1 mm): a
# point in one belongs to the first candidate (lowest code) this close to it, instead of falling
# outside every unit. Not "the nearest": distances that differ by 1e-16 would order differently
# in PostGIS and in GEOS.
SNAP_DEG = 1e-9


@dataclass(frozen=True, slots=True)
class UnitRef:
    """A unit as locate reports it."""

    code: str
    name: str
    tier: str
    kind: str
    synthetic: bool

    def as_dict(self) -> dict[str, object]:
        """Plain form for JSON (``dataclasses.asdict`` deep-copies, ten times slower)."""
        return {"code": self.code, "name": self.name, "tier": self.tier, "kind": self.kind, "synthetic": self.synthetic}


@lru_cache(maxsize=65_536)
def parse_chain(chain_json: str) -> tuple[UnitRef, ...]:
    """Units from the stored chain JSON; a city has ~10k distinct chains, so parse each once."""
    return tuple(UnitRef(**unit) for unit in orjson.loads(chain_json))


@dataclass(frozen=True)
class Location:
    """Where a point falls: its cell and every unit from the city down to grid or building."""

    lon: float
    lat: float
    cell: str
    resolution: int
    interior: bool
    chain: tuple[UnitRef, ...]
    boundary_version: int

    @property
    def leaf(self) -> UnitRef:
        """The deepest unit containing the point (building, grid, or the deepest tier loaded)."""
        return self.chain[-1]

    def at(self, tier: str) -> UnitRef | None:
        """The unit responsible at ``tier`` (the management unit where one exists: 江北新区)."""
        return unit_at(self.chain, tier)


def unit_at(chain: tuple[UnitRef, ...], tier: str) -> UnitRef | None:
    """The unit of a chain responsible at ``tier``: the management unit where one exists."""
    matches = [u for u in chain if u.tier == tier]
    return next((u for u in matches if u.kind == "management"), matches[0] if matches else None)


# The algorithm once, as a generator that yields (sql, params) and is sent back the first row
# (or None): ``Locator.locate`` drives it on a blocking connection, ``Locator.locate_async`` on
# an asyncio one, so the API's hot path needs no thread and no second copy of the logic.
Steps = Generator[tuple[str, tuple[object, ...]], tuple[Any, ...] | None, Location]


class Locator:
    """Single-point locate: from this process's index while it is fresh, else through PostGIS.

    Remembers the coverage resolution between calls of the database path.
    """

    def __init__(self, index: FollowedIndex | None = None) -> None:
        self._resolution: int | None = None
        self._index = index

    def _resolution_steps(self, *, refresh: bool = False) -> Generator[tuple[str, tuple[object, ...]], Any, int]:
        if self._resolution is None or refresh:
            row = yield (RESOLUTION_SQL, ())
            if row is None:
                raise NotFoundError("no hierarchy is loaded: run `cityops demo` or `cityops load boundaries`")
            self._resolution = int(row[0])
        return self._resolution

    @staticmethod
    def _query_steps(
        lon: float, lat: float, resolution: int
    ) -> Generator[tuple[str, tuple[object, ...]], Any, Location | None]:
        cell = point_to_cell(lon, lat, resolution)
        row = yield (LOCATE_SQL, (lon, lat, lon, lat, SNAP_DEG, cell))
        if row is None:
            return None
        interior, chain_json, version, building_json = row
        chain = parse_chain(chain_json)
        if building_json:
            chain = (*chain, *parse_chain(f"[{building_json}]"))
        return Location(
            lon=lon,
            lat=lat,
            cell=cell_to_string(cell),
            resolution=resolution,
            interior=interior,
            chain=chain,
            boundary_version=version,
        )

    @property
    def indexed(self) -> bool:
        """Whether this process's index is loaded and fresh (``locate_here`` can answer)."""
        return self._index is not None and self._index.current() is not None

    def locate_here(self, lon: float, lat: float) -> Location | None:
        """The location from this process's index, or None when the database must answer.

        None while the index is loading or stale, and for a point within a millimetre of an
        outline; a point decided outside raises OutsideJurisdictionError here already.
        """
        return self._from_index(*validate_lon_lat(lon, lat))

    def _from_index(self, lon: float, lat: float) -> Location | None:
        index = self._index.current() if self._index is not None else None
        if index is None:
            return None
        answer = index.locate(lon, lat)
        if answer != "outside":
            return answer
        swapped = index.locate(lat, lon) if -90 <= lon <= 90 else "outside"
        if swapped is None:
            return None  # the hint is the database's to give
        raise _outside(lon, lat, swapped_inside=isinstance(swapped, Location))

    def _steps(self, lon: float, lat: float) -> Steps:
        lon, lat = validate_lon_lat(lon, lat)
        here = self._from_index(lon, lat)
        if here is not None:  # no round trip: the generator ends before its first query
            return here
        resolution = yield from self._resolution_steps()
        found = yield from self._query_steps(lon, lat, resolution)
        if found is None:
            fresh = yield from self._resolution_steps(refresh=True)
            if fresh != resolution:  # the coverage was rebuilt meanwhile
                found = yield from self._query_steps(lon, lat, fresh)
        if found is not None:
            return found
        swapped = -90 <= lon <= 90 and (yield from self._query_steps(lat, lon, self._resolution or 0)) is not None
        raise _outside(lon, lat, swapped_inside=swapped)

    def locate(self, conn: Connection, lon: float, lat: float) -> Location:
        """The location of (lon, lat), or OutsideJurisdictionError (SQLAlchemy connection)."""
        driver = psycopg_connection(conn)  # SQLAlchemy's row layer would double the cost
        steps = self._steps(lon, lat)
        try:
            sql, params = next(steps)
            while True:
                with driver.cursor() as cursor:
                    row = cursor.execute(sql, params, prepare=True).fetchone()
                sql, params = steps.send(row)
        except StopIteration as done:
            return done.value

    async def locate_async(self, conn: psycopg.AsyncConnection, lon: float, lat: float) -> Location:
        """The same on an asyncio psycopg connection (the API's hot path)."""
        steps = self._steps(lon, lat)
        try:
            sql, params = next(steps)
            while True:
                cursor = await conn.execute(sql, params, prepare=True)
                sql, params = steps.send(await cursor.fetchone())
        except StopIteration as done:
            return done.value


def _outside(lon: float, lat: float, *, swapped_inside: bool) -> OutsideJurisdictionError:
    message = f"point (lon={lon}, lat={lat}) is outside the jurisdiction of the loaded hierarchy"
    if swapped_inside:
        message += "; (lon, lat) swapped would be inside: did you pass lat first?"
    return OutsideJurisdictionError(message)


@dataclass(frozen=True)
class BatchLocator:
    """Vectorised locate of millions of points in this process (historic imports, analytics)."""

    coverage: Coverage
    unit_ids: np.ndarray  # sorted
    geoms: np.ndarray  # prepared, aligned with unit_ids

    @classmethod
    def from_db(cls, conn: Connection) -> BatchLocator:
        """Coverage and unit outlines of the coverage tier, read once."""
        coverage = read_coverage(conn)
        rows = conn.execute(
            text(
                "SELECT id, ST_AsBinary(geom) AS wkb FROM unit WHERE id IN "
                "(SELECT unit_id FROM h3_cell WHERE unit_id IS NOT NULL "
                " UNION SELECT unnest(candidates) FROM h3_cell WHERE candidates IS NOT NULL) ORDER BY id"
            )
        ).all()
        geoms = shapely.from_wkb([bytes(r.wkb) for r in rows])
        shapely.prepare(geoms)
        return cls(coverage, np.asarray([r.id for r in rows], dtype=np.int64), geoms)

    def locate(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Unit id for each point (-1 outside); same answers as ``Locator.locate``."""
        return self.locate_cells(lon, lat)[0]

    def locate_cells(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Unit id (-1 outside), H3 cell and whether that cell lies wholly inside the unit, per point."""
        lon = np.asarray(lon, dtype=np.float64)
        lat = np.asarray(lat, dtype=np.float64)
        cov = self.coverage
        cells = points_to_cells(lon, lat, cov.resolution)
        pos = np.minimum(np.searchsorted(cov.cells, cells), len(cov.cells) - 1)
        found = cov.cells[pos] == cells
        result = np.where(found, cov.owner[pos], -1)
        boundary = np.flatnonzero(found & (cov.owner[pos] < 0))
        starts = cov.candidate_offsets[pos[boundary]]
        counts = cov.candidate_offsets[pos[boundary] + 1] - starts
        point_index = np.repeat(boundary, counts)
        within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        candidate = cov.candidate_ids[np.repeat(starts, counts) + within]
        geom_index = np.searchsorted(self.unit_ids, candidate)
        hit = shapely.intersects_xy(self.geoms[geom_index], lon[point_index], lat[point_index])
        hit_points, hit_units = point_index[hit], candidate[hit]
        first_points, first = np.unique(hit_points, return_index=True)
        result[first_points] = hit_units[first]
        self._snap_sliver_points(result, boundary, point_index, candidate, geom_index, lon, lat)
        return result, cells, found & (cov.owner[pos] >= 0)

    def _snap_sliver_points(
        self,
        result: np.ndarray,
        boundary: np.ndarray,
        point_index: np.ndarray,
        candidate: np.ndarray,
        geom_index: np.ndarray,
        lon: np.ndarray,
        lat: np.ndarray,
    ) -> None:
        """Boundary-cell points no candidate covers: the first candidate within SNAP_DEG, as in SQL."""
        missed = np.isin(point_index, boundary[result[boundary] < 0])
        if not missed.any():
            return
        points = shapely.points(lon[point_index[missed]], lat[point_index[missed]])
        near = shapely.dwithin(self.geoms[geom_index[missed]], points, SNAP_DEG)
        near_points, near_units = point_index[missed][near], candidate[missed][near]
        first_points, first = np.unique(near_points, return_index=True)  # pairs are in candidate order
        result[first_points] = near_units[first]
