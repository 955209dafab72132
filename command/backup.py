"""`cityops backup DIR`: the city database and its media, consistent with each other, with a manifest.

Why ``pg_dump -Fd`` and not ``pg_basebackup``: a base backup copies the whole cluster (every
city's database, the roles, WAL) and comes back only as a whole data directory of the same
PostgreSQL major version. A city is one database: the directory format holds exactly it, is
restored into a fresh cluster of the same or a newer version, table by table and in parallel,
and works as well against an external PostGIS (``CITYOPS_DATABASE_URL``).

Consistency: one repeatable-read transaction exports its snapshot; the manifest's figures (the
row count of every table, the audit chain's head, the media list) are read in it, and pg_dump
dumps that very snapshot (``--snapshot``). The media files copied are the ones the snapshot's
``media`` table lists: a file written after it belongs to rows the dump does not hold. Each
file is hashed as it is copied, so a damaged file in the store stops the backup instead of
being carried into it. The manifest is written last: a directory without one is not a backup.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from spatial.audit import SEAL_SQL
from spatial.embedded import EmbeddedCluster, find_postgres
from spatial.errors import PlatformError
from spatial.rows import one
from spatial.settings import StoreSettings

Progress = Callable[[str, float], None]
FORMAT = 1
MANIFEST = "manifest.json"
DATABASE = "database"
MEDIA = "media"
CHUNK = 1 << 20
# every table of the schema with its rows (partitions count in their parent); the extension's own are PostGIS's
TABLES_SQL = """
SELECT c.relname FROM pg_class c
WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
ORDER BY c.relname
"""
LEAF_TABLES_SQL = """
SELECT count(*) FROM pg_class c
WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
"""
AUDIT_HEAD_SQL = (
    "SELECT count(*), (SELECT hash FROM audit_log WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1) "
    "FROM audit_log WHERE seq IS NOT NULL"
)


class BackupError(PlatformError):
    """A backup cannot be made, or a backup is damaged or does not match its manifest."""


@dataclass(frozen=True)
class Figures:
    """What a database holds, as a backup's manifest records it and a restore checks it."""

    counts: dict[str, int]
    audit_entries: int
    audit_head: str | None
    migration_head: str | None
    server_version: str
    postgis_version: str | None


@dataclass
class Manifest:
    """A backup's description: when, from what, and the figures the restored copy must show."""

    created_at: str
    city: str
    figures: Figures
    pg_dump: str
    database_files: dict[str, str] = field(default_factory=dict)  # path in the dump directory → SHA-256
    media: dict[str, int] = field(default_factory=dict)  # SHA-256 → size in bytes

    def as_json(self) -> dict[str, Any]:
        """The manifest file's content."""
        figures = self.figures
        return {
            "format": FORMAT,
            "created_at": self.created_at,
            "city": self.city,
            "database": {
                "server_version": figures.server_version,
                "postgis_version": figures.postgis_version,
                "pg_dump": self.pg_dump,
                "migration_head": figures.migration_head,
                "files": self.database_files,
            },
            "counts": figures.counts,
            "audit": {"entries": figures.audit_entries, "head": figures.audit_head},
            "media": [{"sha256": sha, "size_bytes": size} for sha, size in sorted(self.media.items())],
        }

    @classmethod
    def read(cls, directory: Path) -> Manifest:
        """The manifest of the backup in ``directory``; a BackupError saying what is wrong when there is none."""
        path = directory / MANIFEST
        if not path.is_file():
            raise BackupError(f"{directory}: no {MANIFEST}, so not a complete backup (a backup writes it last)")
        try:
            data = json.loads(path.read_text())
            database = data["database"]
            if data["format"] != FORMAT:
                raise BackupError(f"{path}: backup format {data['format']}, this version reads format {FORMAT}")
            figures = Figures(
                counts={str(k): int(v) for k, v in data["counts"].items()},
                audit_entries=int(data["audit"]["entries"]),
                audit_head=data["audit"]["head"],
                migration_head=database["migration_head"],
                server_version=database["server_version"],
                postgis_version=database["postgis_version"],
            )
            return cls(
                data["created_at"],
                data["city"],
                figures,
                database["pg_dump"],
                dict(database["files"]),
                {m["sha256"]: int(m["size_bytes"]) for m in data["media"]},
            )
        except (ValueError, KeyError, TypeError) as error:
            raise BackupError(f"{path} is damaged ({type(error).__name__}: {error})") from None


# ---- the database ------------------------------------------------------------------------------
def database_conninfo(settings: StoreSettings) -> str:
    """libpq connection string of the city database, as a role that reads every row (row-level security aside).

    The embedded cluster's superuser; an external database's configured owner.
    """
    if settings.database_url:
        return settings.database_url.replace("postgresql+psycopg://", "postgresql://")
    cluster = EmbeddedCluster(settings)
    if not cluster.status().running:
        raise BackupError(f"the embedded database in {cluster.data_dir} is not running: run `cityops db start`")
    return cluster.url(settings.city, admin=True)


def tool(name: str) -> Path:
    """A client program of the PostgreSQL installation the embedded cluster runs on (pg_dump, pg_restore)."""
    path = find_postgres().bindir / name
    if not path.exists():
        raise BackupError(f"{path} not found: install the PostgreSQL client programs of that version")
    return path


def tool_version(path: Path) -> str:
    """``pg_dump (PostgreSQL) 16.4`` and the like."""
    return subprocess.run([str(path), "--version"], capture_output=True, text=True, check=True).stdout.strip()


def client_login(conninfo: str) -> tuple[str, dict[str, str]]:
    """A client program's ``--dbname`` argument and environment: the password in PGPASSWORD, never on the
    command line others can read."""
    params = conninfo_to_dict(conninfo)
    password = params.pop("password", None)
    env = {**os.environ, "PGPASSWORD": str(password)} if password else dict(os.environ)
    return f"--dbname={make_conninfo('', **params)}", env


def run_with_progress(args: list[str], conninfo: str, marker: str, total: int, step: Callable[[float], None]) -> None:
    """Run a pg_dump/pg_restore (``--verbose``), counting its ``marker`` lines against ``total`` for the bar."""
    dbname, env = client_login(conninfo)
    process = subprocess.Popen([*args, "--verbose", dbname], stderr=subprocess.PIPE, text=True, env=env)
    tail: list[str]
    done, tail = 0, []
    assert process.stderr is not None
    for line in process.stderr:
        tail = [*tail[-20:], line.rstrip()]
        if marker in line:
            done += 1
            step(min(done / max(total, 1), 1.0))
    if process.wait() != 0:
        raise BackupError(f"{Path(args[0]).name} failed:\n" + "\n".join(tail))


def read_figures(conn: psycopg.Connection) -> Figures:
    """Row counts, audit head and versions, in the connection's current transaction (its snapshot)."""
    tables = [row[0] for row in conn.execute(TABLES_SQL)]
    counts = {table: int(one(conn.execute(f'SELECT count(*) FROM public."{table}"').fetchone())[0]) for table in tables}
    entries, head = conn.execute(AUDIT_HEAD_SQL).fetchone() or (0, None)
    migration = (
        conn.execute("SELECT version_num FROM alembic_version").fetchone() if "alembic_version" in counts else None
    )
    server = one(conn.execute("SHOW server_version").fetchone())[0]
    postgis = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'postgis'").fetchone()
    return Figures(
        counts, int(entries), head, migration[0] if migration else None, server, postgis[0] if postgis else None
    )


def file_hashes(directory: Path) -> dict[str, str]:
    """SHA-256 of every file below ``directory``, by path relative to it."""
    return {
        str(path.relative_to(directory)): sha256_of(path) for path in sorted(directory.rglob("*")) if path.is_file()
    }


# ---- media -------------------------------------------------------------------------------------
def sha256_of(path: Path) -> str:
    """The file's SHA-256, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def media_path(root: Path, sha256: str) -> Path:
    """Where the media store (``command.media.MediaStore``) and a backup keep a file."""
    return root / sha256[:2] / sha256


def copy_verified(source: Path, target: Path, sha256: str) -> None:
    """Copy ``source`` to ``target`` (whole or not at all), refusing a file whose content is not ``sha256``."""
    if not source.is_file():
        raise BackupError(f"media file {sha256} is missing ({source})")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    digest = hashlib.sha256()
    with source.open("rb") as reading, partial.open("wb") as writing:
        while chunk := reading.read(CHUNK):
            digest.update(chunk)
            writing.write(chunk)
    if digest.hexdigest() != sha256:
        partial.unlink()
        raise BackupError(f"media file {sha256} does not match its hash ({source} hashes to {digest.hexdigest()})")
    partial.replace(target)


def copy_media(media: dict[str, int], source: Path, target: Path, step: Callable[[float], None]) -> None:
    """Copy every listed file from one media root to another, each checked against its hash."""
    total, done = max(sum(media.values()), 1), 0
    for sha256, size in sorted(media.items()):
        copy_verified(media_path(source, sha256), media_path(target, sha256), sha256)
        done += size
        step(done / total)


# ---- the backup --------------------------------------------------------------------------------
def backup(settings: StoreSettings, target: Path, progress: Progress | None = None, jobs: int = 2) -> Manifest:
    """Back up the city database and its media into ``target`` (a new or empty directory)."""
    step = progress or (lambda _stage, _fraction: None)
    if target.exists() and any(target.iterdir()):
        raise BackupError(f"{target} is not empty: back up into a new directory")
    conninfo = database_conninfo(settings)
    pg_dump = tool("pg_dump")
    target.mkdir(parents=True, exist_ok=True)
    step("sealing the audit chain", 0.0)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(SEAL_SQL)  # entries committed so far join the chain, so the head covers them
    with psycopg.connect(conninfo) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        snapshot = one(conn.execute("SELECT pg_export_snapshot()").fetchone())[0]
        step("counting", 0.02)
        figures = read_figures(conn)
        media: dict[str, int] = (
            dict(conn.execute("SELECT sha256, size_bytes FROM media").fetchall()) if "media" in figures.counts else {}
        )
        leaves = int(one(conn.execute(LEAF_TABLES_SQL).fetchone())[0])
        run_with_progress(
            [
                str(pg_dump),
                "--format=directory",
                f"--jobs={jobs}",
                f"--snapshot={snapshot}",
                f"--file={target / DATABASE}",
            ],
            conninfo,
            "dumping contents of table",
            leaves,
            lambda f: step("dumping the database", 0.05 + 0.6 * f),
        )
        conn.rollback()
    copy_media(media, settings.media_dir, target / MEDIA, lambda f: step("copying media", 0.65 + 0.3 * f))
    step("hashing the dump", 0.95)
    manifest = Manifest(
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        city=settings.city,
        figures=figures,
        pg_dump=tool_version(pg_dump),
        database_files=file_hashes(target / DATABASE),
        media=media,
    )
    partial = target / (MANIFEST + ".partial")
    partial.write_text(json.dumps(manifest.as_json(), indent=2, ensure_ascii=False) + "\n")
    partial.replace(target / MANIFEST)
    step("done", 1.0)
    return manifest


def major_version(version: str) -> int:
    """16 from ``16.4 (Debian 16.4-1)`` or ``pg_dump (PostgreSQL) 16.4``."""
    found = re.search(r"(?:^|\) )(\d+)", version)
    if not found:
        raise BackupError(f"cannot read a PostgreSQL version from {version!r}")
    return int(found.group(1))
