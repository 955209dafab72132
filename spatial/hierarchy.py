"""The hierarchy in the store: reading units, checking an import against them, writing it.

Everything here runs on one connection inside the caller's transaction, so an import that
fails any check, or fails half-way through writing, leaves the store as it was.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Connection, text

from spatial.boundary_file import ImportOptions, ParentBy
from spatial.driver import psycopg_connection
from spatial.errors import InvalidInputError, Problem
from spatial.measure import areas_m2
from spatial.tiers import Tier, UnitKind
from spatial.topology import (
    CheckContext,
    Crossing,
    check_crossings,
    check_gaps,
    check_inside_parents,
    check_members_union,
    check_sibling_overlaps,
    check_validity,
    detect_swapped_axes,
    parent_shares,
)


@dataclass
class CheckedImport:
    """A frame ready to write, with what the checks found (and the accepted crossings of parents' lines)."""

    frame: gpd.GeoDataFrame
    errors: list[Problem]
    warnings: list[Problem]
    parent_tier: Tier | None
    crossings: list[Crossing] = field(default_factory=list)


def file_sha256(path: Path) -> str:
    """Content hash, so loading the same file twice is recognised and skipped."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def lock_hierarchy(conn: Connection) -> None:
    """Serialise imports: two loads of neighbouring tiers must not check against stale data."""
    conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('cityops.hierarchy'))"))


def parent_tier_present(conn: Connection, tier: Tier) -> Tier | None:
    """The deepest administrative tier above ``tier`` that has units (tiers may be skipped)."""
    value = conn.execute(
        text("SELECT max(tier) FROM unit WHERE kind = 'administrative' AND tier < :tier"),
        {"tier": tier.value},
    ).scalar()
    return Tier(value) if value else None


def fetch_units(conn: Connection, tier: Tier, *, kind: UnitKind = UnitKind.ADMINISTRATIVE) -> gpd.GeoDataFrame:
    """Units of one tier with their parent codes, as a GeoDataFrame in WGS84."""
    query = text(
        "SELECT u.id, u.code, u.name, p.code AS parent_code, u.geom FROM unit u "
        "LEFT JOIN unit p ON p.id = u.admin_parent_id "
        "WHERE u.tier = :tier AND u.kind = :kind ORDER BY u.code"
    )
    return gpd.read_postgis(
        query, conn, geom_col="geom", params={"tier": tier.value, "kind": kind.value}
    ).rename_geometry("geometry")


def check_import(
    conn: Connection, frame: gpd.GeoDataFrame, options: ImportOptions, tolerance_m2: float
) -> CheckedImport:
    """Every check of the issue: validity, parents, spill-over, overlaps, gaps, members."""
    ctx = CheckContext(tolerance_m2)
    frame, validity = check_validity(frame, options.repair)
    if not options.repair and validity:
        return CheckedImport(frame, validity, [], None)
    warnings = validity
    parent_tier = parent_tier_present(conn, options.tier)
    if options.kind is UnitKind.MANAGEMENT:
        return _check_management(conn, frame, options, ctx, warnings, parent_tier)
    errors: list[Problem] = []
    crossings: list[Crossing] = []
    parents = fetch_units(conn, parent_tier) if parent_tier else None
    if parent_tier and parents is not None and len(parents):
        shares = parent_shares(frame, parents) if options.parent_by is ParentBy.MAJORITY else None
        frame, errors = _link_parents(frame, parents, options, parent_tier, shares)
        if errors:
            return CheckedImport(frame, errors, warnings, parent_tier)
        if shares is None:
            errors += check_inside_parents(frame, parents, ctx)
        else:
            errors, crossings = check_crossings(frame, parents, shares, ctx)
    else:
        frame = frame.assign(parent_code=pd.NA)
    siblings = _with_existing_siblings(conn, frame, options.tier)
    errors += check_sibling_overlaps(siblings, ctx)
    if parents is not None and len(parents) and options.tier.tiles_parent:
        errors += check_gaps(siblings, parents, ctx, crossings)
    return CheckedImport(frame, errors, warnings, parent_tier, crossings)


def _link_parents(
    frame: gpd.GeoDataFrame,
    parents: gpd.GeoDataFrame,
    options: ImportOptions,
    parent_tier: Tier,
    shares: pd.DataFrame | None = None,
) -> tuple[gpd.GeoDataFrame, list[Problem]]:
    """Each unit's parent: named in the file, else the one holding most of it (``shares``) or its inner point."""
    if options.parent_column:
        unknown = ~frame.parent_code.isin(parents.code)
        return frame, [
            Problem("unknown_parent", f"{code}: parent {parent!r} is not a loaded {parent_tier} unit", (code,))
            for code, parent in zip(frame.code[unknown], frame.parent_code[unknown], strict=True)
        ]
    if shares is not None:
        largest = shares.drop_duplicates("code").set_index("code").parent
        frame = frame.assign(parent_code=largest.reindex(frame.code).astype("string").values)
    else:
        points = gpd.GeoDataFrame({"code": frame.code}, geometry=frame.geometry.representative_point(), crs=4326)
        joined = gpd.sjoin(points, parents[["code", "geometry"]], predicate="within", how="left")
        joined = joined[~joined.index.duplicated()]
        frame = frame.assign(parent_code=joined["code_right"].astype("string").values)
    orphans = frame.parent_code.isna()
    if not orphans.any():
        return frame, []
    if detect_swapped_axes(frame, parents):
        return frame, [
            Problem(
                "swapped_axes",
                "no unit falls inside the loaded "
                f"{parent_tier} units, but they would with x and y swapped: the "
                "file's axes look like (lat, lon); pass --swap-axes",
            )
        ]
    return frame, [
        Problem("outside_parent", f"{code} is not inside any loaded {parent_tier} unit", (code,))
        for code in frame.code[orphans]
    ]


def _with_existing_siblings(conn: Connection, frame: gpd.GeoDataFrame, tier: Tier) -> gpd.GeoDataFrame:
    existing = fetch_units(conn, tier)
    existing = existing[~existing.code.isin(frame.code)]
    if existing.empty:
        return frame
    return pd.concat(
        [frame[["code", "parent_code", "geometry"]], existing[["code", "parent_code", "geometry"]]],
        ignore_index=True,
    )


def _check_management(
    conn: Connection,
    frame: gpd.GeoDataFrame,
    options: ImportOptions,
    ctx: CheckContext,
    warnings: list[Problem],
    parent_tier: Tier | None,
) -> CheckedImport:
    member_tier = list(Tier)[options.tier.depth + 1]
    candidates = fetch_units(conn, member_tier)
    errors: list[Problem] = []
    for unit in frame.itertuples():
        codes = [c.strip() for c in unit.members.split(",") if c.strip()]
        missing = sorted(set(codes) - set(candidates.code))
        if missing or not codes:
            errors.append(
                Problem(
                    "unknown_member",
                    f"{unit.code}: members not loaded as {member_tier}: {', '.join(missing) or '(none listed)'}",
                    (unit.code,),
                )
            )
            continue
        errors += check_members_union(unit, candidates[candidates.code.isin(codes)], ctx)
    if parent_tier and options.parent_column:
        parents = fetch_units(conn, parent_tier)
        frame, linking = _link_parents(frame, parents, options, parent_tier)
        errors += linking
    return CheckedImport(frame, errors, warnings, parent_tier)


def record_version(
    conn: Connection, tier: Tier, source: str, sha256: str, count: int, report: dict[str, object]
) -> int:
    """A new boundary version; units whose geometry changes point at it."""
    return int(
        conn.execute(
            text(
                "INSERT INTO boundary_version (tier, source, sha256, unit_count, report, loaded_at) "
                "VALUES (:tier, :source, :sha, :count, CAST(:report AS jsonb), now()) RETURNING id"
            ),
            {
                "tier": tier.value,
                "source": source,
                "sha": sha256,
                "count": count,
                "report": json.dumps(report, ensure_ascii=False),
            },
        ).scalar_one()
    )


STAGE_COLUMNS = "code, name, parent_code, wkb, area_m2, synthetic, properties, members"


def write_units(conn: Connection, checked: CheckedImport, options: ImportOptions, version_id: int) -> tuple[int, int]:
    """Upsert by code through a COPY-filled staging table; returns (inserted, updated)."""
    frame = checked.frame
    area = areas_m2(frame.geometry.values)
    conn.execute(
        text(
            "CREATE TEMP TABLE unit_stage (code text, name text, parent_code text, wkb bytea, "
            "area_m2 float8, synthetic bool, properties jsonb, members text) ON COMMIT DROP"
        )
    )
    raw = psycopg_connection(conn)
    with (
        raw.cursor() as cursor,
        cursor.copy(f"COPY unit_stage ({STAGE_COLUMNS}) FROM STDIN") as copy,
    ):
        for row, wkb, metres in zip(frame.itertuples(), shapely.to_wkb(frame.geometry.values), area, strict=True):
            parent = None if pd.isna(row.parent_code) else row.parent_code
            copy.write_row(
                (
                    row.code,
                    row.name,
                    parent,
                    wkb,
                    float(metres),
                    bool(row.synthetic),
                    json.dumps(row.properties, ensure_ascii=False),
                    row.members,
                )
            )
    management = options.kind is UnitKind.MANAGEMENT
    result = conn.execute(
        text("""
        INSERT INTO unit (code, name, tier, kind, parent_id, admin_parent_id, ancestors, chain,
                          has_buildings, geom, area_m2, synthetic, boundary_version_id, properties)
        SELECT s.code, s.name, :tier, :kind, p.id, CASE WHEN :management THEN NULL ELSE p.id END,
               '{}', '[]', false, ST_Multi(ST_GeomFromWKB(s.wkb, 4326)), s.area_m2, s.synthetic, :version,
               s.properties
        FROM unit_stage s LEFT JOIN unit p ON p.code = s.parent_code
        ON CONFLICT (code) DO UPDATE SET
            name = EXCLUDED.name, tier = EXCLUDED.tier, kind = EXCLUDED.kind,
            parent_id = CASE WHEN (SELECT m.kind FROM unit m WHERE m.id = unit.parent_id)
                                  = 'management' AND NOT :management
                             THEN unit.parent_id ELSE EXCLUDED.parent_id END,
            admin_parent_id = EXCLUDED.admin_parent_id,
            geom = EXCLUDED.geom, area_m2 = EXCLUDED.area_m2, synthetic = EXCLUDED.synthetic,
            properties = EXCLUDED.properties,
            boundary_version_id = CASE WHEN ST_Equals(unit.geom, EXCLUDED.geom)
                                       THEN unit.boundary_version_id
                                       ELSE EXCLUDED.boundary_version_id END
        RETURNING (xmax = 0) AS inserted
        """),
        {"tier": options.tier.value, "kind": options.kind.value, "management": management, "version": version_id},
    ).all()
    if management:
        conn.execute(
            text("""
            UPDATE unit m SET parent_id = g.id
            FROM unit_stage s JOIN unit g ON g.code = s.code,
                 LATERAL unnest(string_to_array(s.members, ',')) AS member(code)
            WHERE m.code = trim(member.code)
        """)
        )
    conn.execute(text("DROP TABLE unit_stage"))  # a manifest loads several files in one transaction
    inserted = sum(1 for row in result if row.inserted)
    return inserted, len(result) - inserted


def refresh_ancestors(conn: Connection) -> None:
    """Cache every unit's ancestors along both links (management and administrative).

    Also caches the chain as JSON (ancestors, then the unit itself) for locate to return as is;
    recomputed for every unit, since renaming one district changes thousands of chains. Then the
    planner's statistics of ``unit`` are restated, as the hierarchy has just changed under them.
    """
    conn.execute(
        text("""
        WITH RECURSIVE edge(child, parent) AS (
            SELECT id, parent_id FROM unit WHERE parent_id IS NOT NULL
            UNION SELECT id, admin_parent_id FROM unit WHERE admin_parent_id IS NOT NULL
        ), up(id, ancestor) AS (
            SELECT child, parent FROM edge
            UNION SELECT up.id, edge.parent FROM up JOIN edge ON edge.child = up.ancestor
        ), chains AS (
            SELECT up.id, array_agg(up.ancestor ORDER BY a.tier, a.kind DESC, a.code) AS ancestors
            FROM up JOIN unit a ON a.id = up.ancestor GROUP BY up.id
        )
        UPDATE unit SET ancestors = coalesce(chains.ancestors, '{}')
        FROM unit u LEFT JOIN chains ON chains.id = u.id
        WHERE unit.id = u.id AND unit.ancestors IS DISTINCT FROM coalesce(chains.ancestors, '{}')
    """)
    )
    conn.execute(
        text("""
        UPDATE unit u SET
            chain = (SELECT json_agg(json_build_object('code', a.code, 'name', a.name, 'tier', a.tier,
                                                       'kind', a.kind, 'synthetic', a.synthetic)
                                     ORDER BY x.n)
                     FROM unnest(u.ancestors || u.id) WITH ORDINALITY AS x(id, n)
                     JOIN unit a ON a.id = x.id),
            has_buildings = EXISTS (SELECT 1 FROM unit b WHERE b.parent_id = u.id AND b.tier = 'building')
    """)
    )
    # the statistics follow at once: a freshly loaded city planned `ancestors @>` as one grid of 9,640
    conn.execute(text("ANALYZE unit"))


def refresh_neighbours(conn: Connection) -> None:
    """Recompute which units share a boundary (``unit_neighbour``), after boundaries change.

    Dispatch prefers a neighbouring unit's forces after the responsible unit's own; testing
    polygons for contact takes half a second for Nanjing, too slow to do per recommendation.
    """
    conn.execute(text("REFRESH MATERIALIZED VIEW unit_neighbour"))


def deepest_tiling_tier(conn: Connection) -> Tier | None:
    """The finest administrative tier that tiles the city: what locate resolves to."""
    value = conn.execute(
        text("SELECT max(tier) FROM unit WHERE kind = 'administrative' AND tier <> 'building'")
    ).scalar()
    return Tier(value) if value else None


def unit_area_sample(conn: Connection, tier: Tier) -> np.ndarray:
    """Areas of a tier's units, to size the H3 coverage."""
    rows = conn.execute(text("SELECT area_m2 FROM unit WHERE tier = :t"), {"t": tier.value})
    return np.asarray([r.area_m2 for r in rows], dtype=float)


def require_known_tier(options: ImportOptions) -> None:
    """Management units exist only at district tier in this model (江北新区)."""
    if options.kind is UnitKind.MANAGEMENT and options.tier is not Tier.DISTRICT:
        raise InvalidInputError("management units are loaded at --tier district")
