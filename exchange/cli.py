"""`cityops scenarios …` and `cityops publish`: the scenario registry and the monthly public publications."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, TypeVar

import psycopg
import typer
from rich.table import Table

from spatial.db import libpq_url
from spatial.settings import StoreSettings
from spatial.terminal import cli_actor, console, engine, err, progress_bar, reported_errors, store

app = typer.Typer()
scenarios_app = typer.Typer(no_args_is_help=True, help="Application scenarios (应用场景) and their owners.")
publications_app = typer.Typer(no_args_is_help=True, help="The monthly public publications.")
app.add_typer(scenarios_app, name="scenarios")
app.add_typer(publications_app, name="publications")
T = TypeVar("T")


def _as_owner(settings: StoreSettings, work: Callable[[psycopg.AsyncConnection], Awaitable[T]]) -> T:
    """Run ``work`` on one owner connection (the command line acts as the owner, as every command does)."""

    async def run() -> T:
        async with await psycopg.AsyncConnection.connect(libpq_url(settings), autocommit=True) as conn:
            return await work(conn)

    with reported_errors():
        return asyncio.run(run())


@scenarios_app.command("load")
def scenarios_load(
    path: Annotated[Path, typer.Argument(help="A scenarios CSV (see fixtures/nanjing_scenarios.csv)")],
) -> None:
    """Add the file's new scenarios and rewrite the known ones (all rows checked first; all or none)."""
    load_scenarios(store(), path)


def load_scenarios(settings: StoreSettings, path: Path) -> None:
    """Load a scenarios file and say what changed."""
    from exchange.scenarios import load, read_file

    with reported_errors():
        drafts = read_file(path)
    added, changed, unchanged = _as_owner(settings, lambda conn: load(conn, drafts, cli_actor()))
    console.print(f"{len(drafts)} scenarios: {added} new, {changed} rewritten, {unchanged} already as written")


@scenarios_app.command("list")
def scenarios_list() -> None:
    """Every scenario: field, status, owner and what feeds it."""
    from exchange.scenarios import listed

    table = Table("code", "name", "field", "status", "owner", "categories", "sources", title="scenarios")
    for s in _as_owner(store(), listed):
        feed = ", ".join(s["categories"]) or "all"
        owner = f"{s['owner_unit_name']} {s['owner_department'] or ''}".strip()
        table.add_row(s["code"], s["name"], s["field"], s["status"], owner, feed, ", ".join(s["sources"]) or "all")
    console.print(table)


@app.command("publish")
def publish_command(
    month: Annotated[
        list[str] | None, typer.Option(help="YYYY-MM; repeat for several (default: every ended month with cases)")
    ] = None,
) -> None:
    """Freeze ended months as signed public files; a month already published stays exactly as it was."""
    publish_months(store(), month or [])


def publish_months(settings: StoreSettings, months: list[str]) -> None:
    """Publish ``months`` (none: every ended month with cases not yet published) and report each."""
    from exchange.public_figures import Month
    from exchange.publication_key import signing_key
    from exchange.publications import ended_months_with_cases, publish

    key = signing_key(settings.data_dir, settings.city)
    now = datetime.now(UTC)
    with reported_errors():
        wanted = [Month.parse(text) for text in months]
    if not wanted:
        wanted = [Month.parse(text) for text in _as_owner(settings, lambda conn: ended_months_with_cases(conn, now))]
    if not wanted:
        console.print("no ended month left to publish")
        return
    with progress_bar("publishing months") as update:
        for number, month in enumerate(wanted, start=1):
            done = _as_owner(settings, lambda conn, month=month: publish(conn, month, key, cli_actor(), now))  # type: ignore[misc]
            update(month.label, number / len(wanted))
            held = done.publication
            if done.now:
                console.print(f"{held.month}: published, key {held.key_id}")
            elif done.differs_today:
                err.print(
                    f"[yellow]{held.month}: published {held.published_at:%Y-%m-%d %H:%M} by {held.published_by}; "
                    "today's data gives different figures, the publication stays as published[/]",
                    highlight=False,
                )
            else:
                console.print(f"{held.month}: already published {held.published_at:%Y-%m-%d %H:%M}, unchanged")


@publications_app.command("verify")
def publications_verify(month: Annotated[str, typer.Option(help="YYYY-MM")]) -> None:
    """Check a publication's signature and every file against its manifest; exit 1 on any problem."""
    from exchange.public_figures import Month
    from exchange.publications import verify

    with reported_errors():
        asked = Month.parse(month)
    problems = _as_owner(store(), lambda conn: verify(conn, asked))
    for problem in problems:
        err.print(f"[bold red]{asked.label}:[/] {problem}", highlight=False)
    if problems:
        raise typer.Exit(1)
    console.print(f"{asked.label}: signature holds, every file matches its manifest")


@app.command("export")
def export_command(
    directory: Annotated[Path, typer.Argument(help="A new (or empty) directory for the export")],
    jobs: Annotated[int, typer.Option(min=1, max=16, help="Connections reading at once (as pg_dump -j)")] = 2,
) -> None:
    """Every case and its moves in the exchange format (JSON lines and a signed manifest), from one snapshot."""
    from exchange.bulk_export import export_cases

    with reported_errors(), progress_bar(f"exporting into {directory}") as update:
        manifest = export_cases(store(), directory, jobs=jobs, actor=cli_actor(), progress=update)
    console.print(
        f"{manifest.cases:,} cases and {manifest.transitions:,} moves from {manifest.source} in "
        f"{len(manifest.files)} parts; manifest signed: {directory / 'manifest.json'}",
        soft_wrap=True,
    )


@app.command("import")
def import_command(
    directory: Annotated[Path, typer.Argument(help="A directory written by `cityops export` (here or elsewhere)")],
    rejects: Annotated[Path | None, typer.Option(help="Where to write the rejected lines (CSV)")] = None,
) -> None:
    """Import another system's export: new cases land, known ones get only the moves they lack, bad lines are
    rejected with the reason; importing the same export again adds nothing."""
    from exchange.bulk_import import import_cases

    settings = store()
    with reported_errors(), progress_bar(f"importing {directory}") as update:
        done = import_cases(
            engine(settings), directory, settings.city, actor=cli_actor(), rejects_path=rejects, progress=update
        )
    console.print(
        f"from {done.source}: {done.new_cases:,} new cases, {done.advanced_cases:,} moved on, "
        f"{done.unchanged_cases:,} already as exported; {done.moves:,} moves written "
        f"(import batch {done.batch_id}, {done.seconds:.1f} s)",
        soft_wrap=True,
    )
    if done.rejects_path is not None:
        err.print(f"[yellow]{done.rejected:,} lines rejected, with the reason: {done.rejects_path}[/]", highlight=False)


peers_app = typer.Typer(
    no_args_is_help=True, help="Neighbouring cities: reports over the city line are handed to them."
)
app.add_typer(peers_app, name="peers")


@peers_app.command("self")
def peers_self(
    url: Annotated[str, typer.Option(help="The address neighbours reach this city's API at")],
    out: Annotated[Path | None, typer.Option(help="Write the description here (default: print it)")] = None,
) -> None:
    """This city's description for a neighbour to register (`cityops peers add` on its side)."""
    import orjson

    from exchange.peers import own_description
    from exchange.publication_key import public_pem, signing_key

    settings = store()
    pem = public_pem(signing_key(settings.data_dir, settings.city))
    described = _as_owner(settings, lambda conn: own_description(conn, settings.city, url, pem))
    text = orjson.dumps(described, option=orjson.OPT_INDENT_2).decode()
    if out is None:
        console.print_json(text)
    else:
        out.write_text(text + "\n", encoding="utf-8")
        console.print(f"{described['name']} ({described['code']}) described in {out}")


@peers_app.command("add")
def peers_add(
    path: Annotated[Path, typer.Argument(help="A neighbour's description (`cityops peers self` there)")],
) -> None:
    """Register a neighbour (or renew its address, key or boundary)."""
    from exchange.peers import add, parse_peer

    with reported_errors():
        peer = parse_peer(path.read_bytes())
    _as_owner(store(), lambda conn: add(conn, peer, cli_actor()))
    console.print(f"{peer.name} ({peer.urn}) registered at {peer.url}")


@peers_app.command("list")
def peers_list() -> None:
    """Every neighbour this city knows."""
    from exchange.peers import listed

    table = Table("city", "name", "code", "url", title="peer cities")
    for peer in _as_owner(store(), listed):
        table.add_row(peer["city"], peer["name"], peer["code"], peer["url"])
    console.print(table)
