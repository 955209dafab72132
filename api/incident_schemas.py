"""Answer models of the incident routes: what each answer always carries (more may follow, as with every
``Answer``). They document the routes and are checked by the contract test against the live app."""

from __future__ import annotations

from typing import Any

from api.schemas import Answer


class Record(Answer):
    """One stored thing of an incident (a situation report, an alert, a task, a summons, a resource request)."""

    id: int


class IncidentLayer(Answer):
    """Active incidents as GeoJSON: each feature the incident's current areas joined (the map's layer)."""

    type: str
    features: list[dict[str, Any]]


class AreaStored(Answer):
    """An area drawn: its id and kind, how it was made, its m² (and what it replaced or clipped)."""

    area_id: int
    kind: str


class Impact(Answer):
    """What lies inside the incident's areas: m², units by tier, counts, open cases by category, forces."""

    area_m2: int
    counts: dict[str, int]


class Rows(Answer):
    """A list of rows under one key (``cases``, ``entries``, ``summons``, ``tasks``, ``forces``, ``alerts``,
    ``sitreps``, ``items``), with what goes with it (a sitrep list's ``due``)."""


class Changed(Answer):
    """The ids of the cases whose link changed."""

    changed: list[str]
