"""Security headers and body-size limits on every request; a content policy that keeps pages on our origin.

The map pages must work on an offline government network, so the policy allows scripts,
styles, images and connections from this origin only (plus the configured basemap's origin
for tiles). folium writes its map set-up inline, hence ``'unsafe-inline'`` for scripts and
styles; no other origin can be reached even so.
"""

from __future__ import annotations

import asyncio
import re
from urllib.parse import urlsplit

import orjson
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web.errors import refusal

BASE_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "geolocation=(self), camera=(self), microphone=()",
}


def content_policy(basemap_url: str | None) -> str:
    """The Content-Security-Policy for this installation."""
    tiles = ""
    if basemap_url:  # an XYZ template: its {s} subdomain becomes a CSP wildcard
        parts = urlsplit(basemap_url)
        tiles = f" {parts.scheme}://{parts.netloc.replace('{s}', '*')}"
    return (
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
        f"img-src 'self' data: blob:{tiles}; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; "
        "form-action 'self'"
    )


class SecurityHeaders:
    """Pure ASGI middleware adding the headers to every HTTP response."""

    def __init__(self, app: ASGIApp, basemap_url: str | None = None) -> None:
        self.app = app
        self.headers = [
            (k.encode(), v.encode())
            for k, v in {**BASE_HEADERS, "content-security-policy": content_policy(basemap_url)}.items()
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Add the headers as the response starts."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).extend(self.headers)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimit:
    """Pure ASGI middleware refusing request bodies over a size, before the endpoint reads them.

    A declared Content-Length over the limit is answered 413 at once; a body sent without one
    (chunked) is counted as it streams and answered 413 at the limit, while the endpoint sees
    the client disconnect (and whatever it would have answered is dropped). Upload endpoints get their own,
    larger limit; everything else the small default, so no endpoint can be made to buffer a
    large body by accident.
    """

    def __init__(self, app: ASGIApp, default_bytes: int, uploads: dict[str, int], read_timeout_s: float) -> None:
        """``uploads``: each upload endpoint's limit, by a regular expression matching its whole path;
        ``read_timeout_s``: the longest wait for the next part of a body still arriving."""
        self.app, self.default_bytes, self.read_timeout_s = app, default_bytes, read_timeout_s
        self.uploads = [(re.compile(path), limit) for path, limit in uploads.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the declared size, then count what arrives."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = next((n for path, n in self.uploads if path.fullmatch(scope["path"])), self.default_bytes)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _refuse(scope, send, int(declared), limit)
            return
        received, refused, complete = 0, False, False

        async def counted() -> Message:
            # over the limit: answer 413 now; stalled mid-body: 408; either way the endpoint hears a disconnect
            nonlocal received, refused, complete
            if refused:
                return {"type": "http.disconnect"}
            if complete:  # the body is in: what the endpoint waits for now (a disconnect) may take hours
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.read_timeout_s)
            except TimeoutError:
                refused = True
                await _refuse(scope, send, received, limit, stalled_s=self.read_timeout_s)
                return {"type": "http.disconnect"}
            complete = message["type"] != "http.request" or not message.get("more_body", False)
            received += len(message.get("body", b""))
            if received > limit:
                refused = True
                await _refuse(scope, send, received, limit)
                return {"type": "http.disconnect"}
            return message

        async def unless_refused(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, counted, unless_refused)


async def _refuse(scope: Scope, send: Send, size: int, limit: int, stalled_s: float | None = None) -> None:
    if stalled_s is None:
        status, code = 413, "too_large"
        detail = f"request of {size:,}+ bytes is over the {limit:,}-byte limit for this endpoint"
    else:
        status, code = 408, "timeout"
        detail = f"the request body stalled: nothing arrived for {stalled_s:g} s after {size:,} bytes; send it again"
    body = orjson.dumps(refusal(Request(scope), detail, code))
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
