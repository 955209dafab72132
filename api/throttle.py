"""Rate limits (the ``limits`` library): public intake per client and per key, login failures.

Counts live in ``CITYOPS_RATE_LIMIT_STORAGE`` — process memory by default, ``redis://…`` when
several processes serve one city and must share them. A refusal is 429 with ``Retry-After``.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from api.settings import ApiSettings
from spatial.errors import TooManyRequestsError


class Throttle:
    """The installation's limits and the counters behind them."""

    def __init__(self, settings: ApiSettings) -> None:
        self._limiter = MovingWindowRateLimiter(storage_from_string(settings.rate_limit_storage))
        self.intake_per_client = parse(settings.rate_intake_per_client)
        self.intake_per_caller = parse(settings.rate_intake_per_caller)
        self.login_failures = parse(settings.rate_login_failures)
        self.login_failures_per_client = parse(settings.rate_login_failures_per_client)

    def _refuse(self, item: RateLimitItem, identifiers: tuple[str, str], what: str) -> TooManyRequestsError:
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

    def _login_counters(self, username: str, client: str) -> tuple[tuple[RateLimitItem, tuple[str, str], str], ...]:
        return (
            (self.login_failures, ("login", username), f"too many failed logins for {username!r}"),
            (self.login_failures_per_client, ("login-client", client), "too many failed logins from this address"),
        )

    def check_login(self, username: str, client: str) -> None:
        """Refuse attempts on an account, or from an address, that failed too often lately (guessing, spraying)."""
        for item, identifiers, what in self._login_counters(username, client):
            if not self._limiter.test(item, *identifiers):
                raise self._refuse(item, identifiers, what)

    def login_failed(self, username: str, client: str) -> None:
        """Count a failed attempt against the account and the address."""
        for item, identifiers, _ in self._login_counters(username, client):
            self._limiter.hit(item, *identifiers)
