"""`cityops bench demo`: how long the demo's year of case history takes to load, against plain COPY.

The measured path is the demo's own (``command.synthetic_history.load_history``): the year's
cases through the historic import (validate, locate, route, deadlines), their lifecycles
generated, hash-chained and COPYed, each case and its clock set where its transitions leave it,
the chains checked afterwards. The baseline stores the same rows with none of that work: the
same number of events and transitions COPYed as they are already stored (``COPY … TO`` into a
buffer, then ``COPY … FROM`` into empty scratch tables of the same shape) — what writing the
bytes alone costs on this machine.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import text

from bench.harness import Row, print_table
from bench.machine import describe
from command.synthetic_history import Progress as Callback
from command.synthetic_history import load_history
from spatial.db import libpq_url, make_engine
from spatial.errors import PlatformError
from spatial.settings import StoreSettings

PREFIX = "bench-demo-history"
TARGET_S = 60.0


@contextmanager
def progress_bar(console: Console, description: str) -> Iterator[Callback]:
    """A rich bar driven by the library's (stage, fraction) callbacks."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task(description, total=1.0)
        yield lambda stage, fraction: bar.update(
            task, completed=min(fraction, 1.0), description=f"{description}: {stage}"
        )


def plain_copy(settings: StoreSettings, prefix: str) -> float:
    """Seconds to COPY the same events and transitions, as stored, into empty tables of the same shape."""
    cases = f"SELECT * FROM case_file WHERE external_id LIKE '{prefix}-%'"
    moves = (
        f"SELECT t.* FROM case_transition t JOIN case_file e ON e.id = t.case_id WHERE e.external_id LIKE '{prefix}-%'"
    )
    with psycopg.connect(libpq_url(settings)) as conn:
        buffers = {}
        for name, query in (("case_file", cases), ("case_transition", moves)):
            buffers[name] = io.BytesIO()
            with conn.cursor().copy(f"COPY ({query}) TO STDOUT") as copy:
                for chunk in copy:
                    buffers[name].write(chunk)
        started = time.perf_counter()
        with conn.transaction():
            for name, buffer in buffers.items():
                conn.execute(f"CREATE TEMP TABLE plain_{name} (LIKE {name} INCLUDING ALL) ON COMMIT DROP")
                with conn.cursor().copy(f"COPY plain_{name} FROM STDIN") as copy:
                    copy.write(buffer.getvalue())
        return time.perf_counter() - started


def run(settings: StoreSettings, *, cases: int, console: Console) -> list[Row]:
    """Load ``cases`` of history (a fresh prefix each run), check the chains, time the baseline; one table."""
    console.print(f"machine: {describe()}")
    engine = make_engine(settings)
    prefix = f"{PREFIX}-{time.time_ns()}"
    try:
        started = time.perf_counter()
        with progress_bar(console, f"a year of history, {cases:,} cases") as update:
            history = load_history(settings, engine, cases, prefix=prefix, seed=41, actor="bench", progress=update)
        seconds = time.perf_counter() - started
        with engine.connect() as conn:
            broken = conn.execute(
                text(
                    "SELECT count(*) FROM cityops_verify_transitions() v JOIN case_file e "
                    "ON e.id = v.case_id WHERE e.external_id LIKE :p"
                ),
                {"p": f"{prefix}-%"},
            ).scalar_one()
        console.print(
            f"demo history: {history.cases:,} cases, {history.transitions:,} transitions, "
            f"{history.open_cases:,} still open, in {seconds:.1f} s; chains broken: {broken}"
        )
        if broken:
            raise PlatformError(f"{broken} generated transitions do not fit their case's chain")
        base_s = plain_copy(settings, prefix)
    finally:
        engine.dispose()
    rows = [
        Row(
            f"demo history, {cases:,} cases / {history.transitions:,} transitions: s",
            f"{seconds:.1f}",
            f"{base_s:.1f} (plain COPY of the same rows)",
            base_s / seconds,
            "≥ 0.05",
        ),
        Row(
            "demo history: seconds against the 60 s target (scaled to 100,000 cases)",
            f"{seconds:.1f}",
            f"{TARGET_S * cases / 100_000:.1f}",
            TARGET_S * cases / 100_000 / seconds,
            "≥ 1.0",
        ),
    ]
    print_table(rows, console)
    return rows
