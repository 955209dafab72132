"""Read your writes: a caller's write, once answered, is in every read they make next.

Pure ASGI middleware (no per-request cost beyond a method check on reads): when a write by a
signed-in caller answers without an error, the replica reads (``spatial.read_replica``) learn
it, and that caller's reads go to the primary until the replica has replayed past it. Marked
when the answer starts, before the client can send its next request: the write's transaction
has committed by then.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

READS = frozenset({"GET", "HEAD", "OPTIONS"})


class ReadYourWrites:
    """Tell the replica reads of each successful write and who made it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass reads through; watch a write's answer."""
        if scope["type"] != "http" or scope["method"] in READS:
            await self.app(scope, receive, send)
            return

        async def send_marked(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400:
                database = getattr(scope["app"].state, "database", None)
                user = scope.get("state", {}).get("user")
                if database is not None and database.replica is not None and user is not None:
                    database.replica.wrote(user.username)
            await send(message)

        await self.app(scope, receive, send_marked)
