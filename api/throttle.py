"""Rate limits (the ``limits`` library): public intake per client and per key, login failures.

Logins follow OWASP's authentication guidance: failures are counted per account *and* address
(so nobody can lock an owner out from elsewhere) and per address (spraying); an account failing
from many addresses is slowed down with growing delays instead of locked; every attempt is
reserved before its password is checked, so parallel guesses cannot slip past the count.

Counts live in ``CITYOPS_RATE_LIMIT_STORAGE`` — process memory by default, ``redis://…`` when
several processes serve one city and must share them. A refusal is 429 with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from api.settings import ApiSettings
from spatial.errors import InvalidInputError, TooManyRequestsError, UnauthenticatedError

MAX_SLOWDOWN_S = 30.0
SLOWDOWN_WINDOW_COUNT = 10_000  # failures an account may count in the window (the count, not a limit)


class Throttle:
    """The installation's limits and the counters behind them."""

    def __init__(self, settings: ApiSettings) -> None:
        self._limiter = MovingWindowRateLimiter(storage_from_string(settings.rate_limit_storage))
        self.intake_per_client = parse(settings.rate_intake_per_client)
        self.intake_per_caller = parse(settings.rate_intake_per_caller)
        self.login_failures = parse(settings.rate_login_failures)
        self.login_failures_per_client = parse(settings.rate_login_failures_per_client)
        self.login_slowdown_after = settings.login_slowdown_after
        # an account's failures from anywhere, over the same window as the pair's limit
        self.login_slowdown_count = type(self.login_failures)(SLOWDOWN_WINDOW_COUNT, self.login_failures.multiples)
        self._in_flight: Counter[tuple[str, ...]] = Counter()

    def _refuse(self, item: RateLimitItem, identifiers: tuple[str, ...], what: str) -> TooManyRequestsError:
        reset_at, _ = self._limiter.get_window_stats(item, *identifiers)
        wait = max(1, math.ceil(reset_at - time.time()))
        return TooManyRequestsError(f"{what}: over {item}; try again in {wait} s", retry_after=wait)

    def intake(self, client: str, caller: str) -> None:
        """Count one report from ``client`` (address) filed by ``caller`` (user or key owner)."""
        for item, key, what in (
            (self.intake_per_client, f"client:{client}", "too many reports from this address"),
            (self.intake_per_caller, f"caller:{caller}", "too many reports from this account"),
        ):
            if not self._limiter.hit(item, "intake", key):
                raise self._refuse(item, ("intake", key), what)

    def _login_counters(self, username: str, client: str) -> tuple[tuple[RateLimitItem, tuple[str, ...], str], ...]:
        # per account *and* address (OWASP): a guesser elsewhere pauses only their own pair, never the owner's
        return (
            (self.login_failures, ("login", username, client), f"too many failed logins for {username!r} from here"),
            (self.login_failures_per_client, ("login-client", client), "too many failed logins from this address"),
        )

    def _slowdown_s(self, username: str) -> float:
        """Seconds to hold an attempt on an account that failed often lately from anywhere (growing, capped)."""
        failures = (
            self.login_slowdown_count.amount
            - self._limiter.get_window_stats(self.login_slowdown_count, "login-account", username).remaining
        )
        excess = failures - self.login_slowdown_after
        return 0.0 if excess < 0 else min(MAX_SLOWDOWN_S, 2.0**excess)

    @asynccontextmanager
    async def login_attempt(self, username: str, client: str) -> AsyncIterator[None]:
        """One login attempt, counted before the password is checked: a refusal inside counts as a failure.

        The attempt is reserved (in this process) before anything is awaited, so 40 parallel guesses
        see one another: at most the limit of them reach the password check, the rest get 429.
        An account that failed often from any address is slowed down, never locked: its owner's
        sessions keep working and the owner's own address has its own allowance.
        """
        counters = self._login_counters(username, client)
        for item, identifiers, what in counters:
            remaining = self._limiter.get_window_stats(item, *identifiers).remaining
            if remaining - self._in_flight[identifiers] <= 0:
                raise self._refuse(item, identifiers, what)
        for _, identifiers, _ in counters:
            self._in_flight[identifiers] += 1
        try:
            if delay := self._slowdown_s(username):
                await asyncio.sleep(delay)
            yield
        except (UnauthenticatedError, InvalidInputError):
            for item, identifiers, _ in counters:
                self._limiter.hit(item, *identifiers)
            self._limiter.hit(self.login_slowdown_count, "login-account", username)
            raise
        finally:
            for _, identifiers, _ in counters:
                self._in_flight[identifiers] -= 1
                if not self._in_flight[identifiers]:
                    del self._in_flight[identifiers]
