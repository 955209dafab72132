"""Cases and reports: read them, merge two cases, split a report out — and fetch media."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from api.geojson import FastJSONResponse
from command.case_view import case_view, report_view
from command.merging import merge_cases, split_report
from spatial.errors import NotFoundError

router = APIRouter(prefix="/api/v1", tags=["events"])

RowId = Annotated[int, Path(ge=1, le=2**63 - 1, description="Numeric id")]
SHA256 = re.compile(r"^[0-9a-f]{64}$")


class MergeIn(BaseModel):
    """Which case to fold into this one, and why (recorded)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    case_id: int = Field(ge=1, description="The case whose reports move into this one")
    reason: str = Field(min_length=1, max_length=500)


class SplitIn(BaseModel):
    """Why a report does not belong to its case (recorded)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    reason: str = Field(min_length=1, max_length=500)


@router.get("/events/{case_id}", response_class=FastJSONResponse)
async def get_case(request: Request, case_id: RowId) -> FastJSONResponse:
    """A case: routing, deadline, trace, its reports (contact masked) with media, and its merge history."""
    async with request.app.state.pool.connection() as conn:
        return FastJSONResponse(await case_view(conn, case_id, request.app.state.calendar.zone))


@router.get("/reports/{report_id}", response_class=FastJSONResponse)
async def get_report(request: Request, report_id: RowId) -> FastJSONResponse:
    """One report as submitted (contact masked) and the case it belongs to now."""
    async with request.app.state.pool.connection() as conn:
        return FastJSONResponse(await report_view(conn, report_id, request.app.state.calendar.zone))


@router.post("/events/{case_id}/merge", response_class=FastJSONResponse)
async def merge(request: Request, case_id: RowId, body: MergeIn) -> FastJSONResponse:
    """Fold another open case into this one (its reports move here; it points here from now on)."""
    async with request.app.state.pool.connection() as conn:
        return FastJSONResponse(await merge_cases(conn, case_id, body.case_id, body.reason))


@router.post("/reports/{report_id}/split", response_class=FastJSONResponse)
async def split(request: Request, report_id: RowId, body: SplitIn) -> FastJSONResponse:
    """Undo a merge for one report: back to the case it came from, or a new case routed on its own."""
    state = request.app.state
    async with state.pool.connection() as conn:
        return FastJSONResponse(await split_report(conn, report_id, body.reason, state.locator, state.calendar))


@router.get("/media/{sha256}", response_class=FileResponse)
async def get_media(request: Request, sha256: str) -> FileResponse:
    """A stored photo or video by its hash; immutable, so it may be cached for good."""
    if not SHA256.match(sha256):
        raise NotFoundError(f"no media {sha256!r}: media are addressed by a lower-case hex SHA-256")
    async with request.app.state.pool.connection() as conn:
        row = await (await conn.execute("SELECT content_type FROM media WHERE sha256 = %s", (sha256,))).fetchone()
    path = request.app.state.media.path_of(sha256)
    if row is None or not path.exists():
        raise NotFoundError(f"no media {sha256}")
    headers = {"Cache-Control": "private, max-age=31536000, immutable", "X-Content-Type-Options": "nosniff"}
    return FileResponse(path, media_type=row[0], headers=headers)
