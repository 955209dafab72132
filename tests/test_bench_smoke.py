"""Tiny runs of the benchmarks: each works and prints its ratios against its baseline."""

from __future__ import annotations

from rich.console import Console
from sqlalchemy import Engine, text

from bench import access, forces, intake, workflow
from bench import demo as demo_bench
from bench import exchange as exchange_bench
from bench import hotspots as hotspots_bench
from bench import map as map_bench
from bench import public as public_bench
from bench import queues as queues_bench
from bench import sensing as sensing_bench
from bench import webhooks as webhooks_bench
from bench.locate import run
from sensing.broker import EmbeddedBroker
from spatial.settings import StoreSettings


def test_bench_locate_smoke(nanjing: Engine, nanjing_settings: StoreSettings) -> None:
    console = Console(record=True, width=200)
    rows = run(nanjing_settings, points=20_000, single=200, seconds=1, clients=8, console=console)
    output = console.export_text()
    assert [row.measure.split(",")[0] for row in rows] == [
        "batch locate",
        "single locate p50 / p99 µs",
        "single locate from the process's index p50 / p99 µs",
        "GET /api/v1/locate",
    ]
    assert all(row.ratio > 0 for row in rows)
    assert "mismatches vs exact: 0" in output
    assert "cores" in output  # the machine is named beside the figures


def test_bench_intake_smoke(nanjing: Engine, nanjing_settings: StoreSettings) -> None:
    console = Console(record=True, width=200)
    rows = intake.run(nanjing_settings, seconds=1, clients=4, events=3_000, console=console)
    output = console.export_text()
    assert [row.measure.split(",")[0].split(" of ")[0] for row in rows] == [
        "POST /api/v1/reports",
        "the same against a minimal app",
        "memory",
        "memory",
        "the platform's bare insert against the minimal app's",
        "historic import",
    ]
    assert all(row.ratio > 0 for row in rows)
    assert "lost 0 · duplicated 0" in output and "grids differing from the baseline's: 0" in output
    assert "cores" in output


def test_bench_access_smoke(nanjing: Engine, nanjing_settings: StoreSettings) -> None:
    console = Console(record=True, width=200)
    rows = access.run(nanjing_settings, seconds=1, clients=4, cases=2_000, console=console)
    output = console.export_text()
    assert [row.measure.split(",")[0] for row in rows] == [
        "POST /api/v1/reports (in the street)",
        "GET /api/v1/cases?limit=100",
        "GET /api/v1/reports?limit=100",
    ]
    assert all(row.ratio > 0 for row in rows) and "street user" in output and "city-wide user" in output
    assert "seeded 2,000 cases" in output and "cores" in output


def test_bench_forces_smoke(nanjing: Engine, nanjing_settings: StoreSettings) -> None:
    console = Console(record=True, width=220)
    with nanjing.connect() as conn:
        total = conn.execute(text("SELECT count(*) FROM force")).scalar_one() + 300
    rows = forces.run(nanjing_settings, forces=total, queries=40, seconds=1, clients=4, console=console)
    output = console.export_text()
    assert [row.measure.split(":")[0].split(" of ")[0] for row in rows] == [
        "recommend top-5",
        "recommend",
        "recommend through the API, 1 client",
        "the same",
        "recommend through the API, 4 clients",
        "the same",
        "positions, 4 clients × batches",
        "positions",
    ]
    assert rows[1].ratio == 1.0  # every answer equal to the brute-force ranking
    assert all(row.ratio > 0 for row in rows) and "added 300 synthetic forces" in output and "cores" in output


def test_bench_workflow_smoke(history_city: tuple[Engine, StoreSettings]) -> None:
    console = Console(record=True, width=220)
    rows = workflow.run(history_city[1], seconds=1, clients=4, cases=2_000, console=console)
    output = console.export_text()
    assert [row.measure.split(",")[0].split(":")[0] for row in rows] == [
        "POST …/transitions",
        "evaluation",
        "the evaluation's SQL with its rollup vs the same counts from the moves alone",
        "evaluation",
    ]
    assert all(row.ratio > 0 for row in rows) and "chains broken: 0" in output
    assert "every count equal to the moves'" in output
    assert "counts differing from pandas: 0" in output and "hash formula checked on" in output and "cores" in output


def test_bench_map_smoke(nanjing: Engine, nanjing_settings: StoreSettings) -> None:
    console = Console(record=True, width=240)
    with nanjing.connect() as conn:
        open_cases = conn.execute(
            text("SELECT count(*) FROM case_file WHERE state NOT IN ('closed', 'void')")
        ).scalar_one()
        tracked = conn.execute(text("SELECT count(*) FROM force_position")).scalar_one()
    rows = map_bench.run(  # forces: some to watch move even when no test before this one placed any
        nanjing_settings,
        cases=open_cases + 300,
        forces=max(tracked, 50),
        seconds=1,
        samples=6,
        background=50,
        console=console,
    )
    output = console.export_text()
    assert [row.measure.split(":")[0].split(",")[0] for row in rows] == [
        *["command page"] * 6,
        "grid tiles z12–15",
        "grid tiles",
        "building tiles z14–16",
        "building tiles",
        "cases tiles z10–13",
        "cases tiles",
        "cases tiles z14–16",
        "cases tiles",
        "cases tiles z10–11 gathered in the database",
        "the same",
        "cases zoomed out",
        "live",
        "live",
    ]
    assert all(row.ratio > 0 for row in rows)
    assert rows[-4].ours == "1.0000"  # the rollup's tiles are every open case's (the run raises otherwise)
    assert "imported 300 open cases" in output and "live: 6 moves watched" in output and "cores" in output


def test_bench_hotspots_smoke(nanjing: Engine, nanjing_settings: StoreSettings) -> None:
    console = Console(record=True, width=240)
    rows = hotspots_bench.run(nanjing_settings, cases=3_000, resolution=7, permutations=99, repeats=1, console=console)
    output = console.export_text()
    assert [row.measure.split(":")[0].split(",")[0] for row in rows] == [
        "city",
        "the same",
        "the same against the issue's 2 s target",
        "cells classified alike",
        "its count per cell",
        "the two counts alike (share)",
        "bins",
        "the two tables alike (share)",
        "cold start",
    ]
    # the baselines computed the same answers (the run raises otherwise)
    assert rows[3].ratio == rows[5].ratio == rows[7].ratio == 1.0 and rows[4].ratio > 0 and rows[6].ratio > 0
    assert (
        rows[0].ratio > 0 and rows[1].ratio > 0 and "cells in the city at resolution 7" in output and "cores" in output
    )
    assert "hot and" in output  # the summary a planner reads


def test_bench_queues_smoke(nanjing: Engine, nanjing_settings: StoreSettings) -> None:
    console = Console(record=True, width=240)
    with nanjing.connect() as conn:
        open_cases = conn.execute(
            text("SELECT count(*) FROM case_file WHERE state NOT IN ('closed', 'void')")
        ).scalar_one()
    try:
        rows = queues_bench.run(
            nanjing_settings, cases=open_cases + 300, seconds=1, clients=2, loads=1, console=console
        )
        with nanjing.connect() as conn:
            states = conn.execute(
                text(
                    "SELECT count(DISTINCT e.state), count(k.case_id), count(*) FROM case_file e "
                    "LEFT JOIN case_clock k ON k.case_id = e.id "
                    "WHERE e.external_id LIKE 'queues-%'"
                )
            ).one()
    finally:  # the shaping wrote no transitions: each case back to its last one (the server's scheduler may
        # have escalated some: a move to the same state), else to the imported "reported", clockless as imported
        with nanjing.begin() as conn:
            conn.execute(
                text(
                    "UPDATE case_file e SET state = coalesce((SELECT t.to_state FROM case_transition t WHERE t.case_id "
                    "= e.id "
                    "ORDER BY t.seq DESC LIMIT 1), 'reported'), handling_department = NULL, dispatched_at = NULL, "
                    "parked_remaining_s = NULL WHERE e.external_id LIKE 'queues-%'"
                )
            )
            conn.execute(
                text(
                    "DELETE FROM case_clock WHERE case_id IN "
                    "(SELECT id FROM case_file WHERE external_id LIKE 'queues-%')"
                )
            )
    output = console.export_text()
    assert [row.measure.split(":")[0] for row in rows] == [*["handler"] * 7, *["commander"] * 10]
    assert all(row.ratio > 0 for row in rows)
    assert "imported 300 open cases" in output and "shaped 300 benchmark cases" in output and "cores" in output
    assert tuple(states) == (12, 300, 300)  # spread over every open state, each case with its clock


def test_bench_demo_smoke(history_city: tuple[Engine, StoreSettings]) -> None:
    console = Console(record=True, width=240)
    rows = demo_bench.run(history_city[1], cases=300, console=console)
    output = console.export_text()
    assert [row.measure.split(",")[0].split(":")[0] for row in rows] == ["demo history", "demo history"]
    assert all(row.ratio > 0 for row in rows) and "chains broken: 0" in output and "cores" in output


def test_bench_sensing_smoke(nanjing: Engine, nanjing_settings: StoreSettings, broker: EmbeddedBroker) -> None:
    console = Console(record=True, width=240)
    rows = sensing_bench.run(
        nanjing_settings, sensors=300, readings=6_000, pack=10, batch=500, alarms=3, console=console
    )
    output = console.export_text()
    assert [row.measure.split(",")[0].split(" vs ")[0] for row in rows] == [
        "MQTT readings/s",
        "MQTT readings/s",
        "HTTP readings/s",
        "HTTP readings/s",
        "HTTP",
        "HTTP readings/s",
        "alarm publish → case on the stream",
    ]
    assert all(row.ratio > 0 for row in rows) and "cores" in output
    assert "alarms timed: 3 of 3" in output  # every planted alarm filed a case that reached the stream


def test_bench_public_smoke(history_city: tuple[Engine, StoreSettings]) -> None:
    console = Console(record=True, width=240)
    rows = public_bench.run(history_city[1], cases=2_000, loads=1, console=console)
    output = console.export_text()
    assert [row.measure.split(" (")[0].split(",")[0] for row in rows] == [
        "public page ready",
        "the same against the 1 s target",
        f"publication of {rows[2].measure.split()[2]} built",
    ]
    assert all(row.ratio > 0 for row in rows) and "cores" in output and "/public ready: cold" in output


def test_bench_exchange_smoke(history_city: tuple[Engine, StoreSettings]) -> None:
    console = Console(record=True, width=240)
    rows = exchange_bench.run(history_city[1], cases=1_000, jobs=2, console=console)
    output = console.export_text()
    assert [row.measure.split(":")[0].split(" of ")[0] for row in rows] == [
        "export",
        "the same against pg_dump's own parallel form",
        "the issue's target, against the faster pg_dump",
    ]
    assert all(row.ratio > 0 for row in rows) and "cores" in output and "pg_dump plain" in output


def test_bench_webhooks_smoke(history_city: tuple[Engine, StoreSettings]) -> None:
    console = Console(record=True, width=240)
    rows = webhooks_bench.run(history_city[1], subscribers=3, rate=50, seconds=2.0, console=console)
    output = console.export_text()
    assert [row.measure.split(",")[0].split(":")[1].strip() for row in rows] == [
        "3 subscribers (1 down) × 50 changes/s",
        "p95 against the 2 s target",
        "events delivered of those due (share)",
    ]
    assert rows[2].ratio == 1.0 and "cores" in output  # every event due reached both live subscribers
