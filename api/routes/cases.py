"""Cases and reports: list and read them, merge two cases, split a report out — and their media.

Everything here reads and writes through the caller's scope (row-level security): a case
outside it is "not found", exactly like one that does not exist, so ids cannot be probed.
Reporter contact is masked unless the caller may read personal data, and every unmasked
read is written to the audit log before the answer leaves. Evidence (photos, videos) is uploaded
to a case by whoever may take a step that carries or judges it (``command.case_media``), and a
file is served to whoever sees a case or report holding it.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from api.body import RequestBody
from api.geojson import FastJSONResponse
from api.schemas import Geometry, binary, listed
from api.tabular import ListFormat, render_list
from command.case_media import case_media, store_case_media
from command.case_search import described, resolve
from command.case_view import case_view, report_view
from command.listing import CASE_FIELDS, MAX_LIMIT, REPORT_FIELDS, ListFilter, list_cases, list_reports
from command.media import PHOTO_TYPES, VIDEO_TYPES
from command.merging import merge_cases, split_report
from command.users import User
from spatial.errors import InvalidInputError, NotFoundError
from spatial.privacy import audit_disclosure
from web.access import Access
from web.deps import BBoxDep, RowId, read_connection, scoped_connection
from web.i18n import Catalogue
from web.services import CalendarDep, LocatorDep, MediaDep
from web.uploads import multipart_upload
from web.words import case_labels, row_labels, words

router = APIRouter(prefix="/api/v1", tags=["cases"])

SHA256 = re.compile(r"^[0-9a-f]{64}$")
Reader = Annotated[User, Depends(Access("cases:read"))]
Merger = Annotated[User, Depends(Access("cases:merge"))]
# evidence goes with feedback (handle), checks (check) and the dispatcher's notes and decisions (dispatch)
EvidenceTaker = Annotated[User, Depends(Access("cases:handle", "cases:check", "cases:dispatch"))]
PERSONAL = "personal:read"
MEDIA_IN_SCOPE = """
SELECT m.content_type FROM media m
WHERE m.sha256 = %s AND (EXISTS (SELECT FROM report_media rm WHERE rm.sha256 = m.sha256)
                         OR EXISTS (SELECT FROM case_media cm WHERE cm.sha256 = m.sha256)
                         OR EXISTS (SELECT FROM incident_task_update u WHERE m.sha256 = ANY(u.media)))
"""
MEDIA_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["media"],
                "properties": {
                    "media": {
                        "type": "array",
                        "items": {"type": "string", "format": "binary"},
                        "description": "photos (JPEG, PNG, WebP, HEIC) and videos (MP4, MOV)",
                    }
                },
            }
        }
    },
}


class CaseRow(BaseModel):
    """A case in a list (``command.listing.CASE_FIELDS``), with its codes in words."""

    id: str
    category: str
    category_name: str | None
    category_name_en: str | None
    severity: str
    severity_label: str
    state: str
    state_label: str
    responsible_code: str | None
    responsible_name: str | None
    departments: list[str] | None
    handling_department: str | None
    filed_at: str | None
    deadline: str | None
    due_at: str | None
    overdue: bool | None
    supervised: bool | None
    external_id: str | None
    report_count: int | None
    description: str | None
    address: str | None
    lon: float | None
    lat: float | None


class ReportRow(BaseModel):
    """A report in a list (``command.listing.REPORT_FIELDS``); contact masked without personal-data clearance."""

    id: str
    case_id: str
    category: str | None
    state: str | None
    state_label: str | None = None
    source: str
    source_label: str
    description: str | None
    address: str | None
    created_at: str
    lon: float | None
    lat: float | None
    reporter_name: str | None
    reporter_phone: str | None


class MediaRef(BaseModel):
    """A photo or video of a report, and where to fetch it."""

    sha256: str
    content_type: str
    size_bytes: int
    filename: str | None
    url: str


class ReportView(BaseModel):
    """A report as submitted (``command.case_view``), its contact masked unless the caller may read it."""

    model_config = ConfigDict(extra="allow")  # a case's view adds the source in words

    id: str
    case_id: str
    source: str
    description: str | None
    address: str | None
    location: Geometry
    given: dict[str, Any] | None = Field(description="The position as given: its system and coordinates")
    reporter: dict[str, Any] | None
    created_at: str
    media: list[MediaRef]


class CaseMerge(BaseModel):
    """A merge or split that touched the case."""

    kind: str
    kind_label: str
    report_id: str | None
    from_case_id: str | None
    to_case_id: str
    distance_m: float | None
    similarity: float | None
    actor: str | None
    reason: str | None
    at: str | None


class CaseView(BaseModel):
    """A case with what routed it, its reports and its merges (``command.case_view`` with labels)."""

    id: str
    category: dict[str, str | None] = Field(description="code, name, name_en")
    category_name: str
    severity: str
    severity_label: str
    state: str
    state_label: str
    location: Geometry
    cell: str | None
    grid: dict[str, str | None] = Field(description="code, name")
    chain: list[dict[str, Any]] | None = Field(description="The units above the grid, city first")
    responsible: dict[str, Any] = Field(description="code, name, tier, tier_label, departments")
    filed_at: str | None
    deadline: str | None
    routing_trace: dict[str, Any] | None
    routing_trace_text: list[str]
    description: str | None
    address: str | None
    source: str
    source_label: str
    report_count: int
    merged_into: str | None
    external_id: str | None
    created_at: str | None
    updated_at: str | None
    closed_at: str | None
    reports: list[ReportView]
    merges: list[CaseMerge]


class Merged(BaseModel):
    """A merge done: the case kept, the case folded into it, how many reports moved."""

    case_id: str
    merged_case_id: str
    reports_moved: int


class Split(BaseModel):
    """A split done: the report, the case it left, the case it is in now."""

    report_id: str
    from_case_id: str
    case_id: str


class CaseMediaStored(BaseModel):
    """Evidence stored with a case."""

    case_id: str
    media: list[dict[str, Any]]


class CaseMediaList(BaseModel):
    """Every photo and video of a case, with its origin."""

    case_id: str
    items: list[dict[str, Any]]


class MergeIn(RequestBody):
    """Which case to fold into this one, and why (recorded)."""

    model_config = ConfigDict(str_strip_whitespace=True)
    case_id: int = Field(ge=1, description="The case whose reports move into this one")
    reason: str = Field(min_length=1, max_length=500)


class SplitIn(RequestBody):
    """Why a report does not belong to its case (recorded)."""

    model_config = ConfigDict(str_strip_whitespace=True)
    reason: str = Field(min_length=1, max_length=500)


def list_filter(
    user: Reader,
    bbox: BBoxDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    before_id: Annotated[int | None, Query(ge=1, le=2**63 - 1, description="Page: rows older than this id")] = None,
    category: Annotated[str | None, Query(max_length=100, description="Code (cases: or name)")] = None,
    state: Annotated[str | None, Query(pattern=r"^[a-z_]{1,32}$")] = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> ListFilter:
    """Filters shared by the lists; times need a zone (2026-11-27T08:00:00+08:00)."""
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise InvalidInputError(f"{name} needs a time zone, e.g. 2026-11-27T08:00:00+08:00")
    return ListFilter(user.unit_id, user.unit_depth, limit, before_id, category, state, since, until, bbox)


Filter = Annotated[ListFilter, Depends(list_filter)]


async def case_filter(
    request: Request,
    user: Reader,
    filter_: Filter,
    q: Annotated[
        str | None,
        Query(description="Case id, imported id, address or place name (its grid, community, street or district)"),
    ] = None,
    unit: Annotated[str | None, Query(description="Code of a unit of the caller's jurisdiction")] = None,
    department: Annotated[str | None, Query(description="Handling department, or one the case may go to")] = None,
    overdue: Annotated[bool | None, Query(description="Stage or handling deadline passed (closed: late)")] = None,
    supervised: bool | None = None,
) -> ListFilter:
    """The shared filters and the case search's (``command.case_search``); ``category`` may be a name."""
    asked = replace(filter_, q=q, department=department, overdue=overdue, supervised=supervised)
    async with read_connection(request) as conn:
        resolved, problems = await resolve(conn, user, asked, unit)
    if problems:
        raise InvalidInputError(described(problems, Catalogue("en")))
    return resolved


Format = Annotated[ListFormat, Query(alias="format", description="json, geojson or csv")]


@router.get("/cases", response_model=None, responses=listed(CaseRow, "cases"))
async def get_cases(
    request: Request, user: Reader, filter_: Annotated[ListFilter, Depends(case_filter)], fmt: Format = ListFormat.json
) -> Response:
    """Cases in the caller's jurisdiction, newest first (JSON, GeoJSON or CSV), searched (the ``/cases`` page)."""
    async with read_connection(request) as conn:
        rows = await list_cases(conn, filter_)
    said = words(request)
    return render_list(request, [row_labels(r, said) for r in rows], CASE_FIELDS, fmt, filter_.limit, "cases")


@router.get("/reports", response_model=None, responses=listed(ReportRow, "reports"))
async def get_reports(request: Request, user: Reader, filter_: Filter, fmt: Format = ListFormat.json) -> Response:
    """Reports in the caller's jurisdiction with reporter contact (masked without personal-data clearance)."""
    reveal = user.may(PERSONAL)
    async with scoped_connection(request) as conn:
        rows = await list_reports(conn, filter_, reveal=reveal)
        if reveal:
            await audit_disclosure(
                conn,
                user.username,
                [r["id"] for r in rows if r["reporter_phone"] or r["reporter_name"]],
                via=f"reports list ({fmt})",
            )
    said = words(request)
    return render_list(request, [row_labels(r, said) for r in rows], REPORT_FIELDS, fmt, filter_.limit, "reports")


@router.get("/cases/{case_id}", response_class=FastJSONResponse, response_model=CaseView)
async def get_case(request: Request, user: Reader, case_id: RowId) -> FastJSONResponse:
    """A case: routing, deadline, trace, its reports (contact masked) with media, and its merge history."""
    reveal = user.may(PERSONAL)
    async with scoped_connection(request) as conn:
        view = await case_view(conn, case_id, reveal=reveal)
        if reveal:
            await audit_disclosure(
                conn,
                user.username,
                [r["id"] for r in view["reports"] if r["reporter"]],
                via=f"case {case_id}",
            )
    return FastJSONResponse(case_labels(view, words(request)))


@router.get("/reports/{report_id}", response_class=FastJSONResponse, response_model=ReportView)
async def get_report(request: Request, user: Reader, report_id: RowId) -> FastJSONResponse:
    """One report as submitted (contact masked) and the case it belongs to now."""
    reveal = user.may(PERSONAL)
    async with scoped_connection(request) as conn:
        view = await report_view(conn, report_id, reveal=reveal)
        if reveal and view["reporter"]:
            await audit_disclosure(conn, user.username, [report_id], via=f"report {report_id}")
    return FastJSONResponse(view)


@router.post("/cases/{case_id}/merge", response_class=FastJSONResponse, response_model=Merged)
async def merge(request: Request, user: Merger, case_id: RowId, body: MergeIn) -> FastJSONResponse:
    """Fold another open case into this one (its reports move here; it points here from now on)."""
    async with scoped_connection(request) as conn:
        return FastJSONResponse(await merge_cases(conn, case_id, body.case_id, body.reason, actor=user.username))


@router.post("/reports/{report_id}/split", response_class=FastJSONResponse, response_model=Split)
async def split(
    request: Request, user: Merger, report_id: RowId, body: SplitIn, locator: LocatorDep, calendar: CalendarDep
) -> FastJSONResponse:
    """Undo a merge for one report: back to the case it came from, or a new case routed on its own."""
    async with scoped_connection(request) as conn:
        return FastJSONResponse(
            await split_report(conn, report_id, body.reason, locator, calendar, actor=user.username)
        )


@router.post(
    "/cases/{case_id}/media",
    response_class=FastJSONResponse,
    status_code=201,
    response_model=CaseMediaStored,
    openapi_extra={"requestBody": MEDIA_BODY},
)
async def upload_case_media(request: Request, user: EvidenceTaker, case_id: RowId, store: MediaDep) -> FastJSONResponse:
    """Photos and videos (multipart ``media`` parts) kept as evidence of the case, for its transitions to name."""
    async with multipart_upload(request, store.limits) as (_, files), scoped_connection(request) as conn:
        stored = await store_case_media(conn, case_id, files, user.username, store)
    return FastJSONResponse({"case_id": str(case_id), "media": stored}, status_code=201)


@router.get("/cases/{case_id}/media", response_class=FastJSONResponse, response_model=CaseMediaList)
async def list_case_media(request: Request, user: Reader, case_id: RowId) -> FastJSONResponse:
    """Every photo and video of the case — its reports' and its evidence — with origin, naming transitions, URL."""
    async with scoped_connection(request) as conn:
        items = await case_media(conn, case_id)
    return FastJSONResponse({"case_id": str(case_id), "items": items})


@router.get(
    "/media/{sha256}",
    response_class=FileResponse,
    responses=binary(*sorted(PHOTO_TYPES | VIDEO_TYPES), description="The photo or video"),
)
async def get_media(request: Request, user: Reader, sha256: str, store: MediaDep) -> FileResponse:
    """A photo or video of a case or report the caller may see, by hash; immutable, so cached for good (privately)."""
    if not SHA256.match(sha256):
        raise NotFoundError(f"no media {sha256!r}: media are addressed by a lower-case hex SHA-256")
    async with scoped_connection(request) as conn:
        row = await (await conn.execute(MEDIA_IN_SCOPE, (sha256,))).fetchone()
    path = store.path_of(sha256)
    if row is None or not path.exists():
        raise NotFoundError(f"no media {sha256}")
    headers = {"Cache-Control": "private, max-age=31536000, immutable", "X-Content-Type-Options": "nosniff"}
    return FileResponse(path, media_type=row[0], headers=headers)
