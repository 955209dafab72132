"""`cityops basemap …`: the tile package the API serves under the map (or the tile server it points to)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from spatial.terminal import console, progress_bar, reported_errors, store

app = typer.Typer()
basemap_app = typer.Typer(no_args_is_help=True, help="The city's own basemap: a local PMTiles or MBTiles package.")
app.add_typer(basemap_app, name="basemap")


def _print_basemap(package: Any, heading: str) -> None:
    west, south, east, north = package.bounds
    table = Table(show_header=False, title=heading, title_justify="left")
    for name, value in (
        (
            "format",
            f"{package.format}, {package.kind} ({package.tile_type}"
            f"{', gzip' if package.compression == 'gzip' else ''})",
        ),
        ("zooms", f"{package.min_zoom}–{package.max_zoom}"),
        ("bounds", f"{west:.4f}, {south:.4f} – {east:.4f}, {north:.4f} (WGS 84)"),
        ("tiles", f"{package.tiles:,}"),
        ("size", f"{package.size / 1e6:,.1f} MB"),
        ("name", package.name),
        ("attribution", package.attribution),
        ("layers", ", ".join(package.layers)),
        ("from", package.source),
        ("imported", package.imported_at),
    ):
        if value:
            table.add_row(name, value)
    console.print(table)


@basemap_app.command("import")
def basemap_import(
    path: Annotated[Path, typer.Argument(help="A PMTiles v3 or MBTiles file (raster png/jpg/webp or vector pbf)")],
) -> None:
    """Check a tile package and serve it at /basemap/{z}/{x}/{y}; a refused file leaves the previous one served."""
    from spatial.basemap import basemap_dir, import_package
    from web.settings import ApiSettings

    with reported_errors():
        with progress_bar(path.name) as update:
            package = import_package(path, basemap_dir(store()), update)
        _print_basemap(package, "basemap served at /basemap/{z}/{x}/{y}." + package.tile_type)
        if ApiSettings().basemap_url:
            console.print(
                "CITYOPS_BASEMAP_URL is set too: the map shows this package first and offers the "
                "configured server as the other basemap"
            )


@basemap_app.command("show")
def basemap_show() -> None:
    """What the map uses as its basemap: the imported package, the configured tile server, or neither."""
    from urllib.parse import urlsplit

    from spatial.basemap import basemap_dir, served
    from web.settings import ApiSettings

    package = served(basemap_dir(store()))
    configured = ApiSettings().basemap_url
    if package:
        _print_basemap(package, "basemap: the imported package (shown first)")
    if configured:  # the host only: a Tianditu URL carries the city's key
        other = " (offered as the other basemap)" if package else ""
        console.print(f"CITYOPS_BASEMAP_URL: a tile server at {urlsplit(configured).netloc}{other}", highlight=False)
    if not package and not configured:
        console.print(
            "no basemap: the hierarchy itself is the base layer (`cityops basemap import FILE`, "
            "or set CITYOPS_BASEMAP_URL)"
        )


@basemap_app.command("remove")
def basemap_remove() -> None:
    """Stop serving the imported package and delete its copy (the original file is not touched)."""
    from spatial.basemap import basemap_dir, remove_package

    package = remove_package(basemap_dir(store()))
    console.print(f"basemap {package.source} removed" if package else "no basemap package was imported")
