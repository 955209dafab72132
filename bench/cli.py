"""`cityops bench NAME`: every benchmark from one table — its options, where it runs, what it measures.

Each benchmark module has a ``run(settings, *, <options>, console)`` that prints one table of figures
with their baseline ratios; this module only says, per benchmark, which options the command takes
and which database it runs on, and builds the same command for each from that.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer

from spatial.terminal import console, reported_errors, store

app = typer.Typer(no_args_is_help=True, help="Benchmarks (figures with baseline ratios).")


@dataclass(frozen=True)
class Option:
    """One option of a benchmark command: its default (whose type is the option's), help and bounds."""

    default: int | float
    help: str
    min: int | float | None = None
    max: int | float | None = None
    keyword: str | None = None  # the name ``run`` takes it by, when not the option's own


@dataclass(frozen=True)
class Benchmark:
    """A benchmark command: what it measures (its help), its options, and its database.

    ``city``: the suffix of the scratch database it runs in (the demo hierarchy, see
    ``bench.harness.scratch_city``), ``None`` for the installation's own database, ``"own"`` for a
    cluster of its own (``bench.faults.own_city``: the benchmark stops and starts it).
    """

    summary: str
    options: dict[str, Option] = field(default_factory=dict)
    city: str | None = "_bench"
    empty: bool = True  # a scratch database starts each run without cases


SECONDS_HTTP = "Seconds of HTTP load per endpoint"
CLIENTS = "Concurrent HTTP clients"

BENCHMARKS = {
    "locate": Benchmark(
        "Batch, single and HTTP locate, each against its baseline in the same run.",
        {
            "points": Option(1_000_000, "Random points for the batch run"),
            "single": Option(5_000, "Single locates through PostGIS"),
            "seconds": Option(10.0, SECONDS_HTTP),
            "clients": Option(32, CLIENTS),
        },
        city=None,
    ),
    "intake": Benchmark(
        "Report intake (by one and by N server processes) and historic import, against baselines, in a scratch city.",
        {
            "seconds": Option(30.0, SECONDS_HTTP),
            "clients": Option(64, CLIENTS),
            "events": Option(1_000_000, "Events in the historic-import file"),
            "workers": Option(2, "Server processes whose intake is measured against one's", min=2, max=64),
        },
    ),
    "access": Benchmark(
        "Scope enforcement: intake and lists as a street user vs a city-wide user, in a scratch copy.",
        {
            "seconds": Option(15.0, "Seconds of HTTP load per endpoint and caller"),
            "clients": Option(32, CLIENTS),
            "cases": Option(200_000, "Cases seeded across the city before measuring"),
        },
    ),
    "forces": Benchmark(
        "Nearest-capable recommendation (exactness, p50/p99) and position ingest, each against its baseline.",
        {
            "forces": Option(100_000, "Forces in the directory for the run"),
            "queries": Option(2000, "Recommendations measured in the database"),
            "seconds": Option(15.0, "Seconds of HTTP load per measurement"),
            "clients": Option(16, "Concurrent clients posting positions"),
        },
    ),
    "workflow": Benchmark(
        "Case transitions under load vs a one-row insert, and evaluation of the history vs pandas.",
        {
            "seconds": Option(15.0, "Seconds of HTTP load per measurement"),
            "clients": Option(32, "Concurrent clients, each moving a case of its own"),
            "cases": Option(1_000_000, "Historic cases (with transitions) evaluated"),
        },
        city="_workflow_bench",
        empty=False,
    ),
    "public": Benchmark(
        "The public page ready (map drawn) vs its bytes from StaticFiles and 1 s; a month's publication built vs "
        "one plain GROUP BY (the workflow benchmark's history).",
        {
            "cases": Option(1_000_000, "Historic cases (shared with the workflow benchmark, kept between runs)"),
            "loads": Option(3, "Page loads (cold and warm) per server", min=1),
        },
        city="_workflow_bench",
        empty=False,
    ),
    "exchange": Benchmark(
        "The bulk export of every case with its moves (exchange format, signed) vs pg_dump of the same tables.",
        {
            "cases": Option(1_000_000, "Historic cases (shared with the workflow benchmark, kept between runs)"),
            "jobs": Option(2, "Connections reading at once, ours and pg_dump -j alike", min=1, max=16),
        },
        city="_workflow_bench",
        empty=False,
    ),
    "webhooks": Benchmark(
        "The change log fanned out by webhook to many subscribers (one down): delay p50/p95 vs a bare fan-out "
        "of the same batches, against the 2 s target.",
        {
            "subscribers": Option(100, "Subscriptions (the first points at a port nothing listens on)", min=2),
            "rate": Option(1000, "Changes written a second", min=1),
            "seconds": Option(20.0, "Seconds of writing"),
        },
        city="_webhooks_bench",
    ),
    "demo": Benchmark(
        "The demo's year of case history: seconds to load it vs plain COPY of the same rows (scratch database).",
        {"cases": Option(100_000, "Cases in the year of history")},
        city="_demo_bench",
        empty=False,
    ),
    "map": Benchmark(
        "The command page (load to interactive, bytes), vector tiles and live latency, each against its baseline.",
        {
            "cases": Option(100_000, "Open cases across the city"),
            "forces": Option(10_000, "Tracked forces"),
            "seconds": Option(10.0, "Seconds of tile load per layer and baseline"),
            "samples": Option(100, "Position moves watched on the page"),
            "background": Option(330, "Fixes a second from the other forces meanwhile"),
        },
        city="_map_bench",
        empty=False,
    ),
    "hotspots": Benchmark(
        "Hot spots of the city from the database vs points → h3 → esda.G_Local; and the cold start.",
        {
            "cases": Option(1_000_000, "Cases over the last year (kept between runs)"),
            "resolution": Option(8, "H3 resolution", min=6, max=10),
            "permutations": Option(999, "Permutations of the significance test", min=0, max=9999),
            "repeats": Option(3, "Timed runs of each route (the median is reported)", min=1),
        },
        city="_hotspots_bench",
        empty=False,
    ),
    "queues": Benchmark(
        "Work queues of a district handler and the city commander: requests vs the plain case list, page ready.",
        {
            "cases": Option(100_000, "Open cases across the city, spread over the open states"),
            "seconds": Option(10.0, "Seconds of HTTP load per request and baseline"),
            "clients": Option(4, CLIENTS),
            "loads": Option(3, "Page loads (cold and warm) per caller", min=1),
        },
        city="_queues_bench",
        empty=False,
    ),
    "incidents": Benchmark(
        "An incident's command board (5 requests) vs a minimal app and 2 s, its impact query vs plain ST_Intersects.",
        {
            "cases": Option(10_000, "Open cases inside the incident, all linked to it", min=1),
            "forces": Option(2_000, "Forces inside the incident", min=1),
            "km2": Option(50.0, "The incident's area in km² (a round perimeter in 玄武区)", min=0.5, max=80.0),
            "rounds": Option(10, "Board loads and impact queries timed (the median is shown)", min=1),
        },
        city="_incidents_bench",
        empty=False,
    ),
    "sensing": Benchmark(
        "Readings through MQTT and HTTP with every rule evaluated vs plain COPY and a minimal app; alarm latency.",
        {
            "sensors": Option(20_000, "Sensors reporting (the demo's; synthetic ones added when fewer)", min=1),
            "readings": Option(1_000_000, "Readings per channel (MQTT, HTTP, COPY)", min=1),
            "pack": Option(10, "Readings of one device per MQTT message (1 Hz samples)", min=1, max=1000),
            "batch": Option(5_000, "Readings per HTTP batch", min=1, max=10_000),
            "alarms": Option(50, "Gas alarms planted during the MQTT load (timed to the live stream)", min=1),
        },
        city="_sensing_bench",
    ),
    "search": Benchmark(
        "The search box: each query kind's p50 / p99 vs a plain ILIKE, against the 50 ms p99 target.",
        {
            "cases": Option(100_000, "Cases across the city (and every unit and building)"),
            "seconds": Option(10.0, "Seconds of HTTP load per query kind and baseline"),
            "clients": Option(2, CLIENTS),
            "queries": Option(300, "Distinct queries of each kind, drawn from the data", min=1),
        },
        city="_search_bench",
        empty=False,
    ),
    "screen": Benchmark(
        "The wall display: first full paint vs the command map, and a day of traffic (heap, DOM, live latency).",
        {
            "minutes": Option(10.0, "Minutes the day of traffic is compressed into"),
            "rate": Option(100.0, "Events a second (reports, moves, escalations, force fixes)"),
            "cases": Option(20_000, "Open cases across the city"),
            "forces": Option(10_000, "Tracked forces"),
            "loads": Option(3, "Warm reloads measured after the cold load", min=1),
        },
        city="_screen_bench",
        empty=False,
    ),
    "basemap": Benchmark(
        "Tiles of an imported MBTiles (png) and PMTiles (pbf) package vs the hierarchy's own vector tiles.",
        {"seconds": Option(10.0, "Seconds of tile load per package and baseline"), "clients": Option(16, CLIENTS)},
        city="_basemap_bench",
        empty=False,
    ),
    "trends": Benchmark(
        "The planner's KPI trends: one grouped pass vs one evaluation per point, against the 1 s p99 target.",
        {
            "cases": Option(100_000, "Cases in the demo's year of history"),
            "samples": Option(30, "Requests timed one after another per measure", min=1),
            "baseline_samples": Option(5, "The same for the per-point baseline (slow)", min=1),
        },
        city="_trends_bench",
        empty=False,
    ),
    "alerts": Benchmark(
        "Building a CAP 1.2 alert with lxml and the XSD check, against ElementTree unvalidated and 50 ms.",
        {"repeats": Option(200, "Builds of each kind", min=1)},
        city=None,
    ),
    "faults": Benchmark(
        "A database stop/start under probing and parallel login guessing, each against the minimal app "
        "(on a cluster of the benchmark's own).",
        {
            "down": Option(5.0, "Seconds the database is stopped", keyword="down_s"),
            "guessers": Option(64, "Parallel login guessers", min=1),
            "guess_seconds": Option(10.0, "Seconds of guessing per case and app", keyword="guess_s"),
        },
        city="own",
    ),
}


def _measure(name: str, benchmark: Benchmark, options: dict[str, Any]) -> None:
    """Run the benchmark ``name`` on its database with the options as its ``run`` names them."""
    from bench.harness import scratch_city

    run = importlib.import_module(f"bench.{name}").run
    keywords = {(benchmark.options[key].keyword or key): value for key, value in options.items()}
    if benchmark.city == "own":
        from bench.faults import own_city

        with own_city(store().data_dir / "fixtures", console) as (cluster, settings):
            run(cluster, settings, **keywords, console=console)
        return
    settings = store() if benchmark.city is None else scratch_city(store(), benchmark.city, empty=benchmark.empty)
    run(settings, **keywords, console=console)


def _command(name: str, benchmark: Benchmark) -> Callable[..., None]:
    """The typer command of one benchmark: its options as keyword parameters, its summary as its help."""

    def command(**options: Any) -> None:
        with reported_errors():
            _measure(name, benchmark, options)

    annotations = {
        key: Annotated[type(option.default), typer.Option(help=option.help, min=option.min, max=option.max)]
        for key, option in benchmark.options.items()
    }
    command.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(key, inspect.Parameter.KEYWORD_ONLY, default=option.default, annotation=annotations[key])
            for key, option in benchmark.options.items()
        ]
    )
    command.__annotations__ = {**annotations, "return": None}
    command.__doc__ = benchmark.summary
    command.__name__ = f"bench_{name}"
    return command


for _name, _benchmark in BENCHMARKS.items():
    app.command(_name)(_command(_name, _benchmark))
