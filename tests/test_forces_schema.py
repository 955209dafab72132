"""The forces directory in the database: capabilities, the status machine, one active assignment
per force under concurrency, and jurisdiction scoping (issue 5's foundation)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from spatial.db import libpq_url
from spatial.settings import StoreSettings
from tests.conftest import add_force
from web.deps import SESSION_SCOPE


def test_a_force_belongs_to_its_unit_and_its_ancestors(nanjing: Engine) -> None:
    force_id, _ = add_force(nanjing, "320102002", ["drainage"])
    with nanjing.connect() as conn:
        units = conn.execute(
            text(
                "SELECT array_agg(u.code ORDER BY u.code) FROM force f JOIN unit u ON u.id = ANY(f.units) WHERE "
                "f.id = :f"
            ),
            {"f": force_id},
        ).scalar_one()
    assert units == ["320100", "320102", "320102002"]


def test_unknown_capabilities_are_refused_by_name(nanjing: Engine) -> None:
    with pytest.raises(Exception, match=r"unknown capabilities \{levitation,teleport\}"):
        add_force(nanjing, "320102002", ["drainage", "teleport", "levitation"])


def test_status_moves_only_along_the_allowed_transitions(nanjing: Engine) -> None:
    force_id, code = add_force(nanjing, "320102002", ["first_aid"], kind="person")
    with nanjing.begin() as conn:
        for status in ("assigned", "en_route", "on_scene", "available", "off_duty"):
            conn.execute(
                text("UPDATE force SET status = CAST(:s AS force_status) WHERE id = :f"), {"s": status, "f": force_id}
            )
    with pytest.raises(Exception) as refused, nanjing.begin() as conn:
        conn.execute(text("UPDATE force SET status = 'on_scene' WHERE id = :f"), {"f": force_id})
    cause = refused.value.orig  # type: ignore[attr-defined]
    assert isinstance(cause, psycopg.errors.CheckViolation)
    assert f"force {code} cannot go from off_duty to on_scene" in str(cause)
    assert cause.diag.message_detail == "allowed from off_duty: available, out_of_service"


def test_a_hundred_commanders_race_for_one_force_and_one_wins(
    client: TestClient, nanjing: Engine, nanjing_settings: StoreSettings
) -> None:
    force_id, _ = add_force(nanjing, "320102002", ["drainage"])
    report = {"lon": 118.80, "lat": 32.06, "category": "010101", "source": "hotline", "description": "井盖冒水"}
    case = client.post("/api/v1/reports", json=report).json()["case_id"]
    url = libpq_url(nanjing_settings)

    def attempt(n: int) -> bool:
        with psycopg.connect(url, autocommit=True) as conn:
            try:
                conn.execute(
                    "INSERT INTO assignment (case_id, force_id, assigned_by) VALUES (%s, %s, %s)",
                    (int(case), force_id, f"commander-{n}"),
                )
            except psycopg.errors.UniqueViolation:
                return False
            return True

    with ThreadPoolExecutor(max_workers=20) as pool:
        wins = list(pool.map(attempt, range(100)))
    assert sum(wins) == 1
    with nanjing.begin() as conn:  # released, the force can be assigned again
        conn.execute(
            text("UPDATE assignment SET released_at = now(), release_reason = 'completed' WHERE force_id = :f"),
            {"f": force_id},
        )
        conn.execute(
            text("INSERT INTO assignment (case_id, force_id, assigned_by) VALUES (:e, :f, 'again')"),
            {"e": int(case), "f": force_id},
        )


def test_the_api_role_sees_the_forces_of_its_scope_only(nanjing: Engine, nanjing_settings: StoreSettings) -> None:
    inside, _ = add_force(nanjing, "320102002", ["drainage"])
    outside, _ = add_force(nanjing, "320104", ["drainage"])
    with psycopg.connect(libpq_url(nanjing_settings, api=True), autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM force").fetchone() == (0,)
        street = conn.execute("SELECT id FROM unit WHERE code = '320102002'").fetchone()
        conn.execute(SESSION_SCOPE, (str(street[0]), ""))  # type: ignore[index]
        seen = {row[0] for row in conn.execute("SELECT id FROM force WHERE id = ANY(%s)", ([inside, outside],))}
        assert seen == {inside}
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE force SET name = 'renamed' WHERE id = %s", (inside,))
