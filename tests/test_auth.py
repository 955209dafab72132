"""Login, access and refresh tokens, revocation, and the refusal to run production on a default secret."""

from __future__ import annotations

import hashlib
import time
import uuid
from pathlib import Path

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from cityops.app import create_app
from command.users import create_user, disable_user
from spatial.errors import ConfigurationError
from spatial.settings import StoreSettings
from web.settings import ApiSettings

PASSWORD = "correct horse battery staple"


@pytest.fixture
def user(nanjing: Engine) -> str:
    name = f"auth-{uuid.uuid4().hex[:10]}"
    with nanjing.begin() as conn:
        create_user(conn, name, unit_code="320104006", roles=["street"], password=PASSWORD, actor="test")
    return name


def login(client: TestClient, name: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/auth/token", data={"username": name, "password": password})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_login_and_who_am_i(client: TestClient, user: str) -> None:
    response = login(client, user)
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    tokens = response.json()
    assert tokens["token_type"] == "bearer" and tokens["expires_in"] == 15 * 60
    me = client.get("/api/v1/auth/me", headers=bearer(tokens["access_token"])).json()
    assert me["username"] == user and me["unit"] == {"code": "320104006", "tier": "street"}
    assert "cases:dispatch" in me["permissions"] and me["roles"] == ["street"]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-a-jwt"}, {"Authorization": "Basic eDp5"}])
def test_no_or_bad_token_is_401_with_a_challenge(anonymous: TestClient, headers: dict[str, str]) -> None:
    response = anonymous.get("/api/v1/auth/me", headers=headers)
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"


def test_wrong_password_unknown_user_and_forged_or_expired_tokens(client: TestClient, user: str) -> None:
    assert login(client, user, PASSWORD + "x").status_code == 401
    assert login(client, "nobody-" + user).status_code == 401
    secret = client.app.state.tokens.secret  # type: ignore[attr-defined]
    expired = jwt.encode(
        {"sub": user, "iss": "cityops", "fam": "f" * 32, "iat": 1_700_000_000, "exp": 1_700_000_600}, secret
    )
    response = client.get("/api/v1/auth/me", headers=bearer(expired))
    assert response.status_code == 401 and "expired" in response.json()["detail"]
    forged = jwt.encode({"sub": user, "iss": "cityops", "iat": 1_900_000_000, "exp": 4_000_000_000}, "guessed-secret")
    assert client.get("/api/v1/auth/me", headers=bearer(forged)).status_code == 401


def retired_long_ago(nanjing: Engine, refresh_token: str) -> None:
    """Move a used-up refresh token's retirement out of the grace period (a replay by someone else, later)."""
    with nanjing.begin() as conn:
        digest = hashlib.sha256(refresh_token.encode()).hexdigest()
        conn.execute(
            text("UPDATE refresh_token SET replaced_at = replaced_at - interval '1 minute' WHERE token_sha256 = :t"),
            {"t": digest},
        )


def test_refresh_rotates_and_a_reused_refresh_token_revokes_the_login(
    client: TestClient, user: str, nanjing: Engine
) -> None:
    first = login(client, user).json()
    second = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200 and second.json()["refresh_token"] != first["refresh_token"]
    retired_long_ago(nanjing, first["refresh_token"])
    replay = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401 and "already used" in replay.json()["detail"]
    # the thief's replay ended the whole login: the legitimate newer token is dead too
    assert (
        client.post("/api/v1/auth/refresh", json={"refresh_token": second.json()["refresh_token"]}).status_code == 401
    )
    # issue 19.6: and so are its access tokens, not only when they expire (the revocation is heard by NOTIFY)
    deadline, status = time.monotonic() + 2, 200
    while status == 200 and time.monotonic() < deadline:
        status = client.get("/api/v1/auth/me", headers=bearer(second.json()["access_token"])).status_code
    assert status == 401


def test_a_renewal_whose_answer_was_lost_is_answered_again_within_the_grace(client: TestClient, user: str) -> None:
    """A page left mid-renewal lost the new cookie and presented the used-up one again: that ended the login
    (and, once access tokens ended with it, sent the next page to /login)."""
    first = login(client, user).json()
    lost = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    again = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert lost.status_code == 200 and again.status_code == 200
    assert again.json()["refresh_token"] not in (lost.json()["refresh_token"], first["refresh_token"])
    for pair in (lost.json(), again.json()):  # the login stands: both answers work
        assert client.get("/api/v1/auth/me", headers=bearer(pair["access_token"])).status_code == 200
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": again.json()["refresh_token"]}).status_code == 200


def test_an_access_token_ends_with_its_login(client: TestClient, user: str) -> None:
    """Issue 19.6: after logout the access token answered 200 on /auth/me for up to 15 minutes."""
    tokens, other = login(client, user).json(), login(client, user).json()
    assert client.get("/api/v1/auth/me", headers=bearer(tokens["access_token"])).status_code == 200
    assert client.post("/api/v1/auth/revoke", json={"refresh_token": tokens["refresh_token"]}).status_code == 200
    ended = client.get("/api/v1/auth/me", headers=bearer(tokens["access_token"]))
    assert ended.status_code == 401 and "log in again" in ended.json()["detail"]
    assert client.get("/api/v1/auth/me", headers=bearer(other["access_token"])).status_code == 200  # another login
    secret = client.app.state.tokens.secret  # type: ignore[attr-defined]
    unnamed = jwt.encode({"sub": user, "iss": "cityops", "iat": 1_900_000_000, "exp": 4_000_000_000}, secret)
    assert client.get("/api/v1/auth/me", headers=bearer(unnamed)).status_code == 401  # a token that names no login


def test_logout_revokes_and_disabling_stops_access_at_once(client: TestClient, user: str, nanjing: Engine) -> None:
    tokens = login(client, user).json()
    assert client.post("/api/v1/auth/revoke", json={"refresh_token": tokens["refresh_token"]}).status_code == 200
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).status_code == 401
    fresh = login(client, user).json()
    assert client.get("/api/v1/auth/me", headers=bearer(fresh["access_token"])).status_code == 200  # cached now
    with nanjing.begin() as conn:  # another process (the CLI) disables: the API hears of it by NOTIFY
        disable_user(conn, user, actor="test")
    deadline, status = time.monotonic() + 2, 200
    while status == 200 and time.monotonic() < deadline:
        status = client.get("/api/v1/auth/me", headers=bearer(fresh["access_token"])).status_code
    assert status == 401, "a disabled user's token still worked 2 s later"
    assert login(client, user).status_code == 401


@pytest.mark.parametrize("secret", [None, "secret", "change-me", "short", "a" * 40])
def test_production_refuses_a_missing_or_default_secret(nanjing_settings: StoreSettings, secret: str | None) -> None:
    settings = ApiSettings(_env_file=None, environment="production", secret_key=secret)
    with pytest.raises(ConfigurationError, match="CITYOPS_SECRET_KEY"):
        create_app(nanjing_settings, settings)


def test_development_keeps_its_own_secret(tmp_path: Path, nanjing_settings: StoreSettings) -> None:
    store = nanjing_settings.model_copy(update={"data_dir": tmp_path})
    first = create_app(store, ApiSettings(_env_file=None))
    again = create_app(store, ApiSettings(_env_file=None))
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    assert len((tmp_path / "secret_key").read_text()) >= 48 and first is not again


def test_a_session_is_renewed_or_ended_only_by_the_pages_own_requests(client: TestClient, user: str) -> None:
    """Issue 19.9: the refresh cookie renewed a session on any request, another site's form included."""
    browser = TestClient(client.app, base_url="https://testserver")  # its own cookie jar (the session's are secure)
    page = {"X-Requested-With": "cityops"}
    signed_in = browser.post("/api/v1/auth/session", data={"username": user, "password": PASSWORD}, headers=page)
    assert signed_in.status_code == 200, signed_in.text
    for path in ("/api/v1/auth/session/refresh", "/api/v1/auth/session/end"):
        forged = browser.post(path)
        assert forged.status_code == 403 and "X-Requested-With" in forged.json()["detail"], path
    assert browser.post("/api/v1/auth/session/refresh", headers=page).status_code == 200
    assert browser.post("/api/v1/auth/session/end", headers=page).json() == {"revoked": True}


def test_an_administrator_cannot_disable_their_own_account(client: TestClient, nanjing: Engine) -> None:
    """Issue 19.9: an administrator could lock themselves out (and leave a unit with no administrator)."""
    name = f"admin-{uuid.uuid4().hex[:10]}"
    with nanjing.begin() as conn:
        create_user(conn, name, unit_code="320104006", roles=["admin"], password=PASSWORD, actor="test")
    headers = bearer(login(client, name).json()["access_token"])
    refused = client.post(f"/api/v1/users/{name}/disable", headers=headers)
    assert refused.status_code == 403 and "your own account" in refused.json()["detail"]
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200  # still active
