"""The rate-limit counters several API processes share: Redis from Debian, started by the platform.

One process counts in memory; N processes (``cityops serve --workers N``) would each count apart and
let N times the limit through. So with several processes and no storage configured, ``cityops
serve`` starts this Redis under the data directory — a Unix socket only, a password, nothing
written to disk (counters are worth less than the time to save them) — and hands its URL to every
process as ``CITYOPS_RATE_LIMIT_STORAGE``. Under root it runs as the platform's service account.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from pathlib import Path

import redis

from spatial.daemons import installed, running_pid, terminate, wait_until_up
from spatial.embedded import service_account
from spatial.errors import EmbeddedDbError
from spatial.settings import StoreSettings


class EmbeddedCounters:
    """Lifecycle of the Redis under ``<data dir>/counters``: configure, start, stop, its URL."""

    def __init__(self, settings: StoreSettings) -> None:
        self.settings = settings
        self.directory = settings.data_dir.resolve() / "counters"
        self.socket = self.directory / "redis.sock"
        self.pid_file = self.directory / "redis.pid"
        self.state_file = self.directory / "counters.json"

    def _password(self) -> str:
        if not self.state_file.exists():
            self.directory.mkdir(parents=True, exist_ok=True)
            self.state_file.write_text(json.dumps({"password": secrets.token_urlsafe(24)}))
            self.state_file.chmod(0o600)
        return str(json.loads(self.state_file.read_text())["password"])

    def url(self) -> str:
        """The ``limits`` storage URL of this Redis (its socket, its password)."""
        return f"redis+unix://:{self._password()}@{self.socket}"

    def _client(self) -> redis.Redis:
        return redis.Redis(unix_socket_path=str(self.socket), password=self._password(), socket_timeout=1)

    def running(self) -> bool:
        """Whether it answers on its socket."""
        try:
            return bool(self._client().ping())
        except (redis.RedisError, OSError):
            return False

    def keys(self, pattern: str) -> list[str]:
        """The counters' names matching ``pattern`` (for operators looking at who is limited, and the tests)."""
        found = self._client().keys(pattern)
        assert isinstance(found, list)  # the blocking client's answer (redis-py types both clients' at once)
        return [key.decode() for key in found]

    def start(self) -> str:
        """Start it (a no-op when it runs); its URL once it answers."""
        if self.running():
            return self.url()
        config = self._configure()
        binary = installed("redis-server", "redis-server")
        account = service_account(self.settings.service_account) if os.geteuid() == 0 else None
        started = subprocess.run(
            [binary, str(config)],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
            user=account.pw_uid if account else None,
            group=account.pw_gid if account else None,
            extra_groups=[] if account else None,
        )
        if started.returncode != 0:
            raise EmbeddedDbError(f"redis-server failed: {(started.stderr or started.stdout).strip()}")
        wait_until_up(self.running, f"Redis did not start on {self.socket}", self.directory / "redis.log")
        return self.url()

    def stop(self) -> None:
        """Stop it (its counters go with it: limits start afresh, as after a restart of one process)."""
        terminate(lambda: running_pid(self.pid_file, "redis-server"))

    def _configure(self) -> Path:
        password = self._password()
        self.socket.unlink(missing_ok=True)
        lines = [
            "port 0",  # no TCP at all: the socket, readable by the platform's account only
            f"unixsocket {self.socket}",
            "unixsocketperm 700",
            f"requirepass {password}",
            "daemonize yes",
            f"pidfile {self.pid_file}",
            f"logfile {self.directory / 'redis.log'}",
            f"dir {self.directory}",
            'save ""',
            "appendonly no",
            "maxmemory 256mb",
            "maxmemory-policy volatile-ttl",  # every counter expires: under pressure the nearest to go, first
        ]
        config = self.directory / "redis.conf"
        config.write_text("\n".join(lines) + "\n")
        config.chmod(0o600)
        if os.geteuid() == 0:  # it runs as the service account: its directory and configuration are the account's
            account = service_account(self.settings.service_account)
            for path in (self.directory, config):
                os.chown(path, account.pw_uid, account.pw_gid)
        return config
