"""The five-tier hierarchy (plus buildings) as an ordered vocabulary."""

from __future__ import annotations

from enum import StrEnum

from spatial.errors import InvalidInputError


class Tier(StrEnum):
    """Tiers from the whole city down to single buildings, in hierarchy order."""

    CITY = "city"
    DISTRICT = "district"
    STREET = "street"
    COMMUNITY = "community"
    GRID = "grid"
    BUILDING = "building"

    @property
    def depth(self) -> int:
        """0 for the city, growing towards buildings."""
        return _DEPTH[self]

    @property
    def tiles_parent(self) -> bool:
        """Every tier but buildings partitions its parent with no gap and no overlap."""
        return self is not Tier.BUILDING


_DEPTH = {tier: depth for depth, tier in enumerate(Tier)}


class UnitKind(StrEnum):
    """Administrative units tile their parents; management units (江北新区) group members."""

    ADMINISTRATIVE = "administrative"
    MANAGEMENT = "management"


def parse_tier(value: str) -> Tier:
    """A tier from user input, or an error listing the valid ones."""
    try:
        return Tier(value.strip().lower())
    except ValueError:
        valid = ", ".join(t.value for t in Tier)
        raise InvalidInputError(f"unknown tier {value!r}; use one of: {valid}") from None
