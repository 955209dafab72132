"""`cityops load boundaries` and `cityops locate`: the hierarchy's tiers and the unit chain of a point."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from spatial.errors import PlatformError
from spatial.terminal import cli_actor, console, engine, progress_bar, reported_errors, store

app = typer.Typer()
load = typer.Typer()


@load.command("boundaries")
def load_boundaries(
    path: Annotated[Path, typer.Argument(help="Boundaries: GeoJSON, GeoPackage, Shapefile or GeoParquet")],
    tier: Annotated[str, typer.Option(help="city, district, street, community, grid or building")],
    kind: Annotated[str, typer.Option(help="administrative, or management (江北新区)")] = "administrative",
    code_column: Annotated[str, typer.Option(help="Column with the unit code")] = "code",
    name_column: Annotated[str, typer.Option(help="Column with the unit name")] = "name",
    parent_column: Annotated[
        str | None, typer.Option(help="Column with the parent's code; default: link by spatial containment")
    ] = None,
    members_column: Annotated[str | None, typer.Option(help="Management units: member codes, comma-separated")] = None,
    crs: Annotated[str | None, typer.Option(help="CRS when missing or wrong (EPSG:4549)")] = None,
    swap_axes: Annotated[bool, typer.Option(help="The file has (lat, lon) coordinates")] = False,
    repair: Annotated[bool, typer.Option(help="Repair invalid geometry (reported) instead of rejecting")] = False,
    parent_by: Annotated[
        str,
        typer.Option(
            help="containment: each unit lies within its parent; majority: a unit may cross its "
            "parent's line (served across it), its parent is the one holding most of its area, "
            "and every crossing is reported with its area"
        ),
    ] = "containment",
    force: Annotated[bool, typer.Option(help="Load even if the same file was loaded last")] = False,
) -> None:
    """Import one tier of boundaries and rebuild its H3 index; nothing is half-written."""
    from grid.load import load_file
    from spatial.boundary_file import ImportOptions, ParentBy
    from spatial.tiers import UnitKind, parse_tier

    with reported_errors():
        try:
            unit_kind = UnitKind(kind)
        except ValueError:
            raise PlatformError(f"--kind must be administrative or management, not {kind!r}") from None
        try:
            linking = ParentBy(parent_by)
        except ValueError:
            raise PlatformError(f"--parent-by must be containment or majority, not {parent_by!r}") from None
        options = ImportOptions(
            tier=parse_tier(tier),
            kind=unit_kind,
            code_column=code_column,
            name_column=name_column,
            parent_column=parent_column,
            members_column=members_column,
            crs=crs,
            swap_axes=swap_axes,
            repair=repair,
            parent_by=linking,
        )
        settings = store()
        with progress_bar(f"loading {path.name}") as update:
            report = load_file(
                engine(settings), path, options, settings, force=force, progress=update, actor=cli_actor()
            )
        print_reports([report])


def print_reports(reports: list[Any]) -> None:
    """Each loaded file's figures, its warnings, the units crossing their parent's line and the rebuilt H3 index."""
    table = Table("file", "tier", "features", "new", "updated", "s")
    for report in reports:
        kind = " (management)" if report.kind == "management" else ""
        table.add_row(
            Path(report.source).stem,
            report.tier + kind,
            f"{report.features:,}",
            "unchanged" if report.skipped else f"{report.inserted:,}",
            "" if report.skipped else f"{report.updated:,}",
            f"{report.seconds:.1f}",
        )
        for warning in report.warnings:
            console.print(f"[yellow]warning[/] [{warning['check']}] {warning['message']}")
    console.print(table)
    for report in reports:
        if report.crossings:
            _print_crossings(report.crossings)
    for report in reports:
        if report.coverage:
            cover = report.coverage
            console.print(
                f"H3 index of the {cover['tier']} tier rebuilt: resolution {cover['resolution']}, "
                f"{cover['interior_cells']:,} interior and {cover['boundary_cells']:,} boundary cells"
            )


def _print_crossings(crossings: list[dict[str, object]]) -> None:
    """Units accepted across their parent's line (--parent-by majority), each with the area it reaches over."""
    table = Table("unit", "parent", "crosses into", "m²", "of the unit", title="units crossing their parent's line")
    for crossing in crossings:
        table.add_row(
            str(crossing["code"]),
            str(crossing["parent"]),
            str(crossing["into"]),
            f"{crossing['area_m2']:,.0f}",
            f"{crossing['share']:.1%}",
        )
    console.print(table)


@app.command()
def locate(lon: float, lat: float) -> None:
    """Print the unit chain of a point (WGS84)."""
    from grid.locate import Locator

    with reported_errors(), engine(store()).connect() as conn:
        location = Locator().locate(conn, lon, lat)
        for unit in location.chain:
            console.print(
                f"{unit.tier:10s} {unit.code:20s} {unit.name} {'(管理)' if unit.kind == 'management' else ''}"
            )
