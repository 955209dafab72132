"""The platform's own MQTT broker: Mosquitto from Debian, started beside the embedded PostgreSQL.

Like the database, it lives under the data directory (``<data dir>/mqtt``): its configuration,
password file, access list, persistence and log. It listens on 127.0.0.1 only, with no anonymous
access: the platform logs in as ``cityops`` and may only read sensor topics; devices and gateways
log in as ``gateway`` and may only publish them. Sessions persist (``persistence true``): QoS 1
messages for the platform's subscription are queued while it is away and kept across a broker
restart. Under root it runs as the platform's service account, as PostgreSQL does.

``CITYOPS_MQTT_URL`` names an external broker instead; then this module is not used.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

from spatial.daemons import accepting, installed, running_pid, terminate, wait_until_up
from spatial.embedded import free_port, port_is_free, service_account
from spatial.errors import EmbeddedDbError
from spatial.settings import StoreSettings

PREFERRED_PORT = 54883
TOPICS = "cityops/+/sensors/+/obs"  # cityops/<city>/sensors/<device>/obs
PLATFORM_USER = "cityops"
GATEWAY_USER = "gateway"


@dataclass(frozen=True)
class BrokerStatus:
    """Whether the broker runs, where, and the URLs the platform and the gateways log in with."""

    running: bool
    port: int | None
    pid: int | None
    directory: Path


def topic(city: str, device: str) -> str:
    """The topic a device publishes its readings on."""
    return f"cityops/{city}/sensors/{device}/obs"


class EmbeddedBroker:
    """Lifecycle of the broker under ``<data dir>/mqtt``: configure, start, stop, status, URLs."""

    def __init__(self, settings: StoreSettings) -> None:
        self.settings = settings
        self.directory = settings.data_dir.resolve() / "mqtt"
        self.state_file = self.directory / "broker.json"
        self.as_root = os.geteuid() == 0

    def _state(self) -> dict[str, object]:
        if not self.state_file.exists():
            port = free_port(PREFERRED_PORT)
            self.directory.mkdir(parents=True, exist_ok=True)
            state: dict[str, object] = {
                "port": port,
                PLATFORM_USER: secrets.token_urlsafe(18),
                GATEWAY_USER: secrets.token_urlsafe(18),
            }
            self.state_file.write_text(json.dumps(state, indent=2))
            self.state_file.chmod(0o600)
        return dict(json.loads(self.state_file.read_text()))

    def url(self, user: str = PLATFORM_USER) -> str:
        """``mqtt://user:password@127.0.0.1:port`` for the platform (default) or a gateway."""
        state = self._state()
        return f"mqtt://{user}:{state[user]}@127.0.0.1:{state['port']}"

    @property
    def _pid_file(self) -> Path:
        return self.directory / "mosquitto.pid"

    def _live_pid(self) -> int | None:
        return running_pid(self._pid_file, "mosquitto")

    def status(self) -> BrokerStatus:
        """Running or not (a pid file whose process is gone counts as not)."""
        pid = self._live_pid()
        port = int(str(self._state()["port"])) if self.state_file.exists() else None
        return BrokerStatus(pid is not None, port, pid, self.directory)

    def _configure(self, port: int) -> Path:
        state = self._state()
        data = self.directory / "data"
        data.mkdir(parents=True, exist_ok=True)
        passwords = self.directory / "passwd"
        passwords.unlink(missing_ok=True)
        for user in (PLATFORM_USER, GATEWAY_USER):
            create = [] if passwords.exists() else ["-c"]
            _run([installed("mosquitto_passwd", "mosquitto"), "-b", *create, str(passwords), user, str(state[user])])
        (self.directory / "acl").write_text(
            f"user {PLATFORM_USER}\ntopic read {TOPICS}\n\nuser {GATEWAY_USER}\ntopic write {TOPICS}\n"
        )
        config = self.directory / "mosquitto.conf"
        lines = [
            f"pid_file {self._pid_file}",
            "persistence true",
            f"persistence_location {data}/",
            "autosave_interval 5",
            f"log_dest file {self.directory / 'mosquitto.log'}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            f"listener {port} 127.0.0.1",
            "allow_anonymous false",
            f"password_file {passwords}",
            f"acl_file {self.directory / 'acl'}",
            # the platform acknowledges a batch after storing it: let a whole batch be in flight, and keep a
            # long outage's readings queued for it (the default 1,000 would drop the rest)
            "max_inflight_messages 0",
            "max_queued_messages 2000000",
            "persistent_client_expiration 30d",
        ]
        if self.as_root:
            account = service_account(self.settings.service_account)
            lines.append(f"user {account.pw_name}")
            for path in (self.directory, data, *data.iterdir(), *self.directory.iterdir()):
                os.chown(path, account.pw_uid, account.pw_gid)
        config.write_text("\n".join(lines) + "\n")
        return config

    def start(self) -> BrokerStatus:
        """Start the broker (a no-op when it runs) and wait until it accepts connections."""
        current = self.status()
        if current.running:
            return current
        self._pid_file.unlink(missing_ok=True)
        port = int(str(self._state()["port"]))
        if not port_is_free(port):
            state = self._state()
            state["port"] = port = free_port(PREFERRED_PORT)
            self.state_file.write_text(json.dumps(state, indent=2))
        config = self._configure(port)
        _run([installed("mosquitto", "mosquitto"), "-c", str(config), "-d"])
        wait_until_up(
            lambda: accepting(port), f"Mosquitto did not start on 127.0.0.1:{port}", self.directory / "mosquitto.log"
        )
        return self.status()

    def stop(self) -> BrokerStatus:
        """Stop the broker; it saves its persistent sessions and queued messages first."""
        terminate(self._live_pid)
        return self.status()


def _run(args: list[str]) -> None:
    result = subprocess.run(args, capture_output=True, text=True, check=False, timeout=30)
    if result.returncode != 0:
        raise EmbeddedDbError(f"{Path(args[0]).name} failed: {(result.stderr or result.stdout).strip()}")
