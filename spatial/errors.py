"""Domain errors shared by every layer; the API maps each class to one HTTP status."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def problems_text(errors: list[Any], whole: str = "the input") -> str:
    """pydantic's refusals (``ValidationError.errors()``, or the first of them) as "field: what is wrong",
    joined by "; " — the one wording every refused form, file line and message uses; ``whole`` names a
    problem of the value as a whole."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or whole}: {e['msg']}" for e in errors)


class PlatformError(Exception):
    """Base of every error the platform raises on purpose; the message says what to fix."""


class NotFoundError(PlatformError):
    """A named thing (unit, code, file) does not exist."""


class InvalidInputError(PlatformError):
    """Input that can never be right as given (bad coordinates, unknown tier, malformed file)."""


class OutsideJurisdictionError(PlatformError):
    """A valid point that lies outside every unit of the loaded hierarchy."""


class EmbeddedDbError(PlatformError):
    """The embedded PostgreSQL cluster cannot be provisioned, started or reached."""


@dataclass
class Problem:
    """One finding of an import check, named by unit code so a person can find it."""

    check: str
    message: str
    codes: tuple[str, ...] = ()
    area_m2: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain form for JSON reports."""
        return {
            "check": self.check,
            "message": self.message,
            "codes": list(self.codes),
            "area_m2": None if self.area_m2 is None else round(self.area_m2, 1),
        }


@dataclass
class TopologyError(PlatformError):
    """An import failed its checks; nothing was written."""

    problems: list[Problem] = field(default_factory=list)

    def __str__(self) -> str:
        head = f"{len(self.problems)} problem(s); nothing was written"
        lines = [f"  [{p.check}] {p.message}" for p in self.problems[:50]]
        more = len(self.problems) - 50
        if more > 0:
            lines.append(f"  … and {more} more")
        return "\n".join([head, *lines])


class BadQueryError(PlatformError):
    """A query a standard says to refuse as malformed (400), e.g. a parameter OGC API Features does not define."""


class ConflictError(PlatformError):
    """The request contradicts what is already stored (e.g. an idempotency key reused)."""


class StaleVersionError(ConflictError):
    """The caller decided on a version of a row that another writer has changed since: reload, decide again."""


class PayloadTooLargeError(PlatformError):
    """A request body or file over its limit."""


class LengthRequiredError(PlatformError):
    """An upload that does not say how large it is, so its limit cannot be enforced before reading."""


class UnsupportedFormatError(PlatformError):
    """A body in a content type the endpoint does not take."""


class UnauthenticatedError(PlatformError):
    """No valid credentials: a missing, expired, revoked or forged token, or a wrong password."""


class ForbiddenError(PlatformError):
    """The caller is known but may not do this: a permission their roles lack, or outside their jurisdiction."""


@dataclass
class TooManyRequestsError(PlatformError):
    """A client or key over its rate; ``retry_after`` says when to come back (seconds)."""

    message: str
    retry_after: int

    def __str__(self) -> str:
        return self.message


class ConfigurationError(PlatformError):
    """The service is configured in a way it must not run with (e.g. production with a default secret)."""
