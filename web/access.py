"""Who may call an endpoint, and the jurisdiction their database session is confined to.

Every route declares exactly one rule as a dependency — ``PUBLIC``, ``SIGNED_IN`` or
``Access("a:permission")`` — and the authorisation-matrix test reads the rules off the route
table, so a route added without one fails the build. Staff present a Bearer access token;
integrations and sensors an ``X-API-Key``. The caller's scope (their unit, their department)
goes on the request; the connections case work takes (``web.deps.scoped_connection``) carry it
into PostgreSQL, where row-level security applies it (migration 0010).

Users are cached per process for ``USER_TTL`` seconds, and dropped from every process's cache
as soon as a change to them commits (NOTIFY on ``cityops_users``), so disabling a user or a
key stops it at once; the TTL bounds the staleness should the listening connection drop.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from enum import Enum
from typing import Annotated, Final

import psycopg
import structlog
from cachetools import TTLCache
from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from psycopg.conninfo import make_conninfo

from command.tokens import holder_of, login_is_live
from command.users import CHANGES, User, get_user, user_for_key
from spatial.errors import ForbiddenError, NotFoundError, UnauthenticatedError
from web.deps import db_call, shared
from web.session import WRITE_HEADER, forged_write, session_token

USER_TTL = 5.0


class _Unknown(Enum):
    """A key not in the cache: an enum member rather than ``object()``, so ``is UNKNOWN`` narrows the type."""

    KEY = "unknown"


UNKNOWN: Final = _Unknown.KEY
log = structlog.get_logger("cityops.access")
bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An integration's key")


@dataclass(frozen=True)
class Scope:
    """What a session may see: a unit's subtree, narrowed to one department's cases when given."""

    unit_id: int
    department: str | None = None

    @classmethod
    def of(cls, user: User) -> Scope:
        """The scope a user acts in."""
        return cls(user.unit_id, user.department)

    def settings(self) -> tuple[str, str]:
        """Values of ``cityops.scope_unit`` and ``cityops.department``."""
        return str(self.unit_id), self.department or ""


class UserCache:
    """Users by name and by API key, for a few seconds (no database round trip per request)."""

    def __init__(self, ttl: float = USER_TTL) -> None:
        self._by_name: TTLCache[str, User] = TTLCache(maxsize=10_000, ttl=ttl)
        self._by_key: TTLCache[str, User | None] = TTLCache(maxsize=10_000, ttl=ttl)
        self._live_logins: TTLCache[str, bool] = TTLCache(maxsize=100_000, ttl=ttl)

    async def by_name(self, request: Request, username: str) -> User:
        """The user a token names (a token of a deleted user is refused, never an error page)."""
        user = self._by_name.get(username)
        if user is None:
            try:
                user = await db_call(request, get_user, username)
            except NotFoundError:
                raise UnauthenticatedError("the token's user does not exist") from None
            self._by_name[username] = user
        return user

    async def by_key(self, request: Request, key: str) -> User | None:
        """The active user behind an API key, or None (unknown, revoked, disabled)."""
        digest = hashlib.sha256(key.encode()).hexdigest()  # the key itself is not kept, even in memory
        found = self._by_key.get(digest, UNKNOWN)
        if found is UNKNOWN:  # never looked up, or expired (unknown keys are remembered too: no database spray)
            found = await db_call(request, user_for_key, key)
            self._by_key[digest] = found
        return found

    async def by_token(self, request: Request, access_token: str) -> User:
        """The user an access token names, while its login stands (a revoked login's tokens end with it)."""
        username, family = holder_of(access_token, shared(request).tokens)
        live = self._live_logins.get(family)
        if live is None:
            live = self._live_logins[family] = await db_call(request, login_is_live, family)
        if not live:
            raise UnauthenticatedError("this login has ended (signed out, or a refresh token was reused); log in again")
        return await self.by_name(request, username)

    def forget(self) -> None:
        """Drop everything (a user, their roles, keys or logins changed)."""
        self._by_name.clear()
        self._by_key.clear()
        self._live_logins.clear()

    async def follow_changes(self, conninfo: str, **kwargs: str) -> None:
        """Forget on every change announced by the database, until cancelled; reconnects after a drop."""
        while True:
            try:
                listener = make_conninfo(conninfo, **kwargs)
                async with await psycopg.AsyncConnection.connect(listener, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANGES}")
                    self.forget()  # whatever changed while not listening
                    async for _ in conn.notifies():
                        self.forget()
            except psycopg.OperationalError as error:
                log.warning("user change feed lost; cached users expire by TTL meanwhile", error=str(error))
                await asyncio.sleep(USER_TTL)


async def _caller(request: Request, token: str | None, key: str | None) -> User:
    users: UserCache = shared(request).users
    if token is None and key is None and (token := session_token(request)) is not None and forged_write(request):
        raise ForbiddenError(f"a browser session's writes must carry the {WRITE_HEADER} header")
    if token is not None:
        user = await users.by_token(request, token)
    elif key is not None:
        found = await users.by_key(request, key)
        if found is None:
            raise UnauthenticatedError("the API key is unknown, revoked, or its user is disabled")
        user = found
    else:
        raise UnauthenticatedError(
            "log in first: send Authorization: Bearer <access token> (or X-API-Key), or sign in at /login"
        )
    if user.disabled:
        raise UnauthenticatedError("the user is disabled")
    return user


class Access:
    """A route's rule: the caller must be signed in and, when given, hold one of ``permissions``."""

    def __init__(self, *permissions: str) -> None:
        self.permissions = permissions

    @property
    def rule(self) -> str:
        """How the matrix test names this rule (several permissions: ``a | b``, any one suffices)."""
        return " | ".join(self.permissions) or "signed_in"

    async def __call__(
        self,
        request: Request,
        token: Annotated[str | None, Depends(bearer)],
        key: Annotated[str | None, Security(api_key_header)],
    ) -> User:
        """The caller, refused (401) without valid credentials or (403) without the permission."""
        user = await _caller(request, token, key)
        if self.permissions and not any(user.may(p) for p in self.permissions):
            raise ForbiddenError(
                f"{' or '.join(self.permissions)} is needed; the roles {', '.join(user.roles) or '(none)'} of "
                f"{user.username} do not grant it"
            )
        request.state.user = user
        request.state.scope = Scope.of(user)
        return user


async def session_user(request: Request) -> User | None:
    """The signed-in user of a browser session (pages), or None: no cookie, expired, disabled."""
    token = session_token(request)
    if token is None:
        return None
    try:
        user = await shared(request).users.by_token(request, token)
    except UnauthenticatedError:
        return None
    return None if user.disabled else user


class Public:
    """A route anyone may call (health, login, the public Open311 views, the map page)."""

    rule = "public"

    async def __call__(self) -> None:
        """Nothing to check."""
        return None


class PublicView(Public):
    """A public route that reads cases (Open311): the whole city, and its answers carry public fields only."""

    # FastAPI reads each dependency's own signature: this one takes the request, its parent nothing
    async def __call__(self, request: Request) -> None:  # type: ignore[override]
        """Read in the public scope."""
        request.state.scope = shared(request).public_scope


PUBLIC = Public()
PUBLIC_VIEW = PublicView()
SIGNED_IN = Access()


def client_address(request: Request) -> str:
    """The client's address (as the server saw it; behind a proxy, uvicorn's --forwarded-allow-ips)."""
    return request.client.host if request.client else "unknown"
