"""Importing one boundary file: read, check, write and re-index, all or nothing."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, text

from grid.coverage_store import rebuild_coverage
from spatial.audit import record
from spatial.boundary_file import ImportOptions, ParentBy, read_boundaries
from spatial.errors import TopologyError
from spatial.hierarchy import (
    check_import,
    deepest_tiling_tier,
    file_sha256,
    lock_hierarchy,
    record_version,
    refresh_ancestors,
    refresh_neighbours,
    require_known_tier,
    write_units,
)
from spatial.initials import fill_initials
from spatial.settings import StoreSettings
from spatial.tiers import UnitKind, parse_tier

Progress = Callable[[str, float], None]


@dataclass
class LoadReport:
    """What an import did, for the CLI table and the boundary_version record."""

    source: str
    tier: str
    kind: str
    features: int = 0
    inserted: int = 0
    updated: int = 0
    skipped: bool = False
    warnings: list[dict[str, object]] = field(default_factory=list)
    crossings: list[dict[str, object]] = field(default_factory=list)  # units crossing their parent's line
    coverage: dict[str, object] | None = None
    seconds: float = 0.0


def _unchanged(conn: Connection, options: ImportOptions, sha256: str) -> bool:
    newest = conn.execute(
        text(
            "SELECT sha256 FROM boundary_version WHERE tier = :tier AND report->>'kind' = :kind "
            "ORDER BY id DESC LIMIT 1"
        ),
        {"tier": options.tier.value, "kind": options.kind.value},
    ).scalar()
    return newest == sha256


def load_boundaries(
    conn: Connection,
    path: Path,
    options: ImportOptions,
    settings: StoreSettings,
    *,
    force: bool = False,
    finalise: bool = True,
    progress: Progress | None = None,
    actor: str = "system",
) -> LoadReport:
    """Load ``path`` as ``options.tier`` on ``conn`` (the caller owns the transaction); audited as ``actor``.

    Raises TopologyError, having written nothing, on any problem. Identical bytes loaded again
    are a no-op unless ``force``. ``finalise`` refreshes the derived caches (ancestors, chains)
    and, for the deepest tiling tier, rebuilds the H3 coverage in the same transaction, so locate
    never sees half an update; a manifest turns it off and finalises once after its last file.
    """
    started = time.perf_counter()
    step = progress or (lambda _stage, _fraction: None)
    report = LoadReport(str(path), options.tier.value, options.kind.value)
    require_known_tier(options)
    step("reading", 0.0)
    frame = read_boundaries(path, options, settings.max_import_mb)
    report.features = len(frame)
    sha256 = file_sha256(path)
    lock_hierarchy(conn)
    if not force and _unchanged(conn, options, sha256):
        report.skipped = True
        report.seconds = time.perf_counter() - started
        return report
    step("checking topology", 0.15)
    checked = check_import(conn, frame, options, settings.overlap_tolerance_m2)
    if checked.errors:
        raise TopologyError(checked.errors)
    report.warnings = [p.as_dict() for p in checked.warnings]
    report.crossings = [c.as_dict() for c in checked.crossings]
    step("writing units", 0.4)
    version = record_version(
        conn,
        options.tier,
        str(path),
        sha256,
        len(frame),
        {
            "kind": options.kind.value,
            "parent_by": options.parent_by.value,
            "warnings": report.warnings,
            "crossings": report.crossings,
        },
    )
    report.inserted, report.updated = write_units(conn, checked, options, version)
    record(
        conn,
        actor,
        "boundaries.loaded",
        f"boundary_version:{version}",
        tier=options.tier.value,
        file=path.name,
        sha256=sha256,
        inserted=report.inserted,
        updated=report.updated,
        crossings=len(report.crossings),
    )
    if finalise:
        refresh_ancestors(conn)
        fill_initials(conn)
        refresh_neighbours(conn)
        if options.kind is UnitKind.ADMINISTRATIVE:
            report.coverage = reindex_if_deepest(conn, options, settings, step)
    step("done", 1.0)
    report.seconds = time.perf_counter() - started
    return report


def reindex_if_deepest(
    conn: Connection, options: ImportOptions | None, settings: StoreSettings, step: Progress
) -> dict[str, object] | None:
    """Rebuild the coverage when the loaded tier is the one locate resolves to."""
    if options is not None and deepest_tiling_tier(conn) is not options.tier:
        return None
    step("indexing H3 cells", 0.5)
    return rebuild_coverage(conn, settings.h3_resolution, lambda f: step("indexing H3 cells", 0.5 + 0.5 * f))


def load_file(engine: Engine, path: Path, options: ImportOptions, settings: StoreSettings, **kwargs: Any) -> LoadReport:
    """``load_boundaries`` in a transaction of its own."""
    with engine.begin() as conn:
        return load_boundaries(conn, path, options, settings, **kwargs)


def load_manifest(
    engine: Engine,
    manifest: Path,
    settings: StoreSettings,
    progress: Progress | None = None,
) -> list[LoadReport]:
    """Load every file a manifest lists, in order, in one transaction, finalising once at the end.

    This is how the Nanjing demo is loaded: all tiers land together or not at all.
    """
    step = progress or (lambda _stage, _fraction: None)
    entries = json.loads(manifest.read_text())
    reports = []
    with engine.begin() as conn:
        for number, entry in enumerate(entries):
            options = ImportOptions(
                tier=parse_tier(entry["tier"]),
                kind=UnitKind(entry.get("kind", UnitKind.ADMINISTRATIVE.value)),
                parent_column=entry.get("parent_column"),
                members_column=entry.get("members_column"),
                parent_by=ParentBy(entry.get("parent_by", ParentBy.CONTAINMENT.value)),
            )
            share = 0.6 / len(entries)

            def file_step(
                stage: str, f: float, n: int = number, name: str = entry["file"], share: float = share
            ) -> None:
                step(f"{name}: {stage}", (n + f) * share)

            reports.append(
                load_boundaries(
                    conn,
                    manifest.parent / entry["file"],
                    options,
                    settings,
                    finalise=False,
                    progress=file_step,
                )
            )
        if not all(report.skipped for report in reports):
            refresh_ancestors(conn)
            fill_initials(conn)
            refresh_neighbours(conn)
            reports[-1].coverage = reindex_if_deepest(
                conn, None, settings, lambda stage, f: step(stage, 0.6 + 0.4 * (f - 0.5) * 2)
            )
    return reports
