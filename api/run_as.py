"""The API process runs as the service account, never as root — as the database already does.

Started as root (a fresh machine's `make up`, a container), the process hands the data directory
to the account (media, the follow-up outbox, the signing key, the cluster's credentials; the
database files are the account's already) and gives up root before it imports the application or
opens a port, so nothing it serves ever runs with root's rights. Caches that libraries write under
HOME (numba's compiled kernels, matplotlib's fonts) go below the data directory too.
"""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
from pathlib import Path

import structlog

from spatial.embedded import service_account
from spatial.settings import StoreSettings

log = structlog.get_logger("cityops.api")

CACHE_VARIABLES = {"NUMBA_CACHE_DIR": "numba", "MPLCONFIGDIR": "matplotlib"}


def drop_root(settings: StoreSettings) -> str | None:
    """Continue as ``settings.service_account`` when running as root; the account's name, or None if still root
    (not root to begin with, or the account cannot read this Python — then the reason is logged, loudly)."""
    if os.geteuid() != 0:
        return None
    account = service_account(settings.service_account)
    unreadable = _what_the_account_cannot_run(account)
    if unreadable:
        log.error(
            "the API stays root: the service account cannot run this Python",
            account=account.pw_name,
            python=sys.executable,
            reason=unreadable,
            fix="install cityops with a Python every account can read (e.g. /usr/bin/python3), "
            "in a directory every account can enter",
        )
        return None
    data_dir = settings.data_dir.resolve()
    cache = data_dir / "cache"
    for variable, folder in CACHE_VARIABLES.items():
        (cache / folder).mkdir(parents=True, exist_ok=True)
        os.environ.setdefault(variable, str(cache / folder))
    _hand_over(data_dir, account.pw_uid, account.pw_gid)
    os.environ["HOME"] = str(data_dir)
    os.setgroups([])
    os.setgid(account.pw_gid)
    os.setuid(account.pw_uid)
    return account.pw_name


def _what_the_account_cannot_run(account: pwd.struct_passwd) -> str:
    """Why the account could not run the API with this interpreter and code ('' when it can): a Python below
    /root (pyenv's) or a checkout below a private home would fail at the first import after giving up root."""
    try:
        probe = subprocess.run(
            [sys.executable, "-c", "import logging.config, uvicorn, cityops.app"],
            cwd=Path.cwd(),
            user=account.pw_uid,
            group=account.pw_gid,
            extra_groups=[],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={**os.environ, "HOME": "/nonexistent"},
        )
    except OSError as error:  # the interpreter itself cannot be run by the account
        return str(error)
    return "" if probe.returncode == 0 else (probe.stderr.strip().splitlines() or ["exit " + str(probe.returncode)])[-1]


def _hand_over(root: Path, uid: int, gid: int) -> None:
    """Make everything below ``root`` the account's (only what is not already: the database files are)."""
    for path in (root, *root.rglob("*")):  # symbolic links are not followed, only handed over themselves
        if path.lstat().st_uid != uid:
            os.lchown(path, uid, gid)
