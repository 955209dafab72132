"""Login (OAuth2 password flow), refresh, logout, and who the caller is."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Request
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from api.body import RequestBody
from api.geojson import FastJSONResponse
from api.schemas import UnitOfUser
from command.tokens import TokenPair, TokenPolicy, issue, refresh, revoke
from command.users import User, authenticate
from spatial.audit import record
from spatial.errors import ForbiddenError, InvalidInputError, UnauthenticatedError
from web.access import PUBLIC, SIGNED_IN, client_address
from web.deps import db_write
from web.services import ThrottleDep, TokensDep, UsersDep
from web.session import REFRESH_COOKIE, WRITE_HEADER, clear_session, forged_write, set_session
from web.throttle import Throttle

CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # never in a name or password; NUL breaks the database's text

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class TokenPairOut(BaseModel):
    """RFC 6749 §5.1: an access token (minutes) and a refresh token (days)."""

    access_token: str
    token_type: Literal["bearer"]
    expires_in: int = Field(description="Seconds the access token is valid")
    refresh_token: str


class SessionOut(BaseModel):
    """A browser session started or renewed: the tokens went into HttpOnly cookies."""

    expires_in: int = Field(description="Seconds the session's access token is valid")


class Revoked(BaseModel):
    """Whether a login was ended."""

    revoked: bool


class Me(BaseModel):
    """Who the credentials belong to: jurisdiction, department, roles, permissions."""

    username: str
    display_name: str | None
    unit: UnitOfUser
    department: str | None
    roles: list[str]
    permissions: list[str]


class RefreshIn(RequestBody):
    """A refresh token, to exchange or to end."""

    refresh_token: str = Field(min_length=20, max_length=200)


@router.post("/token", response_class=FastJSONResponse, response_model=TokenPairOut, dependencies=[Depends(PUBLIC)])
async def login(
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=200)],
    tokens: TokensDep,
    throttle: ThrottleDep,
) -> FastJSONResponse:
    """OAuth2 password flow: an access token (minutes) and a refresh token (days).

    An account that failed too often lately is paused (429 with Retry-After) before its password
    is even checked, so guessing gets a few tries per quarter hour at most.
    """
    pair = await _log_in(request, username, password, tokens, throttle)
    return FastJSONResponse(pair.as_dict(), headers={"Cache-Control": "no-store"})


async def _log_in(request: Request, username: str, password: str, tokens: TokenPolicy, throttle: Throttle) -> TokenPair:
    client = client_address(request)

    def work(conn: Connection) -> TokenPair:
        user = authenticate(conn, username, password)
        if user is None:
            record(conn, username, "login.failed", username, client=client)
            conn.commit()  # the failed attempt stays on record though the request fails
            raise UnauthenticatedError("wrong username or password")
        record(conn, user.username, "login", user.username)
        return issue(conn, user, tokens)

    async with throttle.login_attempt(username, client):
        if CONTROL.search(username) or CONTROL.search(password):
            raise InvalidInputError("username and password: control characters (such as NUL) are not allowed")
        return await db_write(request, work)


def _session_answer(request: Request, pair: TokenPair, tokens: TokenPolicy) -> FastJSONResponse:
    response = FastJSONResponse({"expires_in": pair.expires_in}, headers={"Cache-Control": "no-store"})
    set_session(request, response, pair, tokens.refresh_days)
    return response


@router.post("/session", response_class=FastJSONResponse, response_model=SessionOut, dependencies=[Depends(PUBLIC)])
async def start_session(
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=200)],
    tokens: TokensDep,
    throttle: ThrottleDep,
) -> FastJSONResponse:
    """A browser's login (the map pages): the tokens go into HttpOnly cookies, not to the script."""
    return _session_answer(request, await _log_in(request, username, password, tokens, throttle), tokens)


def _session_cookie(request: Request) -> str | None:
    """The refresh cookie of a request the page itself sent: another site's form cannot renew or end a session
    (a cookie goes with any request to this origin; the header only with the pages' own scripts)."""
    token = request.cookies.get(REFRESH_COOKIE)
    if token is not None and forged_write(request):
        raise ForbiddenError(f"a browser session is renewed or ended only with the {WRITE_HEADER} header")
    return token


@router.post(
    "/session/refresh", response_class=FastJSONResponse, response_model=SessionOut, dependencies=[Depends(PUBLIC)]
)
async def refresh_session(request: Request, tokens: TokensDep) -> FastJSONResponse:
    """Renew a browser session's access cookie with its refresh cookie (used up by this)."""
    token = _session_cookie(request)
    if token is None:
        raise UnauthenticatedError("no session to refresh: sign in at /login")
    return _session_answer(request, await db_write(request, refresh, token, tokens), tokens)


@router.post("/session/end", response_class=FastJSONResponse, response_model=Revoked, dependencies=[Depends(PUBLIC)])
async def end_session(request: Request, users: UsersDep) -> FastJSONResponse:
    """Sign a browser out: its login is revoked and its cookies removed."""
    token = _session_cookie(request)
    if token is not None:
        await db_write(request, revoke, token)
        users.forget()  # here at once; other processes on the notification
    response = FastJSONResponse({"revoked": token is not None})
    clear_session(response)
    return response


@router.post("/refresh", response_class=FastJSONResponse, response_model=TokenPairOut, dependencies=[Depends(PUBLIC)])
async def refresh_tokens(request: Request, body: RefreshIn, tokens: TokensDep) -> FastJSONResponse:
    """A new pair for a refresh token, which is used up by this."""
    pair = await db_write(request, refresh, body.refresh_token, tokens)
    return FastJSONResponse(pair.as_dict(), headers={"Cache-Control": "no-store"})


@router.post("/revoke", response_class=FastJSONResponse, response_model=Revoked, dependencies=[Depends(PUBLIC)])
async def logout(request: Request, body: RefreshIn, users: UsersDep) -> FastJSONResponse:
    """End the login the refresh token belongs to (every token of it)."""
    await db_write(request, revoke, body.refresh_token)
    users.forget()  # here at once; other processes on the notification
    return FastJSONResponse({"revoked": True})


@router.get("/me", response_class=FastJSONResponse, response_model=Me)
async def me(user: Annotated[User, Depends(SIGNED_IN)]) -> FastJSONResponse:
    """Who the token belongs to: unit (jurisdiction), department, roles, permissions."""
    return FastJSONResponse(
        {
            "username": user.username,
            "display_name": user.display_name,
            "unit": {"code": user.unit_code, "tier": user.unit_tier},
            "department": user.department,
            "roles": list(user.roles),
            "permissions": sorted(user.permissions),
        }
    )
