"""Server-rendered pages: who may open them, and how a template becomes a page in the user's words.

The work screens (queues, case pages, lists, the field app) are Jinja2 templates with htmx:
the server renders the case as the user may see it, and a form's answer is the fragment that
replaces the case card — no client-side state to drift from the database, no second copy of the
state machine in JavaScript. Maps stay small scripts of their own (Leaflet), embedded where a
page needs one.

Every page is behind the browser session: without one, ``/login`` and back; a user whose roles
lack the page's permission sees a 403 page in words. The guard also sets the request's scope, so
a page reads cases through row-level security exactly as the API does.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from command.users import User
from spatial.errors import (
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    OutsideJurisdictionError,
    PayloadTooLargeError,
    PlatformError,
    StaleVersionError,
    UnsupportedFormatError,
)
from web.access import Scope, session_user
from web.deps import shared
from web.i18n import COOKIE, LANGUAGES, Catalogue, language_of
from web.session import WRITE_HEADER, forged_write
from web.words import refused_fields

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
# the pages a user may reach from any page, each shown only to those whose roles open it
NAVIGATION = (
    ("/queue", "nav.queue", "cases:read"),
    ("/cases", "nav.cases", "cases:read"),
    ("/map", "nav.map", "cases:read"),
    ("/incidents", "nav.incidents", "incidents:read"),
    ("/resource-requests", "nav.resource_requests", "incidents:command"),
    ("/alarms", "nav.alarms", "sensors:read"),
    ("/map/worker", "nav.worker", "cases:report"),
    ("/field", "nav.field", "assignments:answer"),
    ("/map/planner", "nav.planner", "analytics:read"),
    ("/scenarios", "nav.scenarios", "scenarios:manage"),
    ("/subscriptions", "nav.subscriptions", "subscriptions:manage"),
    ("/metro", "nav.metro", "handovers:read"),
)


class SignInFirst(Exception):
    """No session: the browser goes to ``/login`` and comes back to ``path``."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


class PageForbidden(Exception):
    """Signed in, but the page needs a permission the user's roles do not grant."""

    def __init__(self, permission: str) -> None:
        super().__init__(permission)
        self.permission = permission


class PageAccess:
    """A page's guard: the signed-in user holding one of ``permissions``, with the request's scope set."""

    def __init__(self, *permissions: str) -> None:
        self.permissions = permissions

    async def __call__(self, request: Request) -> User:
        """The user, or a redirect to sign in (no session), a 403 page (no permission), a 403 for a forged write."""
        user = await session_user(request)
        if user is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise SignInFirst(target)
        if forged_write(request):  # a form another site made the browser send
            raise ForbiddenError(f"a browser session's writes must carry the {WRITE_HEADER} header")
        if not any(user.may(permission) for permission in self.permissions):
            raise PageForbidden(" | ".join(self.permissions))
        request.state.user = user
        request.state.scope = Scope.of(user)
        return user


# how a refusal reads on a screen: the kind in the user's words, then the platform's own detail
REFUSALS: tuple[tuple[type[PlatformError], str], ...] = (
    (StaleVersionError, "error.stale"),
    (ForbiddenError, "error.forbidden"),
    (ConflictError, "error.conflict"),
    (NotFoundError, "error.not_found"),
    (PayloadTooLargeError, "error.too_large"),
    (UnsupportedFormatError, "error.unsupported"),
    (InvalidInputError, "error.invalid"),
    (OutsideJurisdictionError, "error.invalid"),
)


def refusal(words: Catalogue, error: PlatformError) -> str:
    """A refusal as a sentence for the user, never a status code."""
    key = next((key for kind, key in REFUSALS if isinstance(error, kind)), "error.other")
    return words(key, detail=str(error))


def invalid_form(error: ValidationError, words: Catalogue, labels: str) -> InvalidInputError:
    """A form the model refused, as one refusal naming each field by its label (``<labels>.<field>`` in the
    page's catalogue) and what is wrong with it, in the user's words."""
    return InvalidInputError(refused_fields(error.errors(), words, labels))


def missing(request: Request, user: User, error: NotFoundError) -> HTMLResponse:
    """A 404 page in words: the thing does not exist, or lies outside the user's jurisdiction."""
    words = Catalogue(language_of(request))
    return render(
        request,
        "refused.html",
        user,
        status_code=404,
        heading=words("page.missing.title"),
        message=refusal(words, error),
    )


def zone_of(request: Request) -> Any:
    """The city's zone (Asia/Shanghai for Nanjing): every time a person reads is in it."""
    return shared(request).calendar.zone  # the page machinery's, as web.access's: not a route's to pass


def render(request: Request, template: str, user: User | None, status_code: int = 200, **context: Any) -> HTMLResponse:
    """``template`` in the user's language, with the navigation their roles open; never cached."""
    language = language_of(request)
    words = Catalogue(language)
    zone = zone_of(request)

    def beijing(value: datetime | str | None, pattern: str = "%Y-%m-%d %H:%M") -> str:
        if value is None:
            return words("time.none")
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        return moment.astimezone(zone).strftime(pattern)

    navigation = [(path, words(key)) for path, key, permission in NAVIGATION if user and user.may(permission)]
    other = next(x for x in LANGUAGES if x != language)
    response = TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "t": words,
            "label": words.label,
            "lang": language,
            "other_language": other,
            "user": user,
            "navigation": navigation,
            "beijing": beijing,
            "now": datetime.now(zone),
            **context,
        },
        status_code=status_code,
        headers={"Cache-Control": "no-store"},
    )
    if request.query_params.get("lang") in LANGUAGES:
        response.set_cookie(COOKIE, language, max_age=365 * 86400, samesite="strict")
    return response


def add_page_handlers(app: FastAPI) -> None:
    """Answer a page's guard: to ``/login`` without a session, a 403 page in words without the permission."""

    async def sign_in(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInFirst)
        return RedirectResponse(f"/login?next={quote(exc.path)}", status_code=303)

    async def forbidden(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageForbidden)
        user = await session_user(request)
        words = Catalogue(language_of(request))
        return render(
            request,
            "refused.html",
            user,
            status_code=403,
            heading=words("page.forbidden.title"),
            message=words("page.forbidden.body", permission=exc.permission),
        )

    app.add_exception_handler(SignInFirst, sign_in)
    app.add_exception_handler(PageForbidden, forbidden)
