"""The evaluation rollup equals the moves it counts: after random writes (folded or not), for random spans
and scopes, by every grouping; across a fold that runs while a writer is still open; after grids change hands.

The reference is ``cityops_evaluation_series`` without a step: the same counts read from the moves alone.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, text

from command.synthetic_history import load_history
from spatial.settings import StoreSettings

PREFIX = "ROLLUP"
BEIJING = ZoneInfo("Asia/Shanghai")
NOW = datetime.now(UTC)
ACTIONS = ("file", "dispatch", "return", "feedback", "close", "rework", "escalate", "reopen", "supervise", "accept")
DEPARTMENTS = (None, "城管局", "水务局", "供水公司")
ROLES = (None, "handler", "checker", "grid_worker")
BY = ("area", "department", "role")
OURS = "SELECT * FROM cityops_evaluation(:u, :s, :e, :by, :d)"
MOVES_ALONE = (
    "SELECT key, filed, closed, closed_on_time, handled, handled_on_time, handling_s, checked, reworked, dispatched, "
    "returned, moves, late_moves, escalated, reopened, supervised "
    "FROM cityops_evaluation_series(:u, :s, :e, :by, :d, NULL, NULL)"
)
ADD_MOVE = text(
    "INSERT INTO case_transition (case_id, seq, action, from_state, to_state, actor, roles, at, prev_hash, hash, "
    "role, department, grid_id, due, deadline, since) "
    "SELECT c.id, (SELECT max(t.seq) + 1 FROM case_transition t WHERE t.case_id = c.id), :action, c.state, c.state, "
    ":actor, ARRAY['handler'], :at, repeat('0', 64), repeat('1', 64), "
    ":role, :department, c.grid_id, :due, :deadline, :since FROM case_file c WHERE c.id = :case"
)


@pytest.fixture(scope="module")
def city(history_city: tuple[Engine, StoreSettings]) -> dict[str, Any]:
    """A year of 300 generated cases; the case ids and the units to evaluate (each tier, and Jiangbei New Area)."""
    engine, settings = history_city
    load_history(settings, engine, 300, prefix=PREFIX, seed=41)
    with engine.connect() as conn:
        cases = conn.execute(
            text("SELECT id FROM case_file WHERE external_id LIKE :p ORDER BY id"), {"p": f"{PREFIX}-%"}
        ).scalars()
        units = conn.execute(
            text(
                "SELECT DISTINCT ON (u.tier, u.kind) u.id FROM case_file c JOIN unit g ON g.id = c.grid_id "
                "JOIN unit u ON u.id = ANY(g.ancestors) WHERE c.external_id LIKE :p ORDER BY u.tier, u.kind, u.id"
            ),
            {"p": f"{PREFIX}-%"},
        ).scalars()
        jiangbei = conn.execute(text("SELECT id FROM unit WHERE code = '320192'")).scalar_one()
    return {"engine": engine, "cases": list(cases), "units": [*units, jiangbei]}


def _rows(conn: Connection, sql: str, params: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    return {row[0]: tuple(row[1:]) for row in conn.execute(text(sql), params)}


def assert_equal_to_the_moves(conn: Connection, params: dict[str, Any]) -> None:
    ours, moves_alone = _rows(conn, OURS, params), _rows(conn, MOVES_ALONE, params)
    assert ours == moves_alone, params


def add_moves(conn: Connection, moves: list[dict[str, Any]]) -> None:
    """Moves written as the history loader writes them: the chain trigger (which stamps ``now()``) aside. Each
    continues its case's chain and leaves its state as it was, so the history stays one another city could
    import (tests/test_exchange_bulk.py exports this database whole)."""
    conn.execute(text("ALTER TABLE case_transition DISABLE TRIGGER case_transition_chain"))
    for move in moves:
        conn.execute(ADD_MOVE, {**move, "actor": f"{move['role'] or 'system'}:rollup-test"})
    conn.execute(text("ALTER TABLE case_transition ENABLE TRIGGER case_transition_chain"))


def instants() -> st.SearchStrategy[datetime]:
    """Any instant of the last 13 months, or a Beijing midnight, or the first of a month: a span's ends fall
    inside days, on days and on months."""
    moment = st.integers(0, 400 * 86_400).map(lambda s: NOW - timedelta(seconds=s))
    midnight = moment.map(lambda t: t.astimezone(BEIJING).replace(hour=0, minute=0, second=0, microsecond=0))
    first = midnight.map(lambda t: t.replace(day=1))
    return st.one_of(moment, midnight, first)


def a_move(cases: int) -> st.SearchStrategy[dict[str, Any]]:
    at = st.integers(0, 400 * 86_400).map(lambda s: NOW - timedelta(seconds=s))
    offset = st.one_of(st.none(), st.integers(-5 * 86_400, 5 * 86_400).map(lambda s: timedelta(seconds=s)))
    return st.fixed_dictionaries(
        {
            "case": st.integers(0, cases - 1),
            "action": st.sampled_from(ACTIONS),
            "at": at,
            "department": st.sampled_from(DEPARTMENTS),
            "role": st.sampled_from(ROLES),
            "due": offset,
            "deadline": offset,
            "since": offset,
        }
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_the_rollup_equals_the_moves_after_random_writes(city: dict[str, Any], data: st.DataObject) -> None:
    moves = data.draw(st.lists(a_move(len(city["cases"])), max_size=12))
    for move in moves:  # times relative to the move: the stage's due, deadline and start
        move["case"] = city["cases"][move["case"]]
        for name in ("due", "deadline", "since"):
            move[name] = None if move[name] is None else move["at"] + move[name]
    start, end = sorted(data.draw(st.lists(instants(), min_size=2, max_size=2, unique=True)))
    params = {
        "u": data.draw(st.sampled_from(city["units"])),
        "s": start,
        "e": end,
        "by": data.draw(st.sampled_from(BY)),
        "d": data.draw(st.sampled_from(DEPARTMENTS)),
    }
    with city["engine"].begin() as conn:
        add_moves(conn, moves)
        assert_equal_to_the_moves(conn, params)  # the writer's own appended rows count before they commit
    if data.draw(st.booleans()):
        with city["engine"].begin() as conn:
            conn.execute(text("SELECT cityops_evaluation_rollup_fold()"))
    with city["engine"].connect() as conn:
        assert_equal_to_the_moves(conn, params)


def test_a_fold_while_a_writer_is_open_loses_nothing(city: dict[str, Any]) -> None:
    engine, case = city["engine"], city["cases"][0]
    params = {
        "u": city["units"][0],
        "s": NOW - timedelta(days=400),
        "e": NOW + timedelta(days=1),
        "by": "role",
        "d": None,
    }
    move = {"case": case, "action": "close", "at": NOW - timedelta(days=3), "department": "城管局", "role": "checker"}
    with engine.connect() as writer:
        with engine.connect() as reader:
            before = _rows(reader, OURS, params)
        add_moves(writer, [{**move, "due": None, "deadline": NOW, "since": None}])  # open, not committed
        with engine.begin() as folder:
            folder.execute(text("SELECT cityops_evaluation_rollup_fold()"))
        writer.commit()
    with engine.begin() as conn:
        conn.execute(text("SELECT cityops_evaluation_rollup_fold()"))
        after = _rows(conn, OURS, params)
        assert_equal_to_the_moves(conn, params)
    assert after["checker"][1] == before.get("checker", (0, 0))[1] + 1  # closed: counted once, not lost or doubled


def test_grids_changing_hands_take_their_history_along(city: dict[str, Any]) -> None:
    """Grids of one street re-parented under another district's street (as a boundary import would): the
    rollup counts both streets again, in the same transaction; undone afterwards."""
    engine = city["engine"]
    with engine.connect() as conn, conn.begin() as transaction:
        moved, target = conn.execute(
            text(
                "SELECT (SELECT array_agg(DISTINCT c.grid_id) FROM case_file c WHERE c.external_id LIKE :p "
                "        AND c.grid_id IS NOT NULL), "
                "       (SELECT s.id FROM unit s WHERE s.tier = 'street' ORDER BY s.id DESC LIMIT 1)"
            ),
            {"p": f"{PREFIX}-%"},
        ).one()
        moved = moved[:40]
        conn.execute(
            text(
                "UPDATE unit g SET ancestors = s.ancestors || s.id || g.ancestors[cardinality(g.ancestors)] "
                "FROM unit s WHERE s.id = :s AND g.id = ANY(:g)"
            ),
            {"s": target, "g": moved},
        )
        for unit, by in itertools.product(city["units"][:3], BY):
            assert_equal_to_the_moves(
                conn, {"u": unit, "s": NOW - timedelta(days=400), "e": NOW + timedelta(days=1), "by": by, "d": None}
            )
        transaction.rollback()


def test_a_city_reads_whole_months_from_the_rollup_and_a_street_the_moves(city: dict[str, Any]) -> None:
    """A month's rollup rows bent inside a transaction: the city's and the district's year show the bend (they
    read the rollup), a street's does not (it reads the moves), a span within one day does not either."""
    engine = city["engine"]
    month = (NOW.astimezone(BEIJING).replace(day=1) - timedelta(days=40)).replace(day=1).date()
    year = {"s": NOW - timedelta(days=400), "e": NOW, "by": "role", "d": None}
    with engine.connect() as conn, conn.begin() as transaction:
        bent = (
            conn.execute(
                text("UPDATE evaluation_rollup SET filed = filed + 1000 WHERE month AND bucket = :m RETURNING area"),
                {"m": month},
            )
            .scalars()
            .all()
        )
        assert bent, "the history has moves in that month"
        city_id, district, street = bent[0][0], bent[0][1], bent[0][2]
        for unit in (city_id, district):
            ours, moves_alone = _rows(conn, OURS, {"u": unit, **year}), _rows(conn, MOVES_ALONE, {"u": unit, **year})
            assert sum(r[0] for r in ours.values()) - sum(r[0] for r in moves_alone.values()) >= 1000
        assert_equal_to_the_moves(conn, {"u": street, **year})
        day = datetime.combine(month, datetime.min.time(), BEIJING) + timedelta(days=3, hours=2)
        assert_equal_to_the_moves(conn, {"u": city_id, **year, "s": day, "e": day + timedelta(hours=20)})
        transaction.rollback()
