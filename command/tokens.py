"""Login tokens: short-lived JWT access tokens, stored and rotated refresh tokens.

The access token (HS256, ``access_minutes``) names the user and is checked without the
database; the API still loads the user per request, so disabling a user stops their tokens at
once. The refresh token is random and kept only as its SHA-256; using it returns a new pair and
retires it. Presenting a retired one again means two parties hold it — the whole family (every
token descended from the same login) is revoked, and both must log in again. Only within a few
seconds of its retirement (``reuse_grace_s``) is a retired token taken as a lost answer instead —
the page left while renewing, a mobile link dropped the reply — and answered with a new pair of the
same login (the grace period Okta and Auth0 offer for rotation).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from sqlalchemy import Connection, text

from command.users import CHANGES, User, get_user
from spatial.audit import record
from spatial.errors import UnauthenticatedError

ALGORITHM = "HS256"
ISSUER = "cityops"


@dataclass(frozen=True)
class TokenPolicy:
    """Signing key and lifetimes."""

    secret: str
    access_minutes: int = 15
    refresh_days: int = 7
    reuse_grace_s: int = 10


@dataclass(frozen=True)
class TokenPair:
    """What a login or a refresh returns (OAuth2 token response)."""

    access_token: str
    refresh_token: str
    expires_in: int

    def as_dict(self) -> dict[str, object]:
        """The RFC 6749 §5.1 body."""
        return {
            "access_token": self.access_token,
            "token_type": "bearer",
            "expires_in": self.expires_in,
            "refresh_token": self.refresh_token,
        }


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(conn: Connection, user: User, policy: TokenPolicy, family: str | None = None) -> TokenPair:
    """A new access token and a new refresh token (of a new family unless continuing one).

    The access token names its login (``fam``): once the login is revoked (logout, a reused
    refresh token) the token is refused too, not only when it expires.
    """
    now = datetime.now(UTC)
    family = family or secrets.token_hex(16)
    claims = {
        "sub": user.username,
        "uid": user.id,
        "iss": ISSUER,
        "iat": now,
        "jti": secrets.token_hex(8),
        "fam": family,
        "exp": now + timedelta(minutes=policy.access_minutes),
    }
    access = jwt.encode(claims, policy.secret, algorithm=ALGORITHM)
    refresh = secrets.token_urlsafe(32)
    conn.execute(
        text("INSERT INTO refresh_token (token_sha256, family, user_id, expires_at) VALUES (:t, :f, :u, :e)"),
        {"t": _digest(refresh), "f": family, "u": user.id, "e": now + timedelta(days=policy.refresh_days)},
    )
    return TokenPair(access, refresh, policy.access_minutes * 60)


def holder_of(access_token: str, policy: TokenPolicy) -> tuple[str, str]:
    """The user an access token was issued to and their login (family), or UnauthenticatedError
    (expired, forged, malformed, or issued before tokens named their login)."""
    try:
        claims = jwt.decode(
            access_token,
            policy.secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "iss", "fam"]},
        )
    except jwt.ExpiredSignatureError:
        raise UnauthenticatedError("the access token has expired; refresh it or log in again") from None
    except jwt.InvalidTokenError:
        raise UnauthenticatedError("the access token is not valid") from None
    return str(claims["sub"]), str(claims["fam"])


def login_is_live(conn: Connection, family: str) -> bool:
    """Whether a login still stands: some token of it not revoked (logout and reuse revoke them all)."""
    return bool(
        conn.execute(
            text("SELECT EXISTS (SELECT FROM refresh_token WHERE family = :f AND revoked_at IS NULL)"), {"f": family}
        ).scalar()
    )


def refresh(conn: Connection, refresh_token: str, policy: TokenPolicy) -> TokenPair:
    """A new pair for a live refresh token, which is retired; a retired one revokes its family."""
    row = conn.execute(
        text(
            "SELECT t.family, t.expires_at, t.replaced_at, t.revoked_at, u.username FROM refresh_token t "
            "JOIN app_user u ON u.id = t.user_id WHERE t.token_sha256 = :t FOR UPDATE OF t"
        ),
        {"t": _digest(refresh_token)},
    ).first()
    if row is None:
        raise UnauthenticatedError("unknown refresh token; log in again")
    family, expires_at, replaced_at, revoked_at, username = row
    if replaced_at is not None and datetime.now(UTC) - replaced_at > timedelta(seconds=policy.reuse_grace_s):
        revoke_family(conn, family)
        record(conn, username, "token.reused", username, family=family)
        conn.commit()  # the revocation must outlive the refusal that follows
        raise UnauthenticatedError("this refresh token was already used; every session of this login is revoked")
    if revoked_at is not None or expires_at <= datetime.now(UTC):
        raise UnauthenticatedError("the refresh token has expired or was revoked; log in again")
    user = get_user(conn, username)
    if user.disabled:
        raise UnauthenticatedError("the user is disabled")
    conn.execute(
        text("UPDATE refresh_token SET replaced_at = coalesce(replaced_at, now()) WHERE token_sha256 = :t"),
        {"t": _digest(refresh_token)},
    )
    record(conn, username, "token.refreshed", username, family=family)
    return issue(conn, user, policy, family)


def revoke_family(conn: Connection, family: str) -> None:
    """End every token of one login; every API process forgets it at commit (its access tokens end too)."""
    conn.execute(
        text("UPDATE refresh_token SET revoked_at = coalesce(revoked_at, now()) WHERE family = :f"), {"f": family}
    )
    conn.execute(text("SELECT pg_notify(:channel, :f)"), {"channel": CHANGES, "f": family})


def revoke(conn: Connection, refresh_token: str) -> None:
    """Log out: the refresh token's whole family ends (unknown tokens are ignored, as RFC 7009 asks)."""
    row = conn.execute(
        text(
            "SELECT t.family, u.username FROM refresh_token t JOIN app_user u ON u.id = t.user_id "
            "WHERE t.token_sha256 = :t"
        ),
        {"t": _digest(refresh_token)},
    ).first()
    if row is not None:
        revoke_family(conn, row[0])
        record(conn, row[1], "logout", row[1])
