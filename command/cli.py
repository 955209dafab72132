"""The closed loop's verbs: `cityops load events`, categories, the calendar, users, the audit, backup and
restore, the archive, hot spots, the evaluation report and the simulator that drives the live map."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from spatial.errors import PlatformError
from spatial.settings import StoreSettings
from spatial.terminal import cli_actor, console, engine, err, progress_bar, reported_errors, store

app = typer.Typer()
load = typer.Typer()
categories_app = typer.Typer(no_args_is_help=True, help="Case categories (GB/T 30428 部件/事件).")
user_app = typer.Typer(no_args_is_help=True, help="Staff users, their roles and API keys.")
calendar_app = typer.Typer(no_args_is_help=True, help="The working calendar deadlines run on (holidays, 调休).")
audit_app = typer.Typer(no_args_is_help=True, help="The hash-chained audit trail.")
app.add_typer(categories_app, name="categories")
app.add_typer(user_app, name="user")
app.add_typer(calendar_app, name="calendar")
app.add_typer(audit_app, name="audit")


# ---- historic events -----------------------------------------------------------------------
@load.command("events")
def load_events(
    path: Annotated[Path, typer.Argument(help="Historic events (.csv, .geojson)")],
    crs: Annotated[str, typer.Option(help="The coordinates' system: wgs84, gcj02 or bd09")] = "wgs84",
    rejects: Annotated[Path | None, typer.Option(help="Where rejected rows go (default NAME.rejects.csv)")] = None,
    bulk: Annotated[
        bool | None, typer.Option("--bulk/--no-bulk", help="Rebuild indexes after the load (default: when large)")
    ] = None,
) -> None:
    """Import historic events: each checked, located and routed, or written to the rejects with its reason."""
    from command.historic_import import import_events
    from spatial.china_coords import parse_source_crs

    with reported_errors():
        if path.suffix.lower() not in (".csv", ".geojson", ".json"):
            raise PlatformError(
                f"{path.name}: historic events come as .csv or .geojson (boundaries: `cityops load boundaries`)"
            )
        with progress_bar(f"importing {path.name}") as update:
            result = import_events(
                engine(store()),
                path,
                crs=parse_source_crs(crs),
                rejects=rejects,
                bulk=bulk,
                progress=update,
                actor=cli_actor(),
            )
        console.print(
            f"batch {result.batch_id}: {result.loaded:,} of {result.rows_read:,} events loaded and routed, "
            f"{result.rejected:,} rejected, in {result.seconds:.1f} s ({result.rate:,.0f} rows/s"
            f"{', bulk mode' if result.bulk else ''})"
        )
        if result.rejects_path:
            console.print(f"rejected rows with their reasons: {result.rejects_path}")
        if result.uncovered_deadlines:
            years = ", ".join(map(str, result.uncovered_years))
            err.print(
                f"[bold yellow]{result.uncovered_deadlines:,} deadlines ran through years the holiday calendar "
                f"does not cover ({years}) and were counted Monday–Friday[/] — `cityops calendar check` says "
                "what to add",
                highlight=False,
                soft_wrap=True,
            )


@app.command("fill-addresses")
def fill_addresses_command() -> None:
    """Give every case stored without an address its place's (after `cityops load events`)."""
    from command.addresses import fill_addresses

    with reported_errors(), engine(store()).begin() as conn:
        console.print(f"{fill_addresses(conn):,} cases now have the address of their place")


# ---- categories and the calendar -----------------------------------------------------------
@categories_app.command("load")
def categories_load(
    path: Annotated[Path | None, typer.Argument(help="Category CSV; default: the shipped table")] = None,
) -> None:
    """Check a category table and upsert it (all rows or none)."""
    with reported_errors():
        count = load_categories(store(), path)
        console.print(f"{count} categories loaded")


def load_categories(settings: StoreSettings, path: Path | None) -> int:
    """Upsert the category table at ``path`` (default: the shipped one); how many categories it holds."""
    from command.taxonomy import DEFAULT_CATEGORIES, read_categories, write_categories

    categories = read_categories(path or DEFAULT_CATEGORIES)
    with engine(settings).begin() as conn:
        return write_categories(conn, categories, actor=cli_actor())


@categories_app.command("list")
def categories_list() -> None:
    """The categories in force, with their time limits."""
    from command.taxonomy import list_categories

    with reported_errors(), engine(store()).connect() as conn:
        rows = list_categories(conn)
    table = Table("code", "name", "", "limit", "tier", "departments")
    for code, name, name_en, limit, kind, tier, departments in rows:
        table.add_row(code, name, name_en, f"{limit:g} {kind}", tier, departments)
    console.print(table)


@calendar_app.command("check")
def calendar_check(
    on: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Judge as of this day (default: today in Beijing)")
    ] = None,
    overrides: Annotated[Path | None, typer.Option(help="Override CSV (default: command/holidays_cn.csv)")] = None,
) -> None:
    """The years whose holidays are known; exit code 1 while this year or the next is not covered."""
    import chinese_calendar

    from command.working_time import CHINA, HOLIDAYS_CN, coverage, describe_years

    path = overrides or HOLIDAYS_CN
    with reported_errors():
        known = coverage(on.date() if on else datetime.now(CHINA).date(), path)
    table = Table("source", "years covered", title=f"holiday calendar · today {known.today} (Beijing)")
    table.add_row(f"chinesecalendar {chinese_calendar.__version__}", describe_years(known.package))
    table.add_row(f"{path.name} (notice rows)", describe_years(known.overrides))
    table.add_row("together", describe_years(known.years))
    console.print(table)
    for year, which in ((known.today.year, "this year"), (known.today.year + 1, "next year")):
        if year in known.years:
            console.print(f"{year} ({which}): covered")
        else:
            err.print(
                f"[bold red]{year} ({which}): not covered[/] — deadlines reaching into it are counted "
                f"Monday–Friday; add the State Council's {year} holiday notice to {path} "
                "(README: *The working calendar*) or upgrade chinesecalendar",
                highlight=False,
                soft_wrap=True,
            )
    if known.missing:
        raise typer.Exit(1)


# ---- users ---------------------------------------------------------------------------------
def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return typer.prompt("password", hide_input=True, confirmation_prompt=True)


@user_app.command("add")
def user_add(
    username: str,
    unit: Annotated[str, typer.Option(help="Code of the unit the user belongs to (their jurisdiction)")],
    role: Annotated[list[str], typer.Option(help="A role (repeat for several); `cityops user roles` lists them")],
    name: Annotated[str | None, typer.Option(help="Display name")] = None,
    department: Annotated[str | None, typer.Option(help="Department, for department handlers")] = None,
    password_stdin: Annotated[bool, typer.Option(help="Read the password from standard input")] = False,
    no_password: Annotated[bool, typer.Option(help="An integration: API keys only, no login")] = False,
    force: Annotated[str | None, typer.Option(help="Code of the force the user answers for (a crew: several)")] = None,
) -> None:
    """Create a user (the password is asked for twice, or read from stdin)."""
    from command.users import create_user

    with reported_errors():
        password = None if no_password else _password(password_stdin)
        with engine(store()).begin() as conn:
            user = create_user(
                conn,
                username,
                unit_code=unit,
                roles=role,
                password=password,
                display_name=name,
                department=department,
                force_code=force,
                actor=cli_actor(),
            )
        answers = f", answering for force {force}" if force else ""
        console.print(
            f"user {user.username} in {user.unit_code} ({user.unit_tier}) with {', '.join(user.roles)}{answers}"
        )


@user_app.command("list")
def user_list() -> None:
    """Every user with unit, roles and state."""
    from command.users import list_users

    with reported_errors(), engine(store()).connect() as conn:
        table = Table("user", "name", "unit", "department", "roles", "state")
        for user in list_users(conn):
            state = "disabled" if user.disabled else "active"
            unit = f"{user.unit_code} ({user.unit_tier})"
            table.add_row(user.username, user.display_name, unit, user.department or "", ", ".join(user.roles), state)
        console.print(table)


@user_app.command("disable")
def user_disable(username: str) -> None:
    """Disable a user and revoke their API keys (users are never deleted: the audit trail names them)."""
    from command.users import disable_user

    with reported_errors(), engine(store()).begin() as conn:
        disable_user(conn, username, actor=cli_actor())
        console.print(f"user {username} disabled; their API keys are revoked")


@user_app.command("role")
def user_role(
    username: str,
    role: Annotated[list[str], typer.Option(help="The roles the user has from now on (repeat for several)")],
) -> None:
    """Replace a user's roles."""
    from command.users import get_user, set_roles

    with reported_errors(), engine(store()).begin() as conn:
        set_roles(conn, username, role, actor=cli_actor())
        console.print(f"user {username}: {', '.join(get_user(conn, username).roles)}")


@user_app.command("key")
def user_key(username: str, name: Annotated[str, typer.Option(help="What the key is for")]) -> None:
    """Create an API key for a user (integrations, sensors, Open311 clients); shown once."""
    from command.users import create_api_key

    with reported_errors(), engine(store()).begin() as conn:
        key = create_api_key(conn, username, name, actor=cli_actor())
    console.print(f"API key for {username} ({name}); store it now, it is not shown again:", soft_wrap=True)
    typer.echo(key)  # plain, never wrapped: it is copied whole


@user_app.command("revoke-key")
def user_revoke_key(
    username: str, prefix: Annotated[str, typer.Argument(help="The key's prefix (before the dot)")]
) -> None:
    """Revoke one of a user's API keys; it stops working at once."""
    from command.users import revoke_api_key

    with reported_errors(), engine(store()).begin() as conn:
        revoke_api_key(conn, username, prefix, actor=cli_actor())
        console.print(f"API key {prefix} of {username} revoked")


@user_app.command("roles")
def user_roles() -> None:
    """The roles and what each may do."""
    from command.users import list_roles

    with reported_errors(), engine(store()).connect() as conn:
        table = Table("role", "description", "permissions")
        for name, description, permissions in list_roles(conn):
            table.add_row(name, description, ", ".join(permissions))
        console.print(table)


# ---- the audit, backup and restore ---------------------------------------------------------
@audit_app.command("verify")
def audit_verify() -> None:
    """Recompute the audit chain and every case's transition chain; exit 1 naming the first misfit."""
    from command.chains import first_broken_transition, transition_count
    from spatial.audit import verify

    with reported_errors(), engine(store()).connect() as conn:
        verdict = verify(conn)
        broken = first_broken_transition(conn)
        transitions = transition_count(conn)
    if not verdict.intact:
        err.print(f"[bold red]audit chain broken[/] at entry {verdict.first_bad}: {verdict.reason}")
        raise typer.Exit(1)
    console.print(f"audit chain intact: {verdict.entries:,} entries, head {verdict.head}", soft_wrap=True)
    if broken is not None:
        err.print(f"[bold red]case transitions broken[/] at case {broken[0]}, transition {broken[1]}: {broken[2]}")
        raise typer.Exit(1)
    console.print(f"case transitions intact: {transitions:,} rows, every case's chain and state consistent")


def _figures_table(title: str, counts: dict[str, int], audit_head: str | None, media: int) -> Table:
    table = Table("table", "rows", title=title)
    for name, rows in sorted(counts.items()):
        table.add_row(name, f"{rows:,}")
    table.add_row("[dim]media files[/]", f"{media:,}")
    table.add_row("[dim]audit chain head[/]", audit_head or "(empty)")
    return table


@app.command()
def backup(directory: Annotated[Path, typer.Argument(help="A new (or empty) directory for the backup")]) -> None:
    """Back up the city database (pg_dump of one snapshot) and its media, with a manifest to verify a restore by."""
    from command.backup import backup as make_backup

    with reported_errors():
        with progress_bar(f"backing up into {directory}") as update:
            manifest = make_backup(store(), directory, progress=update)
        figures = manifest.figures
        console.print(
            _figures_table(
                f"backup of {manifest.city} at {manifest.created_at}",
                figures.counts,
                figures.audit_head,
                len(manifest.media),
            )
        )
        console.print(
            f"PostgreSQL {figures.server_version}, PostGIS {figures.postgis_version}, schema at "
            f"{figures.migration_head}; manifest: {directory / 'manifest.json'}",
            soft_wrap=True,
        )


@app.command()
def restore(
    directory: Annotated[Path, typer.Argument(help="A directory written by `cityops backup`")],
    force: Annotated[bool, typer.Option(help="Replace a city database that already holds data")] = False,
) -> None:
    """Restore a backup into the embedded cluster (a fresh data directory) and prove it equal to its manifest."""
    from command.restore import restore as restore_backup

    with reported_errors():
        with progress_bar(f"restoring {directory}") as update:
            report = restore_backup(store(), directory, force=force, progress=update)
        figures = report.figures
        console.print(
            _figures_table(
                f"restored {report.manifest.city} from {report.manifest.created_at}",
                figures.counts,
                figures.audit_head,
                report.media_files,
            )
        )
        console.print(
            f"verified: every table's rows and the audit head equal the manifest, the audit chain is "
            f"intact ({report.audit_entries_verified:,} entries), {report.media_files:,} media files "
            "match their SHA-256",
            soft_wrap=True,
        )


# ---- history: archive, hot spots, evaluation -----------------------------------------------
def _period(start: str | None, end: str | None) -> tuple[datetime, datetime]:
    """``--from``/``--to`` as aware datetimes, by default the last 30 days."""
    from datetime import timedelta

    until = datetime.fromisoformat(end) if end else datetime.now().astimezone()
    since = datetime.fromisoformat(start) if start else until - timedelta(days=30)
    if since.tzinfo is None or until.tzinfo is None or since >= until:
        raise PlatformError("--from and --to need a time zone (…+08:00) and --from before --to")
    return since, until


@app.command()
def archive(
    directory: Annotated[Path, typer.Argument(help="Where the GeoParquet files go")],
    start: Annotated[
        str | None, typer.Option("--from", help="Filed from, ISO 8601 with zone (default: 30 days ago)")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="Filed before, with zone (default: now)")] = None,
    rows_per_file: Annotated[int, typer.Option(min=1, help="Cases per file (one Dask partition each)")] = 250_000,
) -> None:
    """Write case history as GeoParquet (point, cell, category, source, time, unit chain; no text, no personal data)."""
    from command.archive import export_cases

    with reported_errors(), progress_bar("archive") as update:
        since, until = _period(start, end)

        def tick(done: int, total: int) -> None:
            update(f"{done:,}/{total:,} cases", done / max(total, 1))

        files = export_cases(engine(store()), directory, since, until, rows_per_file=rows_per_file, progress=tick)
    console.print(f"{len(files)} files in {directory}")


@app.command()
def hotspots(
    unit: Annotated[str | None, typer.Option(help="Unit code (default: the city)")] = None,
    start: Annotated[str | None, typer.Option("--from", help="ISO 8601 with zone (default: 30 days ago)")] = None,
    end: Annotated[str | None, typer.Option("--to", help="End, exclusive, with zone (default: now)")] = None,
    res: Annotated[int, typer.Option(min=6, max=10, help="H3 resolution of the cells")] = 8,
    category: Annotated[list[str], typer.Option(help="Category code or prefix (repeat for several)")] = [],  # noqa: B006
    source: Annotated[list[str], typer.Option(help="Report source (repeat): hotline, grid_worker …")] = [],  # noqa: B006
    steps: Annotated[int, typer.Option(min=1, max=60, help="Equal time steps (≥ 2: emerging patterns)")] = 1,
    permutations: Annotated[int, typer.Option(min=0, max=9999)] = 999,
    alpha: Annotated[float, typer.Option(min=0.0001, max=0.2, help="False-discovery rate")] = 0.05,
    min_count: Annotated[int, typer.Option(min=1, help="Cases a cell needs to be called hot")] = 3,
    rate: Annotated[str, typer.Option(help="count, or buildings (cases per building)")] = "count",
    out: Annotated[Path, typer.Option(help="Directory for GeoJSON, CSV, PNG maps and summary.txt")] = Path("hotspots"),
    archive: Annotated[Path | None, typer.Option(help="Count from this GeoParquet archive on Dask instead")] = None,
    dask: Annotated[
        str, typer.Option(help="With --archive: 'local' (a LocalCluster here) or a scheduler address")
    ] = "local",
) -> None:
    """Hot and cold spots of a unit (Getis-Ord Gi*, FDR), their patterns over time, the top places; files and maps."""
    import asyncio

    import psycopg

    from command.hotspot_analysis import HotspotQuery, analyse
    from command.hotspot_outputs import write_all
    from spatial.db import libpq_url
    from spatial.units import unit_or_city

    async def run(settings: StoreSettings, update: Callable[[str, float], None]) -> tuple[Any, str]:
        async with await psycopg.AsyncConnection.connect(libpq_url(settings)) as conn:
            found = await unit_or_city(conn, unit)
            since, until = _period(start, end)
            query = HotspotQuery(
                found.id,
                found.code,
                found.outline,
                since,
                until,
                res,
                tuple(category),
                tuple(source),
                steps,
                permutations,
                alpha,
                min_count,
                rate,
            )
            with _archive_counter(archive, dask) as count:
                return await analyse(conn, query, count=count, progress=update), found.name

    with reported_errors(), progress_bar("hot spots") as update:
        result, name = asyncio.run(run(store(), update))
        title = f"{result.query.unit_code} {name}: {result.query.since:%Y-%m-%d} – {result.query.until:%Y-%m-%d}"
        update("writing files and maps", 0.99)
        paths = write_all(result, out, title)
    console.print(result.text(), highlight=False)
    console.print("written: " + ", ".join(str(p) for p in paths), soft_wrap=True)


@contextmanager
def _archive_counter(archive: Path | None, address: str) -> Iterator[Callable[[Any], Any] | None]:
    """None (the database counts), or a counter over the archive on a Dask cluster for the command's duration."""
    if archive is None:
        yield None
        return
    from distributed import Client, LocalCluster

    from grid.scaleout import archive_counts

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) if address == "local" else None
    with Client(cluster or address) as client:
        yield lambda query: archive_counts(archive, query.filter, query.period, client)
    if cluster is not None:
        cluster.close()


REPORT_COLUMNS = {
    "filed": "filed",
    "closed": "closed",
    "closure_rate": "closure",
    "on_time_closure_rate": "on-time close",
    "on_time_handling_rate": "on-time handling",
    "rework_rate": "rework",
    "return_rate": "return",
    "mean_handling_hours": "handling h",
    "overdue": "overdue",
    "repeat_case_rate": "repeat",
    "satisfaction_rate": "satisfied",
}


def _figure(name: str, value: object) -> str:
    """Rates as percentages, the rest as numbers; — where a rate has no denominator."""
    if value is None:
        return "—"
    return f"{value:.1%}" if name.endswith("_rate") else f"{value:,}"


@app.command()
def report(
    unit: Annotated[str | None, typer.Option(help="Unit code (default: the city)")] = None,
    start: Annotated[
        str | None, typer.Option("--from", help="Start, ISO 8601 with zone (default: 30 days ago)")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="End, exclusive, with zone (default: now)")] = None,
    by: Annotated[str, typer.Option(help="area, department or role")] = "area",
) -> None:
    """Evaluation (综合评价) of a unit's subtree over a period, as a table (formulas: GET /api/v1/evaluation)."""
    import asyncio

    import psycopg

    from command.evaluation import FORMULAS, By, Period, evaluate
    from spatial.db import libpq_url
    from spatial.units import unit_or_city

    async def run(settings: StoreSettings) -> dict[str, Any]:
        async with await psycopg.AsyncConnection.connect(libpq_url(settings)) as conn:
            found = await unit_or_city(conn, unit)
            since, until = _period(start, end)
            return {
                "title": f"{found.code} {found.name}, {since.isoformat()} – {until.isoformat()}, by {by}",
                **await evaluate(conn, Period(found.id, since, until, By(by))),
            }

    if by not in By.__members__:
        err.print(f"[bold red]--by[/] must be one of {', '.join(By.__members__)}")
        raise typer.Exit(2)
    with reported_errors():
        result = asyncio.run(run(store()))
    table = Table("key", "name", *REPORT_COLUMNS.values(), title=result["title"])
    for row in [*result["rows"], result["total"]]:
        table.add_row(row["key"], row["name"], *(_figure(name, row[name]) for name in REPORT_COLUMNS))
    Console(width=max(console.width, 170)).print(table)  # a wide table: never squeezed into 80 columns
    console.print(
        "formulas: " + "; ".join(f"{name} = {formula}" for name, (formula, _) in FORMULAS.items()), soft_wrap=True
    )


# ---- the simulator -------------------------------------------------------------------------
@app.command()
def simulate(
    url: Annotated[str, typer.Option(help="The running service")] = "http://127.0.0.1:8000",
    forces: Annotated[int, typer.Option(help="How many forces move")] = 2000,
    reports_per_minute: Annotated[float, typer.Option(help="Citizens' reports per minute")] = 6.0,
    interval: Annotated[float, typer.Option(help="Seconds between position reports")] = 5.0,
    seconds: Annotated[float | None, typer.Option(help="Stop after (default: Ctrl-C)")] = None,
    wait: Annotated[float, typer.Option(help="Seconds to wait for the service to be ready")] = 0,
    sensors: Annotated[
        bool, typer.Option("--sensors", help="Publish the sensors' readings over MQTT instead (sensors simulate)")
    ] = False,
) -> None:
    """Move the demo forces along plausible paths and file reports, through the API (for the live map); with
    ``--sensors``, publish every registered sensor's readings over MQTT with a planted rainstorm instead."""
    if sensors:  # sensing sits above this layer: its simulator is its own command, run as one
        import subprocess
        import sys

        raise typer.Exit(subprocess.call([sys.executable, "-m", "cityops", "sensors", "simulate"]))
    from command.taxonomy import category_codes
    from command.users import key_holder
    from forces.simulate import Simulation, Traffic, run, walkers
    from spatial.units import city_code, city_outline

    with reported_errors():
        owner = engine(store())
        with owner.connect() as conn:
            city = city_code(conn)
            outline = city_outline(conn)
            categories = category_codes(conn)
        # the simulator's two callers, as benchmarks name theirs (kept between runs, a fresh key each run)
        tracker = key_holder(owner, "simulator-tracker", ["tracker"], city, actor="bench", purpose="benchmark")
        reporter = key_holder(owner, "simulator-citizens", ["integration"], city, actor="bench", purpose="benchmark")
        sim = Simulation(walkers(owner, forces))
        console.print(f"simulating {len(sim.walkers):,} forces and {reports_per_minute:g} reports/min against {url}")
        with console.status("running") as status:

            def tick(sent: Traffic) -> None:
                status.update(f"{sent.fixes:,} fixes, {sent.reports:,} reports sent")

            traffic = run(
                url,
                tracker,
                reporter,
                sim,
                outline,
                categories,
                reports_per_minute=reports_per_minute,
                interval_s=interval,
                seconds=seconds,
                on_tick=tick,
                wait_s=wait,
            )
        console.print(
            f"{traffic.fixes:,} fixes ({traffic.refused_fixes:,} refused), {traffic.reports:,} reports "
            f"({traffic.refused_reports:,} refused)"
        )
