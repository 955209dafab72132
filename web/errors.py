"""Domain errors → HTTP statuses, and request-validation messages that say what to fix.

Every refusal answers ``{"detail", "code", "message"}``: ``code`` is stable for programs,
``detail`` is the platform's own English sentence (stable for logs and scripts), ``message`` is the
same refusal for a person — its kind in words and the detail, zh-CN unless the request asks for
English (``web.words.language``), e.g. 「请补充或更正：limit：应不小于 1」: a refused field's reason is in
the person's language too (``invalid.*`` in ``common.json``).
"""

from __future__ import annotations

from typing import Any

import psycopg
import sqlalchemy.exc
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from spatial.errors import (
    BadQueryError,
    ConflictError,
    EmbeddedDbError,
    ForbiddenError,
    InvalidInputError,
    LengthRequiredError,
    NotFoundError,
    OutsideJurisdictionError,
    PayloadTooLargeError,
    PlatformError,
    TooManyRequestsError,
    TopologyError,
    UnauthenticatedError,
    UnsupportedFormatError,
)
from web.words import field_of, refused_fields, words

log = structlog.get_logger("cityops.api")

ERRORS: dict[type[PlatformError], tuple[int, str]] = {
    BadQueryError: (400, "bad_request"),
    UnauthenticatedError: (401, "unauthenticated"),
    ForbiddenError: (403, "forbidden"),
    NotFoundError: (404, "not_found"),
    ConflictError: (409, "conflict"),
    LengthRequiredError: (411, "length_required"),
    PayloadTooLargeError: (413, "too_large"),
    UnsupportedFormatError: (415, "unsupported_format"),
    InvalidInputError: (422, "invalid_input"),
    OutsideJurisdictionError: (422, "outside_jurisdiction"),
    TopologyError: (422, "topology"),
    TooManyRequestsError: (429, "too_many_requests"),
    EmbeddedDbError: (503, "database_unavailable"),
}
# each code's sentence in the catalogues (``common.json``: ``error.*``), the detail named in it
MESSAGES = {
    "bad_request": "error.bad_request",
    "unauthenticated": "error.unauthenticated",
    "forbidden": "error.forbidden",
    "not_found": "error.not_found",
    "conflict": "error.conflict",
    "length_required": "error.length_required",
    "too_large": "error.too_large",
    "unsupported_format": "error.unsupported",
    "invalid_input": "error.invalid",
    "outside_jurisdiction": "error.outside_jurisdiction",
    "topology": "error.topology",
    "too_many_requests": "error.too_many_requests",
    "database_unavailable": "error.unavailable",
    "not_allowed": "error.not_allowed",
    "internal": "error.internal",
    "timeout": "error.timeout",
}
# Starlette's own refusals (an unknown path, a method the path does not take)
HTTP_CODES = {
    404: "not_found",
    405: "not_allowed",
    413: "too_large",
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    415: "unsupported_format",
    422: "invalid_input",
    429: "too_many_requests",
}


def _describe(error: dict[str, Any]) -> str:
    given = error.get("input")
    suffix = f" (got {given!r})" if given is not None and not isinstance(given, dict) else ""
    return f"{field_of(error)}: {error.get('msg')}{suffix}"


def classify(exc: Exception) -> tuple[int, str]:
    """HTTP status and a stable machine-readable code for a domain error."""
    for kind, answer in ERRORS.items():
        if isinstance(exc, kind):
            return answer
    return 400, "error"


def refusal(request: Request, detail: str, code: str, **extra: object) -> dict[str, object]:
    """A refusal's body: the stable code and English detail, and the message in the request's language."""
    return {
        "detail": detail,
        "code": code,
        "message": words(request)(MESSAGES.get(code, "error.other"), detail=detail),
        **extra,
    }


async def platform_error(request: Request, exc: Exception) -> JSONResponse:
    """A deliberate refusal: the message is the domain's own."""
    status, code = classify(exc)
    body = refusal(request, str(exc), code)
    if isinstance(exc, TopologyError):
        body["problems"] = [p.as_dict() for p in exc.problems]
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if isinstance(exc, TooManyRequestsError):
        headers = {"Retry-After": str(exc.retry_after)}
    return JSONResponse(body, status_code=status, headers=headers)


async def refused_by_database(request: Request, exc: Exception) -> JSONResponse:
    """Row-level security refused a write (the backstop behind the endpoint's own scope checks).

    Any other privilege error is a missing grant — a defect, logged and answered as one.
    """
    if "row-level security" in str(exc):
        detail = "outside your jurisdiction: the database refused to write this record"
        return JSONResponse(refusal(request, detail, "forbidden"), status_code=403)
    log.error("database privilege missing", error=str(exc), path=request.url.path)
    return JSONResponse(refusal(request, "internal error", "internal"), status_code=500)


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's validation errors, flattened into one readable sentence per field."""
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    detail = "; ".join(_describe(e) for e in errors)
    say = words(request)
    message = say("error.invalid", detail=refused_fields(errors, say))
    fields = [{"field": ".".join(map(str, e["loc"])), "message": e["msg"]} for e in errors]
    body = {"detail": detail, "code": "invalid_input", "message": message, "errors": fields}
    return JSONResponse(body, status_code=422)


async def value_refused_by_database(request: Request, exc: Exception) -> JSONResponse:
    """A value PostgreSQL cannot take (a NUL character, a number out of range) is the client's to fix."""
    reason = str(exc).splitlines()[0]
    detail = f"a value in the request cannot be stored or compared: {reason}"
    return JSONResponse(refusal(request, detail, "invalid_input"), status_code=422)


async def http_refusal(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own refusals (no such path, a method the path does not take) in the same shape."""
    assert isinstance(exc, HTTPException)
    code = HTTP_CODES.get(exc.status_code, "bad_request" if exc.status_code < 500 else "internal")
    detail = str(exc.detail)
    if exc.status_code == 400 and exc.__cause__ is not None:  # FastAPI could not parse the body: say why
        kind = request.headers.get("content-type", "no Content-Type")
        detail = f"the request body cannot be read as {kind}: {exc.__cause__}"
    return JSONResponse(refusal(request, detail, code), status_code=exc.status_code, headers=exc.headers)


async def driver_error(request: Request, exc: Exception) -> JSONResponse:
    """SQLAlchemy wraps the driver's error: answered as the driver's own would be (a bad value 422, an
    outage 503 …); one no handler knows stays an internal error."""
    assert isinstance(exc, sqlalchemy.exc.DBAPIError)
    for kind in type(exc.orig).__mro__ if exc.orig is not None else ():
        handler = request.app.exception_handlers.get(kind)
        if handler is not None and kind is not Exception:
            return await handler(request, exc.orig)
    raise exc


def add_exception_handlers(app: FastAPI) -> None:
    """Register the handlers once, in the app factory."""
    app.add_exception_handler(PlatformError, platform_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(psycopg.errors.InsufficientPrivilege, refused_by_database)
    app.add_exception_handler(psycopg.DataError, value_refused_by_database)
    app.add_exception_handler(HTTPException, http_refusal)
    app.add_exception_handler(sqlalchemy.exc.DBAPIError, driver_error)
