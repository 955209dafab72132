"""Intake: POST a report from any channel; it comes back as the case it created."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from api.body import RequestBody
from api.geojson import FastJSONResponse
from api.schemas import Responsible
from command.intake import Submission
from command.media import MediaStore, StoredMedia
from command.routing import parse_severity
from command.users import User
from exchange.handovers import submit_or_hand_over
from spatial.china_coords import parse_source_crs, to_wgs84
from spatial.coords import validate_lon_lat
from spatial.errors import InvalidInputError, UnsupportedFormatError
from spatial.sources import ReportSource
from web.access import Access, client_address
from web.deps import scoped_connection
from web.services import CalendarDep, LocatorDep, MediaDep, ThrottleDep
from web.uploads import MAX_TEXT_BYTES, declared_length, multipart_upload

MAX_JSON_BYTES = MAX_TEXT_BYTES  # a report is a few kB of text; anything larger is not a report

router = APIRouter(prefix="/api/v1", tags=["reports"])


class GeoJSONPoint(RequestBody):
    """A GeoJSON Point (RFC 7946: [lon, lat])."""

    type: Literal["Point"]
    coordinates: list[float] = Field(min_length=2, max_length=3)


class Reporter(RequestBody):
    """Contact of the person reporting: personal data, stored on the report, never shown publicly."""

    name: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9\- ]{5,20}$")


class ReportIn(RequestBody):
    """A report from a grid worker, the 12345 hotline, an app, a sensor or a department."""

    model_config = ConfigDict(
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "lon": 118.7969,
                    "lat": 32.0603,
                    "category": "020102",
                    "severity": "IV",
                    "source": "hotline",
                    "description": "新街口地铁站出口旁暴露垃圾",
                    "reporter": {"name": "王先生", "phone": "13900001111"},
                }
            ]
        },
    )
    lon: float | None = Field(default=None, description="Longitude (with lat), or give location")
    lat: float | None = None
    location: GeoJSONPoint | None = None
    crs: str = Field(default="wgs84", max_length=16, description="wgs84, cgcs2000, gcj02 (WeChat/AMap), bd09")
    category: str = Field(max_length=16, description="Category code, e.g. 020102 (暴露垃圾)")
    severity: str = Field(default="IV", max_length=8, description="IV/III/II/I or 一般/较大/重大/特别重大")
    source: ReportSource
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


class Filed(BaseModel):
    """The case the report created or joined, who answers for it and by when; ``token`` lets the reporter
    rate the outcome (``/api/v1/ratings``)."""

    case_id: str
    report_id: str
    token: str
    state: str
    replayed: bool = Field(description="An earlier answer to the same Idempotency-Key, sent again")
    merged: bool = Field(description="The report joined an open case of the same incident")
    report_count: int
    responsible: Responsible
    deadline: str


def to_submission(body: ReportIn, media: tuple[StoredMedia, ...] = ()) -> Submission:
    """Validate the parts pydantic cannot (datum, range, severity) and convert to WGS84 at the edge."""
    given_lon, given_lat = body.position()
    if not (math.isfinite(given_lon) and math.isfinite(given_lat)):
        raise InvalidInputError(f"coordinates must be finite numbers, got lon={given_lon}, lat={given_lat}")
    source_crs = parse_source_crs(body.crs)
    lon, lat = (float(v) for v in to_wgs84(given_lon, given_lat, source_crs))
    validate_lon_lat(lon, lat)
    return Submission(
        lon=lon,
        lat=lat,
        given={"crs": source_crs.value, "lon": given_lon, "lat": given_lat},
        category=body.category,
        severity=parse_severity(body.severity),
        source=body.source,
        description=body.description,
        address=body.address,
        reporter=body.reporter.model_dump(exclude_none=True) if body.reporter else None,
        media=media,
    )


def parse_report(raw: bytes | str) -> ReportIn:
    """The report's JSON, with pydantic's complaints reported like any other request validation."""
    try:
        return ReportIn.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None


async def read_multipart(request: Request, store: MediaStore) -> tuple[ReportIn, tuple[StoredMedia, ...]]:
    """A ``report`` part (the JSON body) and up to N ``media`` files, each checked and stored."""
    async with multipart_upload(request, store.limits, frozenset({"report"})) as (form, files):
        report = form.get("report")
        if not isinstance(report, str):
            raise InvalidInputError("multipart upload needs a 'report' field holding the report's JSON")
        body = parse_report(report)
        stored = await run_in_threadpool(store.store_all, files)
    return body, tuple(stored)


REQUEST_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/ReportIn"}},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["report"],
                "properties": {
                    "report": {"type": "string", "description": "the report as JSON (ReportIn)"},
                    "media": {
                        "type": "array",
                        "items": {"type": "string", "format": "binary"},
                        "description": "photos (JPEG, PNG, WebP, HEIC) and videos (MP4, MOV)",
                    },
                },
            }
        },
    },
}


@router.post(
    "/reports",
    response_class=FastJSONResponse,
    status_code=201,
    operation_id="submitReport",
    response_model=Filed,
    openapi_extra={"requestBody": REQUEST_BODY},
)
async def submit_report(
    request: Request,
    user: Annotated[User, Depends(Access("cases:report"))],
    throttle: ThrottleDep,
    media_store: MediaDep,
    locator: LocatorDep,
    calendar: CalendarDep,
    idempotency_key: Annotated[str | None, Header(max_length=200, description="Retry-safe submission key")] = None,
) -> FastJSONResponse:
    """Locate, route and store the report as a case; a retry with the same key returns the same case.

    JSON for text-only reports; multipart/form-data when photos or videos come with it.
    """
    throttle.intake(client_address(request), user.username)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        body, media = await read_multipart(request, media_store)
    elif content_type == "application/json":
        declared_length(request, MAX_JSON_BYTES)
        body, media = parse_report(await request.body()), ()
    else:
        raise UnsupportedFormatError(f"send application/json or multipart/form-data, not {content_type or 'nothing'}")
    submission = to_submission(body, media)
    async with scoped_connection(request) as conn:
        answer, handed_over = await submit_or_hand_over(
            conn, submission, idempotency_key, locator, calendar, actor=user.username, within=user.unit_code
        )
    if handed_over:  # the point lies in a neighbour city: handed to it, followed here (exchange.handovers)
        return FastJSONResponse(answer, status_code=202)
    headers = {"Idempotent-Replayed": "true"} if answer["replayed"] else {}
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key  # echoed, so a client (or a load test) can match answers
    return FastJSONResponse(answer, status_code=201, headers=headers)
