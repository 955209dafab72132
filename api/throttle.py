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

    def check_login(self, username: str) -> None:
        """Refuse further attempts on an account that failed too often lately (guessing)."""
        if not self._limiter.test(self.login_failures, "login", username):
            raise self._refuse(self.login_failures, ("login", username), f"too many failed logins for {username!r}")

    def login_failed(self, username: str) -> None:
        """Count a failed attempt against the account."""
        self._limiter.hit(self.login_failures, "login", username)
