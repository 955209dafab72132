"""A secret kept in the data directory: written once, readable by the service account alone."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def private_once(path: Path, make: Callable[[], bytes]) -> bytes:
    """The contents of ``path``, made by ``make`` with mode 600 when there is no such file yet.

    Two processes starting together may both find none: ``O_EXCL`` lets one write it and the other
    read what the first wrote, so they never hold two different secrets.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            pass
        else:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(make())
    return path.read_bytes()
