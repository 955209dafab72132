"""Security headers on every response, and a content policy that keeps pages on our own origin.

The map pages must work on an offline government network, so the policy allows scripts,
styles, images and connections from this origin only (plus the configured basemap's origin
for tiles). folium writes its map set-up inline, hence ``'unsafe-inline'`` for scripts and
styles; no other origin can be reached even so.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
    return ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            f"img-src 'self' data: blob:{tiles}; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; "
            "form-action 'self'")  # fmt: skip


class SecurityHeaders:
    """Pure ASGI middleware adding the headers to every HTTP response."""

    def __init__(self, app: ASGIApp, basemap_url: str | None = None) -> None:
        self.app = app
        self.headers = [(k.encode(), v.encode()) for k, v in
                        {**BASE_HEADERS, "content-security-policy": content_policy(basemap_url)}.items()]  # fmt: skip

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
