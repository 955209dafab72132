"""A private PostgreSQL + PostGIS cluster in the platform's data directory.

Why our own cluster: a newcomer runs one command and gets a database without touching any system
cluster. The server never runs as root: under root every server command runs as an unprivileged
system account, created on first use. It listens on 127.0.0.1 only, with SCRAM passwords that
are generated at initialisation and kept in a file only the invoking user can read.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from spatial.errors import EmbeddedDbError
from spatial.settings import StoreSettings

ADMIN_ROLE = "cityops_admin"
APP_ROLE = "cityops"
API_ROLE = "cityops_api"  # what API connections act as: no ownership, row-level security applies
PG_ROOT = Path("/usr/lib/postgresql")
PG_SHARE = Path("/usr/share/postgresql")


@dataclass(frozen=True)
class PostgresInstall:
    """One installed PostgreSQL major version that has PostGIS."""

    version: int
    bindir: Path


@dataclass(frozen=True)
class ClusterStatus:
    """What ``cityops db status`` reports."""

    initialised: bool
    running: bool
    pid: int | None
    port: int | None
    pgdata: Path


def find_postgres() -> PostgresInstall:
    """Newest installed PostgreSQL server with PostGIS, or an error naming what to install."""
    versions = sorted(
        (int(p.name) for p in PG_ROOT.glob("*") if p.name.isdigit() and (p / "bin/initdb").exists()),
        reverse=True,
    )
    if not versions:
        raise EmbeddedDbError(
            "PostgreSQL server binaries not found under /usr/lib/postgresql: install them with "
            "`apt-get install postgresql postgresql-15-postgis-3` (or run `make up`), or set "
            "CITYOPS_DATABASE_URL to an existing PostGIS database"
        )
    for version in versions:
        if (PG_SHARE / str(version) / "extension" / "postgis.control").exists():
            return PostgresInstall(version, PG_ROOT / str(version) / "bin")
    raise EmbeddedDbError(
        f"PostGIS is not installed for PostgreSQL {versions[0]}: install it with "
        f"`apt-get install postgresql-{versions[0]}-postgis-3`"
    )


def port_is_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(preferred: int) -> int:
    """The preferred port when free, else one the kernel hands out."""
    if port_is_free(preferred):
        return preferred
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _process_is_postgres(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"postgres" in cmdline or b"postmaster" in cmdline


def service_account(name: str) -> pwd.struct_passwd:
    """The unprivileged system account the platform's processes run as under root, created when missing."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    nologin = "/usr/sbin/nologin" if Path("/usr/sbin/nologin").exists() else "/bin/false"
    result = subprocess.run(
        ["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent", "--shell", nologin, name],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise EmbeddedDbError(f"cannot create service account {name!r}: {result.stderr.strip()}")
    return pwd.getpwnam(name)


class EmbeddedCluster:
    """Lifecycle of the cluster under ``data_dir``: init, start, stop, status, URLs."""

    def __init__(self, settings: StoreSettings) -> None:
        self.settings = settings
        self.data_dir = settings.data_dir.resolve()
        self.pgdata = self.data_dir / "pg"
        self.state_file = self.data_dir / "cluster.json"
        self.log_file = self.data_dir / "postgres.log"
        self.as_root = os.geteuid() == 0

    # ---- state ------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """The stored port and passwords (and the replica's port, ``spatial.embedded_replica``)."""
        if not self.state_file.exists():
            raise EmbeddedDbError(f"no embedded cluster in {self.data_dir}: run `cityops db start` first")
        return json.loads(self.state_file.read_text())

    def save_state(self, state: dict[str, object]) -> None:
        """Write the state back, readable by the invoking user only."""
        self.state_file.write_text(json.dumps(state, indent=2))
        self.state_file.chmod(0o600)

    @property
    def port(self) -> int:
        """The port the cluster was configured with."""
        return int(self.state()["port"])

    def url(self, database: str | None = None, *, admin: bool = False, api: bool = False) -> str:
        """A libpq URL (psql accepts it; SQLAlchemy after ``sqlalchemy_url``): owner, admin or API role."""
        state = self.state()
        role, password = (
            (ADMIN_ROLE, state["admin_password"])
            if admin
            else (API_ROLE, state["api_password"])
            if api
            else (APP_ROLE, state["app_password"])
        )
        name = database or ("postgres" if admin else self.settings.city)
        return f"postgresql://{role}:{password}@127.0.0.1:{state['port']}/{name}"

    # ---- running commands as the service account ---------------------------------------------
    def _account(self) -> pwd.struct_passwd:
        return service_account(self.settings.service_account)

    def run_as_service(self, args: list[str], *, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run a PostgreSQL program as the service account (under root) in the data directory."""
        user: int | None = None
        group: int | None = None
        extra_groups: list[int] | None = None  # None (the default) keeps the caller's; [] drops root's groups
        if self.as_root:
            account = self._account()
            user, group, extra_groups = account.pw_uid, account.pw_gid, []
        env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8", "HOME": str(self.data_dir)}
        return subprocess.run(
            args,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=env,
            cwd=self.data_dir,
            user=user,
            group=group,
            extra_groups=extra_groups,
        )

    def hand_to_account(self, path: Path) -> None:
        """Give ``path`` to the service account (under root), which runs the cluster."""
        if self.as_root:
            account = self._account()
            os.chown(path, account.pw_uid, account.pw_gid)

    def _check_reachable(self) -> None:
        """Under root the service account must be able to walk down to the data directory."""
        if not self.as_root:
            return
        for parent in self.data_dir.parents:
            if not parent.stat().st_mode & 0o001:
                raise EmbeddedDbError(
                    f"the service account {self.settings.service_account!r} cannot enter "
                    f"{parent} (mode {oct(parent.stat().st_mode & 0o777)}); set "
                    "CITYOPS_DATA_DIR to a directory below a world-traversable path, "
                    "e.g. /var/lib/cityops"
                )

    # ---- lifecycle ---------------------------------------------------------------------------
    def initialised(self) -> bool:
        """True once initdb has run and the credentials are stored."""
        return (self.pgdata / "PG_VERSION").exists() and self.state_file.exists()

    def init(self) -> None:
        """Create the cluster (initdb) with generated passwords and our configuration."""
        install = find_postgres()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o755)
        self._check_reachable()
        if self.pgdata.exists():
            shutil.rmtree(self.pgdata)  # a half-made cluster from an interrupted init
        self.pgdata.mkdir(mode=0o700)
        self.hand_to_account(self.pgdata)
        state: dict[str, Any] = {
            "version": install.version,
            "port": free_port(self.settings.db_port),
            "admin_password": secrets.token_urlsafe(24),
            "app_password": secrets.token_urlsafe(24),
            "api_password": secrets.token_urlsafe(24),
        }
        pwfile = self.data_dir / ".initdb-pw"
        pwfile.write_text(str(state["admin_password"]))
        pwfile.chmod(0o600)
        self.hand_to_account(pwfile)
        try:
            result = self.run_as_service(
                [
                    str(install.bindir / "initdb"),
                    "-D",
                    str(self.pgdata),
                    "-U",
                    ADMIN_ROLE,
                    f"--pwfile={pwfile}",
                    "--auth=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--no-locale",
                ]
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise EmbeddedDbError(f"initdb failed: {result.stderr.strip()[-2000:]}")
        self.save_state(state)
        self._write_config(int(state["port"]))

    def _write_config(self, port: int) -> None:
        durable = self.settings.db_durable
        lines = [
            "listen_addresses = '127.0.0.1'",
            f"port = {port}",
            "unix_socket_directories = ''",
            "max_connections = 200",
            "shared_buffers = '256MB'",
            "work_mem = '32MB'",
            "maintenance_work_mem = '256MB'",
            "jit = off",
            f"fsync = {'on' if durable else 'off'}",
            f"synchronous_commit = {'on' if durable else 'off'}",
            f"full_page_writes = {'on' if durable else 'off'}",
        ]
        conf = self.pgdata / "cityops.conf"
        conf.write_text("\n".join(lines) + "\n")
        self.hand_to_account(conf)
        main_conf = self.pgdata / "postgresql.conf"
        if "include_if_exists = 'cityops.conf'" not in main_conf.read_text():
            with main_conf.open("a") as handle:
                handle.write("\ninclude_if_exists = 'cityops.conf'\n")

    def status(self) -> ClusterStatus:
        """Whether the cluster exists and runs; never raises for a missing cluster."""
        initialised = self.initialised()
        port = self.port if initialised else None
        pid = self._live_pid()
        return ClusterStatus(initialised, pid is not None, pid, port, self.pgdata)

    def _pid_file(self) -> Path:
        return self.pgdata / "postmaster.pid"

    def _live_pid(self) -> int | None:
        try:
            first_line = self._pid_file().read_text().splitlines()[0]
            pid = int(first_line)
        except (OSError, IndexError, ValueError):
            return None
        return pid if _process_is_postgres(pid) else None

    def start(self) -> ClusterStatus:
        """Start the cluster; a no-op when it runs, recovering a stale pid file when it died."""
        if not self.initialised():
            self.init()
        current = self.status()
        if current.running:
            self._ensure_app_role()  # a cluster started by an older version may lack a role
            return current
        self._pid_file().unlink(missing_ok=True)  # stale: its process is gone or not postgres
        port = self.port
        if not port_is_free(port):
            port = free_port(self.settings.db_port)
            state = self.state()
            state["port"] = port
            self.save_state(state)
        self._write_config(port)
        self.log_file.touch()
        self.hand_to_account(self.log_file)
        bindir = find_postgres().bindir
        result = self.run_as_service(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(self.pgdata),
                "-l",
                str(self.log_file),
                "-w",
                "-t",
                "60",
                "start",
            ]
        )
        if result.returncode != 0:
            tail = self.log_file.read_text(errors="replace")[-2000:]
            raise EmbeddedDbError(f"PostgreSQL did not start: {result.stderr.strip()}\n{tail}")
        self._wait_accepting()
        self._ensure_app_role()
        return self.status()

    def _wait_accepting(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.url(admin=True), connect_timeout=2):
                    return
            except psycopg.OperationalError as error:
                if time.monotonic() > deadline:
                    raise EmbeddedDbError(f"PostgreSQL does not accept connections: {error}") from None
                time.sleep(0.1)

    def stop(self) -> ClusterStatus:
        """Stop the cluster (fast mode: sessions are ended, nothing committed is lost)."""
        if not self.initialised() or self._live_pid() is None:
            return self.status()
        bindir = find_postgres().bindir
        result = self.run_as_service([str(bindir / "pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"])
        if result.returncode != 0:
            raise EmbeddedDbError(f"PostgreSQL did not stop: {result.stderr.strip()}")
        return self.status()

    # ---- databases ---------------------------------------------------------------------------
    def _ensure_app_role(self) -> None:
        """The owner role and the API role, each logging in with its own password.

        The API role is not a member of the owner nor the owner of it, so nothing a session of
        the API runs (``RESET ROLE`` included) lifts row-level security.
        """
        state = self.state()
        if "api_password" not in state:  # a cluster made before the API had its own login
            state["api_password"] = secrets.token_urlsafe(24)
            self.save_state(state)
        with psycopg.connect(self.url(admin=True), autocommit=True) as conn:
            for role, password in ((APP_ROLE, state["app_password"]), (API_ROLE, state["api_password"])):
                exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone()
                conn.execute(
                    sql.SQL("{} ROLE {} LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB PASSWORD {}").format(
                        sql.SQL("ALTER" if exists else "CREATE"), sql.Identifier(role), sql.Literal(str(password))
                    )
                )

    def ensure_database(self, name: str | None = None) -> str:
        """Create the city database (owned by the app role, PostGIS enabled); return its URL.

        PostGIS is created by the admin role here because CREATE EXTENSION needs a superuser,
        while the application itself connects as an ordinary role (row-level security applies).
        """
        database = name or self.settings.city
        with psycopg.connect(self.url(admin=True), autocommit=True) as conn:
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database])
            if found.fetchone() is None:
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(database), sql.Identifier(APP_ROLE))
                )
        with psycopg.connect(self.url(database, admin=True), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        return self.url(database)

    def drop_database(self, name: str) -> None:
        """Remove a city database (tests and `cityops db reset`)."""
        with psycopg.connect(self.url(admin=True), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
