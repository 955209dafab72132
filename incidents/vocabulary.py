"""The words of incident command, one list each (the schema's CHECK constraints hold the same)."""

from __future__ import annotations

from enum import StrEnum


class IncidentState(StrEnum):
    """An incident is commanded until it is closed; de-escalation lowers its level, it does not end it."""

    ACTIVE = "active"
    CLOSED = "closed"


class Level(StrEnum):
    """《突发事件应对法》's four levels; which tier commands each is data (table ``incident_level``)."""

    I = "I"  # noqa: E741  (the level's own name: 特别重大)
    II = "II"
    III = "III"
    IV = "IV"

    @property
    def rank(self) -> int:
        """1 for I (the gravest) … 4 for IV: a lower rank is an escalation."""
        return list(Level).index(self) + 1


class AreaKind(StrEnum):
    """The areas an incident draws: one current perimeter and zone of each kind, closures and staging many."""

    PERIMETER = "perimeter"
    HOT_ZONE = "hot_zone"
    WARM_ZONE = "warm_zone"
    EVACUATION = "evacuation"
    CLOSURE = "closure"
    STAGING = "staging"

    @property
    def single(self) -> bool:
        """A new area of this kind replaces the current one (closures and staging areas add up)."""
        return self not in (AreaKind.CLOSURE, AreaKind.STAGING)


class Derivation(StrEnum):
    """How an area's geometry came to be: drawn on the map, a buffer round a point, or units joined."""

    DRAWN = "drawn"
    BUFFER = "buffer"
    UNITS = "units"


class CaseLink(StrEnum):
    """A case under the incident, flagged to it (reported inside its area), or dismissed by the commander."""

    LINKED = "linked"
    FLAGGED = "flagged"
    DISMISSED = "dismissed"


class TaskState(StrEnum):
    """A task's way: assigned → acknowledged → in_progress → done; blocked (with a reason) from any open
    state, and back to work when unblocked."""

    ASSIGNED = "assigned"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    BLOCKED = "blocked"


class Priority(StrEnum):
    """How urgent a task is, gravest first."""

    URGENT = "urgent"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"
