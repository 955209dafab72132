"""`cityops restore DIR`: a backup back into the embedded cluster, proved equal before it replaces anything.

The backup is checked first — its manifest, every dump file and every media file against the
hash the manifest holds — so a damaged backup is refused before anything is written. The dump is
then restored into a scratch database beside the city's (``<city>_restoring``); its figures
must equal the manifest's (the rows of every table, the audit chain's head) and its audit chain
must verify. Only then is the media copied (each file hashed again as it is written) and the
scratch database renamed to the city's. A city database that already holds data is replaced
only with ``force``: a restore is meant for a fresh data directory, never to overwrite a live
city by a slip of the environment.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy import create_engine

from command.backup import (
    DATABASE,
    MEDIA,
    BackupError,
    Figures,
    Manifest,
    Progress,
    copy_media,
    file_hashes,
    major_version,
    media_path,
    read_figures,
    run_with_progress,
    sha256_of,
    tool,
    tool_version,
)
from spatial.audit import verify
from spatial.embedded import EmbeddedCluster
from spatial.rows import one
from spatial.settings import StoreSettings, sqlalchemy_url

USER_TABLES_SQL = "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'spatial_ref_sys'"


@dataclass(frozen=True)
class RestoreReport:
    """What a restore proved: the restored figures (equal to the manifest's) and the verified chain."""

    manifest: Manifest
    figures: Figures
    audit_entries_verified: int
    media_files: int


def check_backup(source: Path) -> Manifest:
    """The backup's manifest, once every dump file and media file matches the hash it records."""
    manifest = Manifest.read(source)
    dump = source / DATABASE
    found = file_hashes(dump) if dump.is_dir() else {}
    if not found:
        raise BackupError(f"{source}: no database dump ({DATABASE}/)")
    wrong = sorted(
        name
        for name in manifest.database_files.keys() | found.keys()
        if found.get(name) != manifest.database_files.get(name)
    )
    if wrong:
        raise BackupError(
            f"{source}: the database dump does not match its manifest (altered, missing or added): "
            f"{', '.join(wrong[:10])}"
        )
    for sha256 in sorted(manifest.media):
        path = media_path(source / MEDIA, sha256)
        if not path.is_file():
            raise BackupError(f"{source}: media file {sha256} is missing")
        if (actual := sha256_of(path)) != sha256:
            raise BackupError(f"{source}: media file {sha256} was altered (its content hashes to {actual})")
    return manifest


def differences(manifest: Manifest, restored: Figures) -> list[str]:
    """Where the restored database differs from what the manifest recorded (empty: equal)."""
    expected = manifest.figures
    found = [
        f"{table}: {restored.counts.get(table, 'no table, so no')} rows restored, the manifest says {count}"
        for table, count in expected.counts.items()
        if restored.counts.get(table) != count
    ]
    found += [
        f"{table}: restored, but not in the manifest" for table in restored.counts.keys() - expected.counts.keys()
    ]
    if restored.audit_head != expected.audit_head:
        found.append(f"audit chain head {restored.audit_head} restored, the manifest says {expected.audit_head}")
    return found


def _tables_in(cluster: EmbeddedCluster, database: str) -> int | None:
    """How many tables of ours the database holds (None: no such database)."""
    with psycopg.connect(cluster.url(admin=True), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone() is None:
            return None
    with psycopg.connect(cluster.url(database, admin=True)) as conn:
        return int(one(conn.execute(USER_TABLES_SQL).fetchone())[0])


def _prove(cluster: EmbeddedCluster, database: str, manifest: Manifest) -> tuple[Figures, int]:
    """The restored figures, equal to the manifest's, and the number of audit entries verified."""
    with psycopg.connect(cluster.url(database, admin=True)) as conn:
        figures = read_figures(conn)
    if found := differences(manifest, figures):
        raise BackupError(
            "the restored database does not match the backup's manifest, so nothing was replaced:\n  "
            + "\n  ".join(found)
        )
    engine = create_engine(sqlalchemy_url(cluster.url(database, admin=True)))
    try:
        with engine.connect() as conn:
            verdict = verify(conn)
    finally:
        engine.dispose()
    if not verdict.intact:
        raise BackupError(f"the restored audit chain is broken at entry {verdict.first_bad}: {verdict.reason}")
    return figures, verdict.entries


def restore(
    settings: StoreSettings, source: Path, *, force: bool = False, progress: Progress | None = None, jobs: int = 2
) -> RestoreReport:
    """Restore the backup in ``source`` as the city database of the embedded cluster, and its media."""
    step = progress or (lambda _stage, _fraction: None)
    if settings.database_url:
        raise BackupError(
            "CITYOPS_DATABASE_URL is set: `cityops restore` fills the embedded cluster; restore an "
            "external database with pg_restore from the backup's database/ directory"
        )
    step("checking the backup", 0.0)
    manifest = check_backup(source)
    pg_restore = tool("pg_restore")
    ours, theirs = major_version(tool_version(pg_restore)), major_version(manifest.figures.server_version)
    if theirs > ours:
        raise BackupError(f"the backup comes from PostgreSQL {theirs}; this machine's is {ours}: install {theirs}")
    cluster = EmbeddedCluster(settings)
    cluster.start()
    city = settings.city
    existing = _tables_in(cluster, city)
    if existing and not force:
        raise BackupError(
            f"database {city!r} in {cluster.data_dir} already holds data ({existing} tables): restore "
            "into a fresh data directory (CITYOPS_DATA_DIR), or pass --force to replace it"
        )
    scratch = f"{city}_restoring"
    cluster.drop_database(scratch)  # left by an interrupted restore
    cluster.ensure_database(scratch)
    try:
        listing = data_entries(pg_restore, source / DATABASE)
        run_with_progress(
            [str(pg_restore), f"--jobs={jobs}", "--exit-on-error", str(source / DATABASE)],
            cluster.url(scratch, admin=True),
            "processing data for table",
            listing,
            lambda f: step("restoring the database", 0.1 + 0.6 * f),
        )
        step("comparing with the manifest", 0.7)
        figures, verified = _prove(cluster, scratch, manifest)
    except BaseException:
        cluster.drop_database(scratch)
        raise
    copy_media(manifest.media, source / MEDIA, settings.media_dir, lambda f: step("copying media", 0.75 + 0.2 * f))
    with psycopg.connect(cluster.url(admin=True), autocommit=True) as conn:
        if existing is not None:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(city)))
        conn.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(scratch), sql.Identifier(city)))
    step("done", 1.0)
    return RestoreReport(manifest, figures, verified, len(manifest.media))


def data_entries(pg_restore: Path, dump: Path) -> int:
    """How many tables' data the dump holds (``pg_restore --list``), for the progress bar."""
    listing = subprocess.run([str(pg_restore), "--list", str(dump)], capture_output=True, text=True, check=False)
    return sum(" TABLE DATA " in line for line in listing.stdout.splitlines())
