"""``open_case``, the open cases' map columns kept by triggers on case_file (migration 0048), holds exactly
case_file's open rows after any sequence of writes: filing (one at a time or many in one statement),
moving, closing, voiding, reopening, re-scoping, re-timing; and the map's open cases are read from it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, text

from tests.conftest import grid_point, void_open_cases

COLUMNS = "ST_AsEWKB(geom), cell, state, severity, category_code, source, filed_at, deadline, units, departments"
OPEN = "state NOT IN ('closed', 'void')"
# rows of either side the other lacks (none: the two agree)
DIFFERENCE = f"""
SELECT count(*) FROM (
    (SELECT id, {COLUMNS} FROM case_file WHERE {OPEN} EXCEPT SELECT case_id, {COLUMNS} FROM open_case)
    UNION ALL
    (SELECT case_id, {COLUMNS} FROM open_case EXCEPT SELECT id, {COLUMNS} FROM case_file WHERE {OPEN})
) d
"""
COPIED = (
    "category_code, severity, state, geom, cell, grid_id, responsible_unit_id, departments, filed_at, deadline, "
    "routing_trace, address, units, source"
)
COPY = "open_case test: a copy"
WRITES = {
    "close": "UPDATE case_file SET state = 'closed', closed_at = now() WHERE id = :id",
    "void": "UPDATE case_file SET state = 'void' WHERE id = :id",
    "reopen": "UPDATE case_file SET state = 'reported', closed_at = NULL WHERE id = :id",
    "dispatch": "UPDATE case_file SET state = 'dispatched' WHERE id = :id",
    # (to its parent cell: still a valid H3 cell, which later tests' analyses read even from closed cases)
    "move": "UPDATE case_file SET geom = ST_Translate(geom, :step, :step), cell = cityops_h3_parent(cell, 9) "
    "WHERE id = :id",
    "deadline": "UPDATE case_file SET deadline = deadline + make_interval(hours => :hours) WHERE id = :id",
    "severity": "UPDATE case_file SET severity = (CASE severity WHEN 'I' THEN 'III' ELSE 'I' END)::severity "
    "WHERE id = :id",
    "rescope": "UPDATE case_file SET units = units[1:2], departments = departments || '{城管局}' WHERE id = :id",
    "recategorise": "UPDATE case_file SET category_code = '010101' WHERE id = :id",
    # many in one statement, some closed: the statement trigger's own rows
    "copy": f"INSERT INTO case_file ({COPIED}, description) SELECT {COPIED}, '{COPY}' FROM case_file "
    "WHERE id >= :id ORDER BY id LIMIT 4",
}


@pytest.fixture(scope="module")
def filed(client: TestClient, nanjing: Engine) -> Iterator[list[int]]:
    """Cases filed through the API, in two districts."""
    ids = []
    for n in range(8):
        lon, lat = grid_point(nanjing, ("320104", "320106")[n % 2], 40 + n)
        body = {"lon": lon, "lat": lat, "category": "020102", "source": "hotline", "description": f"暴露垃圾 {n}"}
        answer = client.post("/api/v1/reports", json=body)
        assert answer.status_code == 201, answer.text
        ids.append(int(answer.json()["case_id"]))
    yield ids
    # out of the other tests' counts
    void_open_cases(nanjing, "id = ANY(:ids) OR description = :copy", {"ids": ids, "copy": COPY})
    with nanjing.begin() as conn:  # closed copies: no moves of their own to keep whole
        conn.execute(text("UPDATE case_file SET state = 'void' WHERE description = :copy"), {"copy": COPY})


def disagreement(conn: Connection) -> int:
    return conn.execute(text(DIFFERENCE)).scalar_one()


def test_filed_cases_are_in_it(nanjing: Engine, filed: list[int]) -> None:
    with nanjing.connect() as conn:
        held = conn.execute(text("SELECT count(*) FROM open_case WHERE case_id = ANY(:ids)"), {"ids": filed})
        assert held.scalar_one() == len(filed)
        assert disagreement(conn) == 0


@given(
    writes=st.lists(
        st.tuples(
            st.sampled_from(sorted(WRITES)), st.integers(0, 7), st.sampled_from([-0.001, 0.002]), st.integers(-48, 48)
        ),
        min_size=1,
        max_size=12,
    )
)
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_it_equals_the_open_rows_of_case_file_after_any_writes(
    nanjing: Engine, filed: list[int], writes: list[tuple[str, int, float, int]]
) -> None:
    with nanjing.begin() as conn:
        for write, which, step, hours in writes:
            conn.execute(text(WRITES[write]), {"id": filed[which], "step": step, "hours": hours})
            assert disagreement(conn) == 0, (write, which)  # inside the writer's transaction too
    with nanjing.connect() as conn:
        assert disagreement(conn) == 0


def test_the_maps_open_cases_come_from_it(nanjing: Engine, filed: list[int]) -> None:
    """The tiles' and hexagons' source reads open_case: a row bent there (and only there) is what the map gets."""
    with nanjing.begin() as conn:
        city = conn.execute(text("SELECT id FROM unit WHERE code = '320100'")).scalar_one()
        conn.execute(text("SELECT set_config('cityops.scope_unit', :u, true)"), {"u": str(city)})
        conn.execute(text(WRITES["reopen"]), {"id": filed[0]})
        conn.execute(
            text("UPDATE open_case SET geom = ST_SetSRID(ST_MakePoint(1, 1), 4326) WHERE case_id = :id"),
            {"id": filed[0]},
        )
        found = conn.execute(text("SELECT id FROM cityops_case_points(ST_MakeEnvelope(0, 0, 2, 2, 4326))")).scalars()
        assert list(found) == [filed[0]]
        conn.rollback()
