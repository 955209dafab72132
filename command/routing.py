"""Responsibility routing: which unit, which departments, by when — and why.

The category names the tier that normally answers (most at street level) and its departments;
severity escalates (III 较大 → district, II 重大 / I 特别重大 → city command); the unit is taken
from the located chain, management units first (a street of 江北新区 answers to the New Area).
A city that lacks the tier asked for routes to the nearest coarser tier it has. The deadline runs
on the working calendar from the moment of filing. Everything that decided it goes in the trace.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from command.taxonomy import Category
from command.working_time import WorkingCalendar
from grid.locate import Location, UnitRef, unit_at
from spatial.errors import InvalidInputError
from spatial.tiers import Tier


class Severity(StrEnum):
    """The four Chinese emergency levels (IV is the least severe)."""

    IV = "IV"  # 一般
    III = "III"  # 较大
    II = "II"  # 重大
    I = "I"  # 特别重大  # noqa: E741

    @property
    def label(self) -> str:
        """The Chinese name."""
        return {"IV": "一般", "III": "较大", "II": "重大", "I": "特别重大"}[self.value]


SEVERITY_NAMES = {"一般": Severity.IV, "较大": Severity.III, "重大": Severity.II, "特别重大": Severity.I}
SEVERITY_FLOOR = {Severity.IV: None, Severity.III: Tier.DISTRICT, Severity.II: Tier.CITY, Severity.I: Tier.CITY}


def parse_severity(value: str) -> Severity:
    """IV/III/II/I or 一般/较大/重大/特别重大, else an error listing them."""
    cleaned = value.strip()
    if cleaned in SEVERITY_NAMES:
        return SEVERITY_NAMES[cleaned]
    try:
        return Severity(cleaned.upper())
    except ValueError:
        raise InvalidInputError(
            f"severity {value!r} is not one of IV (一般), III (较大), II (重大), I (特别重大)"
        ) from None


@dataclass(frozen=True)
class Route:
    """Where a report goes."""

    unit: UnitRef
    tier: str
    departments: tuple[str, ...]
    filed_at: datetime
    deadline: datetime
    trace: dict[str, object]


def _coarser_or_equal(tier: Tier, floor: Tier | None) -> Tier:
    return tier if floor is None or tier.depth <= floor.depth else floor


def wanted_tier(category: Category, severity: Severity) -> Tier:
    """The tier that should answer: the category's, raised by severity."""
    return _coarser_or_equal(Tier(category.responsible_tier), SEVERITY_FLOOR[severity])


def responsible_unit(chain: tuple[UnitRef, ...], wanted: Tier) -> tuple[UnitRef, Tier]:
    """The chain's unit at ``wanted``, or at the nearest coarser tier the city has."""
    present = {Tier(unit.tier) for unit in chain}
    tier = next(
        (t for t in sorted(present, key=lambda t: t.depth, reverse=True) if t.depth <= wanted.depth),
        min(present, key=lambda t: t.depth),
    )
    unit = unit_at(chain, tier.value)
    assert unit is not None  # tier was picked from the chain itself
    return unit, tier


def rule_text(category: Category, severity: Severity, wanted: Tier, tier: Tier, unit: UnitRef) -> str:
    """Why this unit: the sentence the routing trace keeps."""
    rule = f"category {category.code} ({category.name}) → {category.responsible_tier}"
    if wanted.value != category.responsible_tier:
        rule += f"; severity {severity.value} ({severity.label}) escalates to {wanted.value}"
    if tier is not wanted:
        rule += f"; no {wanted.value} tier here, so {tier.value}"
    if unit.kind == "management":
        rule += f"; managed by {unit.name}"
    return rule


def route(
    location: Location, category: Category, severity: Severity, filed_at: datetime, calendar: WorkingCalendar
) -> Route:
    """The responsible unit, departments and deadline for a located report."""
    wanted = wanted_tier(category, severity)
    unit, tier = responsible_unit(location.chain, wanted)
    rule = rule_text(category, severity, wanted, tier, unit)
    return Route(
        unit=unit,
        tier=tier.value,
        departments=category.departments,
        filed_at=filed_at,
        deadline=calendar.deadline(filed_at, category.limit),
        trace={
            "cell": location.cell,
            "resolution": location.resolution,
            "index": "interior" if location.interior else "boundary",
            "rule": rule,
            "boundary_version": location.boundary_version,
            "time_limit": {"value": category.time_limit, "kind": category.limit_kind},
        },
    )
