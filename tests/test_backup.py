"""`cityops backup` / `cityops restore`: a city and its media, restored into a fresh data directory, proved equal."""

from __future__ import annotations

import json
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner

from cityops.app import create_app
from cityops.cli import app as cli
from command.backup import BackupError, Figures, media_path, read_figures, sha256_of
from command.restore import restore
from command.taxonomy import read_categories, write_categories
from command.users import create_api_key, create_user
from grid.load import load_file
from spatial.audit import verify
from spatial.boundary_file import ImportOptions
from spatial.db import make_engine
from spatial.embedded import EmbeddedCluster, free_port
from spatial.migrate import upgrade
from spatial.settings import StoreSettings
from spatial.tiers import Tier
from tests.conftest import QUIET_LOOP, api_settings, settings_for, tiny_png

runner = CliRunner()
SPOTS = [(118.7969, 32.0603), (118.7712, 32.0455)]  # 玄武区, 鼓楼区


@pytest.fixture(scope="module")
def source(cluster: EmbeddedCluster, data_dir: Path, db_port: int, nanjing_manifest: Path) -> Iterator[StoreSettings]:
    """A city database of its own: Nanjing down to its streets, the categories, and two reports with three photos."""
    name = f"t_backup_{uuid.uuid4().hex[:8]}"
    cluster.ensure_database(name)
    settings = settings_for(data_dir, db_port, name)
    engine = make_engine(settings)
    upgrade(engine)
    tiers = nanjing_manifest.parent
    for tier, file in ((Tier.CITY, "city"), (Tier.DISTRICT, "district"), (Tier.STREET, "street")):
        options = ImportOptions(tier=tier, parent_column=None if tier is Tier.CITY else "parent_code")
        load_file(engine, tiers / f"{file}.parquet", options, settings)
    with engine.begin() as conn:
        write_categories(conn, read_categories())
        create_user(conn, "reporter", unit_code="320100", roles=["integration"], password=None, actor="tests")
        key = create_api_key(conn, "reporter", "backup test", actor="tests")
    with TestClient(create_app(settings, api_settings(), loop_settings=QUIET_LOOP), headers={"X-API-Key": key}) as api:
        for number, (lon, lat) in enumerate(SPOTS):
            report = {
                "lon": lon,
                "lat": lat,
                "category": "010101",
                "source": "citizen_app",
                "description": f"井盖破损 {number}",
            }
            photos = [("media", (f"p{n}.png", tiny_png(number * 10 + n), "image/png")) for n in range(number + 1)]
            answer = api.post("/api/v1/reports", data={"report": json.dumps(report)}, files=photos)
            assert answer.status_code == 201, answer.text
    yield settings
    engine.dispose()
    cluster.drop_database(name)
    shutil.rmtree(settings.media_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def restored_port() -> int:
    return free_port(56500)


@pytest.fixture(scope="module")
def fresh_dir(restored_port: int) -> Iterator[Path]:
    """A fresh data directory (a second embedded cluster, started by the restore itself), stopped afterwards."""
    root = Path(tempfile.mkdtemp(prefix="cityops-restore-", dir="/tmp"))
    root.chmod(0o755)  # the service account walks down to it
    yield root / "data"
    if (root / "data" / "cluster.json").exists():
        EmbeddedCluster(settings_for(root / "data", restored_port, "restored")).stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def backup_dir(source: StoreSettings, tmp_path_factory: pytest.TempPathFactory, monkeypatch_module) -> Path:  # type: ignore[no-untyped-def]
    """`cityops backup DIR` of the source city."""
    target = tmp_path_factory.mktemp("backups") / "nanjing-backup"
    use(monkeypatch_module, source)
    result = runner.invoke(cli, ["backup", str(target)])
    assert result.exit_code == 0, result.output
    assert "manifest" in result.stdout
    return target


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def use(patch: pytest.MonkeyPatch, settings: StoreSettings) -> None:
    """The CLI's environment pointing at ``settings``' data directory and city."""
    for key, value in {
        "CITYOPS_DATA_DIR": str(settings.data_dir),
        "CITYOPS_CITY": settings.city,
        "CITYOPS_DB_PORT": str(settings.db_port),
        "CITYOPS_DB_DURABLE": "false",
    }.items():
        patch.setenv(key, value)
    patch.delenv("CITYOPS_DATABASE_URL", raising=False)


def figures_of(settings: StoreSettings, cluster: EmbeddedCluster) -> Figures:
    with psycopg.connect(cluster.url(settings.city, admin=True)) as conn:
        return read_figures(conn)


def audit_head(settings: StoreSettings) -> str | None:
    engine: Engine = make_engine(settings)
    try:
        with engine.connect() as conn:
            verdict = verify(conn)
    finally:
        engine.dispose()
    assert verdict.intact
    return verdict.head


def test_restore_into_a_fresh_data_directory_equals_the_source(
    source: StoreSettings,
    cluster: EmbeddedCluster,
    backup_dir: Path,
    fresh_dir: Path,
    restored_port: int,
    monkeypatch_module: pytest.MonkeyPatch,
) -> None:
    manifest = json.loads((backup_dir / "manifest.json").read_text())
    before = figures_of(source, cluster)
    assert before.counts["report"] == 2 and before.counts["media"] == 3 and before.counts["unit"] > 100
    assert manifest["counts"] == before.counts
    assert manifest["audit"]["head"] == audit_head(source) and manifest["audit"]["head"]
    assert manifest["database"]["migration_head"] == before.migration_head
    assert len(manifest["media"]) == 3

    target = settings_for(fresh_dir, restored_port, "restored")
    use(monkeypatch_module, target)
    result = runner.invoke(cli, ["restore", str(backup_dir)])
    assert result.exit_code == 0, result.output
    assert "verified" in result.stdout
    restored_cluster = EmbeddedCluster(target)
    after = figures_of(target, restored_cluster)
    assert after.counts == before.counts
    assert audit_head(target) == manifest["audit"]["head"]
    for entry in manifest["media"]:
        kept = media_path(target.media_dir, entry["sha256"])
        assert sha256_of(kept) == entry["sha256"] == sha256_of(media_path(source.media_dir, entry["sha256"]))

    again = runner.invoke(cli, ["restore", str(backup_dir)])  # over a database holding data: only with --force
    said = " ".join(again.output.split())
    assert again.exit_code == 1 and "'restored'" in said and "already holds data" in said and "--force" in said
    forced = runner.invoke(cli, ["restore", str(backup_dir), "--force"])
    assert forced.exit_code == 0, forced.output
    assert figures_of(target, restored_cluster).counts == before.counts


def _no_database(settings: StoreSettings, *names: str) -> bool:
    cluster = EmbeddedCluster(settings)
    with psycopg.connect(cluster.url(admin=True)) as conn:
        return conn.execute("SELECT count(*) FROM pg_database WHERE datname = ANY(%s)", [list(names)]).fetchone() == (
            0,
        )


def test_an_altered_media_file_is_refused_before_anything_is_written(
    backup_dir: Path, fresh_dir: Path, restored_port: int, tmp_path: Path
) -> None:
    damaged = Path(shutil.copytree(backup_dir, tmp_path / "damaged"))
    entry = json.loads((damaged / "manifest.json").read_text())["media"][0]
    with media_path(damaged / "media", entry["sha256"]).open("ab") as photo:
        photo.write(b"\x00")
    target = settings_for(fresh_dir, restored_port, "damaged_media")
    with pytest.raises(BackupError, match=f"media file {entry['sha256']} was altered"):
        restore(target, damaged)
    assert _no_database(target, "damaged_media", "damaged_media_restoring")
    assert not target.media_dir.exists()


def test_a_manifest_that_does_not_match_the_dump_is_refused(
    backup_dir: Path, fresh_dir: Path, restored_port: int, tmp_path: Path
) -> None:
    wrong = Path(shutil.copytree(backup_dir, tmp_path / "wrong"))
    manifest = json.loads((wrong / "manifest.json").read_text())
    manifest["counts"]["report"] += 1
    (wrong / "manifest.json").write_text(json.dumps(manifest))
    target = settings_for(fresh_dir, restored_port, "wrong_counts")
    with pytest.raises(BackupError, match="report: 2 rows restored, the manifest says 3"):
        restore(target, wrong)
    assert _no_database(target, "wrong_counts", "wrong_counts_restoring")  # nothing replaced, the scratch copy gone
    assert not target.media_dir.exists()
