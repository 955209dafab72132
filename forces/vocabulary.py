"""What a force is and where it stands: the words the directory, dispatch, the API and the schema share.

``ForceKind`` and ``ForceStatus`` hold the values of the database enums ``force_kind`` and
``force_status`` (a test compares them), so a kind or status added on one side only fails the suite.
An assignment's stage is derived, not stored: ``forces.dispatch.stage_of`` reads it from the times.
"""

from __future__ import annotations

from enum import StrEnum


class ForceKind(StrEnum):
    """A person on foot, a team, a vehicle or a piece of equipment (each has its own travel speed)."""

    PERSON = "person"
    TEAM = "team"
    VEHICLE = "vehicle"
    EQUIPMENT = "equipment"


class ForceStatus(StrEnum):
    """Free to send, busy with a case (three steps of it), or not on duty at all."""

    AVAILABLE = "available"
    ASSIGNED = "assigned"
    EN_ROUTE = "en_route"
    ON_SCENE = "on_scene"
    OFF_DUTY = "off_duty"
    OUT_OF_SERVICE = "out_of_service"


class AssignmentStage(StrEnum):
    """An assignment offered to a force, accepted (en route), on scene, or ended."""

    OFFERED = "offered"
    EN_ROUTE = "en_route"
    ON_SCENE = "on_scene"
    RELEASED = "released"


BUSY = (ForceStatus.ASSIGNED, ForceStatus.EN_ROUTE, ForceStatus.ON_SCENE)  # held by a case
# the values as plain strings, for dictionary keys and messages (orjson takes no enum as a key)
KINDS = tuple(kind.value for kind in ForceKind)
STATUSES = tuple(status.value for status in ForceStatus)
