"""The layers as import-linter contracts (pyproject.toml ``[tool.importlinter]``): kept by the code, and
biting when an import climbs a layer."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from importlinter.api import read_configuration

REPO = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=root, capture_output=True, text=True, timeout=300)


def test_every_contract_is_kept() -> None:
    result = _lint(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_every_package_has_a_layer() -> None:
    """A new top-level package outside the layers would be outside every contract."""
    configuration = read_configuration(str(REPO / "pyproject.toml"))
    packages = {path.parent.name for path in REPO.glob("*/__init__.py")} - {"tests"}
    (layers,) = [c for c in configuration["contracts_options"] if c["type"] == "layers"]
    layered = {name.strip() for layer in layers["layers"] for name in layer.split("|")}
    assert packages == set(configuration["session_options"]["root_packages"]) == layered


@pytest.mark.parametrize(
    ("module", "line", "reported"),
    [
        ("api/app.py", "from map_ui.routes import static_files", "api.app -> map_ui.routes"),
        ("map_ui/routes.py", "from api.schemas import Refusal", "map_ui.routes -> api.schemas"),
    ],
    ids=["api-imports-pages", "pages-import-api"],
)
def test_an_import_across_the_top_breaks_the_contract(tmp_path: Path, module: str, line: str, reported: str) -> None:
    """The API and the pages stand side by side on ``web``: either importing the other (the cycle the
    shell removed, or the pages sitting on the API again) is reported with the offending line."""
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    for source in REPO.glob("*/**/*.py"):
        if source.parts[len(REPO.parts)] not in ("tests", ".venv", "var"):
            target = tmp_path / source.relative_to(REPO)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target)
    importer = tmp_path / module
    importer.write_text(importer.read_text(encoding="utf-8") + f"\n{line}  # noqa: E402\n")
    result = _lint(tmp_path)
    assert result.returncode == 1, result.stdout
    assert "BROKEN" in result.stdout and reported in result.stdout, result.stdout
