"""The audit trail: actions are recorded on a hash chain that shows any edit or removal."""

from __future__ import annotations

import time
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from command.users import create_user
from spatial.audit import record, seal, verify


def entries(engine: Engine, subject: str) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT actor, action FROM audit_log WHERE subject = :s ORDER BY id"), {"s": subject})
        return [tuple(row) for row in rows]  # type: ignore[misc]


def test_user_changes_and_logins_are_recorded(nanjing: Engine, client: TestClient) -> None:
    name = f"audited-{uuid.uuid4().hex[:8]}"
    with nanjing.begin() as conn:
        create_user(
            conn, name, unit_code="320104006", roles=["checker"], password="a long enough password", actor="admin-x"
        )
    client.post("/api/v1/auth/token", data={"username": name, "password": "wrong password!!"})
    client.post("/api/v1/auth/token", data={"username": name, "password": "a long enough password"})
    assert entries(nanjing, name) == [
        ("admin-x", "user.created"),
        ("admin-x", "user.roles"),
        (name, "login.failed"),
        (name, "login"),
    ]
    with nanjing.connect() as conn:
        assert verify(conn).intact


def test_the_log_refuses_updates_and_deletes(nanjing: Engine) -> None:
    with nanjing.begin() as conn:
        entry = record(conn, "tester", "probe", "append-only")
    for statement in ("UPDATE audit_log SET actor = 'mallory' WHERE id = :id", "DELETE FROM audit_log WHERE id = :id"):
        with pytest.raises(DBAPIError, match="append-only"), nanjing.begin() as conn:
            conn.execute(text(statement), {"id": entry})


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        ('UPDATE audit_log SET detail = \'{"roles": ["admin"]}\' WHERE id = :middle', "content was changed"),
        ("DELETE FROM audit_log WHERE id = :middle", "changed, removed or inserted"),
    ],
)
def test_verify_names_the_first_entry_that_does_not_fit(nanjing: Engine, tamper: str, reason: str) -> None:
    with nanjing.begin() as conn:
        ids = [record(conn, "tester", "probe", f"chain-{i}", n=i) for i in range(3)]
    with nanjing.connect() as conn:
        seal(conn)  # on the chain: from now on a change shows
    try:
        with nanjing.begin() as conn:  # someone with the table owner's rights goes around the trigger
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
            conn.execute(text(tamper), {"middle": ids[1]})
            conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only"))
        with nanjing.connect() as conn:
            verdict = verify(conn)
        assert not verdict.intact and reason in verdict.reason  # type: ignore[operator]
        assert verdict.first_bad == (ids[1] if "content" in reason else ids[2])
    finally:  # the shared test database keeps a valid chain for the other tests: restore by rebuilding
        with nanjing.begin() as conn:
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
            conn.execute(text("DELETE FROM audit_log WHERE id >= :first"), {"first": ids[0]})
            conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only"))
        with nanjing.connect() as conn:
            assert verify(conn).intact


def test_the_verify_verb(nanjing: Engine, nanjing_settings, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from cityops.cli import app

    for key, value in {
        "CITYOPS_DATA_DIR": str(nanjing_settings.data_dir),
        "CITYOPS_CITY": "nanjing",
        "CITYOPS_DB_PORT": str(nanjing_settings.db_port),
    }.items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(app, ["audit", "verify"])
    assert result.exit_code == 0 and "audit chain intact" in result.stdout


def test_entries_join_the_chain_shortly_and_only_the_chain_columns_are_ever_filled_in(
    nanjing: Engine, client: TestClient
) -> None:
    with nanjing.begin() as conn:
        entry = record(conn, "tester", "probe", "sealing")
    with nanjing.connect() as conn:  # the service seals every second
        for _ in range(50):
            sealed = conn.execute(text("SELECT seq IS NOT NULL FROM audit_log WHERE id = :i"), {"i": entry}).scalar()
            conn.commit()
            if sealed:
                break
            time.sleep(0.1)
        assert sealed, "the service did not seal the entry within 5 s"
        assert verify(conn).intact
    with pytest.raises(DBAPIError, match="append-only"), nanjing.begin() as conn:  # sealed: no second sealing
        conn.execute(text("UPDATE audit_log SET seq = seq + 1000000, hash = hash WHERE id = :i"), {"i": entry})
