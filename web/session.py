"""Browser sessions: the map pages' login, kept in HttpOnly cookies.

Pages cannot put a Bearer header on a navigation or on an ``EventSource``, and a token a script
can read is a token an injected script can steal; so a browser signs in once and holds its
access token and refresh token in HttpOnly, SameSite=Strict cookies (``Secure`` behind HTTPS).
The refresh cookie goes only to the session endpoints. A cookie-authenticated request that
changes something must also carry ``X-Requested-With`` — a header no other site can make a
browser send here without a CORS grant — so a forged form post finds no session to ride on.
"""

from __future__ import annotations

from fastapi import Request, Response

from command.tokens import TokenPair

ACCESS_COOKIE = "cityops_access"
REFRESH_COOKIE = "cityops_refresh"
SESSION_PATH = "/api/v1/auth/session"
WRITE_HEADER = "X-Requested-With"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def set_session(request: Request, response: Response, pair: TokenPair, refresh_days: int) -> None:
    """Put a token pair in the browser's cookies."""
    secure = request.url.scheme == "https"
    response.set_cookie(
        ACCESS_COOKIE,
        pair.access_token,
        max_age=pair.expires_in,
        path="/",
        httponly=True,
        samesite="strict",
        secure=secure,
    )
    response.set_cookie(
        REFRESH_COOKIE,
        pair.refresh_token,
        max_age=refresh_days * 86400,
        path=SESSION_PATH,
        httponly=True,
        samesite="strict",
        secure=secure,
    )


def clear_session(response: Response) -> None:
    """Remove the session's cookies."""
    response.delete_cookie(ACCESS_COOKIE, path="/")
    response.delete_cookie(REFRESH_COOKIE, path=SESSION_PATH)


def session_token(request: Request) -> str | None:
    """The access token of the browser's session, if it sent one."""
    return request.cookies.get(ACCESS_COOKIE)


def forged_write(request: Request) -> bool:
    """Whether a cookie-authenticated request changes something without the same-origin header."""
    return request.method not in SAFE_METHODS and WRITE_HEADER.lower() not in request.headers
