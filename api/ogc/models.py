"""What ``/ogc`` answers besides features (OGC API Features Part 1 and 2), for the OpenAPI document."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from api.schemas import Answer, Link


class Landing(Answer):
    """The landing page: where the API description, conformance and collections are."""

    title: str
    description: str
    links: list[Link]


class Conformance(Answer):
    """The conformance classes implemented."""

    conformsTo: list[str]


class CollectionInfo(Answer):
    """One collection's metadata: its extent, the CRSs it is served in and where its items are."""

    id: str
    title: str
    description: str
    itemType: str
    crs: list[str] = Field(description="The CRSs the items can be requested in (crs=…)")
    storageCrs: str
    extent: dict[str, Any]
    links: list[Link]


class Collections(Answer):
    """Every collection."""

    links: list[Link]
    crs: list[str]
    collections: list[CollectionInfo]
