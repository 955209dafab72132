"""`cityops`: every package's verbs under one command, and the verbs that need the whole platform.

Each package owns its verbs (``spatial.cli``: the database; ``grid.cli``: boundaries and locate;
``forces.cli``: the forces directory; ``command.cli``: the closed loop; ``api.cli``: the basemap;
``bench.cli``: the benchmarks); this shell adds them under one name and keeps what spans them all:
`demo` (every package's data, ``fixtures.demo``), `serve` (the API with its pages) and `up` (both, from nothing).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from subprocess import Popen
from typing import Annotated

import typer

import api.cli
import bench.cli
import command.cli
import exchange.cli
import forces.cli
import grid.cli
import sensing.cli
import spatial.cli
from fixtures.demo import living_demo
from spatial.terminal import console, reported_errors, store

app = typer.Typer(rich_markup_mode="rich", no_args_is_help=True, help="City operations platform.")
load_app = typer.Typer(
    no_args_is_help=True, help="Import boundaries, historic events, a forces directory or a sensor registry."
)
for verbs in (grid.cli.load, command.cli.load, forces.cli.load, sensing.cli.load):
    load_app.add_typer(verbs)
app.add_typer(load_app, name="load")
for verbs in (
    spatial.cli.app,
    grid.cli.app,
    forces.cli.app,
    command.cli.app,
    sensing.cli.app,
    exchange.cli.app,
    api.cli.app,
):
    app.add_typer(verbs)
app.add_typer(bench.cli.app, name="bench")

HistoryOption = Annotated[
    int, typer.Option(min=0, envvar="CITYOPS_DEMO_HISTORY_CASES", help="Cases in the demo's year of history")
]
HostOption = Annotated[str | None, typer.Option(help="Interface to listen on [env: CITYOPS_HOST]")]
PortOption = Annotated[int | None, typer.Option(help="Port [env: CITYOPS_PORT]")]


@app.command()
def demo(history: HistoryOption = 100_000) -> None:
    """Generate (first time only) and load the Nanjing demo: hierarchy, categories, forces, a year of
    case history and one demo user per role (development only)."""
    with reported_errors():
        living_demo(store(), history)


def _serve(host: str | None, port: int | None, workers: int = 1, pooler: bool | None = None) -> None:
    from api.run_as import drop_root

    settings = store()
    if (account := drop_root(settings)) is not None:
        console.print(f"serving as the service account {account}, not root")

    from cityops.serving import serve, through_pooler
    from web.settings import MEMORY, ApiSettings

    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    api = ApiSettings(**overrides)  # type: ignore[arg-type]
    settings = through_pooler(settings, api, workers, pooler)
    console.print(
        f"[bold green]cityops is up:[/] http://{api.host}:{api.port}/map  (API docs http://{api.host}:{api.port}/docs)"
    )
    if settings.pooler_url is not None:
        console.print("the processes' pools go through PgBouncer; their listeners and locks connect directly")
    if workers > 1 and api.rate_limit_storage == MEMORY:
        console.print(
            f"the {workers} processes count rate limits and failed logins together, in the platform's own Redis "
            "(or set CITYOPS_RATE_LIMIT_STORAGE=redis://host:6379)"
        )
    serve(settings, api, workers)


WorkersOption = Annotated[int, typer.Option(min=1, max=64, help="Server processes (the loops run once across all)")]
PoolerOption = Annotated[
    bool | None,
    typer.Option(
        "--pooler/--direct",
        help="The processes' pools through PgBouncer, or straight to PostgreSQL "
        "[default: through PgBouncer once their connections would pass half of max_connections]",
        show_default=False,
    ),
]


@app.command()
def serve(
    host: HostOption = None, port: PortOption = None, workers: WorkersOption = 1, pooler: PoolerOption = None
) -> None:
    """Serve the API and the map (the background loops too, each in one process of all)."""
    with reported_errors():
        _serve(host, port, workers, pooler)


@app.command()
def worker() -> None:
    """Run the background loops (audit sealer, dispatch sweeper, deadline watch, follow-ups, summons watch, MQTT
    ingest, alarm filing, silence and rollups, webhook deliveries, messages to peer cities) apart from the server."""
    import asyncio

    from api.logs import configure_logging
    from api.run_as import drop_root
    from command.loop_settings import LoopSettings
    from command.worker import Loop, work
    from exchange.delivery import exchange_loops
    from exchange.publication_key import signing_key
    from exchange.settings import ExchangeSettings
    from forces.settings import ForceSettings
    from incidents.summons import summons_loops
    from sensing.loops import sensing_loops
    from sensing.settings import SensingSettings
    from spatial.database import Database
    from web.settings import ApiSettings

    with reported_errors():
        settings = store()
        drop_root(settings)
        configure_logging(ApiSettings().log_json)
        sensing = SensingSettings()

        def more(database: Database, loops: LoopSettings) -> list[Loop]:
            key = signing_key(settings.data_dir, settings.city)
            exchange, _ = exchange_loops(database.pool, ExchangeSettings(), settings.city, key)  # state ends with us
            return [*summons_loops(database, loops), *sensing_loops(database, settings, sensing), *exchange]

        console.print("cityops worker: the background loops, each working here or in another process")
        asyncio.run(work(settings, ForceSettings(), LoopSettings(), more=more))


@app.command()
def up(host: HostOption = None, port: PortOption = None, history: HistoryOption = 100_000) -> None:
    """First run and every run: database, MQTT broker, schema, Nanjing demo, then serve and print the map URL."""
    with reported_errors():
        settings = store()
        spatial.cli.prepared(settings)
        sensing.cli.broker_ready(settings)
        living_demo(settings, history)
        from api.run_as import drop_root

        drop_root(settings)  # the simulator too runs as the service account
        with _demo_simulator(port):
            _serve(host, port)


@contextmanager
def _demo_simulator(port: int | None) -> Iterator[Popen[bytes] | None]:
    """In development, `cityops simulate` beside the server (its own process), stopped with it."""
    import subprocess

    from forces.simulate import simulator_wanted
    from web.settings import ApiSettings

    api = ApiSettings()
    if not simulator_wanted(api.environment):
        yield None
        return
    url = f"http://127.0.0.1:{port or api.port}"
    # every mobile force, often enough that none goes stale (CITYOPS_STALE_AFTER_S is minutes)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cityops",
            "simulate",
            "--url",
            url,
            "--wait",
            "120",
            "--forces",
            "1000000",
            "--interval",
            "30",
            "--reports-per-minute",
            "1",
        ],
        stdout=subprocess.DEVNULL,
    )
    # and every sensor, once a minute, with the planted rainstorm two minutes in
    sensors = subprocess.Popen([sys.executable, "-m", "cityops", "sensors", "simulate"], stdout=subprocess.DEVNULL)
    console.print(
        f"demo simulators moving the mobile forces (pid {process.pid}) and publishing sensors (pid {sensors.pid})"
    )
    try:
        yield process
    finally:
        for simulator in (process, sensors):
            simulator.terminate()
            simulator.wait(timeout=10)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
