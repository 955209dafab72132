"""``cityops db pooler``: PgBouncer (Debian) in front of the embedded cluster, for many API processes.

Each API process keeps ~30 connections of its own (``docs/capacity.md``), so a dozen processes pass
any sane ``max_connections``. PgBouncer in transaction mode lends a server connection per
transaction instead: the processes' thousands of client connections share ``pooler_connections``
server ones. What that costs the API, and how it keeps its guarantees, is ``spatial.database``'s
business (no prepared statements: Debian 12's PgBouncer 1.18 cannot carry them; the caller's scope
inside a transaction; listeners and locks connect directly).

It admits the API role only (least privilege: the owner and the superuser connect directly), over
SCRAM with the role's password, on 127.0.0.1. Under root it runs as the platform's service account,
as the cluster does; its configuration and password list are that account's alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from spatial.daemons import accepting, installed, running_pid, terminate, wait_until_up
from spatial.embedded import API_ROLE, EmbeddedCluster, free_port, port_is_free
from spatial.errors import EmbeddedDbError
from spatial.settings import StoreSettings

# a client that waits longer for a server connection is refused: a saturated database answers, not hangs
QUERY_WAIT_TIMEOUT_S = 30


@dataclass(frozen=True)
class PoolerStatus:
    """What ``cityops db pooler status`` reports."""

    running: bool
    port: int | None
    server_connections: int  # at most this many connections to PostgreSQL, whatever the clients' number


class EmbeddedPooler:
    """The PgBouncer of one embedded cluster: its directory, port and lifecycle."""

    def __init__(self, settings: StoreSettings) -> None:
        self.settings = settings
        self.cluster = EmbeddedCluster(settings)
        self.directory = self.cluster.data_dir / "pooler"
        self.config = self.directory / "pgbouncer.ini"
        self.pid_file = self.directory / "pgbouncer.pid"
        self.log_file = self.directory / "pgbouncer.log"

    @property
    def port(self) -> int | None:
        """The port recorded in the cluster's state, or None before the first start."""
        found = self.cluster.state().get("pooler_port")
        return int(found) if found is not None else None

    def url(self, database: str | None = None) -> str:
        """The API role's libpq URL of ``database`` (the city's) through the pooler."""
        if self.port is None:
            raise EmbeddedDbError("no embedded pooler: run `cityops db pooler start` first")
        direct = self.cluster.url(database, api=True)
        return direct.replace(f":{self.cluster.port}/", f":{self.port}/", 1)

    def start(self) -> str:
        """Start it (a no-op when it runs) in front of the running cluster; the API role's URL through it."""
        if not self.cluster.status().running:
            raise EmbeddedDbError("the embedded database is not running: run `cityops db start` first")
        if self._running():
            return self.url()
        binary = installed("pgbouncer", "pgbouncer")
        port = self.port if self.port is not None and port_is_free(self.port) else free_port(self.cluster.port + 2)
        state = self.cluster.state()
        state["pooler_port"] = port
        self.cluster.save_state(state)
        self._configure(port, str(state["api_password"]))
        started = self.cluster.run_as_service([binary, "-d", str(self.config)], timeout=30)
        if started.returncode != 0:
            raise EmbeddedDbError(f"pgbouncer did not start: {(started.stderr or started.stdout).strip()}")
        wait_until_up(self._running, f"pgbouncer did not listen on port {port}", self.log_file)
        return self.url()

    def stop(self) -> None:
        """Stop it at once (transactions under way fail; the processes using it reconnect when it is back)."""
        terminate(self._pid)

    def status(self) -> PoolerStatus:
        """Running or not, its port and its cap on server connections."""
        return PoolerStatus(self._running(), self.port, self.settings.pooler_connections)

    def _pid(self) -> int | None:
        return running_pid(self.pid_file, "pgbouncer")

    def _running(self) -> bool:
        return self._pid() is not None and self.port is not None and accepting(self.port)

    def _configure(self, port: int, api_password: str) -> None:
        self.directory.mkdir(mode=0o700, exist_ok=True)
        self.cluster.hand_to_account(self.directory)
        users = self.directory / "userlist.txt"
        users.write_text(f'"{API_ROLE}" "{api_password}"\n')
        lines = [
            "[databases]",
            f"* = host=127.0.0.1 port={self.cluster.port}",  # every city's database of the cluster
            "[pgbouncer]",
            "listen_addr = 127.0.0.1",
            f"listen_port = {port}",
            "unix_socket_dir =",
            "auth_type = scram-sha-256",
            f"auth_file = {users}",
            "pool_mode = transaction",
            f"default_pool_size = {self.settings.pooler_connections}",
            "max_client_conn = 1000",
            f"query_wait_timeout = {QUERY_WAIT_TIMEOUT_S}",
            "log_connections = 0",  # every process's pool reconnecting is not news
            "log_disconnections = 0",
            f"pidfile = {self.pid_file}",
            f"logfile = {self.log_file}",
        ]
        self.config.write_text("\n".join(lines) + "\n")
        for path in (users, self.config):
            path.chmod(0o600)
            self.cluster.hand_to_account(path)
