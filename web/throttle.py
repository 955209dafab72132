"""Rate limits (the ``limits`` library): public intake per client and per key, login failures.

Logins follow OWASP's authentication guidance ("Login Throttling", and its device-cookie idea
keyed on the address an account has signed in from):
- failures are counted per account *and* address, so nobody pauses an owner from elsewhere, and
  per address across accounts (spraying);
- an account failing from addresses it never signed in from has a cap of its own across all of
  them (``rate_login_failures_per_account``): 64 guessers on 64 addresses get that many checks in
  the window, no more — while its owner's known addresses and live sessions are unaffected;
- past ``login_slowdown_after`` failures, attempts from unknown addresses wait 1, 2, 4 … s, one
  after another (parallel guessers queue; a place more than 30 s away is refused), never locked;
- every attempt is reserved before its password is checked, so parallel guesses cannot slip past.

Counts live in ``CITYOPS_RATE_LIMIT_STORAGE`` — process memory by default, ``redis://…`` when
several processes serve one city and must share them (the known addresses too). A refusal is 429
with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from spatial.errors import InvalidInputError, TooManyRequestsError, UnauthenticatedError
from web.settings import MEMORY, ApiSettings

MAX_SLOWDOWN_S = 30.0
SLOWDOWN_WINDOW_COUNT = 10_000  # failures an account may count in the window (the count, not a limit)
KNOWN_FOR_S = 30 * 86400  # an address an account signed in from stays its own this long


class SweptMemory(MemoryStorage):
    """limits' in-process storage without its sweeper thread.

    ``MemoryStorage`` starts a ``threading.Timer`` 10 ms after any count changes, to drop expired
    counts: under load about a hundred new threads a second, each taking the GIL from the event loop
    (py-spy on the reports path: with the timer off, 308 reports/s instead of 245 in the same
    session). Expired counts are ignored when read anyway, so the sweep is housekeeping only:
    ``Throttle.sweep_every`` runs it on the event loop once a second.
    """

    def _MemoryStorage__schedule_expiry(self) -> None:  # the base class's private hook: no thread
        return None

    def sweep(self) -> None:
        """Drop the expired counts and windows (the base class's own sweep, on the caller's thread)."""
        self._MemoryStorage__expire_events()  # type: ignore[attr-defined]  # mypy does not mangle


class Throttle:
    """The installation's limits and the counters behind them."""

    def __init__(self, settings: ApiSettings) -> None:
        self._storage = (
            SweptMemory() if settings.rate_limit_storage == MEMORY else storage_from_string(settings.rate_limit_storage)
        )
        self._limiter = MovingWindowRateLimiter(self._storage)
        self.intake_per_client = parse(settings.rate_intake_per_client)
        self.intake_per_caller = parse(settings.rate_intake_per_caller)
        self.login_failures = parse(settings.rate_login_failures)
        self.login_failures_per_client = parse(settings.rate_login_failures_per_client)
        self.login_failures_per_account = parse(settings.rate_login_failures_per_account)
        self.login_slowdown_after = settings.login_slowdown_after
        # an account's failures from anywhere, over the same window as the pair's limit
        self.login_slowdown_count = type(self.login_failures)(SLOWDOWN_WINDOW_COUNT, self.login_failures.multiples)
        self._in_flight: Counter[tuple[str, ...]] = Counter()
        self._next_place: dict[str, float] = {}  # account → when its queue of slowed attempts ends (monotonic)

    async def sweep_every(self, seconds: float = 1.0) -> None:
        """Sweep the in-process counts every ``seconds`` until cancelled (nothing to do for a shared store)."""
        while isinstance(self._storage, SweptMemory):
            await asyncio.sleep(seconds)
            self._storage.sweep()

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

    def _known(self, username: str, client: str) -> bool:
        return bool(self._storage.get(f"login-known/{username}/{client}"))

    def _login_counters(
        self, username: str, client: str, known: bool
    ) -> tuple[tuple[RateLimitItem, tuple[str, ...], str], ...]:
        # per account *and* address (OWASP): a guesser elsewhere pauses only their own pair, never the owner's
        counters = [
            (self.login_failures, ("login", username, client), f"too many failed logins for {username!r} from here"),
            (self.login_failures_per_client, ("login-client", client), "too many failed logins from this address"),
        ]
        if not known:  # the account's cap across addresses it never signed in from
            counters.append(
                (
                    self.login_failures_per_account,
                    ("login-unknown", username),
                    f"too many failed logins for {username!r} from new addresses",
                )
            )
        return tuple(counters)

    def _wait_s(self, username: str) -> float:
        """How long an attempt from an unknown address waits for its place in the account's queue: none until
        the account has failed often lately, then 1, 2, 4 … s after the place before it (a guesser's parallel
        attempts queue up instead of waiting side by side); a place over 30 s away is refused."""
        failures = (
            self.login_slowdown_count.amount
            - self._limiter.get_window_stats(self.login_slowdown_count, "login-account", username).remaining
            + self._in_flight["login-account", username]
        )
        excess = failures - self.login_slowdown_after
        if excess < 0:
            return 0.0
        now = time.monotonic()
        place = max(now, self._next_place.get(username, now)) + min(MAX_SLOWDOWN_S, 2.0**excess)
        if place - now > MAX_SLOWDOWN_S:
            wait = math.ceil(place - now)
            raise TooManyRequestsError(f"{username!r} failed too often lately; try again in {wait} s", retry_after=wait)
        self._next_place[username] = place
        return place - now

    @asynccontextmanager
    async def login_attempt(self, username: str, client: str) -> AsyncIterator[None]:
        """One login attempt, counted before the password is checked: a refusal inside counts as a failure.

        The attempt is reserved (in this process) before anything is awaited, so 40 parallel guesses
        see one another: at most the limit of them reach the password check, the rest get 429.
        A success makes the address one of the account's own: from there only the pair's limit applies.
        """
        known = self._known(username, client)
        counters = self._login_counters(username, client, known)
        for item, identifiers, what in counters:
            remaining = self._limiter.get_window_stats(item, *identifiers).remaining
            if remaining - self._in_flight[identifiers] <= 0:
                raise self._refuse(item, identifiers, what)
        wait = 0.0 if known else self._wait_s(username)
        reserved = [identifiers for _, identifiers, _ in counters] + [("login-account", username)]
        for identifiers in reserved:
            self._in_flight[identifiers] += 1
        try:
            if wait:
                await asyncio.sleep(wait)
            yield
        except (UnauthenticatedError, InvalidInputError):
            for item, identifiers, _ in counters:
                self._limiter.hit(item, *identifiers)
            self._limiter.hit(self.login_slowdown_count, "login-account", username)
            raise
        else:
            self._storage.incr(f"login-known/{username}/{client}", KNOWN_FOR_S)
        finally:
            for identifiers in reserved:
                self._in_flight[identifiers] -= 1
                if not self._in_flight[identifiers]:
                    del self._in_flight[identifiers]
            if self._next_place.get(username, math.inf) <= time.monotonic():
                del self._next_place[username]
