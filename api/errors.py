"""Domain errors → HTTP statuses, and request-validation messages that say what to fix."""

from __future__ import annotations

import psycopg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

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


def _describe(error: dict[str, object]) -> str:
    where = ".".join(str(part) for part in error.get("loc", ()) if part not in ("query", "path", "body"))
    given = error.get("input")
    suffix = f" (got {given!r})" if given is not None and not isinstance(given, dict) else ""
    return f"{where}: {error.get('msg')}{suffix}"


def classify(exc: Exception) -> tuple[int, str]:
    """HTTP status and a stable machine-readable code for a domain error."""
    for kind, answer in ERRORS.items():
        if isinstance(exc, kind):
            return answer
    return 400, "error"


async def platform_error(request: Request, exc: Exception) -> JSONResponse:
    """A deliberate refusal: the message is the domain's own."""
    status, code = classify(exc)
    body: dict[str, object] = {"detail": str(exc), "code": code}
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
        return JSONResponse({"detail": "outside your jurisdiction: the database refused to write this record",
                             "code": "forbidden"}, status_code=403)  # fmt: skip
    log.error("database privilege missing", error=str(exc), path=request.url.path)
    return JSONResponse({"detail": "internal error", "code": "internal"}, status_code=500)


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's validation errors, flattened into one readable sentence per field."""
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    message = "; ".join(_describe(e) for e in errors)
    return JSONResponse(
        {"detail": message, "code": "invalid_input",
         "errors": [{"field": ".".join(map(str, e["loc"])), "message": e["msg"]} for e in errors]},
        status_code=422,
    )  # fmt: skip


async def value_refused_by_database(request: Request, exc: Exception) -> JSONResponse:
    """A value PostgreSQL cannot take (a NUL character, a number out of range) is the client's to fix."""
    reason = str(exc).splitlines()[0]
    return JSONResponse({"detail": f"a value in the request cannot be stored or compared: {reason}",
                         "code": "invalid_input"}, status_code=422)  # fmt: skip


def add_exception_handlers(app: FastAPI) -> None:
    """Register the handlers once, in the app factory."""
    app.add_exception_handler(PlatformError, platform_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(psycopg.errors.InsufficientPrivilege, refused_by_database)
    app.add_exception_handler(psycopg.DataError, value_refused_by_database)
