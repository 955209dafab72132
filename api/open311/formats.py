"""GeoReport v2 documents in JSON or XML, and the spec's error format.

The spec's XML is plain nested elements: a list is a wrapper whose items share one element
name (``<services><service>…``), ``null`` is an empty element, booleans are ``true``/``false``.
The JSON form is the same data as arrays and objects. Both come from one structure here, so
the two formats cannot drift apart.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal
from xml.etree import ElementTree as ET

import orjson
from fastapi import Response
from pydantic import BaseModel

# the element name of a list's items, by the list's own element name
ITEM_NAMES = {
    "services": "service",
    "service_requests": "request",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
    "errors": "error",
}


class Format(StrEnum):
    """The two formats the spec defines, named by the URL suffix."""

    JSON = "json"
    XML = "xml"

    @property
    def media_type(self) -> str:
        """Content type of a response in this format."""
        return "application/json" if self is Format.JSON else "text/xml; charset=utf-8"


def _fill(parent: ET.Element, name: str, value: object) -> None:
    element = ET.SubElement(parent, name)
    _set(element, name, value)


def _set(element: ET.Element, name: str, value: object) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            _fill(element, key, child)
    elif isinstance(value, list):
        for child in value:
            _fill(element, ITEM_NAMES[name], child)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = str(value)  # ElementTree escapes markup: text from reports stays inert


def to_xml(root: str, value: object) -> bytes:
    """The spec's XML for a document whose top element is ``root``."""
    element = ET.Element(root)
    _set(element, root, value)
    return ET.tostring(element, encoding="utf-8", xml_declaration=True)


def render(value: object, fmt: Format, root: str, status: int = 200) -> Response:
    """A GeoReport response: ``root`` names the XML top element (the JSON form has none)."""
    body = orjson.dumps(value) if fmt is Format.JSON else to_xml(root, value)
    return Response(body, status_code=status, media_type=fmt.media_type)


class Open311Error(Exception):
    """A refusal in the spec's error format: a list of {code, description}."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status, self.description = status, description

    def response(self, fmt: Format) -> Response:
        """The error document in the caller's format."""
        return render([{"code": self.status, "description": self.description}], fmt, "errors", self.status)


class SpecError(BaseModel):
    """One GeoReport v2 error."""

    code: int
    description: str


class Endpoint(BaseModel):
    """Where a GeoReport v2 endpoint is and what it speaks."""

    specification: str
    url: str
    changeset: str
    type: str
    formats: list[str]


class Discovery(BaseModel):
    """The city's GeoReport v2 discovery document."""

    changeset: str
    contact: str
    key_service: str
    endpoints: list[Endpoint]


class Service(BaseModel):
    """A category a report may be filed under."""

    service_code: str
    service_name: str
    description: str
    metadata: bool
    type: str
    keywords: str
    group: str


class AttributeValue(BaseModel):
    """One value a list attribute takes."""

    key: str
    name: str


class Attribute(BaseModel):
    """An attribute a service takes."""

    variable: bool
    code: str
    datatype: str
    required: bool
    datatype_description: str
    order: int
    description: str
    values: list[AttributeValue]


class ServiceDefinition(BaseModel):
    """The attributes a service takes."""

    service_code: str
    attributes: list[Attribute]


class ServiceRequest(BaseModel):
    """A report as a GeoReport service request: every standard field present, null where unknown."""

    service_request_id: str
    status: Literal["open", "closed"]
    status_notes: str | None
    service_name: str
    service_code: str
    description: str | None
    agency_responsible: str | None
    service_notice: str | None
    requested_datetime: str
    updated_datetime: str
    expected_datetime: str | None
    address: str | None
    address_id: str | None
    zipcode: str | None
    lat: float | None
    long: float | None
    media_url: str | None
    cityops_case_id: str
    cityops_state: str


class FiledRequest(BaseModel):
    """A service request filed: its id and token."""

    service_request_id: str
    token: str
    service_notice: str | None = None
    account_id: str | None = None


def answers(model: object, status: int = 200) -> dict[int | str, dict[str, Any]]:
    """A GeoReport answer (JSON or XML by the URL's suffix) and the spec's refusals, in both formats."""
    xml = {"text/xml": {"schema": {"type": "string"}}}
    errors = {"model": list[SpecError], "content": xml}
    return {status: {"model": model, "content": xml}, 400: errors, 403: errors, 404: errors, 429: errors}
