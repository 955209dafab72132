"""The code's form holds in the suite, not only in ``make lint`` (CI runs the tests): ruff's rules pass, the
formatter has nothing to change, and no line opts out of the formatter (issue 20.5: the 1,194 ``fmt: skip``
markers the code once carried are gone, and the configuration in pyproject.toml is what the code lives with)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "spatial",
    "grid",
    "forces",
    "command",
    "incidents",
    "web",
    "api",
    "map_ui",
    "fixtures",
    "bench",
    "cityops",
    "tests",
)
OPT_OUT = re.compile(r"#\s*fmt:\s*(skip|off)")


def ruff(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *arguments], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )


def test_ruff_finds_nothing_to_fix() -> None:
    checked = ruff("check", ".")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_formatter_has_nothing_to_change() -> None:
    checked = ruff("format", "--check", ".")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_no_line_opts_out_of_the_formatter() -> None:
    opted_out = [
        f"{path.relative_to(ROOT)}:{number}"
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if OPT_OUT.search(line)
    ]
    assert not opted_out, f"lines that opt out of the formatter: {opted_out}"
