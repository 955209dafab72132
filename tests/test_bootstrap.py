"""Setting up on a machine whose package manager is busy (issue 19.13).

A fresh Ubuntu runs unattended upgrades for minutes after boot; ``make test`` failed at once with
"Could not get lock /var/lib/dpkg/lock-frontend". The installs now wait for the lock.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = Path("/var/lib/dpkg/lock-frontend")  # what apt and dpkg take first (a POSIX record lock)
HELD_S = 3.0


def test_package_installs_wait_for_a_busy_package_manager() -> None:
    with LOCK.open("a") as held:  # as root, like the installs themselves (bootstrap uses sudo otherwise)
        fcntl.lockf(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        release = threading.Timer(HELD_S, fcntl.lockf, (held, fcntl.LOCK_UN))
        release.start()
        started = time.monotonic()
        # an installed package: apt takes the lock, finds nothing to do; the index update is skipped
        install = subprocess.run(
            ["bash", "-c", "set -euo pipefail; source scripts/apt.sh; updated=true; apt_install bash"],
            cwd=ROOT,
            env={**os.environ, "CITYOPS_APT_WAIT": "60"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        waited = time.monotonic() - started
        release.join()
    assert install.returncode == 0, install.stderr
    assert waited >= HELD_S - 0.5, f"apt did not wait for the lock ({waited:.1f} s)"
