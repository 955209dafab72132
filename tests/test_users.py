"""The user system: roles as data, Argon2 passwords, API keys, the `cityops user` verbs."""

from __future__ import annotations

import re
import time
import uuid

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from cityops.cli import app
from command.users import authenticate, create_api_key, create_user, disable_user, get_user, set_roles, user_for_key
from spatial.errors import ConflictError, InvalidInputError, NotFoundError
from spatial.settings import StoreSettings

PASSWORD = "correct horse battery staple"
QINHUAI_STREET = "320104006"


def fresh_name(prefix: str = "u") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def test_roles_are_data_and_permissions_are_their_union(nanjing: Engine) -> None:
    with nanjing.begin() as conn:
        roles = dict(conn.execute(text("SELECT name, permissions FROM role")).all())
        assert {
            "grid_worker",
            "community",
            "street",
            "district",
            "city_commander",
            "dispatcher",
            "department_handler",
            "checker",
            "planner",
            "auditor",
            "admin",
            "integration",
            "tracker",
            "wall",
        } <= set(roles)
        user = create_user(
            conn, fresh_name(), unit_code=QINHUAI_STREET, roles=["checker", "planner"], password=PASSWORD, actor="test"
        )
    assert user.unit_tier == "street" and user.roles == ("checker", "planner")
    assert user.permissions == frozenset(roles["checker"]) | frozenset(roles["planner"])
    assert user.may("analytics:read") and user.may("cases:check") and not user.may("users:admin")


def test_passwords_are_argon2_and_logins_check_them(nanjing: Engine) -> None:
    name = fresh_name()
    with nanjing.begin() as conn:
        create_user(conn, name, unit_code=QINHUAI_STREET, roles=["street"], password=PASSWORD, actor="test")
        stored = conn.execute(text("SELECT password_hash FROM app_user WHERE username = :u"), {"u": name}).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    with nanjing.connect() as conn:
        assert authenticate(conn, name, PASSWORD).username == name  # type: ignore[union-attr]
        assert authenticate(conn, name, PASSWORD + "!") is None
        started = time.perf_counter()
        assert authenticate(conn, "nobody-" + name, PASSWORD) is None  # an unknown user costs a hash too
        assert time.perf_counter() - started > 0.01
    with nanjing.begin() as conn:
        disable_user(conn, name, actor="test")
    with nanjing.connect() as conn:
        assert authenticate(conn, name, PASSWORD) is None and get_user(conn, name).disabled


def test_api_keys_are_shown_once_and_die_with_their_user(nanjing: Engine) -> None:
    name = fresh_name("sensor")
    with nanjing.begin() as conn:
        create_user(conn, name, unit_code=QINHUAI_STREET, roles=["integration"], password=None, actor="test")
        key = create_api_key(conn, name, "water-level sensors", actor="test")
        stored = conn.execute(
            text("SELECT secret_sha256 FROM api_key WHERE prefix = :p"), {"p": key.split(".")[0]}
        ).scalar_one()
    assert key.split(".")[1] not in stored
    with nanjing.connect() as conn:
        assert user_for_key(conn, key).username == name  # type: ignore[union-attr]
        assert user_for_key(conn, key + "x") is None and user_for_key(conn, "nonsense") is None
        assert authenticate(conn, name, "") is None  # no password: no login
    with nanjing.begin() as conn:
        disable_user(conn, name, actor="test")
    with nanjing.connect() as conn:
        assert user_for_key(conn, key) is None


@pytest.mark.parametrize(
    ("change", "error", "says"),
    [
        ({"roles": ["pilot"]}, InvalidInputError, "unknown role(s) ['pilot']; roles: admin"),
        ({"unit_code": "999"}, NotFoundError, "no unit '999'"),
        ({"password": "short"}, InvalidInputError, "at least 12 characters"),
        ({"username": "Robert'); DROP TABLE app_user;--"}, InvalidInputError, "lower-case letters"),
    ],
)
def test_bad_users_are_refused_and_nothing_is_written(nanjing: Engine, change: dict, error: type, says: str) -> None:
    arguments = {
        "username": fresh_name(),
        "unit_code": QINHUAI_STREET,
        "roles": ["street"],
        "password": PASSWORD,
        **change,
    }
    with nanjing.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM app_user")).scalar_one()
    with (
        pytest.raises(error, match=re.escape(says)),
        nanjing.begin() as conn,
    ):
        create_user(conn, arguments.pop("username"), **arguments, actor="test")
    with nanjing.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM app_user")).scalar_one() == before


def test_a_username_is_taken_once_and_roles_are_replaced(nanjing: Engine) -> None:
    name = fresh_name()
    with nanjing.begin() as conn:
        create_user(conn, name, unit_code=QINHUAI_STREET, roles=["street"], password=PASSWORD, actor="test")
    with pytest.raises(ConflictError), nanjing.begin() as conn:
        create_user(conn, name, unit_code=QINHUAI_STREET, roles=["street"], password=PASSWORD, actor="test")
    with nanjing.begin() as conn:
        set_roles(conn, name, ["dispatcher", "checker"], actor="test")
        assert get_user(conn, name).roles == ("checker", "dispatcher")


def test_the_user_verbs(nanjing: Engine, nanjing_settings: StoreSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {
        "CITYOPS_DATA_DIR": str(nanjing_settings.data_dir),
        "CITYOPS_CITY": "nanjing",
        "CITYOPS_DB_PORT": str(nanjing_settings.db_port),
    }.items():
        monkeypatch.setenv(key, value)
    runner, name = CliRunner(), fresh_name("cli")
    added = runner.invoke(
        app,
        ["user", "add", name, "--unit", QINHUAI_STREET, "--role", "street", "--role", "checker", "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert added.exit_code == 0 and f"user {name} in {QINHUAI_STREET} (street) with checker, street" in added.stdout
    listed = runner.invoke(app, ["user", "list"])
    assert listed.exit_code == 0 and name[:8] in listed.stdout  # the table may wrap the rest
    assert "dispatcher" in runner.invoke(app, ["user", "role", name, "--role", "dispatcher"]).stdout
    key = runner.invoke(app, ["user", "key", name, "--name", "12345 gateway"])
    assert key.exit_code == 0 and "not shown again" in key.stdout
    assert re.fullmatch(r"[0-9a-f]{12}\.[A-Za-z0-9_-]{43}", key.stdout.splitlines()[-1])
    assert "disabled" in runner.invoke(app, ["user", "disable", name]).stdout
    again = runner.invoke(
        app,
        ["user", "add", name, "--unit", QINHUAI_STREET, "--role", "street", "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert again.exit_code == 1 and "exists already" in again.stderr
    assert "users:admin" in runner.invoke(app, ["user", "roles"]).stdout
