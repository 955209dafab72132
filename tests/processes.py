"""The platform's own commands as real processes (``cityops serve``, ``cityops worker``) on a test city."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from spatial.settings import StoreSettings


def start(settings: StoreSettings, args: list[str], log: Path, **env_overrides: str) -> subprocess.Popen[bytes]:
    """``cityops <args>`` as its own process on ``settings``' city (intake limits out of reach), logging to ``log``."""
    env = {
        **os.environ,
        "CITYOPS_DATA_DIR": str(settings.data_dir),
        "CITYOPS_DB_PORT": str(settings.db_port),
        "CITYOPS_CITY": settings.city,
        "CITYOPS_DB_DURABLE": "false",
        "CITYOPS_POOL_SIZE": "4",
        "CITYOPS_RATE_INTAKE_PER_CLIENT": "100000/minute",
        "CITYOPS_RATE_INTAKE_PER_CALLER": "100000/minute",
        **env_overrides,
    }
    env.pop("CITYOPS_DATABASE_URL", None)
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "cityops", *args], env=env, stdout=out, stderr=subprocess.STDOUT)


def serving(process: subprocess.Popen[bytes], port: int, log: Path) -> str:
    """The base URL once the server answers ready."""
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{base}/healthz/ready", timeout=5).status_code == 200:
                return base
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the server did not start: {last_words(log)}")


def last_words(log: Path, chars: int = 3000) -> str:
    """The end of a server's ``log`` without its request records (JSON lines): what it said of itself."""
    said = [line for line in log.read_text(errors="replace").splitlines() if not line.startswith('{"')]
    return "\n".join(said)[-chars:]


def still_serving(process: subprocess.Popen[bytes], log: Path) -> None:
    """Fail, saying why from ``log``, when a server that tests used has ended before they stopped it:
    every test after its end failed on a refused connection, which says nothing of the cause."""
    if process.poll() is not None:
        raise AssertionError(f"the server ended (exit {process.returncode}) under the tests: {last_words(log)}")


def stop(*processes: subprocess.Popen[bytes]) -> None:
    """Terminate, then kill what has not ended in 30 s."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
