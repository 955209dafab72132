"""Structured logging: JSON lines with ISO time, level, logger and the request id."""

from __future__ import annotations

import logging
import sys
import time
import uuid

import orjson
import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web.errors import refusal


def configure_logging(json_lines: bool, level: int = logging.INFO) -> None:
    """Route structlog through one renderer: JSON lines in production, readable in a console.

    JSON lines go through orjson to a bytes logger (structlog's documented fast path): every
    request writes one, so its cost is part of every request's.
    """
    renderer = (
        structlog.processors.JSONRenderer(serializer=orjson.dumps) if json_lines else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        # the process's own stdout, not whatever sys.stdout is when a logger is first used: a stream
        # swapped in for a while (a test runner's, a CLI's capture) must not become the log's for good
        logger_factory=(
            # sys.__stdout__ is None only without a console (pythonw); its buffer is a BinaryIO at run time,
            # where typeshed types it as a narrower write-only protocol
            structlog.BytesLoggerFactory(sys.__stdout__.buffer)  # type: ignore[union-attr, arg-type]
            if json_lines
            else structlog.PrintLoggerFactory(sys.__stdout__)
        ),
        cache_logger_on_first_use=True,
    )


class RequestContext:
    """Pure ASGI middleware: a request id on every log line and response, one access line each, and an
    error nothing else handled answered as a JSON 500 naming the request id (Starlette's own is plain
    text, outside every middleware: no security headers, no id to quote to the operators).

    (Starlette's BaseHTTPMiddleware would do the same at about twice the cost per request.)
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.log = structlog.get_logger("api.access")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Wrap one request."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        request_id = headers.get(b"x-request-id", b"").decode("latin-1")[:64] or uuid.uuid4().hex[:16]
        started = time.perf_counter()
        status = 500

        started_response = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                status, started_response = message["status"], True
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            self.log.exception("unhandled error", method=scope["method"], path=scope["path"])  # a bug: keep its trace
            if not started_response:  # else too late for an answer of its own: the server drops the connection
                body = refusal(
                    Request(scope), f"internal error, logged as request {request_id}", "internal", request_id=request_id
                )
                await JSONResponse(body, status_code=500)(scope, receive, send_with_id)
            raise  # on to the server (as Starlette's own handler does): a test client raises it in the test
        finally:
            if not scope["path"].startswith("/healthz"):
                self.log.info(
                    "request",
                    method=scope["method"],
                    path=scope["path"],
                    status=status,
                    ms=round((time.perf_counter() - started) * 1000, 2),
                )
            structlog.contextvars.clear_contextvars()
