"""``open_case_cell``, the open cases per resolution-7 cell, area, severity and overdue side (migration 0058), kept
by triggers on open_case: it sums to open_case's own count and coordinates per key after any sequence of writes
and ticks, and a zoomed-out case tile gathered from it equals the one gathered from every open case, for any
tile and caller, as of the reader's own now (the cases due between the tick and now counted from open_case)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator

import h3
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import Connection, Engine, text

from bench.harness import APPEND_ONLY
from bench.map import GATHERED, alike
from command.worker import fold_rollups
from spatial.db import libpq_url
from spatial.settings import StoreSettings
from tests.conftest import history_grids, retire_history

# keys whose rollup sums differ from open_case's (none: the two agree)
DIFFERENCE = """
WITH tick AS (SELECT at FROM open_case_tick),
rolled AS (
    SELECT cell, area, severity, overdue, sum(cases) AS cases, sum(lon_sum) AS lon_sum, sum(lat_sum) AS lat_sum
    FROM open_case_cell GROUP BY 1, 2, 3, 4 HAVING sum(cases) <> 0
), counted AS (
    SELECT cityops_h3_parent(cell, 7) AS cell, units[1:3] AS area, severity, deadline <= tick.at AS overdue,
        count(*) AS cases, sum(ST_X(geom)) AS lon_sum, sum(ST_Y(geom)) AS lat_sum
    FROM open_case, tick GROUP BY 1, 2, 3, 4
)
SELECT count(*) FROM rolled r FULL JOIN counted c USING (cell, area, severity, overdue)
WHERE r.cases IS DISTINCT FROM c.cases OR abs(r.lon_sum - c.lon_sum) > 1e-6 OR abs(r.lat_sum - c.lat_sum) > 1e-6
"""
HISTORY = "open_case_cell test: history"
SCRATCH = "open_case_cell test: scratch"
# 300 open cases in those grids, of every severity, due from two days ago to two days ahead, a quarter for a
# department; from elsewhere (an external id)
FILE_HISTORY = """
INSERT INTO case_file (category_code, severity, state, geom, cell, grid_id, responsible_unit_id, departments,
                       deadline, routing_trace, units, source, filed_at, description, external_id)
SELECT '020102', (ARRAY['IV', 'III', 'II', 'I']::severity[])[n % 4 + 1], 'reported',
    ST_SetSRID(ST_Point(g.lon, g.lat), 4326), g.cell, g.id, g.id,
    CASE WHEN n % 4 = 0 THEN '{城管局}' ELSE '{}' END::text[], now() + make_interval(hours => n % 97 - 48),
    '{}'::jsonb, NULL, 'hotline', now() - interval '3 days', :tag, 'open_case_cell test ' || gen_random_uuid()
FROM generate_series(0, 299) n
JOIN unnest(CAST(:ids AS bigint[]), CAST(:lons AS float8[]), CAST(:lats AS float8[]), CAST(:cells AS bigint[]))
    WITH ORDINALITY AS g(id, lon, lat, cell, k) ON g.k = n % 50 + 1
"""
COPIED = (
    "category_code, severity, geom, cell, grid_id, responsible_unit_id, departments, deadline, routing_trace, units"
)
WRITES = {
    "void": "UPDATE case_file SET state = 'void' WHERE id = :id",
    "restore": "UPDATE case_file SET state = 'reported' WHERE id = :id",
    "close": "UPDATE case_file SET state = 'closed', closed_at = now() WHERE id = :id",
    "move": "UPDATE case_file SET (geom, cell) = (SELECT geom, cell FROM case_file WHERE id = :other) WHERE id = :id",
    "regrade": "UPDATE case_file SET severity = (ARRAY['IV', 'III', 'II', 'I']::severity[])[:shift % 4 + 1] "
    "WHERE id = :id",
    # around now: due a moment ago (after the tick) or a moment ahead
    "redate": "UPDATE case_file SET deadline = now() + make_interval(secs => :hours) WHERE id = :id",
    "rescope": "UPDATE case_file SET units = units[1:2] WHERE id = :id",
    # several in one statement, open, then gone again (no story of their own: part of an import; filed before any
    # incident the suite opens, so none flags them)
    "copy": f"INSERT INTO case_file ({COPIED}, state, source, filed_at, description, import_batch_id) "
    f"SELECT {COPIED}, 'reported', 'hotline', now() - interval '3 days', '{SCRATCH}', :batch FROM case_file "
    "WHERE id >= :id AND description = :tag ORDER BY id LIMIT 3",
    "delete": f"DELETE FROM case_file WHERE description = '{SCRATCH}'",
    "fold": "SELECT cityops_open_case_cell_fold()",
    "tick": "SELECT cityops_open_case_tick()",
}
SEVERITY_ORDER = ["IV", "III", "II", "I"]
PLACE = "SELECT ST_X(geom), ST_Y(geom) FROM case_file WHERE id = :id"


@pytest.fixture(scope="module")
def history(nanjing: Engine) -> Iterator[dict[str, object]]:
    """300 open cases, most of 玄武区, some of Jiangbei New Area, in one statement; an import batch for copies."""
    with nanjing.begin() as conn:
        district = conn.execute(text("SELECT id FROM unit WHERE code = '320102'")).scalar_one()
        conn.execute(text(FILE_HISTORY), {"tag": HISTORY} | history_grids(conn, district))
        ids = conn.execute(text("SELECT id FROM case_file WHERE description = :t ORDER BY id"), {"t": HISTORY})
        batch = conn.execute(
            text(
                "INSERT INTO import_batch (source, sha256, rows_read, rows_loaded, rows_rejected) "
                "VALUES ('open_case_cell test', 'none', 0, 0, 0) RETURNING id"
            )
        ).scalar_one()
        filed = list(ids.scalars())
    assert len(filed) == 300
    yield {"ids": filed, "batch": batch}
    with nanjing.begin() as conn:
        conn.execute(text(WRITES["delete"]))
    retire_history(nanjing, HISTORY)


def disagreement(conn: Connection) -> int:
    return conn.execute(text(DIFFERENCE)).scalar_one()


def test_it_was_filled_and_follows_a_statement_of_many(nanjing: Engine, history: dict[str, object]) -> None:
    with nanjing.connect() as conn:
        assert disagreement(conn) == 0
        assert conn.execute(text("SELECT sum(cases) FROM open_case_cell")).scalar_one() >= 300


@given(
    writes=st.lists(
        st.tuples(st.sampled_from(sorted(WRITES)), st.integers(0, 299), st.integers(1, 6), st.integers(-90, 90)),
        min_size=1,
        max_size=12,
    )
)
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_it_sums_to_open_cases_after_any_writes_and_ticks(
    nanjing: Engine, history: dict[str, object], writes: list[tuple[str, int, int, int]]
) -> None:
    ids: list[int] = history["ids"]  # type: ignore[assignment]
    with nanjing.begin() as conn:
        for write, which, shift, hours in writes:
            values: dict[str, object] = {"id": ids[which], "other": ids[(which + 37 * shift) % len(ids)]}
            values |= {"shift": shift, "hours": hours, "batch": history["batch"], "tag": HISTORY}
            conn.execute(text(WRITES[write]), values)
            assert disagreement(conn) == 0, (write, which)  # inside the writer's transaction too
        conn.execute(text(WRITES["delete"]))
    with nanjing.connect() as conn:
        assert disagreement(conn) == 0


def _scopes(conn: Connection, ids: list[int]) -> dict[str, dict[str, str]]:
    """Callers: the city, 玄武区, a street of it and a district of Jiangbei New Area holding history cases (read
    from the rollup), a community (its chain's fourth unit) and a department (both counted from open_case)."""
    chain = "SELECT u.ancestors || u.id FROM case_file c JOIN unit u ON u.id = c.grid_id WHERE c.id = :id"
    xuanwu = conn.execute(text(chain), {"id": ids[0]}).scalar_one()
    jiangbei = conn.execute(text(chain), {"id": ids[40]}).scalar_one()  # the 41st grid: one of Jiangbei's
    units = {"city": xuanwu[0], "district": xuanwu[1], "street": xuanwu[2], "community": xuanwu[3]}
    scopes = {name: {"cityops.scope_unit": str(unit)} for name, unit in units.items()}
    scopes["jiangbei"] = {"cityops.scope_unit": str(jiangbei[2])}
    scopes["department"] = scopes["district"] | {"cityops.department": "城管局"}
    return scopes


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    y = (1 - math.log(math.tan(math.radians(lat)) + 1 / math.cos(math.radians(lat))) / math.pi) / 2 * n
    return int((lon + 180) / 360 * n), int(y)


def gathered(conn: psycopg.Connection, tile: tuple[int, int, int], rollup: bool) -> list[tuple]:
    z, x, y = tile
    return conn.execute(GATHERED, (z, x, y, z - 4, rollup)).fetchall()  # ordered by count, severity, overdue, place


@given(
    which=st.integers(0, 299),
    z=st.integers(8, 11),
    dx=st.integers(-1, 1),
    caller=st.sampled_from(["city", "district", "street", "jiangbei", "community", "department"]),
    late=st.integers(-300, 300),
)
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_a_tile_from_the_rollup_equals_every_open_case_gathered(
    nanjing: Engine,
    nanjing_settings: StoreSettings,
    history: dict[str, object],
    which: int,
    z: int,
    dx: int,
    caller: str,
    late: int,
) -> None:
    """A case given a deadline ``late`` seconds from now after the last tick: the reader counts its side."""
    ids: list[int] = history["ids"]  # type: ignore[assignment]
    with nanjing.begin() as conn:
        conn.execute(text(WRITES["redate"]), {"id": ids[which], "hours": late})
        lon, lat = conn.execute(text(PLACE), {"id": ids[which]}).one()
        scope = _scopes(conn, ids)[caller]
    x, y = tile_of(lon, lat, z)
    with psycopg.connect(libpq_url(nanjing_settings, api=True)) as conn:
        for name, value in scope.items():
            conn.execute("SELECT set_config(%s, %s, false)", (name, value))
        rolled = gathered(conn, (z, x + dx, y), True)  # one transaction: one now for both
        assert alike(rolled, gathered(conn, (z, x + dx, y), False))
        if caller == "city":  # the case's cell lies in its tile or, its mean across an edge, in a neighbour's
            around = [(z, x + i, y + j) for i in (-1, 0, 1) for j in (-1, 0, 1)]
            assert sum(r[2] for tile in around for r in gathered(conn, tile, True)) > 0


def test_a_tile_counts_overdue_as_of_the_readers_now_when_the_tick_passed_it(
    nanjing: Engine, nanjing_settings: StoreSettings, history: dict[str, object]
) -> None:
    """The reader's transaction began before a case fell due and the tick moved it: the rollup calls it overdue,
    the reader's now not yet; the tile says what the reader's now says, as every case counted does."""
    ids: list[int] = history["ids"]  # type: ignore[assignment]
    with nanjing.connect() as conn:
        lon, lat = conn.execute(text(PLACE), {"id": ids[7]}).one()
        scope = _scopes(conn, ids)["city"]
    tile = (10, *tile_of(lon, lat, 10))
    with psycopg.connect(libpq_url(nanjing_settings, api=True)) as reader:
        for name, value in scope.items():
            reader.execute("SELECT set_config(%s, %s, false)", (name, value))
        begun = reader.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
        with nanjing.begin() as conn:  # due between the reader's now and the tick's
            conn.execute(text("UPDATE case_file SET deadline = :at WHERE id = :id"), {"at": begun, "id": ids[7]})
        with nanjing.begin() as conn:
            conn.execute(text(WRITES["tick"]))
            assert conn.execute(text("SELECT at FROM open_case_tick")).scalar_one() > begun
        rolled = gathered(reader, tile, True)
        assert alike(rolled, gathered(reader, tile, False))


def test_gathered_cells_match_cases_counted_here(
    nanjing: Engine, nanjing_settings: StoreSettings, history: dict[str, object]
) -> None:
    """Independently of the SQL: the district's open cases grouped per H3 parent by h3 itself, each cell at the
    mean of its cases, kept by the tile holding that mean."""
    ids: list[int] = history["ids"]  # type: ignore[assignment]
    with nanjing.connect() as conn:
        district = _scopes(conn, ids)["district"]
        cases = conn.execute(
            text(
                "SELECT ST_X(geom), ST_Y(geom), cell, severity::text, deadline FROM open_case "
                "WHERE units @> ARRAY[CAST(:d AS bigint)]"
            ),
            {"d": district["cityops.scope_unit"]},
        ).all()
    with psycopg.connect(libpq_url(nanjing_settings, api=True)) as conn:
        conn.execute("SELECT set_config('cityops.scope_unit', %s, false)", (district["cityops.scope_unit"],))
        now = conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]  # the tiles' now (one transaction)
        for z in (9, 10, 11, 12):  # read from the rollup, then counted from open_case
            cells: dict[str, list[tuple]] = {}
            for case in cases:
                cells.setdefault(h3.cell_to_parent(h3.int_to_str(case[2]), z - 4), []).append(case)
            expected: dict[tuple[int, int], list[tuple]] = {}
            for members in cells.values():
                mean_lon = sum(m[0] for m in members) / len(members)
                mean_lat = sum(m[1] for m in members) / len(members)
                worst = max((m[3] for m in members), key=SEVERITY_ORDER.index)
                overdue = sum(m[4] < now for m in members)
                expected.setdefault(tile_of(mean_lon, mean_lat, z), []).append(
                    (mean_lon, mean_lat, len(members), worst, overdue)
                )
            tiles = {tile_of(case[0], case[1], z) for case in cases}  # every tile of a case, the means' among them
            assert len(tiles) > 1 or z < 10  # the district spans tile edges, where a cell's cases may lie apart
            for x, y in tiles:
                cells_here = sorted(expected.get((x, y), []), key=lambda r: (r[2], r[3], r[4], r[0], r[1]))
                assert alike(gathered(conn, (z, x, y), True), cells_here)


def test_the_workers_rollups_loop_ticks_and_folds_it(
    nanjing: Engine, nanjing_settings: StoreSettings, history: dict[str, object]
) -> None:
    ids: list[int] = history["ids"]  # type: ignore[assignment]
    with nanjing.begin() as conn:
        conn.execute(text(WRITES["redate"]), {"id": ids[3], "hours": -1})  # fell due a second ago
        conn.execute(text(WRITES["regrade"]), {"id": ids[4], "shift": 2})

    async def one_round() -> int:
        pool = AsyncConnectionPool(libpq_url(nanjing_settings, api=True), min_size=1, max_size=1, open=False)
        async with pool:
            return await fold_rollups(pool)

    asyncio.run(one_round())
    with nanjing.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM open_case_cell WHERE NOT folded")).scalar_one() == 0
        ticked = conn.execute(text("SELECT at FROM open_case_tick")).scalar_one()
        due = conn.execute(text("SELECT deadline FROM case_file WHERE id = :id"), {"id": ids[3]}).scalar_one()
        assert due <= ticked
        assert disagreement(conn) == 0


def test_a_tick_waits_for_a_writer_in_flight_and_gives_up_rather_than_hold_writers(
    nanjing: Engine, nanjing_settings: StoreSettings, history: dict[str, object]
) -> None:
    """A writer holds the tick's lock shared from its first open-case change to its commit: a tick meanwhile
    moves nothing and leaves the tick where it was; once the writer commits, the next tick moves its case."""
    ids: list[int] = history["ids"]  # type: ignore[assignment]
    owner = libpq_url(nanjing_settings)
    with psycopg.connect(owner) as writer:
        writer.execute(
            "UPDATE case_file SET deadline = now() - interval '1 second' WHERE id = %s", (ids[11],)
        )  # due, flagged against the tick it read
        with psycopg.connect(owner, autocommit=True) as ticker:
            before = ticker.execute("SELECT at FROM open_case_tick").fetchone()
            assert ticker.execute(WRITES["tick"]).fetchone() == (0,)
            assert ticker.execute("SELECT at FROM open_case_tick").fetchone() == before
            writer.commit()
            ticker.execute(WRITES["tick"])
    with nanjing.connect() as conn:
        assert disagreement(conn) == 0


def test_a_writer_in_a_repeatable_read_transaction_is_refused_in_words(
    nanjing_settings: StoreSettings, history: dict[str, object]
) -> None:
    ids: list[int] = history["ids"]  # type: ignore[assignment]
    with psycopg.connect(libpq_url(nanjing_settings)) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        with pytest.raises(psycopg.errors.RaiseException, match="READ COMMITTED"):
            conn.execute(
                "UPDATE case_file SET severity = CASE WHEN severity = 'I' THEN 'II' ELSE 'I' END::severity "
                "WHERE id = %s",
                (ids[5],),
            )


def test_a_truncate_empties_the_rollups_with_their_tables(nanjing: Engine) -> None:
    """TRUNCATE fires no DELETE trigger: a benchmark's reset of case_file (CASCADE) leaves no count behind."""
    with nanjing.connect() as conn, conn.begin() as rolled_back:
        conn.execute(text("SET LOCAL lock_timeout = '5s'"))
        for table, trigger in APPEND_ONLY:  # as the benchmarks' reset does (scratch_city)
            conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}"))
        conn.execute(text("TRUNCATE case_file CASCADE"))
        assert conn.execute(text("SELECT count(*) FROM open_case_cell")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM case_cell_day")).scalar_one() == 0
        rolled_back.rollback()
    with nanjing.connect() as conn:
        assert disagreement(conn) == 0
        assert conn.execute(text("SELECT count(*) FROM case_cell_day")).scalar_one() > 0
