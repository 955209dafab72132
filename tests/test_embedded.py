"""Embedded PostGIS lifecycle: idempotent start, stop, stale pid recovery, URLs, privileges."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine, text

from spatial import embedded
from spatial.embedded import EmbeddedCluster, free_port
from spatial.errors import EmbeddedDbError
from spatial.settings import sqlalchemy_url
from tests.conftest import settings_for


@pytest.fixture
def own_cluster() -> Iterator[EmbeddedCluster]:
    """A cluster of this test's own, so stopping it disturbs no other test."""
    root = Path(tempfile.mkdtemp(prefix="cityops-life-", dir="/tmp"))
    root.chmod(0o755)
    cluster = EmbeddedCluster(settings_for(root / "data", free_port(56432), "lifecycle"))
    yield cluster
    cluster.stop()
    shutil.rmtree(root, ignore_errors=True)


def test_start_is_idempotent_and_stop_stops(own_cluster: EmbeddedCluster) -> None:
    first = own_cluster.start()
    second = own_cluster.start()
    assert first.running and second.running
    assert first.pid == second.pid
    assert own_cluster.stop().running is False
    assert own_cluster.status().initialised is True
    third = own_cluster.start()
    assert third.running and third.pid != first.pid


def test_server_never_runs_as_root(own_cluster: EmbeddedCluster) -> None:
    status = own_cluster.start()
    uid_line = next(
        line for line in Path(f"/proc/{status.pid}/status").read_text().splitlines() if line.startswith("Uid:")
    )
    assert int(uid_line.split()[1]) != 0
    if os.geteuid() == 0:
        assert int(uid_line.split()[1]) == own_cluster._account().pw_uid


def test_stale_pid_file_is_recovered(own_cluster: EmbeddedCluster) -> None:
    status = own_cluster.start()
    os.kill(status.pid, signal.SIGKILL)  # the postmaster dies, leaving postmaster.pid behind
    deadline = time.monotonic() + 10
    while Path(f"/proc/{status.pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # let its children notice and exit
    assert (own_cluster.pgdata / "postmaster.pid").exists()
    assert own_cluster.status().running is False
    recovered = own_cluster.start()
    assert recovered.running and recovered.pid != status.pid


def test_pid_file_naming_a_foreign_live_process_is_stale(own_cluster: EmbeddedCluster) -> None:
    own_cluster.start()
    own_cluster.stop()
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        (own_cluster.pgdata / "postmaster.pid").write_text(f"{sleeper.pid}\n{own_cluster.pgdata}\n")
        assert own_cluster.status().running is False
        assert own_cluster.start().running
    finally:
        sleeper.kill()


def test_url_works_for_psql_and_sqlalchemy(cluster: EmbeddedCluster) -> None:
    url = cluster.ensure_database("urlcheck")
    result = subprocess.run(
        ["psql", url, "-tAc", "SELECT postgis_lib_version()"], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip().startswith("3.")
    engine = create_engine(sqlalchemy_url(url))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT current_user")).scalar_one() == "cityops"
        is_super = conn.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"))
        assert is_super.scalar_one() is False  # least privilege: row-level security will apply
    engine.dispose()
    cluster.drop_database("urlcheck")


def test_listens_on_loopback_only_with_passwords(cluster: EmbeddedCluster) -> None:
    url = cluster.url()
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(url.replace(url.split(":")[2].split("@")[0], "wrong"), connect_timeout=3)
    with psycopg.connect(cluster.url(admin=True)) as conn:
        listen = conn.execute("SHOW listen_addresses").fetchone()[0]
    assert listen == "127.0.0.1"


def test_missing_postgis_names_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(embedded, "PG_SHARE", tmp_path)  # a share directory without postgis.control
    with pytest.raises(EmbeddedDbError, match=r"apt-get install postgresql-\d+-postgis-3"):
        embedded.find_postgres()


def test_missing_postgresql_says_what_to_do(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(embedded, "PG_ROOT", tmp_path)
    with pytest.raises(EmbeddedDbError, match="CITYOPS_DATABASE_URL"):
        embedded.find_postgres()


UNPRIVILEGED = "cityops-tester"
LIFECYCLE = """
import sys
from pathlib import Path
from spatial.embedded import EmbeddedCluster
from spatial.settings import StoreSettings
cluster = EmbeddedCluster(StoreSettings(_env_file=None, data_dir=Path(sys.argv[1]), db_durable=False))
first, again = cluster.start(), cluster.start()
assert first.pid == again.pid, (first, again)
print(cluster.ensure_database("usercity"))
print(cluster.stop().running)
"""
PACKAGES = (
    "psycopg",
    "psycopg_binary",
    "psycopg_binary.libs",
    "pydantic",
    "pydantic_core",
    "pydantic_settings",
    "annotated_types",
    "typing_inspection",
    "dotenv",
    "typing_extensions.py",
)


@pytest.mark.skipif(os.geteuid() != 0, reason="run by an ordinary user, every test above is this path")
def test_an_ordinary_user_runs_the_cluster_as_itself() -> None:
    """Run as root (as CI does), the suite also proves the path of an ordinary user."""
    import pwd
    import site
    import sys

    if subprocess.run(["id", UNPRIVILEGED], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "--system", "--no-create-home", UNPRIVILEGED], check=True)
    python = shutil.which(f"python{sys.version_info.major}.{sys.version_info.minor}", path="/usr/bin:/usr/local/bin")
    assert python, f"no system python{sys.version_info.major}.{sys.version_info.minor} for the unprivileged run"
    root = Path(tempfile.mkdtemp(prefix="cityops-user-", dir="/tmp"))
    root.chmod(0o755)
    try:
        library = root / "lib"
        shutil.copytree(Path(__file__).resolve().parent.parent / "spatial", library / "spatial")
        source = Path(site.getsitepackages()[0])
        for name in PACKAGES:
            if (source / name).is_dir():
                shutil.copytree(source / name, library / name)
            elif (source / name).exists():
                shutil.copy(source / name, library / name)
        account = pwd.getpwnam(UNPRIVILEGED)
        data = root / "data"
        data.mkdir()
        os.chown(data, account.pw_uid, account.pw_gid)
        result = subprocess.run(
            [python, "-c", LIFECYCLE, str(data)],
            capture_output=True,
            text=True,
            timeout=120,
            user=account.pw_uid,
            group=account.pw_gid,
            extra_groups=[],
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(library), "HOME": str(root)},
        )
        assert result.returncode == 0, result.stderr[-2000:]
        url, running = result.stdout.split()
        assert url.startswith("postgresql://cityops:") and url.endswith("/usercity")
        assert running == "False"
        assert (data / "pg").stat().st_uid == account.pw_uid  # the user's own cluster, no service account
    finally:
        subprocess.run(["pkill", "-u", UNPRIVILEGED, "postgres"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
