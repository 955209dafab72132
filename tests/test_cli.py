"""The `cityops` verbs, through Typer's runner and as a real subprocess."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from alembic.script import ScriptDirectory
from typer.testing import CliRunner

from cityops.cli import app
from spatial.migrate import alembic_config

runner = CliRunner()
HEAD = ScriptDirectory.from_config(alembic_config("postgresql://")).get_current_head()


def test_help_lists_the_verbs() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for verb in ("up", "db", "migrate", "load", "demo", "serve", "locate", "bench"):
        assert verb in result.stdout


def test_db_verbs(env: dict[str, str]) -> None:
    status = runner.invoke(app, ["db", "status"])
    assert status.exit_code == 0 and "running" in status.stdout
    again = runner.invoke(app, ["db", "start"])  # idempotent
    assert again.exit_code == 0 and "running" in again.stdout
    url = runner.invoke(app, ["db", "url"]).stdout.strip()
    assert url.startswith("postgresql://cityops:") and url.endswith("/nanjing")
    assert runner.invoke(app, ["db", "url", "--sqlalchemy"]).stdout.startswith("postgresql+psycopg://")
    psql = subprocess.run(["psql", url, "-tAc", "SELECT count(*) > 0 FROM unit"], capture_output=True, text=True)
    assert psql.stdout.strip() == "t"


def test_migrate_twice_changes_nothing(env: dict[str, str]) -> None:
    for _ in range(2):
        result = runner.invoke(app, ["migrate"])
        assert result.exit_code == 0 and f"schema at revision {HEAD}" in result.stdout


def test_locate_verb(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["locate", "118.7844", "32.0415"])
    assert result.exit_code == 0 and "秦淮区" in result.stdout
    outside = runner.invoke(app, ["locate", "121.47", "31.23"])
    assert outside.exit_code == 1 and "outside the jurisdiction" in outside.output


def test_load_refusal_is_one_message_and_exit_1(env: dict[str, str], tmp_path: Path) -> None:
    empty = tmp_path / "empty.geojson"
    empty.write_text("")
    result = runner.invoke(app, ["load", "boundaries", str(empty), "--tier", "grid"])
    assert result.exit_code == 1 and "is empty" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["load", "boundaries", str(empty), "--tier", "planet"])
    assert result.exit_code == 1 and "unknown tier 'planet'" in result.output


def test_demo_again_is_unchanged(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["demo", "--history", "0"])  # the shared test city keeps no invented year
    assert result.exit_code == 0 and result.stdout.count("unchanged") == 7
    assert re.search(r"[\d,]{5,} forces: [\d,]+ new, [\d,]+ updated", result.stdout), result.stdout


def test_forces_verbs(env: dict[str, str], tmp_path: Path, server: str) -> None:
    directory = tmp_path / "forces.csv"
    directory.write_text(
        "code,name,kind,unit,capabilities,lon,lat\nCLI-PUMP-1,移动泵车,equipment,320102,drainage,118.80,32.05\n",
        encoding="utf-8",
    )
    loaded = runner.invoke(app, ["load", "forces", str(directory)])
    assert loaded.exit_code == 0 and "1 forces:" in loaded.stdout and "1 placed" in loaded.stdout
    directory.write_text("code,name,kind,unit\nCLI-2,车,vehicle,999999\n", encoding="utf-8")
    refused = runner.invoke(app, ["load", "forces", str(directory)])
    assert refused.exit_code == 1 and "unit '999999' is not a loaded unit code" in refused.stderr
    listed = runner.invoke(app, ["forces", "capabilities"])
    assert listed.exit_code == 0 and "drainage" in listed.stdout
    simulated = runner.invoke(
        app,
        [
            "simulate",
            "--url",
            server,
            "--forces",
            "20",
            "--seconds",
            "2",
            "--interval",
            "0.5",
            "--reports-per-minute",
            "240",
        ],
    )
    assert simulated.exit_code == 0, simulated.stdout
    moving = re.search(r"simulating ([\d,]+) forces", simulated.stdout)
    sent = re.search(r"([\d,]+) fixes \((\d+) refused\), ([\d,]+) reports", simulated.stdout)
    assert moving and sent, simulated.stdout
    walkers, fixes = int(moving[1].replace(",", "")), int(sent[1].replace(",", ""))
    assert walkers >= 1 and fixes >= 3 * walkers and sent[2] == "0" and int(sent[3]) >= 1


def test_without_a_running_database_the_message_says_what_to_do(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cityops", "migrate"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "CITYOPS_DATA_DIR": str(tmp_path / "nothing")},
    )
    assert result.returncode == 1
    assert "cityops db start" in result.stderr


def test_categories_verbs(env: dict[str, str], tmp_path: Path) -> None:
    loaded = runner.invoke(app, ["categories", "load"])
    assert loaded.exit_code == 0 and "53 categories loaded" in loaded.stdout
    listed = runner.invoke(app, ["categories", "list"])
    assert listed.exit_code == 0 and "010101" in listed.stdout and "020603" in listed.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text("code,type\n1,planet\n")
    refused = runner.invoke(app, ["categories", "load", str(bad)])
    assert refused.exit_code == 1 and "empty or missing" in refused.output


def test_every_benchmark_command_passes_what_its_run_takes() -> None:
    """The bench table (bench/cli.py) against each benchmark's ``run``: every option is a keyword ``run``
    takes, and every keyword ``run`` needs (besides the settings and the console) is an option."""
    import importlib
    import inspect

    from bench.cli import BENCHMARKS

    for name, benchmark in BENCHMARKS.items():
        parameters = inspect.signature(importlib.import_module(f"bench.{name}").run).parameters
        given = {option.keyword or key for key, option in benchmark.options.items()}
        needed = {key for key, p in parameters.items() if p.kind is p.KEYWORD_ONLY and p.default is p.empty}
        assert given <= parameters.keys(), (name, given - parameters.keys())
        assert needed - {"console"} <= given, (name, needed - given)
        shown = runner.invoke(app, ["bench", name, "--help"])
        assert shown.exit_code == 0 and all(f"--{key.replace('_', '-')}" in shown.stdout for key in benchmark.options)
