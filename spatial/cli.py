"""`cityops db …`, `cityops migrate` and `cityops schema …`: the embedded cluster and the schema."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy import Engine

from spatial.embedded_pooler import EmbeddedPooler, PoolerStatus
from spatial.embedded_replica import EmbeddedReplica, ReplicaStatus
from spatial.schema_cli import app as schema_app
from spatial.settings import StoreSettings, sqlalchemy_url
from spatial.terminal import cluster, console, engine, reported_errors, store

app = typer.Typer()
db_app = typer.Typer(no_args_is_help=True, help="The embedded PostgreSQL + PostGIS cluster.")
app.add_typer(db_app, name="db")
app.add_typer(schema_app, name="schema")


@db_app.command("start")
def db_start() -> None:
    """Start (creating on first use) the embedded cluster and the city database."""
    with reported_errors():
        embedded = cluster(store())
        status = embedded.start()
        embedded.ensure_database()
        console.print(f"embedded PostGIS running (pid {status.pid}, port {status.port}, {status.pgdata})")


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded cluster."""
    with reported_errors():
        settings = store()
        embedded = cluster(settings)
        EmbeddedPooler(settings).stop()  # it would only refuse its clients from now on
        embedded.stop()
        console.print("embedded PostGIS stopped")


@db_app.command("status")
def db_status() -> None:
    """Whether the embedded cluster exists and runs; exit code 3 when it is not running."""
    with reported_errors():
        status = cluster(store()).status()
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
        settings = store()
        url = settings.database_url or cluster(settings).url(admin=admin)
        typer.echo(sqlalchemy_url(url) if sqlalchemy else url.replace("postgresql+psycopg://", "postgresql://"))


replica_app = typer.Typer(
    no_args_is_help=True, help="A streaming replica of the embedded cluster (read-only endpoints)."
)
db_app.add_typer(replica_app, name="replica")


@replica_app.command("start")
def replica_start() -> None:
    """Copy the running cluster (first time) and start its hot standby; `cityops serve` reads from it."""
    with reported_errors():
        _print_running(EmbeddedReplica(store()).start())


@replica_app.command("stop")
def replica_stop() -> None:
    """Stop the standby (the API reads from the primary again; the next start resumes streaming)."""
    with reported_errors():
        EmbeddedReplica(store()).stop()
        console.print("replica stopped")


@replica_app.command("status")
def replica_status() -> None:
    """Whether the standby runs and how far it trails; exit code 3 when it is not running."""
    with reported_errors():
        status = EmbeddedReplica(store()).status()
        if not status.running:
            console.print("replica not running")
            raise typer.Exit(3)
        _print_running(status)


def _print_running(status: ReplicaStatus) -> None:
    console.print(f"replica running on port {status.port} · replay lag {status.replay_lag_bytes or 0:,} bytes")


pooler_app = typer.Typer(
    no_args_is_help=True, help="PgBouncer in front of the embedded cluster (`cityops serve` with many processes)."
)
db_app.add_typer(pooler_app, name="pooler")


@pooler_app.command("start")
def pooler_start() -> None:
    """Start PgBouncer in transaction mode for the API role; `serve --pooler` uses it (and starts it itself)."""
    with reported_errors():
        settings = store()
        cluster(settings)  # the embedded one, or a message
        pooler = EmbeddedPooler(settings)
        pooler.start()
        _print_pooler(pooler.status())


@pooler_app.command("stop")
def pooler_stop() -> None:
    """Stop PgBouncer (processes serving through it fail their requests until it is back)."""
    with reported_errors():
        EmbeddedPooler(store()).stop()
        console.print("pooler stopped")


@pooler_app.command("status")
def pooler_status() -> None:
    """Whether PgBouncer runs; exit code 3 when it is not running."""
    with reported_errors():
        status = EmbeddedPooler(store()).status()
        if not status.running:
            console.print("pooler not running")
            raise typer.Exit(3)
        _print_pooler(status)


def _print_pooler(status: PoolerStatus) -> None:
    console.print(
        f"PgBouncer running on port {status.port} · transaction mode · "
        f"at most {status.server_connections} server connections per database"
    )


@app.command()
def migrate() -> None:
    """Bring the schema up to date (safe to run again)."""
    from spatial.migrate import current, upgrade

    with reported_errors():
        schema = engine(store())
        upgrade(schema)
        console.print(f"schema at revision {current(schema)}")


def prepared(settings: StoreSettings) -> Engine:
    """The store ready for work: the embedded cluster started (unless an external database is configured),
    the city database created, the schema up to date; its owner's engine."""
    from spatial.migrate import upgrade

    if not settings.database_url:
        embedded = cluster(settings)
        embedded.start()
        embedded.ensure_database()
    owner = engine(settings)
    upgrade(owner)
    return owner
