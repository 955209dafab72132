"""`cityops load forces` and `cityops forces …`: the forces directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from spatial.settings import StoreSettings
from spatial.terminal import cli_actor, console, engine, reported_errors, store

app = typer.Typer()
load = typer.Typer()
forces_app = typer.Typer(no_args_is_help=True, help="The forces directory (people, teams, vehicles, equipment).")
app.add_typer(forces_app, name="forces")


@load.command("forces")
def load_forces(path: Annotated[Path, typer.Argument(help="A forces directory (.csv, .geojson)")]) -> None:
    """Check a forces directory and upsert it (all rows or none), placing each force at its starting position."""
    load_directory(store(), path)


def load_directory(settings: StoreSettings, path: Path, synthetic: bool = False) -> None:
    """Load a directory file and print what changed (``synthetic``: the demo's invented directory)."""
    from forces.directory import load_directory as load_file

    with reported_errors():
        with console.status(f"checking and loading {path.name}"):
            result = load_file(engine(settings), path, actor=cli_actor(), synthetic=synthetic)
        console.print(
            f"{result.rows:,} forces: {result.inserted:,} new, {result.updated:,} updated, "
            f"{result.placed:,} placed at their starting position"
        )


@forces_app.command("capabilities")
def forces_capabilities() -> None:
    """The capabilities a force may have (codes used in directory files and in dispatch requests)."""
    from forces.directory import capabilities

    with reported_errors(), engine(store()).connect() as conn:
        table = Table("code", "name", "name (en)")
        for row in capabilities(conn):
            table.add_row(*row)
        console.print(table)
