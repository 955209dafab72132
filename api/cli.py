"""`cityops`: a thin Typer shell over the library; each verb delegates and reports."""

from __future__ import annotations

import getpass
import sys
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from spatial.errors import PlatformError
from spatial.settings import StoreSettings, sqlalchemy_url

app = typer.Typer(rich_markup_mode="rich", no_args_is_help=True, help="City operations platform.")
db_app = typer.Typer(no_args_is_help=True, help="The embedded PostgreSQL + PostGIS cluster.")
bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks (figures with baseline ratios).")
categories_app = typer.Typer(no_args_is_help=True, help="Case categories (GB/T 30428 部件/事件).")
user_app = typer.Typer(no_args_is_help=True, help="Staff users, their roles and API keys.")
forces_app = typer.Typer(no_args_is_help=True, help="The forces directory (people, teams, vehicles, equipment).")
calendar_app = typer.Typer(no_args_is_help=True, help="The working calendar deadlines run on (holidays, 调休).")
app.add_typer(db_app, name="db")
app.add_typer(bench_app, name="bench")
app.add_typer(categories_app, name="categories")
app.add_typer(user_app, name="user")
app.add_typer(forces_app, name="forces")
app.add_typer(calendar_app, name="calendar")
console = Console()
err = Console(stderr=True)


@contextmanager
def reported_errors():  # type: ignore[no-untyped-def]
    """Domain errors end the command with their message and exit code 1, no traceback."""
    try:
        yield
    except PlatformError as error:
        err.print(f"[bold red]error:[/] {error}", highlight=False)
        raise typer.Exit(1) from None


@contextmanager
def progress_bar(description: str):  # type: ignore[no-untyped-def]
    """A rich bar driven by (stage, fraction) callbacks from the library."""
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(), console=console, transient=False,
    ) as bar:  # fmt: skip
        task = bar.add_task(description, total=1.0)

        def update(stage: str, fraction: float) -> None:
            bar.update(task, completed=min(fraction, 1.0), description=f"{description}: {stage}")

        yield update


def _store() -> StoreSettings:
    return StoreSettings()


def _cluster(settings: StoreSettings):  # type: ignore[no-untyped-def]
    from spatial.embedded import EmbeddedCluster

    if settings.database_url:
        err.print("CITYOPS_DATABASE_URL is set: the embedded cluster is not used.")
        raise typer.Exit(1)
    return EmbeddedCluster(settings)


# ---- db ------------------------------------------------------------------------------------
@db_app.command("start")
def db_start() -> None:
    """Start (creating on first use) the embedded cluster and the city database."""
    with reported_errors():
        settings = _store()
        cluster = _cluster(settings)
        status = cluster.start()
        cluster.ensure_database()
        console.print(f"embedded PostGIS running (pid {status.pid}, port {status.port}, {status.pgdata})")


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded cluster."""
    with reported_errors():
        cluster = _cluster(_store())
        cluster.stop()
        console.print("embedded PostGIS stopped")


@db_app.command("status")
def db_status() -> None:
    """Whether the embedded cluster exists and runs; exit code 3 when it is not running."""
    with reported_errors():
        status = _cluster(_store()).status()
        state = "running" if status.running else ("stopped" if status.initialised else "not created")
        console.print(f"{state} · data {status.pgdata} · port {status.port} · pid {status.pid}")
        if not status.running:
            raise typer.Exit(3)


@db_app.command("url")
def db_url(
    sqlalchemy: Annotated[bool, typer.Option(help="Print the SQLAlchemy form (postgresql+psycopg://)")] = False,
    admin: Annotated[bool, typer.Option(help="The superuser URL (maintenance only)")] = False,
) -> None:
    """Print the database URL (psql accepts it as is)."""
    with reported_errors():
        settings = _store()
        url = settings.database_url or _cluster(settings).url(admin=admin)
        typer.echo(sqlalchemy_url(url) if sqlalchemy else url.replace("postgresql+psycopg://", "postgresql://"))


# ---- schema and data -----------------------------------------------------------------------
def _engine(settings: StoreSettings):  # type: ignore[no-untyped-def]
    from spatial.db import make_engine

    return make_engine(settings)


@app.command()
def migrate() -> None:
    """Bring the schema up to date (safe to run again)."""
    from spatial.migrate import current, upgrade

    with reported_errors():
        engine = _engine(_store())
        upgrade(engine)
        console.print(f"schema at revision {current(engine)}")


def _print_reports(reports: list) -> None:  # type: ignore[type-arg]
    table = Table("file", "tier", "features", "new", "updated", "s")
    for report in reports:
        kind = " (management)" if report.kind == "management" else ""
        table.add_row(
            Path(report.source).stem, report.tier + kind, f"{report.features:,}",
            "unchanged" if report.skipped else f"{report.inserted:,}",
            "" if report.skipped else f"{report.updated:,}", f"{report.seconds:.1f}",
        )  # fmt: skip
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
        table.add_row(str(crossing["code"]), str(crossing["parent"]), str(crossing["into"]),
                      f"{crossing['area_m2']:,.0f}", f"{crossing['share']:.1%}")  # fmt: skip
    console.print(table)


@app.command()
def load(
    path: Annotated[
        Path,
        typer.Argument(
            help="Boundaries (GeoJSON, GeoPackage, Shapefile, GeoParquet) with --tier; a forces directory "
            "(.csv, .geojson) with --forces; historic events (.csv, .geojson) with neither"
        ),
    ],
    tier: Annotated[
        str | None, typer.Option(help="Boundaries: city, district, street, community, grid or building")
    ] = None,
    kind: Annotated[str, typer.Option(help="administrative, or management (江北新区)")] = "administrative",
    code_column: Annotated[str, typer.Option(help="Column with the unit code")] = "code",
    name_column: Annotated[str, typer.Option(help="Column with the unit name")] = "name",
    parent_column: Annotated[
        str | None, typer.Option(help="Column with the parent's code; default: link by spatial containment")
    ] = None,
    members_column: Annotated[str | None, typer.Option(help="Management units: member codes, comma-separated")] = None,
    crs: Annotated[
        str | None, typer.Option(help="Boundaries: CRS when missing or wrong (EPSG:4549); events: wgs84, gcj02, bd09")
    ] = None,
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
    rejects: Annotated[
        Path | None, typer.Option(help="Events: where rejected rows go (default NAME.rejects.csv)")
    ] = None,
    bulk: Annotated[
        bool | None,
        typer.Option("--bulk/--no-bulk", help="Events: rebuild indexes after the load (default: when large)"),
    ] = None,
    forces: Annotated[bool, typer.Option("--forces", help="The file is a forces directory")] = False,
) -> None:
    """Import one tier of boundaries, a forces directory, or historic events; nothing is half-written."""
    if forces:
        _load_forces(_store(), path)
        return
    if tier is None:
        _load_events(path, crs, rejects, bulk)
        return
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
            tier=parse_tier(tier), kind=unit_kind, code_column=code_column, name_column=name_column,
            parent_column=parent_column, members_column=members_column, crs=crs,
            swap_axes=swap_axes, repair=repair, parent_by=linking,
        )  # fmt: skip
        settings = _store()
        engine = _engine(settings)
        with progress_bar(f"loading {path.name}") as update:
            report = load_file(engine, path, options, settings, force=force, progress=update, actor=_cli_actor())
        _print_reports([report])


def _load_forces(settings: StoreSettings, path: Path, synthetic: bool = False) -> None:
    from forces.directory import load_directory

    with reported_errors():
        with console.status(f"checking and loading {path.name}"):
            result = load_directory(_engine(settings), path, actor=_cli_actor(), synthetic=synthetic)
        console.print(f"{result.rows:,} forces: {result.inserted:,} new, {result.updated:,} updated, "
                      f"{result.placed:,} placed at their starting position")  # fmt: skip


def _load_events(path: Path, crs: str | None, rejects: Path | None, bulk: bool | None) -> None:
    from command.historic_import import import_events
    from spatial.china_coords import parse_source_crs

    with reported_errors():
        if path.suffix.lower() not in (".csv", ".geojson", ".json"):
            raise PlatformError(f"{path.name}: boundaries need --tier; historic events come as .csv or .geojson")
        settings = _store()
        with progress_bar(f"importing {path.name}") as update:
            result = import_events(_engine(settings), path, crs=parse_source_crs(crs or "wgs84"), rejects=rejects,
                                   bulk=bulk, progress=update, actor=_cli_actor())  # fmt: skip
        console.print(
            f"batch {result.batch_id}: {result.loaded:,} of {result.rows_read:,} events loaded and routed, "
            f"{result.rejected:,} rejected, in {result.seconds:.1f} s ({result.rate:,.0f} rows/s"
            f"{', bulk mode' if result.bulk else ''})"
        )
        if result.rejects_path:
            console.print(f"rejected rows with their reasons: {result.rejects_path}")
        if result.uncovered_deadlines:
            years = ", ".join(map(str, result.uncovered_years))
            err.print(f"[bold yellow]{result.uncovered_deadlines:,} deadlines ran through years the holiday calendar "
                      f"does not cover ({years}) and were counted Monday–Friday[/] — `cityops calendar check` says "
                      "what to add", highlight=False, soft_wrap=True)  # fmt: skip


HistoryOption = Annotated[int, typer.Option(min=0, envvar="CITYOPS_DEMO_HISTORY_CASES",
                                          help="Cases in the demo's year of history")]  # fmt: skip


@app.command()
def demo(history: HistoryOption = 100_000) -> None:
    """Generate (first time only) and load the Nanjing demo: hierarchy, categories, forces, a year of
    case history and one demo user per role (development only)."""
    with reported_errors():
        _living_demo(_store(), history)


def _living_demo(settings: StoreSettings, history: int) -> None:
    """The demo, its history and its users; each part finds itself in place on later runs."""
    from api.settings import ApiSettings
    from command.demo_users import DEMO_STREET, ensure_demo_users
    from command.synthetic_history import load_history

    _load_demo(settings)
    if ApiSettings().environment == "production":  # a real city's cases never mix with invented ones
        err.print("[yellow]production: no synthetic case history and no demo users are loaded[/]", highlight=False)
        return
    engine = _engine(settings)
    with progress_bar("a year of case history") as update:
        loaded = load_history(settings, engine, history, prefix="demo-history", seed=17, hot_unit=DEMO_STREET,
                              actor=_cli_actor(), progress=update)  # fmt: skip
    console.print(f"case history: {loaded.already + loaded.cases:,} cases "
                  f"({loaded.transitions:,} transitions written now, {loaded.open_cases:,} still open)")  # fmt: skip
    with engine.begin() as conn:
        users = ensure_demo_users(conn, ApiSettings().environment, actor=_cli_actor())
    console.print("demo users (username · password · role · unit · department):")
    for user in users:  # plain lines: a password must never be cut to the terminal's width
        password = user.password or "(exists: not shown again)"
        console.print(f"  {user.username} · {password} · {user.role} · {user.unit} · {user.department or '—'}",
                      highlight=False, soft_wrap=True)  # fmt: skip


def _load_demo(settings: StoreSettings) -> None:
    from fixtures.geo.generate_nanjing import ensure_generated
    from grid.load import load_manifest

    manifest = ensure_generated(settings.data_dir / "fixtures")
    console.print(f"{_load_categories(settings, None)} case categories loaded")
    engine = _engine(settings)
    with progress_bar("Nanjing demo") as update:
        reports = load_manifest(engine, manifest, settings, progress=update)
    _print_reports(reports)
    directory = manifest.parent / "forces.csv"
    if not directory.exists():
        from forces.demo import generate_directory

        with console.status("generating the demo forces directory"):
            generate_directory(engine, directory)
    _load_forces(settings, directory, synthetic=True)


@forces_app.command("capabilities")
def forces_capabilities() -> None:
    """The capabilities a force may have (codes used in directory files and in dispatch requests)."""
    with reported_errors(), _engine(_store()).connect() as conn:
        table = Table("code", "name", "name (en)")
        for row in conn.exec_driver_sql("SELECT code, name, name_en FROM capability ORDER BY code"):
            table.add_row(*row)
        console.print(table)


@app.command()
def simulate(
    url: Annotated[str, typer.Option(help="The running service")] = "http://127.0.0.1:8000",
    forces: Annotated[int, typer.Option(help="How many forces move")] = 2000,
    reports_per_minute: Annotated[float, typer.Option(help="Citizens' reports per minute")] = 6.0,
    interval: Annotated[float, typer.Option(help="Seconds between position reports")] = 5.0,
    seconds: Annotated[float | None, typer.Option(help="Stop after (default: Ctrl-C)")] = None,
    wait: Annotated[float, typer.Option(help="Seconds to wait for the service to be ready")] = 0,
) -> None:
    """Move the demo forces along plausible paths and file reports, through the API (for the live map)."""
    from bench.harness import bench_caller, city_outline
    from forces.simulate import Simulation, Traffic, run, walkers

    with reported_errors():
        engine = _engine(_store())
        tracker = bench_caller(engine, "simulator-tracker", ["tracker"], _city_code(engine))
        reporter = bench_caller(engine, "simulator-citizens", ["integration"], _city_code(engine))
        with engine.connect() as conn:
            outline = city_outline(conn)
            categories = [row[0] for row in conn.exec_driver_sql("SELECT code FROM category ORDER BY code")]
        sim = Simulation(walkers(engine, forces))
        console.print(f"simulating {len(sim.walkers):,} forces and {reports_per_minute:g} reports/min against {url}")
        with console.status("running") as status:

            def tick(sent: Traffic) -> None:
                status.update(f"{sent.fixes:,} fixes, {sent.reports:,} reports sent")

            traffic = run(url, tracker, reporter, sim, outline, categories, reports_per_minute=reports_per_minute,
                          interval_s=interval, seconds=seconds, on_tick=tick, wait_s=wait)  # fmt: skip
        console.print(f"{traffic.fixes:,} fixes ({traffic.refused_fixes:,} refused), {traffic.reports:,} reports "
                      f"({traffic.refused_reports:,} refused)")  # fmt: skip


def _city_code(engine) -> str:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.exec_driver_sql("SELECT code FROM unit WHERE tier = 'city' ORDER BY id LIMIT 1").scalar_one()


@categories_app.command("load")
def categories_load(
    path: Annotated[Path | None, typer.Argument(help="Category CSV; default: the shipped table")] = None,
) -> None:
    """Check a category table and upsert it (all rows or none)."""
    with reported_errors():
        count = _load_categories(_store(), path)
        console.print(f"{count} categories loaded")


def _load_categories(settings: StoreSettings, path: Path | None) -> int:
    from command.taxonomy import DEFAULT_CATEGORIES, read_categories, write_categories

    categories = read_categories(path or DEFAULT_CATEGORIES)
    with _engine(settings).begin() as conn:
        return write_categories(conn, categories, actor=_cli_actor())


@categories_app.command("list")
def categories_list() -> None:
    """The categories in force, with their time limits."""
    from sqlalchemy import text

    with reported_errors(), _engine(_store()).connect() as conn:
        rows = conn.execute(text("SELECT code, name, name_en, time_limit, limit_kind, responsible_tier, "
                                 "array_to_string(departments, '、') FROM category ORDER BY code")).all()  # fmt: skip
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
            err.print(f"[bold red]{year} ({which}): not covered[/] — deadlines reaching into it are counted "
                      f"Monday–Friday; add the State Council's {year} holiday notice to {path} "
                      "(README: *The working calendar*) or upgrade chinesecalendar", highlight=False,
                      soft_wrap=True)  # fmt: skip
    if known.missing:
        raise typer.Exit(1)


@app.command()
def locate(lon: float, lat: float) -> None:
    """Print the unit chain of a point (WGS84)."""
    from grid.locate import Locator

    with reported_errors(), _engine(_store()).connect() as conn:
        location = Locator().locate(conn, lon, lat)
        for unit in location.chain:
            console.print(
                f"{unit.tier:10s} {unit.code:20s} {unit.name} {'(管理)' if unit.kind == 'management' else ''}"
            )


@app.command("fill-addresses")
def fill_addresses_command() -> None:
    """Give every case stored without an address its place's (after importing historic events with `cityops load`)."""
    from command.addresses import fill_addresses

    with reported_errors(), _engine(_store()).begin() as conn:
        console.print(f"{fill_addresses(conn):,} cases now have the address of their place")


# ---- serving -------------------------------------------------------------------------------
HostOption = Annotated[str | None, typer.Option(help="Interface to listen on [env: CITYOPS_HOST]")]
PortOption = Annotated[int | None, typer.Option(help="Port [env: CITYOPS_PORT]")]


def _serve(host: str | None, port: int | None, workers: int = 1) -> None:
    from api.run_as import drop_root

    settings = _store()
    if (account := drop_root(settings)) is not None:
        console.print(f"serving as the service account {account}, not root")

    from api.serving import serve
    from api.settings import ApiSettings

    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    api = ApiSettings(**overrides)  # type: ignore[arg-type]
    console.print(f"[bold green]cityops is up:[/] http://{api.host}:{api.port}/map  "
                  f"(API docs http://{api.host}:{api.port}/docs)")  # fmt: skip
    serve(settings, api, workers)


WorkersOption = Annotated[int, typer.Option(min=1, max=64, help="Server processes (the loops run once across all)")]


@app.command()
def serve(host: HostOption = None, port: PortOption = None, workers: WorkersOption = 1) -> None:
    """Serve the API and the map (the background loops too, each in one process of all)."""
    with reported_errors():
        _serve(host, port, workers)


@app.command()
def worker() -> None:
    """Run the background loops (audit sealer, dispatch sweeper, deadline watch, follow-ups) apart from the server."""
    import asyncio

    from api.logs import configure_logging
    from api.run_as import drop_root
    from api.settings import ApiSettings
    from command.loop_settings import LoopSettings
    from command.worker import work
    from forces.settings import ForceSettings

    with reported_errors():
        settings = _store()
        drop_root(settings)
        configure_logging(ApiSettings().log_json)
        console.print("cityops worker: the background loops, each working here or in another process")
        asyncio.run(work(settings, ForceSettings(), LoopSettings()))


@app.command()
def up(host: HostOption = None, port: PortOption = None, history: HistoryOption = 100_000) -> None:
    """First run and every run: database, schema, Nanjing demo, then serve and print the map URL."""
    from spatial.migrate import upgrade

    with reported_errors():
        settings = _store()
        if not settings.database_url:
            cluster = _cluster(settings)
            cluster.start()
            cluster.ensure_database()
        upgrade(_engine(settings))
        _living_demo(settings, history)
        from api.run_as import drop_root

        drop_root(settings)  # the simulator too runs as the service account
        with _demo_simulator(port):
            _serve(host, port)


@contextmanager
def _demo_simulator(port: int | None):  # type: ignore[no-untyped-def]
    """In development, `cityops simulate` beside the server (its own process), stopped with it."""
    import subprocess

    from api.settings import ApiSettings
    from forces.simulate import simulator_wanted

    api = ApiSettings()
    if not simulator_wanted(api.environment):
        yield None
        return
    url = f"http://127.0.0.1:{port or api.port}"
    # every mobile force, often enough that none goes stale (CITYOPS_STALE_AFTER_S is minutes)
    process = subprocess.Popen([sys.executable, "-m", "api", "simulate", "--url", url, "--wait", "120",
                                "--forces", "1000000", "--interval", "30", "--reports-per-minute", "1"],
                               stdout=subprocess.DEVNULL)  # fmt: skip
    console.print(f"demo simulator moving the mobile forces (pid {process.pid})")
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=10)


@bench_app.command("locate")
def bench_locate(
    points: Annotated[int, typer.Option(help="Random points for the batch run")] = 1_000_000,
    single: Annotated[int, typer.Option(help="Single locates through PostGIS")] = 5_000,
    seconds: Annotated[float, typer.Option(help="Seconds of HTTP load per endpoint")] = 10,
    clients: Annotated[int, typer.Option(help="Concurrent HTTP clients")] = 32,
) -> None:
    """Batch, single and HTTP locate, each against its baseline in the same run."""
    from bench.locate import run

    with reported_errors():
        run(_store(), points=points, single=single, seconds=seconds, clients=clients, console=console)


@bench_app.command("intake")
def bench_intake(
    seconds: Annotated[float, typer.Option(help="Seconds of HTTP load per endpoint")] = 30,
    clients: Annotated[int, typer.Option(help="Concurrent HTTP clients")] = 64,
    events: Annotated[int, typer.Option(help="Events in the historic-import file")] = 1_000_000,
    workers: Annotated[int, typer.Option(min=2, max=64, help="Server processes measured against one")] = 2,
) -> None:
    """Report intake (by one and by N server processes) and historic import, against baselines, in a scratch city."""
    from bench.intake import run

    with reported_errors():
        run(_bench_store(), seconds=seconds, clients=clients, events=events, console=console, workers=workers)


@bench_app.command("forces")
def bench_forces(
    forces: Annotated[int, typer.Option(help="Forces in the directory for the run")] = 100_000,
    queries: Annotated[int, typer.Option(help="Recommendations measured in the database")] = 2000,
    seconds: Annotated[float, typer.Option(help="Seconds of HTTP load per measurement")] = 15,
    clients: Annotated[int, typer.Option(help="Concurrent clients posting positions")] = 16,
) -> None:
    """Nearest-capable recommendation (exactness, p50/p99) and position ingest, each against its baseline."""
    from bench.forces import run

    with reported_errors():
        run(_bench_store(), forces=forces, queries=queries, seconds=seconds, clients=clients, console=console)


@bench_app.command("workflow")
def bench_workflow(
    seconds: Annotated[float, typer.Option(help="Seconds of HTTP load per measurement")] = 15,
    clients: Annotated[int, typer.Option(help="Concurrent clients, each moving a case of its own")] = 32,
    cases: Annotated[int, typer.Option(help="Historic cases (with transitions) evaluated")] = 1_000_000,
) -> None:
    """Case transitions under load vs a one-row insert, and evaluation of the history vs pandas."""
    from bench.workflow import run

    with reported_errors():
        run(
            _bench_store("_workflow_bench", empty=False), seconds=seconds, clients=clients, cases=cases, console=console
        )


@bench_app.command("demo")
def bench_demo(cases: Annotated[int, typer.Option(help="Cases in the year of history")] = 100_000) -> None:
    """The demo's year of case history: seconds to load it vs plain COPY of the same rows (scratch database)."""
    from bench.demo import run

    with reported_errors():
        run(_bench_store("_demo_bench", empty=False), cases=cases, console=console)


@bench_app.command("map")
def bench_map(
    cases: Annotated[int, typer.Option(help="Open cases across the city")] = 100_000,
    forces: Annotated[int, typer.Option(help="Tracked forces")] = 10_000,
    seconds: Annotated[float, typer.Option(help="Seconds of tile load per layer and baseline")] = 10,
    samples: Annotated[int, typer.Option(help="Position moves watched on the page")] = 100,
    background: Annotated[int, typer.Option(help="Fixes a second from the other forces meanwhile")] = 330,
) -> None:
    """The command page (load to interactive, bytes), vector tiles and live latency, each against its baseline."""
    from bench.map import run

    with reported_errors():
        run(_bench_store("_map_bench", empty=False), cases=cases, forces=forces, seconds=seconds, samples=samples,
            background=background, console=console)  # fmt: skip


@bench_app.command("hotspots")
def bench_hotspots(
    cases: Annotated[int, typer.Option(help="Cases over the last year (kept between runs)")] = 1_000_000,
    resolution: Annotated[int, typer.Option(min=6, max=10, help="H3 resolution")] = 8,
    permutations: Annotated[int, typer.Option(min=0, max=9999)] = 999,
    repeats: Annotated[int, typer.Option(min=1, help="Timed runs of each route (the median is reported)")] = 3,
) -> None:
    """Hot spots of the city from the database vs points → h3 → esda.G_Local; and the cold start."""
    from bench.hotspots import run

    with reported_errors():
        run(_bench_store("_hotspots_bench", empty=False), cases=cases, resolution=resolution,
            permutations=permutations, repeats=repeats, console=console)  # fmt: skip


@bench_app.command("access")
def bench_access(
    seconds: Annotated[float, typer.Option(help="Seconds of HTTP load per endpoint and caller")] = 15,
    clients: Annotated[int, typer.Option(help="Concurrent HTTP clients")] = 32,
    cases: Annotated[int, typer.Option(help="Cases seeded across the city before measuring")] = 200_000,
) -> None:
    """Scope enforcement: intake and lists as a street user vs a city-wide user, in a scratch copy."""
    from bench.access import run

    with reported_errors():
        run(_bench_store(), seconds=seconds, clients=clients, cases=cases, console=console)


@bench_app.command("basemap")
def bench_basemap(
    seconds: Annotated[float, typer.Option(help="Seconds of tile load per package and baseline")] = 10,
    clients: Annotated[int, typer.Option(help="Concurrent HTTP clients")] = 16,
) -> None:
    """Tiles of an imported MBTiles (png) and PMTiles (pbf) package vs the hierarchy's own vector tiles."""
    from bench.basemap import run

    with reported_errors():
        run(_bench_store("_basemap_bench", empty=False), seconds=seconds, clients=clients, console=console)


@bench_app.command("screen")
def bench_screen(
    minutes: Annotated[float, typer.Option(help="Minutes the day of traffic is compressed into")] = 10,
    rate: Annotated[float, typer.Option(help="Events a second (reports, moves, escalations, force fixes)")] = 100,
    cases: Annotated[int, typer.Option(help="Open cases across the city")] = 20_000,
    forces: Annotated[int, typer.Option(help="Tracked forces")] = 10_000,
    loads: Annotated[int, typer.Option(min=1, help="Warm reloads measured after the cold load")] = 3,
) -> None:
    """The wall display: first full paint vs the command map, and a day of traffic (heap, DOM, live latency)."""
    from bench.screen import run

    with reported_errors():
        run(_bench_store("_screen_bench", empty=False), minutes=minutes, rate=rate, cases=cases, forces=forces,
            loads=loads, console=console)  # fmt: skip


@bench_app.command("queues")
def bench_queues(
    cases: Annotated[int, typer.Option(help="Open cases across the city, spread over the open states")] = 100_000,
    seconds: Annotated[float, typer.Option(help="Seconds of HTTP load per request and baseline")] = 10,
    clients: Annotated[int, typer.Option(help="Concurrent HTTP clients")] = 4,
    loads: Annotated[int, typer.Option(min=1, help="Page loads (cold and warm) per caller")] = 3,
) -> None:
    """Work queues of a district handler and the city commander: requests vs the plain case list, page ready."""
    from bench.queues import run

    with reported_errors():
        run(_bench_store("_queues_bench", empty=False), cases=cases, seconds=seconds, clients=clients, loads=loads,
            console=console)  # fmt: skip


@bench_app.command("search")
def bench_search(
    cases: Annotated[int, typer.Option(help="Cases across the city (and every unit and building)")] = 100_000,
    seconds: Annotated[float, typer.Option(help="Seconds of HTTP load per query kind and baseline")] = 10,
    clients: Annotated[int, typer.Option(help="Concurrent HTTP clients")] = 2,
    queries: Annotated[int, typer.Option(min=1, help="Distinct queries of each kind, drawn from the data")] = 300,
) -> None:
    """The search box: each query kind's p50 / p99 vs a plain ILIKE, against the 50 ms p99 target."""
    from bench.search import run

    with reported_errors():
        run(_bench_store("_search_bench", empty=False), cases=cases, seconds=seconds, clients=clients,
            queries=queries, console=console)  # fmt: skip


@bench_app.command("faults")
def bench_faults(
    down: Annotated[float, typer.Option(help="Seconds the database is stopped")] = 5,
    guessers: Annotated[int, typer.Option(min=1, help="Parallel login guessers")] = 64,
    guess_seconds: Annotated[float, typer.Option(help="Seconds of guessing per case and app")] = 10,
) -> None:
    """A database stop/start under probing and parallel login guessing, each against the minimal app
    (on a cluster of the benchmark's own)."""
    from bench.faults import own_city, run

    with reported_errors(), own_city(_store().data_dir / "fixtures", console) as (cluster, settings):
        run(cluster, settings, down_s=down, guessers=guessers, guess_s=guess_seconds, console=console)


@bench_app.command("trends")
def bench_trends(
    cases: Annotated[int, typer.Option(help="Cases in the demo's year of history")] = 100_000,
    samples: Annotated[int, typer.Option(min=1, help="Requests timed one after another per measure")] = 30,
    baseline_samples: Annotated[int, typer.Option(min=1, help="The same for the per-point baseline (slow)")] = 5,
) -> None:
    """The planner's KPI trends: one grouped pass vs one evaluation per point, against the 1 s p99 target."""
    from bench.trends import run

    with reported_errors():
        run(_bench_store("_trends_bench", empty=False), cases=cases, samples=samples,
            baseline_samples=baseline_samples, console=console)  # fmt: skip


def _bench_store(suffix: str = "_bench", *, empty: bool = True) -> StoreSettings:
    """A database of its own (the demo hierarchy), so benchmark reports never mix with real ones.

    ``empty``: each run starts from an empty case table (the workflow benchmark keeps its history
    in a database of its own instead, as generating a city's year takes minutes).
    """
    from spatial.migrate import upgrade

    settings = _store()
    if settings.database_url:
        return settings
    settings = settings.model_copy(update={"city": f"{settings.city}{suffix}"})
    cluster = _cluster(settings)
    cluster.start()
    cluster.ensure_database()
    upgrade(_engine(settings))
    _load_demo(settings)
    if empty:
        with _engine(settings).begin() as conn:  # transitions are append-only: the owner lifts that for the reset
            conn.exec_driver_sql("ALTER TABLE case_transition DISABLE TRIGGER case_transition_no_truncate")
            conn.exec_driver_sql("TRUNCATE event, report, report_media, case_merge, import_batch CASCADE")
            conn.exec_driver_sql("ALTER TABLE case_transition ENABLE TRIGGER case_transition_no_truncate")
    return settings


def _cli_actor() -> str:
    """Who acts from the command line: the operating-system account, as the audit trail names it."""
    return f"cli:{getpass.getuser()}"


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
        with _engine(_store()).begin() as conn:
            user = create_user(conn, username, unit_code=unit, roles=role, password=password, display_name=name,
                               department=department, force_code=force, actor=_cli_actor())  # fmt: skip
        answers = f", answering for force {force}" if force else ""
        console.print(f"user {user.username} in {user.unit_code} ({user.unit_tier}) with {', '.join(user.roles)}"
                      f"{answers}")  # fmt: skip


@user_app.command("list")
def user_list() -> None:
    """Every user with unit, roles and state."""
    from command.users import list_users

    with reported_errors(), _engine(_store()).connect() as conn:
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

    with reported_errors(), _engine(_store()).begin() as conn:
        disable_user(conn, username, actor=_cli_actor())
        console.print(f"user {username} disabled; their API keys are revoked")


@user_app.command("role")
def user_role(
    username: str,
    role: Annotated[list[str], typer.Option(help="The roles the user has from now on (repeat for several)")],
) -> None:
    """Replace a user's roles."""
    from command.users import get_user, set_roles

    with reported_errors(), _engine(_store()).begin() as conn:
        set_roles(conn, username, role, actor=_cli_actor())
        console.print(f"user {username}: {', '.join(get_user(conn, username).roles)}")


@user_app.command("key")
def user_key(username: str, name: Annotated[str, typer.Option(help="What the key is for")]) -> None:
    """Create an API key for a user (integrations, sensors, Open311 clients); shown once."""
    from command.users import create_api_key

    with reported_errors(), _engine(_store()).begin() as conn:
        key = create_api_key(conn, username, name, actor=_cli_actor())
    console.print(f"API key for {username} ({name}); store it now, it is not shown again:", soft_wrap=True)
    typer.echo(key)  # plain, never wrapped: it is copied whole


@user_app.command("revoke-key")
def user_revoke_key(
    username: str, prefix: Annotated[str, typer.Argument(help="The key's prefix (before the dot)")]
) -> None:
    """Revoke one of a user's API keys; it stops working at once."""
    from command.users import revoke_api_key

    with reported_errors(), _engine(_store()).begin() as conn:
        revoke_api_key(conn, username, prefix, actor=_cli_actor())
        console.print(f"API key {prefix} of {username} revoked")


@user_app.command("roles")
def user_roles() -> None:
    """The roles and what each may do."""
    with reported_errors(), _engine(_store()).connect() as conn:
        table = Table("role", "description", "permissions")
        for name, description, permissions in conn.exec_driver_sql(
            "SELECT name, description, permissions FROM role ORDER BY name"
        ):
            table.add_row(name, description, ", ".join(permissions))
        console.print(table)


basemap_app = typer.Typer(no_args_is_help=True, help="The city's own basemap: a local PMTiles or MBTiles package.")
app.add_typer(basemap_app, name="basemap")


def _print_basemap(package, heading: str) -> None:  # type: ignore[no-untyped-def]
    west, south, east, north = package.bounds
    table = Table(show_header=False, title=heading, title_justify="left")
    for name, value in (("format", f"{package.format}, {package.kind} ({package.tile_type}"
                                   f"{', gzip' if package.compression == 'gzip' else ''})"),
                        ("zooms", f"{package.min_zoom}–{package.max_zoom}"),
                        ("bounds", f"{west:.4f}, {south:.4f} – {east:.4f}, {north:.4f} (WGS 84)"),
                        ("tiles", f"{package.tiles:,}"), ("size", f"{package.size / 1e6:,.1f} MB"),
                        ("name", package.name), ("attribution", package.attribution),
                        ("layers", ", ".join(package.layers)), ("from", package.source),
                        ("imported", package.imported_at)):  # fmt: skip
        if value:
            table.add_row(name, value)
    console.print(table)


@basemap_app.command("import")
def basemap_import(
    path: Annotated[Path, typer.Argument(help="A PMTiles v3 or MBTiles file (raster png/jpg/webp or vector pbf)")],
) -> None:
    """Check a tile package and serve it at /basemap/{z}/{x}/{y}; a refused file leaves the previous one served."""
    from api.settings import ApiSettings
    from spatial.basemap import basemap_dir, import_package

    with reported_errors():
        with progress_bar(path.name) as update:
            package = import_package(path, basemap_dir(_store()), update)
        _print_basemap(package, "basemap served at /basemap/{z}/{x}/{y}." + package.tile_type)
        if ApiSettings().basemap_url:
            console.print("CITYOPS_BASEMAP_URL is set too: the map shows this package first and offers the "
                          "configured server as the other basemap")  # fmt: skip


@basemap_app.command("show")
def basemap_show() -> None:
    """What the map uses as its basemap: the imported package, the configured tile server, or neither."""
    from urllib.parse import urlsplit

    from api.settings import ApiSettings
    from spatial.basemap import basemap_dir, served

    package = served(basemap_dir(_store()))
    configured = ApiSettings().basemap_url
    if package:
        _print_basemap(package, "basemap: the imported package (shown first)")
    if configured:  # the host only: a Tianditu URL carries the city's key
        other = " (offered as the other basemap)" if package else ""
        console.print(f"CITYOPS_BASEMAP_URL: a tile server at {urlsplit(configured).netloc}{other}", highlight=False)
    if not package and not configured:
        console.print("no basemap: the hierarchy itself is the base layer (`cityops basemap import FILE`, "
                      "or set CITYOPS_BASEMAP_URL)")  # fmt: skip


@basemap_app.command("remove")
def basemap_remove() -> None:
    """Stop serving the imported package and delete its copy (the original file is not touched)."""
    from spatial.basemap import basemap_dir, remove_package

    package = remove_package(basemap_dir(_store()))
    console.print(f"basemap {package.source} removed" if package else "no basemap package was imported")


audit_app = typer.Typer(no_args_is_help=True, help="The hash-chained audit trail.")
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify() -> None:
    """Recompute the audit chain and every case's transition chain; exit 1 naming the first misfit."""
    from spatial.audit import verify

    with reported_errors(), _engine(_store()).connect() as conn:
        verdict = verify(conn)
        broken = conn.exec_driver_sql("SELECT event_id, seq, problem FROM cityops_verify_transitions() LIMIT 1").first()
        transitions = conn.exec_driver_sql("SELECT count(*) FROM case_transition").scalar_one()
    if not verdict.intact:
        err.print(f"[bold red]audit chain broken[/] at entry {verdict.first_bad}: {verdict.reason}")
        raise typer.Exit(1)
    console.print(f"audit chain intact: {verdict.entries:,} entries, head {verdict.head}", soft_wrap=True)
    if broken is not None:
        err.print(f"[bold red]case transitions broken[/] at case {broken[0]}, transition {broken[1]}: {broken[2]}")
        raise typer.Exit(1)
    console.print(f"case transitions intact: {transitions:,} rows, every case's chain and state consistent")


# ---- backup and restore ---------------------------------------------------------------------
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
            manifest = make_backup(_store(), directory, progress=update)
        figures = manifest.figures
        console.print(_figures_table(f"backup of {manifest.city} at {manifest.created_at}", figures.counts,
                                     figures.audit_head, len(manifest.media)))  # fmt: skip
        console.print(f"PostgreSQL {figures.server_version}, PostGIS {figures.postgis_version}, schema at "
                      f"{figures.migration_head}; manifest: {directory / 'manifest.json'}", soft_wrap=True)  # fmt: skip


@app.command()
def restore(
    directory: Annotated[Path, typer.Argument(help="A directory written by `cityops backup`")],
    force: Annotated[bool, typer.Option(help="Replace a city database that already holds data")] = False,
) -> None:
    """Restore a backup into the embedded cluster (a fresh data directory) and prove it equal to its manifest."""
    from command.restore import restore as restore_backup

    with reported_errors():
        with progress_bar(f"restoring {directory}") as update:
            report = restore_backup(_store(), directory, force=force, progress=update)
        figures = report.figures
        console.print(_figures_table(f"restored {report.manifest.city} from {report.manifest.created_at}",
                                     figures.counts, figures.audit_head, report.media_files))  # fmt: skip
        console.print(f"verified: every table's rows and the audit head equal the manifest, the audit chain is "
                      f"intact ({report.audit_entries_verified:,} entries), {report.media_files:,} media files "
                      "match their SHA-256", soft_wrap=True)  # fmt: skip


def _period(start: str | None, end: str | None):  # type: ignore[no-untyped-def]
    """``--from``/``--to`` as aware datetimes, by default the last 30 days."""
    from datetime import datetime, timedelta

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

        files = export_cases(_engine(_store()), directory, since, until, rows_per_file=rows_per_file, progress=tick)
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

    async def run(settings: StoreSettings, update) -> tuple:  # type: ignore[no-untyped-def, type-arg]
        async with await psycopg.AsyncConnection.connect(libpq_url(settings)) as conn:
            code = unit or await _city(conn)
            found = await (await conn.execute("SELECT id, name, ST_AsBinary(geom) FROM unit WHERE code = %s",
                                              (code,))).fetchone()  # fmt: skip
            if found is None:
                raise PlatformError(f"no unit {code!r}")
            since, until = _period(start, end)
            query = HotspotQuery(found[0], code, bytes(found[2]), since, until, res, tuple(category), tuple(source),
                                 steps, permutations, alpha, min_count, rate)  # fmt: skip
            with _archive_counter(archive, dask) as count:
                return await analyse(conn, query, count=count, progress=update), found[1]

    with reported_errors(), progress_bar("hot spots") as update:
        result, name = asyncio.run(run(_store(), update))
        title = f"{result.query.unit_code} {name}: {result.query.since:%Y-%m-%d} – {result.query.until:%Y-%m-%d}"
        update("writing files and maps", 0.99)
        paths = write_all(result, out, title)
    console.print(result.text(), highlight=False)
    console.print("written: " + ", ".join(str(p) for p in paths), soft_wrap=True)


async def _city(conn) -> str:  # type: ignore[no-untyped-def]
    return (await (await conn.execute("SELECT code FROM unit WHERE tier = 'city' LIMIT 1")).fetchone() or ("",))[0]


@contextmanager
def _archive_counter(archive: Path | None, address: str):  # type: ignore[no-untyped-def]
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

    async def run(settings: StoreSettings) -> dict:  # type: ignore[type-arg]
        async with await psycopg.AsyncConnection.connect(libpq_url(settings)) as conn:
            code = unit or await _city(conn)
            found = await (await conn.execute("SELECT id, name FROM unit WHERE code = %s", (code,))).fetchone()
            if found is None:
                raise PlatformError(f"no unit {code!r}")
            since, until = _period(start, end)
            return {"title": f"{code} {found[1]}, {since.isoformat()} – {until.isoformat()}, by {by}",
                    **await evaluate(conn, Period(found[0], since, until, By(by)))}  # fmt: skip

    if by not in By.__members__:
        err.print(f"[bold red]--by[/] must be one of {', '.join(By.__members__)}")
        raise typer.Exit(2)
    with reported_errors():
        result = asyncio.run(run(_store()))
    table = Table("key", "name", *REPORT_COLUMNS.values(), title=result["title"])
    for row in [*result["rows"], result["total"]]:
        table.add_row(row["key"], row["name"], *(_figure(name, row[name]) for name in REPORT_COLUMNS))
    Console(width=max(console.width, 170)).print(table)  # a wide table: never squeezed into 80 columns
    console.print("formulas: " + "; ".join(f"{name} = {formula}" for name, (formula, _) in FORMULAS.items()),
                  soft_wrap=True)  # fmt: skip


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
