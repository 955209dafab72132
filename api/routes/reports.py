"""Intake: POST a report from any channel; it comes back as the case it created."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.geojson import FastJSONResponse
from command.intake import Submission, submit
from command.routing import parse_severity
from spatial.china_coords import parse_source_crs, to_wgs84
from spatial.coords import validate_lon_lat
from spatial.errors import InvalidInputError

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


def to_submission(body: ReportIn) -> Submission:
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
        reporter=body.reporter.model_dump(exclude_none=True) if body.reporter else None,
    )  # fmt: skip


@router.post("/reports", response_class=FastJSONResponse, status_code=201, operation_id="submitReport")
async def submit_report(
    request: Request,
    body: ReportIn,
    idempotency_key: Annotated[str | None, Header(max_length=200, description="Retry-safe submission key")] = None,
) -> FastJSONResponse:
    """Locate, route and store the report as a case; a retry with the same key returns the same case."""
    submission = to_submission(body)
    async with request.app.state.pool.connection() as conn:
        answer = await submit(conn, submission, idempotency_key, request.app.state.locator, request.app.state.calendar)
    headers = {"Idempotent-Replayed": "true"} if answer["replayed"] else {}
    return FastJSONResponse(answer, status_code=201, headers=headers)
