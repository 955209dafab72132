"""What every package's command line shares: the consoles, errors as one line, a progress bar, the store.

Each package's ``cli.py`` builds its own verbs on these, so a refusal reads the same whichever
package answers it (``error: …`` and exit code 1, no traceback) and every bar looks alike. This is
the lowest layer with a command line (``spatial``: the database itself), so every package above may
use it.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Engine

from spatial.embedded import EmbeddedCluster
from spatial.errors import PlatformError
from spatial.settings import StoreSettings

console = Console()
err = Console(stderr=True)


@contextmanager
def reported_errors() -> Iterator[None]:
    """Domain errors end the command with their message and exit code 1, no traceback."""
    try:
        yield
    except PlatformError as error:
        err.print(f"[bold red]error:[/] {error}", highlight=False)
        raise typer.Exit(1) from None


@contextmanager
def progress_bar(description: str) -> Iterator[Callable[[str, float], None]]:
    """A rich bar driven by (stage, fraction) callbacks from the library."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task(description, total=1.0)

        def update(stage: str, fraction: float) -> None:
            bar.update(task, completed=min(fraction, 1.0), description=f"{description}: {stage}")

        yield update


def store() -> StoreSettings:
    """The store the command acts on (environment and ``.env``), read when the command runs."""
    return StoreSettings()


def engine(settings: StoreSettings) -> Engine:
    """The owner's engine on the store (the command line acts as the owner, not as the API's role)."""
    from spatial.db import make_engine

    return make_engine(settings)


def cluster(settings: StoreSettings) -> EmbeddedCluster:
    """The embedded cluster; a command about it ends with a message when an external database is configured."""
    if settings.database_url:
        err.print("CITYOPS_DATABASE_URL is set: the embedded cluster is not used.")
        raise typer.Exit(1)
    return EmbeddedCluster(settings)


def cli_actor() -> str:
    """Who acts from the command line: the operating-system account, as the audit trail names it."""
    return f"cli:{getpass.getuser()}"
