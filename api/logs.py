"""Structured logging: JSON lines with ISO time, level, logger and the request id."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable

import structlog
from fastapi import Request, Response


def configure_logging(json_lines: bool, level: int = logging.INFO) -> None:
    """Route structlog and the standard library through one renderer."""
    renderer = structlog.processors.JSONRenderer() if json_lines else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=True,
    )


async def request_context(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """Tag every log line of a request with its id, and log the request once it is answered."""
    request_id = request.headers.get("x-request-id") or uuid.uuid4().hex[:16]
    structlog.contextvars.bind_contextvars(request_id=request_id)
    started = time.perf_counter()
    try:
        response = await call_next(request)
    finally:
        structlog.contextvars.clear_contextvars()
    response.headers["x-request-id"] = request_id
    if request.url.path != "/healthz":
        structlog.get_logger("api.access").info(
            "request", method=request.method, path=request.url.path, status=response.status_code,
            ms=round((time.perf_counter() - started) * 1000, 2), request_id=request_id,
        )  # fmt: skip
    return response
