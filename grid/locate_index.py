"""Locate without a database round trip: the coverage, the units and their chains in memory.

Each API process loads what ``LOCATE_SQL`` reads — the H3 coverage, the outlines of the units it
names, each unit's chain and boundary version, the buildings of each grid — and answers as the
database does: an interior cell at once, a boundary cell by its first candidate (code order) that
covers the point. Within NEAR_EDGE_DEG of an outline (ties, slivers) it leaves the answer to the
database. A trigger announces every change to those tables on ``cityops_boundaries`` (migration
0044); the follower marks the index stale at once, so ``Locator`` goes back to the database until
the reload, taken after the changes settle, is in.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import psycopg
import shapely
import structlog
from psycopg.conninfo import make_conninfo
from sqlalchemy import Connection, Engine, text

from grid.cells import cell_to_string, point_to_cell
from grid.locate import BatchLocator, Location, UnitRef, parse_chain

log = structlog.get_logger("cityops.locate_index")

CHANNEL = "cityops_boundaries"
# A boundary import writes thousands of statements in one transaction, announced together at its
# commit; a coverage rebuild may commit in a few: reload once they have been quiet this long.
SETTLE_S = 0.2
# Closer than this (about 1 mm) to an outline, the database decides (see LocateIndex.locate):
# ten times the sliver snap, so a point in a sliver is the database's too.
NEAR_EDGE_DEG = 1e-8
RETRY_S = 5.0

LEAVES_SQL = "SELECT id, chain::text AS chain, boundary_version_id AS version FROM unit WHERE id = ANY(:ids)"
BUILDINGS_SQL = """
SELECT parent_id, code, name, tier::text AS tier, kind::text AS kind, synthetic, ST_AsBinary(geom) AS wkb
FROM unit WHERE tier = 'building' AND parent_id IN (SELECT id FROM unit WHERE has_buildings)
ORDER BY parent_id, code
"""


def outlines_of(geoms: np.ndarray) -> np.ndarray:
    """The polygons' boundaries, prepared: how near a point lies to an edge is asked of them."""
    outlines = shapely.boundary(geoms)
    shapely.prepare(outlines)
    return outlines


@dataclass(frozen=True)
class Buildings:
    """One grid's buildings, in code order (the first that covers a point is its building)."""

    refs: tuple[UnitRef, ...]
    geoms: np.ndarray  # prepared
    outlines: np.ndarray  # prepared


@dataclass(frozen=True)
class LocateIndex:
    """Everything a locate reads, held in this process."""

    batch: BatchLocator
    outlines: np.ndarray  # of batch.geoms, aligned with batch.unit_ids
    chains: dict[int, tuple[tuple[UnitRef, ...], int]]  # unit id → its chain and boundary version
    buildings: dict[int, Buildings]  # grid id → its buildings

    @classmethod
    def from_db(cls, conn: Connection) -> LocateIndex:
        """Read once (one snapshot: run in a REPEATABLE READ transaction for a consistent picture)."""
        batch = BatchLocator.from_db(conn)
        rows = conn.execute(text(LEAVES_SQL), {"ids": batch.unit_ids.tolist()}).all()
        chains = {row.id: (parse_chain(row.chain), row.version) for row in rows}
        by_grid: dict[int, list[tuple[UnitRef, bytes]]] = {}
        for row in conn.execute(text(BUILDINGS_SQL)):
            ref = UnitRef(row.code, row.name, row.tier, row.kind, row.synthetic)
            by_grid.setdefault(row.parent_id, []).append((ref, bytes(row.wkb)))
        buildings = {}
        for grid, found in by_grid.items():
            geoms = shapely.from_wkb([wkb for _, wkb in found])
            shapely.prepare(geoms)
            buildings[grid] = Buildings(tuple(ref for ref, _ in found), geoms, outlines_of(geoms))
        return cls(batch, outlines_of(batch.geoms), chains, buildings)

    def locate(self, lon: float, lat: float) -> Location | Literal["outside"] | None:
        """Where (lon, lat) falls, "outside" every unit, or None: undecided here, ask the database.

        Undecided means within NEAR_EDGE_DEG of an outline the point's cell meets: there the
        answer rests on the last bit of a floating-point predicate, and the database's (PostGIS's
        own point-in-polygon, on subdivided pieces) may fall on the other side than GEOS's. That
        also leaves every sliver (within SNAP_DEG of an outline) to the database, so no snapping is
        needed here. One point at a time, without ``BatchLocator.locate_cells``' array set-up
        (~200 µs → ~10 µs).
        """
        coverage = self.batch.coverage
        cell = point_to_cell(lon, lat, coverage.resolution)
        pos = int(np.searchsorted(coverage.cells, cell))
        if pos == len(coverage.cells) or coverage.cells[pos] != cell:
            return "outside"  # no unit meets this cell, in the database either
        unit_id = int(coverage.owner[pos])
        if unit_id < 0:  # a boundary cell: its candidates in code order, the first covering it
            candidates = coverage.candidate_ids[coverage.candidate_offsets[pos] : coverage.candidate_offsets[pos + 1]]
            at = np.searchsorted(self.batch.unit_ids, candidates)
            if shapely.dwithin(self.outlines[at], shapely.Point(lon, lat), NEAR_EDGE_DEG).any():
                return None
            covering = np.flatnonzero(shapely.intersects_xy(self.batch.geoms[at], lon, lat))
            if not len(covering):
                return "outside"
            unit_id = int(candidates[covering[0]])
        chain, version = self.chains[unit_id]
        found = self.buildings.get(unit_id)
        if found is not None:
            if shapely.dwithin(found.outlines, shapely.Point(lon, lat), NEAR_EDGE_DEG).any():
                return None
            covering = np.flatnonzero(shapely.intersects_xy(found.geoms, lon, lat))
            if len(covering):
                chain = (*chain, found.refs[covering[0]])
        return Location(
            lon=lon,
            lat=lat,
            cell=cell_to_string(cell),
            resolution=coverage.resolution,
            interior=bool(coverage.owner[pos] >= 0),
            chain=chain,
            boundary_version=version,
        )


class FollowedIndex:
    """The index of this process, fresh or absent: None while a change is announced but not loaded."""

    def __init__(self) -> None:
        self._index: LocateIndex | None = None
        self.loads = 0  # how many times it was (re)loaded: for tests and the health page

    @classmethod
    def fixed(cls, index: LocateIndex) -> FollowedIndex:
        """An index never reloaded (a benchmark, a one-shot tool): fresh as long as nothing changes."""
        followed = cls()
        followed._index = index
        return followed

    def current(self) -> LocateIndex | None:
        """The index when it reflects every announced change, else None (ask the database)."""
        return self._index

    async def follow(self, conninfo: str, load: Callable[[], LocateIndex], **options: str) -> None:
        """Load, then reload after every announced change, until cancelled; reconnects after a drop."""
        while True:
            self._index = None  # whatever changed while not listening is unknown
            try:
                async with await psycopg.AsyncConnection.connect(
                    make_conninfo(conninfo, **options), autocommit=True
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    while True:
                        await self._settle(conn)
                        loaded = await asyncio.to_thread(load)
                        if await self._heard(conn, 0.0):
                            continue  # changed while loading: what was read may predate it
                        self._index = loaded
                        self.loads += 1
                        async for _ in conn.notifies(stop_after=1):
                            self._index = None  # stale from now: locate asks the database
            except (psycopg.OperationalError, LookupError) as error:  # LookupError: no hierarchy yet
                log.warning("locate index unavailable; locating through the database", error=str(error))
                await asyncio.sleep(RETRY_S)

    @classmethod
    async def _settle(cls, conn: psycopg.AsyncConnection) -> None:
        """Return once no announcement came for SETTLE_S (one reload for a burst of changes)."""
        while await cls._heard(conn, SETTLE_S):
            pass

    @staticmethod
    async def _heard(conn: psycopg.AsyncConnection, within_s: float) -> bool:
        """Whether any announcement arrives within ``within_s`` (0: already waiting to be read)."""
        heard = False
        async for _ in conn.notifies(timeout=within_s):
            heard = True
        return heard


def load_index(engine: Engine) -> LocateIndex:
    """The index from one consistent snapshot (the coverage and the units it names agree).

    Its ~100,000 objects (chains, units, buildings) live until the next boundary change: frozen out
    of the collector's way, as the start-up heap is (``api.app``), so a full collection during
    requests does not walk them (each did, in the locate benchmark's p99).
    """
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            index = LocateIndex.from_db(conn)
    gc.freeze()
    return index
