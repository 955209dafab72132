"""A secret made once in the data directory: processes starting together all read the same whole one."""

from __future__ import annotations

import stat
import time
from concurrent.futures import ThreadPoolExecutor
from itertools import count
from pathlib import Path

from spatial.private_file import private_once


def test_callers_racing_to_make_a_secret_all_read_the_whole_winner(tmp_path: Path) -> None:
    """Eight callers find no file and each makes a secret slowly (as a key is generated): each must read
    the one that was kept, whole, never an empty or half-written file."""
    path = tmp_path / "keys" / "city.pem"
    numbers = count()

    def slow_secret() -> bytes:
        number = next(numbers)
        time.sleep(0.2)
        return f"secret of caller {number}\n".encode()

    with ThreadPoolExecutor(8) as callers:
        read = list(callers.map(lambda _: private_once(path, slow_secret), range(8)))

    assert len(set(read)) == 1 and read[0].startswith(b"secret of caller ")
    assert read[0] == path.read_bytes()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [entry.name for entry in path.parent.iterdir()] == ["city.pem"]  # no caller's draft left behind


def test_an_existing_secret_is_read_and_never_made_again(tmp_path: Path) -> None:
    path = tmp_path / "secret_key"
    path.write_bytes(b"kept")

    def never() -> bytes:
        raise AssertionError("made a secret where one exists")

    assert private_once(path, never) == b"kept"
