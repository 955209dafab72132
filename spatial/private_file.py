"""A secret kept in the data directory: written once, readable by the service account alone."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def private_once(path: Path, make: Callable[[], bytes]) -> bytes:
    """The contents of ``path``, made by ``make`` with mode 600 when there is no such file yet.

    Two processes starting together may both find none. Each writes its own secret to a file of its
    own and links it to ``path``: the link appears whole or not at all, so the one that loses the race
    reads the winner's whole secret. (Creating ``path`` and then writing it let a reader find it empty:
    an API process reading a half-written key fails to start, and under uvicorn a worker that fails to
    start stops its siblings and the parent.)
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 600
        draft = Path(name)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(make())
                handle.flush()
                os.fsync(handle.fileno())
            path.hardlink_to(draft)
        except FileExistsError:  # another process made it first
            pass
        finally:
            draft.unlink()
    return path.read_bytes()
