"""`cityops import`: another system's export of cases and their moves, checked, then written in one transaction.

The manifest's signature must hold and every part must match its size and SHA-256 (checked while the part
is read; a mismatch rolls everything back). Each line is checked against its record's schema
(``exchange.records``); the good lines are staged in temporary tables and the rest of the checks are
set-wise (``exchange/queries/bulk.py``): ids and numbers unique, categories and unit codes this city
knows, the point inside its grids, every case's moves one chain from 1 ending in the case's state. A case
failing a check is rejected with its line and the reason; the others land.

Idempotent by source id: the case's ``id`` becomes ``external_id``. A case already here gets only the
moves it has not got (after checking that the last move it has is the export's move of that number), so
importing the same export twice adds nothing and a later export adds what happened since. The moves keep
their source times and are chained into this city's own hash chain (``cityops audit verify`` stays clean),
each carrying the source and its hash there (``detail.exchange``); the case's routing trace names the
source; the import is one entry of the audit log with the manifest's hash and the signing key. Imported
cases raise no change events (the change log is this city's own work, as with the historic import).
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from psycopg import Connection
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ValidationError
from sqlalchemy import Engine

from exchange.changes import source
from exchange.publication_key import key_id, signature_holds
from exchange.queries import bulk as sql
from exchange.records import MANIFEST, PUBLIC_KEY, SIGNATURE, CaseRecord, Manifest, PartFile, TransitionRecord
from grid.locate import BatchLocator
from spatial.audit import RECORD_SQL, entry
from spatial.driver import psycopg_connection
from spatial.errors import InvalidInputError, problems_text
from spatial.rows import one

Progress = Callable[[str, float], None]
Rejects = list[tuple[str, int, str]]  # the file, the line, why
LOCATE_ROWS = 50_000  # cases located per batch (whole columns at once)
RESTATE_ROWS = 100_000  # from this many new cases the planner's statistics are restated at once


@dataclass(frozen=True)
class ImportedExchange:
    """What one import did."""

    source: str
    batch_id: int
    new_cases: int
    advanced_cases: int
    unchanged_cases: int
    rejected: int
    moves: int
    rejects_path: Path | None
    seconds: float


def read_manifest(directory: Path) -> tuple[Manifest, bytes, str]:
    """The export's manifest, its bytes and the public key it is signed with; InvalidInputError unless it holds."""
    paths = [directory / name for name in (MANIFEST, SIGNATURE, PUBLIC_KEY)]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise InvalidInputError(f"{directory} is not a cityops export: {', '.join(missing)} missing")
    body, signature, pem = paths[0].read_bytes(), paths[1].read_bytes(), paths[2].read_text()
    if not signature_holds(pem, body, signature):
        raise InvalidInputError(f"{SIGNATURE} does not hold for {MANIFEST} with {PUBLIC_KEY}: the export was altered")
    try:
        manifest = Manifest.model_validate_json(body)
    except ValidationError as error:
        raise InvalidInputError(f"{MANIFEST} is not a cityops-exchange/1 manifest: {_first_problem(error)}") from error
    return manifest, body, pem


def _first_problem(error: ValidationError) -> str:
    return problems_text(error.errors(include_url=False)[:1], whole="the line")


def _lines(directory: Path, part: PartFile) -> Iterator[tuple[int, bytes]]:
    """The part's lines (numbered from 1), checked against the manifest's size and SHA-256 once all are read."""
    path = directory / part.name
    if not path.is_file():
        raise InvalidInputError(f"{part.name} is listed in the manifest but missing")
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            digest.update(line)
            size += len(line)
            yield number, line
    if size != part.bytes or digest.hexdigest() != part.sha256:
        raise InvalidInputError(f"{part.name} does not match its manifest (size or SHA-256): the export was altered")


def _records(directory: Path, part: PartFile, model: type[BaseModel], rejects: Rejects) -> Iterator[tuple[int, Any]]:
    for number, line in _lines(directory, part):
        try:
            yield number, model.model_validate_json(line)
        except ValidationError as error:
            rejects.append((part.name, number, _first_problem(error)))


def _stage_cases(
    conn: Connection, directory: Path, parts: list[PartFile], locator: BatchLocator, rejects: Rejects
) -> None:
    """COPY every valid case line into ``exchange_case_in``, located in this city's grids batch by batch."""

    def flush(batch: list[tuple[str, int, CaseRecord]], copy: Any) -> None:
        lon = np.array([r.lon for _, _, r in batch])
        lat = np.array([r.lat for _, _, r in batch])
        grids, cells, interior = locator.locate_cells(lon, lat)
        for (part, line, r), grid, cell, inner in zip(batch, grids, cells, interior, strict=True):
            copy.write_row(
                (
                    part, line, r.id, r.number, r.category, r.severity, r.state, r.source, r.lon, r.lat,
                    r.address, r.description, r.filed_at, r.deadline, r.closed_at, r.created_at,
                    r.responsible_unit, r.grid, r.departments, r.handling_department, r.dispatched_at, r.version,
                    r.rule, int(grid) if grid >= 0 else None, int(cell), bool(inner),
                )
            )  # fmt: skip
        batch.clear()

    with conn.cursor().copy(sql.COPY_CASES_IN) as copy:
        batch: list[tuple[str, int, CaseRecord]] = []
        for part in parts:
            for line, record in _records(directory, part, CaseRecord, rejects):
                batch.append((part.name, line, record))
                if len(batch) >= LOCATE_ROWS:
                    flush(batch, copy)
        if batch:
            flush(batch, copy)


def _stage_transitions(conn: Connection, directory: Path, parts: list[PartFile], rejects: Rejects) -> None:
    with conn.cursor().copy(sql.COPY_TRANSITIONS_IN) as copy:
        for part in parts:
            for line, t in _records(directory, part, TransitionRecord, rejects):
                copy.write_row(
                    (
                        part.name, line, t.case, t.seq, t.action, t.from_state, t.to_state, t.actor, t.role, t.unit,
                        t.department, t.at, t.note, t.lon, t.lat, t.grid, t.due, t.deadline, t.since,
                        None if t.detail is None else Jsonb(t.detail), t.hash,
                    )
                )  # fmt: skip


def _write_moves(conn: Connection, city_source: str, progress: Progress) -> int:
    """Every move the cases here lack, one chain level at a time, the chain trigger paused for the transaction."""
    low, high = conn.execute(sql.MOVE_LEVELS).fetchone() or (None, None)
    if low is None:
        return 0
    conn.execute("ALTER TABLE case_transition DISABLE TRIGGER case_transition_chain")
    for seq in range(low, high + 1):
        conn.execute(sql.INSERT_MOVES, {"source": city_source, "seq": seq})
        progress("chaining moves", (seq - low + 1) / (high - low + 1))
    conn.execute("ALTER TABLE case_transition ENABLE TRIGGER case_transition_chain")
    return int(one(conn.execute(sql.COUNT_WRITTEN_MOVES).fetchone())[0])


def _write_rejects(rows: Rejects, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(("file", "line", "reason"))
        writer.writerows(sorted(rows))


def import_cases(
    engine: Engine,
    directory: Path,
    city: str,
    *,
    actor: str = "system",
    rejects_path: Path | None = None,
    progress: Progress = lambda *_: None,
) -> ImportedExchange:
    """Import the export in ``directory`` into ``city``'s database (``engine``, the owner); see the module."""
    began = datetime.now(UTC)
    manifest, body, pem = read_manifest(directory)
    if manifest.source == source(city):
        raise InvalidInputError(f"{directory} was exported by this city ({manifest.source}); nothing to import")
    rejects: Rejects = []
    with engine.connect() as sa_conn:
        locator = BatchLocator.from_db(sa_conn)
    raw = engine.raw_connection()
    try:
        conn = psycopg_connection(raw)
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('cityops:exchange-import'))")
            conn.execute(sql.STAGE)
            progress("reading cases", 0.0)
            _stage_cases(conn, directory, [f for f in manifest.files if f.type == "case.record"], locator, rejects)
            progress("reading moves", 0.0)
            _stage_transitions(conn, directory, [f for f in manifest.files if f.type == "case.transition"], rejects)
            progress("checking", 0.0)
            conn.execute(sql.INDEX_STAGED)
            for check in sql.CHECKS:
                conn.execute(check)
            conn.execute(sql.KNOWN)
            conn.execute(sql.DIVERGED)
            new, advanced, unchanged = one(conn.execute(sql.OUTCOMES).fetchone())
            rejects += [(part, line, reason) for part, line, reason in conn.execute(sql.REJECTED).fetchall()]
            digest = hashlib.sha256(body).hexdigest()
            batch_id = one(
                conn.execute(
                    "INSERT INTO import_batch (source, sha256, rows_read, rows_loaded, rows_rejected) "
                    "VALUES (%s, %s, %s, %s, %s) RETURNING id",
                    (f"{manifest.source} {directory.name}", digest, manifest.cases, new + advanced, len(rejects)),
                ).fetchone()
            )[0]
            resolution = locator.coverage.resolution
            conn.execute(sql.INSERT_CASES, {"batch": batch_id, "resolution": resolution, "source": manifest.source})
            moves = _write_moves(conn, manifest.source, progress)
            conn.execute(sql.ADVANCE_KNOWN)
            conn.execute(sql.OPEN_CLOCKS)
            detail: dict[str, object] = {"source": manifest.source, "key_id": key_id(pem), "manifest_sha256": digest}
            detail |= {"new": new, "advanced": advanced, "unchanged": unchanged, "moves": moves}
            detail |= {"rejected": len(rejects)}
            conn.execute(RECORD_SQL, entry(actor, "cases.imported", f"import_batch:{batch_id}", detail))
        if new >= RESTATE_ROWS:
            with conn.transaction():
                conn.execute("ANALYZE case_file, case_clock, case_transition")
    finally:
        raw.close()
    written_rejects = None
    if rejects:
        written_rejects = rejects_path or directory.with_name(directory.name + ".rejects.csv")
        _write_rejects(rejects, written_rejects)
    seconds = (datetime.now(UTC) - began).total_seconds()
    return ImportedExchange(
        manifest.source, batch_id, new, advanced, unchanged, len(rejects), moves, written_rejects, seconds
    )
