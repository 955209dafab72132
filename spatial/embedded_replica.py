"""``cityops db replica``: a hot standby of the embedded cluster, fed by streaming replication.

Made with ``pg_basebackup`` from the running primary (its default ``pg_hba.conf`` lets the local
superuser replicate) into ``data_dir/replica``, and started on its own port with
``standby.signal``: every committed change reaches it within milliseconds, and it answers
read-only queries meanwhile. The API reads from it through ``spatial.read_replica``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass

import psycopg

from spatial.embedded import ADMIN_ROLE, EmbeddedCluster, find_postgres, free_port, port_is_free
from spatial.errors import EmbeddedDbError
from spatial.settings import StoreSettings


@dataclass(frozen=True)
class ReplicaStatus:
    """What ``cityops db replica status`` reports."""

    running: bool
    port: int | None
    replay_lag_bytes: int | None  # how far its replay trails the primary's WAL


class EmbeddedReplica:
    """The standby of one embedded cluster: its data directory, port and lifecycle."""

    def __init__(self, settings: StoreSettings) -> None:
        self.primary = EmbeddedCluster(settings)
        self.pgdata = self.primary.data_dir / "replica"
        self.log_file = self.primary.data_dir / "replica.log"

    @property
    def port(self) -> int | None:
        """The port recorded in the cluster's state, or None before the first start."""
        found = self.primary.state().get("replica_port")
        return int(found) if found is not None else None

    def url(self, database: str | None = None, *, admin: bool = False, api: bool = False) -> str:
        """The primary's URL of that role, pointed at the replica's port."""
        if self.port is None:
            raise EmbeddedDbError("no embedded replica: run `cityops db replica start` first")
        primary = self.primary.url(database, admin=admin, api=api)
        return primary.replace(f":{self.primary.port}/", f":{self.port}/", 1)

    def start(self) -> ReplicaStatus:
        """Copy the running primary (first time), then start the standby; a no-op when it runs."""
        if not self.primary.status().running:
            raise EmbeddedDbError("the embedded primary is not running: run `cityops db start` first")
        if self._running():
            return self.status()
        if not (self.pgdata / "standby.signal").exists():
            self._copy_primary()
        port = self.port if self.port is not None and port_is_free(self.port) else free_port(self.primary.port + 1)
        state = self.primary.state()
        state["replica_port"] = port
        self.primary.save_state(state)
        self._write_config(port, state["admin_password"])
        self.log_file.touch()
        self.primary.hand_to_account(self.log_file)
        pg_ctl = find_postgres().bindir / "pg_ctl"
        started = self.primary.run_as_service(
            [str(pg_ctl), "-D", str(self.pgdata), "-l", str(self.log_file), "-w", "-t", "60", "start"]
        )
        if started.returncode != 0:
            tail = self.log_file.read_text(errors="replace")[-2000:]
            raise EmbeddedDbError(f"the replica did not start: {started.stderr.strip()}\n{tail}")
        return self.status()

    def stop(self) -> ReplicaStatus:
        """Stop the standby (its data stays: the next start resumes streaming from where it was)."""
        if self._running():
            pg_ctl = find_postgres().bindir / "pg_ctl"
            stopped = self.primary.run_as_service([str(pg_ctl), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"])
            if stopped.returncode != 0:
                raise EmbeddedDbError(f"the replica did not stop: {stopped.stderr.strip()}")
        return self.status()

    def status(self) -> ReplicaStatus:
        """Running or not, and how many bytes of WAL it has yet to replay (asked of the primary)."""
        if not self._running():
            return ReplicaStatus(False, self.port, None)
        with psycopg.connect(self.primary.url(admin=True), autocommit=True) as conn:
            row = conn.execute(
                "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint FROM pg_stat_replication"
            ).fetchone()
        return ReplicaStatus(True, self.port, int(row[0]) if row and row[0] is not None else None)

    def _running(self) -> bool:
        pid_file = self.pgdata / "postmaster.pid"
        if not pid_file.exists() or self.port is None:
            return False
        try:
            with psycopg.connect(self.url(admin=True), connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def _copy_primary(self) -> None:
        if self.pgdata.exists():
            shutil.rmtree(self.pgdata)  # a half-made copy from an interrupted start
        self.pgdata.mkdir(mode=0o700)
        self.primary.hand_to_account(self.pgdata)
        basebackup = find_postgres().bindir / "pg_basebackup"
        password = self.primary.state()["admin_password"]
        copied = self.primary.run_as_service(
            [
                str(basebackup),
                "--pgdata",
                str(self.pgdata),
                f"--dbname=host=127.0.0.1 port={self.primary.port} user={ADMIN_ROLE} password={password}",
                "--wal-method=stream",
                "--write-recovery-conf",
                "--checkpoint=fast",
                "--no-sync",  # a standby made again from the primary if the machine falls over meanwhile
            ],
            timeout=3600,
        )
        if copied.returncode != 0:
            shutil.rmtree(self.pgdata, ignore_errors=True)
            raise EmbeddedDbError(f"pg_basebackup failed: {copied.stderr.strip()[-2000:]}")

    def _write_config(self, port: int, password: str) -> None:
        """The primary's settings copied with the data, the port and the feed changed."""
        lines = [
            f"port = {port}",
            "hot_standby = on",
            "hot_standby_feedback = on",  # long analytics reads are not cancelled by the primary's vacuum
            f"primary_conninfo = 'host=127.0.0.1 port={self.primary.port} user={ADMIN_ROLE} password={password}'",
        ]
        conf = self.pgdata / "cityops-replica.conf"
        conf.write_text("\n".join(lines) + "\n")
        conf.chmod(0o600)
        self.primary.hand_to_account(conf)
        main_conf = self.pgdata / "postgresql.conf"
        if "include_if_exists = 'cityops-replica.conf'" not in main_conf.read_text():
            with main_conf.open("a") as handle:  # after cityops.conf: its port is overridden
                handle.write("\ninclude_if_exists = 'cityops-replica.conf'\n")


def embedded_replica_url(settings: StoreSettings) -> str | None:
    """The API role's URL on the embedded replica when one runs, else None."""
    replica = EmbeddedReplica(settings)
    try:
        return replica.url(settings.city, api=True) if replica._running() else None
    except EmbeddedDbError:
        return None
