"""Intake: POST a report from any channel; it comes back as the case it created."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import Message, Receive

from api.access import Access, client_address
from api.deps import scoped_connection
from api.geojson import FastJSONResponse
from command.intake import Submission, submit
from command.media import MediaStore, StoredMedia
from command.routing import parse_severity
from command.users import User
from spatial.china_coords import parse_source_crs, to_wgs84
from spatial.coords import validate_lon_lat
from spatial.errors import (
    InvalidInputError,
    LengthRequiredError,
    PayloadTooLargeError,
    UnsupportedFormatError,
)

MAX_JSON_BYTES = 64 << 10  # a report is a few kB of text; anything larger is not a report

router = APIRouter(prefix="/api/v1", tags=["reports"])


class GeoJSONPoint(BaseModel):
    """A GeoJSON Point (RFC 7946: [lon, lat])."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["Point"]
    coordinates: list[float] = Field(min_length=2, max_length=3)


class Reporter(BaseModel):
    """Contact of the person reporting: personal data, stored on the report, never shown publicly."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9\- ]{5,20}$")


class ReportIn(BaseModel):
    """A report from a grid worker, the 12345 hotline, an app, a sensor or a department."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    lon: float | None = Field(default=None, description="Longitude (with lat), or give location")
    lat: float | None = None
    location: GeoJSONPoint | None = None
    crs: str = Field(default="wgs84", max_length=16, description="wgs84, cgcs2000, gcj02 (WeChat/AMap), bd09")
    category: str = Field(max_length=16, description="Category code, e.g. 020102 (暴露垃圾)")
    severity: str = Field(default="IV", max_length=8, description="IV/III/II/I or 一般/较大/重大/特别重大")
    source: Literal["grid_worker", "hotline", "citizen_app", "sensor", "department"]
    description: str = Field(min_length=1, max_length=4000)
    address: str | None = Field(default=None, max_length=500)
    reporter: Reporter | None = None

    @model_validator(mode="after")
    def _one_location(self) -> ReportIn:
        has_pair = self.lon is not None or self.lat is not None
        if has_pair == (self.location is not None):
            raise ValueError("give the position once: either lon and lat, or a GeoJSON Point in location")
        if has_pair and (self.lon is None or self.lat is None):
            raise ValueError("lon and lat go together")
        return self

    def position(self) -> tuple[float, float]:
        """The position as given (before any datum conversion)."""
        if self.location is not None:
            return self.location.coordinates[0], self.location.coordinates[1]
        return self.lon, self.lat  # type: ignore[return-value]


def to_submission(body: ReportIn, media: tuple[StoredMedia, ...] = ()) -> Submission:
    """Validate the parts pydantic cannot (datum, range, severity) and convert to WGS84 at the edge."""
    given_lon, given_lat = body.position()
    if not (math.isfinite(given_lon) and math.isfinite(given_lat)):
        raise InvalidInputError(f"coordinates must be finite numbers, got lon={given_lon}, lat={given_lat}")
    source_crs = parse_source_crs(body.crs)
    lon, lat = (float(v) for v in to_wgs84(given_lon, given_lat, source_crs))
    validate_lon_lat(lon, lat)
    return Submission(
        lon=lon, lat=lat, given={"crs": source_crs.value, "lon": given_lon, "lat": given_lat},
        category=body.category, severity=parse_severity(body.severity), source=body.source,
        description=body.description, address=body.address,
        reporter=body.reporter.model_dump(exclude_none=True) if body.reporter else None, media=media,
    )  # fmt: skip


def parse_report(raw: bytes | str) -> ReportIn:
    """The report's JSON, with pydantic's complaints reported like any other request validation."""
    try:
        return ReportIn.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None


def _declared_length(request: Request, limit: int) -> int:
    length = request.headers.get("content-length")
    if length is None or not length.isdigit():
        raise LengthRequiredError("send Content-Length with an upload, so its size can be checked before reading")
    if int(length) > limit:
        raise PayloadTooLargeError(f"request of {int(length):,} bytes is over the {limit:,}-byte limit")
    return int(length)


class BodyTail:
    """Keeps the last bytes of a request body as it streams past, to see how the body ended.

    A multipart body cut off mid-file still parses — the unfinished part is silently dropped —
    so whether the closing boundary arrived is checked here, or a report would lose its photo.
    """

    def __init__(self, receive: Receive, keep: int) -> None:
        self._receive, self._keep, self.tail = receive, keep, b""

    async def __call__(self) -> Message:
        """Pass the next message on, remembering the body's last bytes."""
        message = await self._receive()
        if message["type"] == "http.request":
            self.tail = (self.tail + message.get("body", b""))[-self._keep :]
        return message


def _boundary(request: Request) -> bytes:
    for parameter in request.headers.get("content-type", "").split(";")[1:]:
        name, _, value = parameter.strip().partition("=")
        if name.lower() == "boundary" and value:
            return value.strip('"').encode("latin-1")
    raise InvalidInputError("multipart/form-data needs a boundary parameter in Content-Type")


async def read_multipart(request: Request, store: MediaStore) -> tuple[ReportIn, tuple[StoredMedia, ...]]:
    """A ``report`` part (the JSON body) and up to N ``media`` files, each checked and stored."""
    _declared_length(request, store.limits.request_bytes)
    closing = b"--" + _boundary(request) + b"--"
    body_tail = BodyTail(request.receive, keep=len(closing) + 4)
    request = Request(request.scope, receive=body_tail)
    try:
        async with request.form(max_files=store.limits.files_per_report, max_fields=4,
                                max_part_size=MAX_JSON_BYTES) as form:  # fmt: skip
            report = form.get("report")
            if not isinstance(report, str):
                raise InvalidInputError("multipart upload needs a 'report' field holding the report's JSON")
            unexpected = sorted(set(form.keys()) - {"report", "media"})
            if unexpected:
                raise InvalidInputError(f"unknown multipart field(s) {unexpected}; send 'report' and 'media'")
            if not body_tail.tail.rstrip(b"\r\n").endswith(closing):
                raise InvalidInputError("the multipart upload is truncated (no closing boundary); send it again")
            body = parse_report(report)
            files = [f for f in form.getlist("media") if isinstance(f, UploadFile)]
            if len(files) != len(form.getlist("media")):
                raise InvalidInputError("'media' parts must be files (photos or videos)")
            stored = await run_in_threadpool(store.store_all, [(f.file, f.filename) for f in files])
    except ClientDisconnect:
        raise InvalidInputError("the client disconnected before the upload was complete") from None
    except HTTPException as exc:  # Starlette's word for a body that is not well-formed multipart or over its limits
        raise InvalidInputError(f"multipart upload refused: {exc.detail}") from None
    return body, tuple(stored)


REQUEST_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/ReportIn"}},
        "multipart/form-data": {"schema": {
            "type": "object", "required": ["report"],
            "properties": {"report": {"type": "string", "description": "the report as JSON (ReportIn)"},
                           "media": {"type": "array", "items": {"type": "string", "format": "binary"},
                                     "description": "photos (JPEG, PNG, WebP, HEIC) and videos (MP4, MOV)"}},
        }},
    },
}  # fmt: skip


@router.post("/reports", response_class=FastJSONResponse, status_code=201, operation_id="submitReport",
             openapi_extra={"requestBody": REQUEST_BODY})  # fmt: skip
async def submit_report(
    request: Request,
    user: Annotated[User, Depends(Access("cases:report"))],
    idempotency_key: Annotated[str | None, Header(max_length=200, description="Retry-safe submission key")] = None,
) -> FastJSONResponse:
    """Locate, route and store the report as a case; a retry with the same key returns the same case.

    JSON for text-only reports; multipart/form-data when photos or videos come with it.
    """
    request.app.state.throttle.intake(client_address(request), user.username)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        body, media = await read_multipart(request, request.app.state.media)
    elif content_type == "application/json":
        _declared_length(request, MAX_JSON_BYTES)
        body, media = parse_report(await request.body()), ()
    else:
        raise UnsupportedFormatError(f"send application/json or multipart/form-data, not {content_type or 'nothing'}")
    submission = to_submission(body, media)
    async with scoped_connection(request) as conn:
        answer = await submit(conn, submission, idempotency_key, request.app.state.locator, request.app.state.calendar,
                              actor=user.username, within=user.unit_code)  # fmt: skip
    headers = {"Idempotent-Replayed": "true"} if answer["replayed"] else {}
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key  # echoed, so a client (or a load test) can match answers
    return FastJSONResponse(answer, status_code=201, headers=headers)
