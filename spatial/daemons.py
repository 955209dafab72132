"""What the platform's helper servers share: Mosquitto, Redis and PgBouncer from Debian, each started
beside the embedded PostgreSQL under the data directory — finding the program, waiting until it
answers, stopping it."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

from spatial.errors import EmbeddedDbError

START_WAIT_S = 15
STOP_WAIT_S = 15


def installed(program: str, package: str) -> str:
    """The path of ``program`` (in /usr/sbin too: a user's PATH may lack it), or a message naming its package."""
    found = shutil.which(program) or shutil.which(program, path="/usr/sbin:/usr/bin")
    if found is None:
        raise EmbeddedDbError(f"{program} is not installed: run scripts/bootstrap.sh (Debian package {package})")
    return found


def accepting(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:``port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def wait_until_up(answers: Callable[[], bool], failure: str, log: Path) -> None:
    """Wait until ``answers()``; after ``START_WAIT_S`` give up with ``failure`` and the end of the server's ``log``."""
    deadline = time.monotonic() + START_WAIT_S
    while not answers():
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise EmbeddedDbError(f"{failure}\n{tail}")
        time.sleep(0.05)


def terminate(live_pid: Callable[[], int | None]) -> None:
    """SIGTERM the server whose pid ``live_pid()`` finds (none: nothing to do) and wait until it is gone."""
    pid = live_pid()
    if pid is None:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_WAIT_S
    while live_pid() is not None and time.monotonic() < deadline:
        time.sleep(0.05)


def running_pid(pid_file: Path, program: str) -> int | None:
    """The pid in ``pid_file`` while that process runs ``program`` (a stale file's pid may be another's by now)."""
    try:
        pid = int(pid_file.read_text().strip())
        return pid if program.encode() in Path(f"/proc/{pid}/cmdline").read_bytes() else None
    except (OSError, ValueError):
        return None
