"""Persisting the H3 coverage in PostGIS and reading it back for batch work."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import shapely
from sqlalchemy import Connection, text

from grid.coverage import Coverage, build_coverage, choose_resolution
from spatial.driver import psycopg_connection
from spatial.hierarchy import deepest_tiling_tier, unit_area_sample
from spatial.tiers import Tier


def rebuild_coverage(
    conn: Connection,
    resolution: int | None = None,
    progress: Callable[[float], None] | None = None,
) -> dict[str, object] | None:
    """Rebuild the cell → unit table for the deepest tiling tier; None when no units exist."""
    tier = deepest_tiling_tier(conn)
    if tier is None:
        return None
    rows = conn.execute(
        text("SELECT id, ST_AsBinary(geom) AS wkb FROM unit WHERE tier = :t AND kind = 'administrative' ORDER BY code"),
        {"t": tier.value},
    ).all()
    ids = np.asarray([r.id for r in rows], dtype=np.int64)
    geoms = shapely.from_wkb([bytes(r.wkb) for r in rows])
    chosen = resolution or choose_resolution(unit_area_sample(conn, tier))
    coverage = build_coverage(ids, geoms, chosen, progress)
    write_coverage(conn, coverage, tier)
    write_pieces(conn, tier)
    return {
        "tier": tier.value,
        "resolution": chosen,
        "interior_cells": coverage.interior_count,
        "boundary_cells": coverage.boundary_count,
    }


def write_coverage(conn: Connection, coverage: Coverage, tier: Tier) -> None:
    """Replace the table's content with ``coverage`` (inside the caller's transaction)."""
    conn.execute(text("TRUNCATE h3_cell"))
    raw = psycopg_connection(conn)
    offsets = coverage.candidate_offsets
    with (
        raw.cursor() as cursor,
        cursor.copy("COPY h3_cell (cell, unit_id, candidates) FROM STDIN") as copy,
    ):
        for index, (cell, owner) in enumerate(zip(coverage.cells.tolist(), coverage.owner.tolist(), strict=True)):
            if owner >= 0:
                copy.write_row((cell, owner, None))
            else:
                copy.write_row(
                    (
                        cell,
                        None,
                        coverage.candidate_ids[offsets[index] : offsets[index + 1]].tolist(),
                    )
                )
    conn.execute(
        text(
            "INSERT INTO h3_coverage (tier, resolution, interior_cells, boundary_cells, built_at) "
            "VALUES (:tier, :res, :interior, :boundary, now())"
        ),
        {
            "tier": tier.value,
            "res": coverage.resolution,
            "interior": coverage.interior_count,
            "boundary": coverage.boundary_count,
        },
    )
    conn.execute(text("ANALYZE h3_cell"))


def write_pieces(conn: Connection, tier: Tier, max_vertices: int = 64) -> None:
    """Cut the coverage tier into small pieces: what a boundary cell's exact test reads."""
    conn.execute(text("TRUNCATE unit_piece"))
    conn.execute(
        text(
            "INSERT INTO unit_piece (id, unit_id, geom) SELECT row_number() OVER (), id, piece FROM "
            "(SELECT id, ST_Subdivide(geom, :vertices) AS piece FROM unit WHERE tier = :t "
            " AND kind = 'administrative') pieces"
        ),
        {"t": tier.value, "vertices": max_vertices},
    )
    conn.execute(text("ANALYZE unit_piece"))


RESOLUTION_SQL = "SELECT resolution FROM h3_coverage ORDER BY id DESC LIMIT 1"


def current_resolution(conn: Connection) -> int | None:
    """Resolution of the coverage in force (None before any grid is loaded)."""
    return conn.execute(text(RESOLUTION_SQL)).scalar()


COVERAGE_ARRAYS_SQL = """
SELECT array_agg(cell ORDER BY cell), array_agg(coalesce(unit_id, -1) ORDER BY cell),
       array_agg(coalesce(cardinality(candidates), 0) ORDER BY cell),
       (SELECT array_agg(candidate ORDER BY cell, position)
        FROM h3_cell, unnest(candidates) WITH ORDINALITY AS c(candidate, position))
FROM h3_cell
"""


def read_coverage(conn: Connection) -> Coverage:
    """The stored coverage as arrays (for batch locate in this process)."""
    resolution = current_resolution(conn)
    if resolution is None:
        raise LookupError("no H3 coverage: load a hierarchy first")
    raw = psycopg_connection(conn)
    with raw.cursor(binary=True) as cursor:  # four arrays in binary: no per-row tuples to build
        cursor.execute(COVERAGE_ARRAYS_SQL)
        row = cursor.fetchone()
        assert row is not None  # aggregates: always one row
        cells, owner, counts, ids = row
    offsets = np.concatenate([[0], np.cumsum(np.asarray(counts, dtype=np.int64))]).astype(np.int64)
    return Coverage(
        resolution,
        np.asarray(cells, dtype=np.int64),
        np.asarray(owner, dtype=np.int64),
        offsets,
        np.asarray(ids or [], dtype=np.int64),
    )
