"""``case_cell_day``, the cases not voided per Beijing day and resolution-8 cell (migration 0057), kept by
triggers on case_file: it sums to case_file's own count per key after any sequence of writes, and a hot-spot
count that reads the period's whole days from it equals the count of every case, for any period and steps,
as the owner, as a district commander under row-level security and as a department (which it never serves)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import Connection, Engine, text

from command.worker import fold_rollups
from grid.binning import Steps, bins, counts_by_step, day_plan
from grid.hexagons import HexFilter
from spatial.db import libpq_url
from spatial.settings import StoreSettings
from tests.conftest import history_grids, retire_history

KEY = "day, cell, area, category_code, source"
RAW_KEY = (
    "(filed_at AT TIME ZONE cityops_rollup_zone())::date, cityops_h3_parent(cell, 8), units[1:3], category_code, source"
)
# keys whose rollup sum differs from case_file's count (none: the two agree)
DIFFERENCE = f"""
SELECT count(*) FROM (
    (SELECT {KEY}, sum(cases) FROM case_cell_day GROUP BY 1, 2, 3, 4, 5 HAVING sum(cases) <> 0
     EXCEPT SELECT {RAW_KEY}, count(*) FROM case_file WHERE state <> 'void' GROUP BY 1, 2, 3, 4, 5)
    UNION ALL
    (SELECT {RAW_KEY}, count(*) FROM case_file WHERE state <> 'void' GROUP BY 1, 2, 3, 4, 5
     EXCEPT SELECT {KEY}, sum(cases) FROM case_cell_day GROUP BY 1, 2, 3, 4, 5 HAVING sum(cases) <> 0)
) d
"""
COPIED = (
    "category_code, severity, geom, cell, grid_id, responsible_unit_id, departments, deadline, routing_trace, "
    "address, units, source, filed_at"
)
HISTORY = "case_cell_day test: history"
SCRATCH = "case_cell_day test: scratch"
# 400 cases over the last 33 days in those 50 grids, hours apart (every day, every hour of day),
# in two categories, three sources, half closed, a quarter for a department; from elsewhere (an external id: no
# report of their own, as an imported case)
FILE_HISTORY = """
INSERT INTO case_file (category_code, severity, state, closed_at, geom, cell, grid_id, responsible_unit_id,
                       departments, deadline, routing_trace, units, source, filed_at, description, external_id)
SELECT (ARRAY['020102', '010101'])[n % 2 + 1], 'III', f.state, CASE WHEN f.state = 'closed' THEN f.at END,
    ST_SetSRID(ST_Point(g.lon, g.lat), 4326), g.cell, g.id, g.id,
    CASE WHEN n % 4 = 0 THEN '{城管局}' ELSE '{}' END::text[], f.at + interval '3 days', '{}'::jsonb, NULL,
    (ARRAY['hotline', 'grid_worker', 'citizen_app']::report_source[])[n % 3 + 1], f.at, :tag,
    'case_cell_day test ' || gen_random_uuid()
FROM generate_series(0, 399) n
CROSS JOIN LATERAL (SELECT (ARRAY['reported', 'closed'])[(n / 2) % 2 + 1] AS state,
                           now() - make_interval(hours => 2 * n + 1, mins => n % 60) AS at) f
JOIN unnest(CAST(:ids AS bigint[]), CAST(:lons AS float8[]), CAST(:lats AS float8[]), CAST(:cells AS bigint[]))
    WITH ORDINALITY AS g(id, lon, lat, cell, k) ON g.k = n % 50 + 1
"""
WRITES = {
    "void": "UPDATE case_file SET state = 'void' WHERE id = :id",
    "restore": "UPDATE case_file SET state = 'reported' WHERE id = :id",
    "close": "UPDATE case_file SET state = 'closed', closed_at = now() WHERE id = :id",
    # to the cell of another case (a valid H3 cell, most often under another resolution-8 cell)
    "move": "UPDATE case_file SET cell = (SELECT cell FROM case_file WHERE id = :other) WHERE id = :id",
    "retime": "UPDATE case_file SET filed_at = filed_at + make_interval(hours => :hours) WHERE id = :id",
    "recategorise": "UPDATE case_file SET category_code = '010101' WHERE id = :id",
    "resource": "UPDATE case_file SET source = 'citizen_app' WHERE id = :id",
    "rescope": "UPDATE case_file SET units = units[1:2] WHERE id = :id",
    # many in one statement (the statement trigger's own rows), then gone again
    # closed copies have no moves, so they can be deleted again
    "copy": f"INSERT INTO case_file ({COPIED}, state, closed_at, description) "
    f"SELECT {COPIED}, 'closed', filed_at, '{SCRATCH}' FROM case_file WHERE id >= :id ORDER BY id LIMIT 3",
    "delete": f"DELETE FROM case_file WHERE description = '{SCRATCH}'",
    "fold": "SELECT cityops_case_cell_day_fold()",
}
BEIJING = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def history(nanjing: Engine) -> Iterator[list[int]]:
    """400 cases, most of 玄武区, some of Jiangbei New Area, filed over the last 33 days, in one statement."""
    with nanjing.begin() as conn:
        district = conn.execute(text("SELECT id FROM unit WHERE code = '320102'")).scalar_one()
        conn.execute(text(FILE_HISTORY), {"tag": HISTORY} | history_grids(conn, district))
        ids = conn.execute(text("SELECT id FROM case_file WHERE description = :t ORDER BY id"), {"t": HISTORY})
        filed = list(ids.scalars())
    assert len(filed) == 400
    yield filed
    retire_history(nanjing, HISTORY)


def disagreement(conn: Connection) -> int:
    return conn.execute(text(DIFFERENCE)).scalar_one()


def test_it_was_filled_and_follows_a_statement_of_many(nanjing: Engine, history: list[int]) -> None:
    with nanjing.connect() as conn:
        assert disagreement(conn) == 0
        held = conn.execute(
            text("SELECT sum(cases) FROM case_cell_day WHERE day >= (now() AT TIME ZONE 'Asia/Shanghai')::date - 41")
        ).scalar_one()
        assert held >= 400


@given(
    writes=st.lists(
        st.tuples(st.sampled_from(sorted(WRITES)), st.integers(0, 399), st.integers(1, 6), st.integers(-30, 30)),
        min_size=1,
        max_size=12,
    )
)
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_it_sums_to_case_files_count_after_any_writes(
    nanjing: Engine, history: list[int], writes: list[tuple[str, int, int, int]]
) -> None:
    with nanjing.begin() as conn:
        for write, which, shift, hours in writes:
            other = history[(which + 37 * shift) % len(history)]
            conn.execute(text(WRITES[write]), {"id": history[which], "other": other, "hours": hours})
            assert disagreement(conn) == 0, (write, which)  # inside the writer's transaction too
        conn.execute(text(WRITES["delete"]))
    with nanjing.connect() as conn:
        assert disagreement(conn) == 0


def test_a_fold_merges_each_keys_rows_and_changes_no_sum(nanjing: Engine, history: list[int]) -> None:
    with nanjing.begin() as conn:
        for which in range(0, 40, 4):
            conn.execute(text(WRITES["void"]), {"id": history[which]})
            conn.execute(text(WRITES["restore"]), {"id": history[which]})
    with nanjing.begin() as conn:
        conn.execute(text(WRITES["fold"]))
        assert disagreement(conn) == 0
        repeated = conn.execute(
            text(f"SELECT count(*) FROM (SELECT {KEY} FROM case_cell_day GROUP BY 1, 2, 3, 4, 5 HAVING count(*) > 1) k")
        )
        assert repeated.scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM case_cell_day WHERE NOT folded OR cases = 0")).scalar_one() == 0


def test_a_plan_reads_whole_days_of_one_step_and_the_rest_from_the_cases() -> None:
    since = datetime(2026, 11, 1, 15, 30, tzinfo=BEIJING)
    plan = day_plan(Steps(since, since + timedelta(days=10), 2), BEIJING)
    # steps of 5 days from 15:30: 11-02…11-05 whole in the first, 11-07…11-10 in the second; 11-06 is cut
    assert [d.isoformat()[5:] for d in plan.days] == [
        "11-02",
        "11-03",
        "11-04",
        "11-05",
        "11-07",
        "11-08",
        "11-09",
        "11-10",
    ]
    assert plan.day_steps == [0, 0, 0, 0, 1, 1, 1, 1]
    assert plan.raw == [
        (since, datetime(2026, 11, 2, tzinfo=BEIJING)),
        (datetime(2026, 11, 6, tzinfo=BEIJING), datetime(2026, 11, 7, tzinfo=BEIJING)),
        (datetime(2026, 11, 11, tzinfo=BEIJING), since + timedelta(days=10)),
    ]
    whole = day_plan(Steps(datetime(2026, 11, 1, tzinfo=BEIJING), datetime(2026, 11, 3, tzinfo=BEIJING), 2), BEIJING)
    assert (len(whole.days), whole.raw) == (2, [])


async def _counts(url: str, scope: dict[str, str], filter_: HexFilter, steps: Steps, rollup: bool) -> dict:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        for name, value in scope.items():
            await conn.execute("SELECT set_config(%s, %s, false)", (name, value))
        return await counts_by_step(conn, filter_, steps, rollup=rollup)


@given(
    offset_h=st.integers(0, 30 * 24),
    days=st.integers(1, 45),
    step_count=st.integers(1, 8),
    resolution=st.integers(6, 8),
    caller=st.sampled_from(["owner", "district", "department"]),
    category=st.sampled_from([(), ("02",), ("020102", "01")]),
)
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_a_hot_spot_count_from_the_rollup_equals_every_case_counted(
    nanjing: Engine,
    nanjing_settings: StoreSettings,
    history: list[int],
    offset_h: int,
    days: int,
    step_count: int,
    resolution: int,
    caller: str,
    category: tuple[str, ...],
) -> None:
    with nanjing.connect() as conn:
        district = conn.execute(text("SELECT id FROM unit WHERE code = '320102'")).scalar_one()
    until = datetime.now(UTC) - timedelta(hours=offset_h)
    steps = Steps(until - timedelta(days=days, minutes=offset_h), until, step_count)
    filter_ = HexFilter(district, resolution, None, category, "reported", steps.since, steps.until)
    scope = {"owner": {}, "district": {"cityops.scope_unit": str(district)}}.get(
        caller, {"cityops.scope_unit": str(district), "cityops.department": "城管局"}
    )
    url = libpq_url(nanjing_settings, api=caller != "owner")
    rolled = asyncio.run(_counts(url, scope, filter_, steps, True))
    counted = asyncio.run(_counts(url, scope, filter_, steps, False))
    assert rolled == counted
    if caller != "department" and not category:
        assert sum(counted.values()) > 0  # most of the history lies in the district's last 33 days


def test_whole_days_come_from_the_rollup_only_for_callers_it_answers_alike(
    nanjing: Engine, nanjing_settings: StoreSettings
) -> None:
    """A row bent only in the rollup (a day of 2001) is what the owner and the district commander count; a
    department's count reads the cases (the rollup cannot tell its cases apart), and so does a finer analysis."""
    with nanjing.connect() as conn:
        district = conn.execute(text("SELECT id FROM unit WHERE code = '320102'")).scalar_one()
        area = conn.execute(text("SELECT (ancestors || id)[1:3] FROM unit WHERE id = :d"), {"d": district}).scalar()
    since = datetime(2001, 1, 1, tzinfo=BEIJING)
    steps = Steps(since, since + timedelta(days=3), 1)
    bent = (
        "INSERT INTO case_cell_day (day, cell, area, category_code, source, cases) "
        "VALUES ('2001-01-02', :cell, :area, '020102', 'hotline', 7)"
    )
    cell = 0x88309A0001FFFFF  # a resolution-8 cell id (the count does not ask where it lies)
    with nanjing.begin() as conn:
        conn.execute(text(bent), {"cell": cell, "area": area})
    try:
        owner, api = libpq_url(nanjing_settings), libpq_url(nanjing_settings, api=True)
        district_scope = {"cityops.scope_unit": str(district)}
        department = district_scope | {"cityops.department": "城管局"}
        at = {8: HexFilter(district, 8, None, (), "reported", steps.since, steps.until)}
        at[9] = HexFilter(district, 9, None, (), "reported", steps.since, steps.until)
        assert asyncio.run(_counts(owner, {}, at[8], steps, True)) == {(cell, 0): 7}
        assert asyncio.run(_counts(api, district_scope, at[8], steps, True)) == {(cell, 0): 7}
        assert asyncio.run(_counts(api, department, at[8], steps, True)) == {}
        assert asyncio.run(_counts(owner, {}, at[9], steps, True)) == {}
    finally:
        with nanjing.begin() as conn:
            conn.execute(text("DELETE FROM case_cell_day WHERE day = '2001-01-02' AND cell = :cell"), {"cell": cell})


@given(
    offset_h=st.integers(0, 30 * 24),
    days=st.integers(1, 45),
    step_count=st.integers(1, 6),
    by=st.sampled_from(["cell", "district", "street", "community"]),
    group=st.sampled_from(["none", "category", "source"]),
    unit=st.sampled_from(["320102", "320100"]),
    scoped=st.booleans(),
)
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
def test_bins_from_the_rollup_equal_every_case_counted(
    nanjing: Engine,
    nanjing_settings: StoreSettings,
    history: list[int],
    offset_h: int,
    days: int,
    step_count: int,
    by: str,
    group: str,
    unit: str,
    scoped: bool,
) -> None:
    """As the owner or a commander of the unit: the city's streets of Jiangbei New Area (the fourth unit of their
    chain, beyond the rollup's) are counted from the cases."""
    with nanjing.connect() as conn:
        unit_id, tier = conn.execute(text("SELECT id, tier::text FROM unit WHERE code = :c"), {"c": unit}).one()
    until = datetime.now(UTC) - timedelta(hours=offset_h)
    steps = Steps(until - timedelta(days=days, minutes=offset_h), until, step_count)
    filter_ = HexFilter(unit_id, 7, None, (), "reported", steps.since, steps.until)
    scope = {"cityops.scope_unit": str(unit_id)} if scoped else {}

    async def binned(rollup: bool) -> list[dict[str, object]]:
        async with await psycopg.AsyncConnection.connect(
            libpq_url(nanjing_settings, api=scoped), autocommit=True
        ) as conn:
            for name, value in scope.items():
                await conn.execute("SELECT set_config(%s, %s, false)", (name, value))
            return await bins(conn, filter_, steps, by=by, group=group, scope_tier=tier, rollup=rollup)

    rolled, counted = asyncio.run(binned(True)), asyncio.run(binned(False))
    assert rolled == counted
    assert any(row["count"] for row in counted)


def test_the_workers_rollups_loop_folds_it(
    nanjing: Engine, nanjing_settings: StoreSettings, history: list[int]
) -> None:
    """The rows to merge are written while this test holds the fold's lock, and let go once its round is ready:
    a served app's own loop (the suite runs some) cannot merge them first."""
    guard = nanjing.connect()
    guard.begin()
    guard.execute(text("SELECT pg_advisory_xact_lock(hashtext('cityops_case_cell_day_fold'))"))
    with nanjing.begin() as conn:
        conn.execute(text(WRITES["void"]), {"id": history[1]})
        conn.execute(text(WRITES["restore"]), {"id": history[1]})

    async def one_round() -> int:
        pool = AsyncConnectionPool(libpq_url(nanjing_settings, api=True), min_size=1, max_size=1, open=False)
        async with pool:
            await pool.wait()
            guard.commit()
            guard.close()
            return await fold_rollups(pool)

    assert asyncio.run(one_round()) >= 2  # the case's -1 and +1 merged into its key's row
    with nanjing.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM case_cell_day WHERE NOT folded")).scalar_one() == 0
        assert disagreement(conn) == 0
