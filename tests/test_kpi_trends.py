"""The planner's trends in one grouped pass (issue 18, point 7): every point equals the evaluation of its
day or week run on its own, for a district and the city, by day and by week, with and without a
department, over a synthetic year of cases; and a tiny run of `cityops bench trends`."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest
from rich.console import Console
from sqlalchemy import Engine, text

from bench import trends as trends_bench
from command.demo_users import DEMO_STREET
from command.evaluation import By, Period, evaluate, evaluate_series, total_of_nothing
from command.kpi_trends import FIGURES, Step, buckets, kpi_trends
from command.synthetic_history import load_history
from spatial.db import libpq_url
from spatial.settings import StoreSettings

BEIJING = ZoneInfo("Asia/Shanghai")
PREFIX = "test-kpi-trends"
CASES = 1200
CITY = "320100"
# the district with the most moves in the window, and its most frequent handling department
BUSIEST = """
SELECT d.id, d.code, t.department, count(*) FROM case_transition t JOIN unit g ON g.id = t.grid_id
JOIN unit d ON d.id = g.ancestors[2] WHERE t.at >= :since AND t.department IS NOT NULL
GROUP BY 1, 2, 3 ORDER BY 4 DESC, 2, 3 LIMIT 1
"""


@pytest.fixture(scope="module")
def history(history_city: tuple[Engine, StoreSettings]) -> tuple[Engine, StoreSettings]:
    """A year of cases (the demo's generator) in the history database of the test cluster."""
    engine, settings = history_city
    load_history(settings, engine, CASES, prefix=PREFIX, seed=11, hot_unit=DEMO_STREET)
    return engine, settings


async def _both(
    settings: StoreSettings, unit_id: int, since: datetime, until: datetime, step: Step, department: str | None
) -> tuple[list[dict[str, object]], list[dict[str, object]], list[dict[str, object]]]:
    """Per span: evaluate()'s total run alone, the grouped total, and the trend's point."""
    spans = buckets(since, until, step, BEIJING)
    async with await psycopg.AsyncConnection.connect(libpq_url(settings)) as conn:
        alone = [(await evaluate(conn, Period(unit_id, s.start, s.end, By.area, department)))["total"] for s in spans]
        grouped = await evaluate_series(conn, Period(unit_id, since, until, By.area, department), step.value, BEIJING)
        trend = await kpi_trends(conn, unit_id, spans, step, BEIJING, department)
    nothing = total_of_nothing()
    totals = [grouped.get(datetime.fromisoformat(s.date).date(), nothing) for s in spans]
    assert len(grouped) <= len(spans)  # no bucket outside the window's
    return alone, totals, trend["points"]  # type: ignore[return-value]


@pytest.mark.parametrize("step", [Step.day, Step.week])
def test_grouped_points_equal_one_evaluation_per_bucket(history: tuple[Engine, StoreSettings], step: Step) -> None:
    engine, settings = history
    until = datetime.now(BEIJING) + timedelta(minutes=1)
    days = 30 if step is Step.day else 180
    since = (until - timedelta(days=days)).replace(hour=15, minute=30, second=0, microsecond=0)  # mid-afternoon
    with engine.connect() as conn:
        city = conn.execute(text("SELECT id FROM unit WHERE code = :c"), {"c": CITY}).scalar_one()
        district, _, department, _ = conn.execute(text(BUSIEST), {"since": since}).one()
    for unit_id, only in ((city, None), (district, None), (district, department), (city, department)):
        alone, totals, points = asyncio.run(_both(settings, unit_id, since, until, step, only))
        assert totals == alone, (unit_id, only)  # every count and every metric of the total row
        assert [{k: p[k] for k in FIGURES} for p in points] == [{k: a[k] for k in FIGURES} for a in alone]
        assert sum(a["closed"] for a in alone) > 0, (unit_id, only)  # type: ignore[misc]
        assert only or sum(a["filed"] for a in alone) > 0  # filing precedes dispatch: no department yet
    if step is Step.day:
        assert points[0]["from"] == since.isoformat() and points[-1]["to"] == until.isoformat()
    else:
        assert all(datetime.fromisoformat(p["date"]).weekday() == 0 for p in points)  # type: ignore[arg-type]


def test_one_span_evaluation_is_the_series_single_bucket(history: tuple[Engine, StoreSettings]) -> None:
    """``cityops_evaluation`` is the one-bucket call of the series: its rows are the series' rows."""
    engine, _ = history
    since = datetime.now(BEIJING) - timedelta(days=40)
    until = datetime.now(BEIJING)
    with engine.connect() as conn:
        city = conn.execute(text("SELECT id FROM unit WHERE code = :c"), {"c": CITY}).scalar_one()
        for by in ("area", "department", "role"):
            args = {"u": city, "s": since, "t": until, "by": by}
            one = conn.execute(text("SELECT * FROM cityops_evaluation(:u, :s, :t, :by, NULL) ORDER BY 1"), args).all()
            series = conn.execute(
                text("SELECT * FROM cityops_evaluation_series(:u, :s, :t, :by, NULL, NULL, NULL) ORDER BY 2"), args
            ).all()
            assert [tuple(r) for r in one] == [tuple(r)[1:] for r in series] and len(one) > 1, by
            assert {r[0] for r in series} == {None}
            weekly = conn.execute(
                text(
                    "SELECT key, sum(filed), sum(closed), sum(late_moves) FROM "
                    "cityops_evaluation_series(:u, :s, :t, :by, NULL, 'week', 'Asia/Shanghai') "
                    "GROUP BY 1 ORDER BY 1"
                ),
                args,
            ).all()
            assert [tuple(r) for r in weekly] == [(r[0], r[1], r[2], r[12]) for r in one], by


def test_bench_trends_smoke(history: tuple[Engine, StoreSettings]) -> None:
    _, settings = history
    console = Console(record=True, width=240)
    rows = trends_bench.run(settings, cases=200, samples=3, baseline_samples=1, console=console)
    output = console.export_text()
    assert "cores" in output and "points differing from the per-bucket baseline: 0" in output
    measured = [row.measure for row in rows]
    assert any(m.startswith("city, 30 days") for m in measured) and any(m.startswith("district") for m in measured)
    assert all(row.ratio > 0 for row in rows)
