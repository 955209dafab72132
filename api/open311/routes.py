"""GeoReport v2 endpoints under ``/open311/v2``; the URL suffix (``.json``/``.xml``) picks the format.

Every refusal — a malformed date, an unknown service code, a bad key, even a validation error
FastAPI itself raises — leaves in the spec's error format, in the format the caller asked for.
Posting needs an ``api_key`` the city issued (``cityops user key``) whose user may file reports
(role ``integration``, for one); reading is public.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from api.open311.formats import (
    Discovery,
    FiledRequest,
    Format,
    Open311Error,
    Service,
    ServiceDefinition,
    ServiceRequest,
    answers,
    render,
)
from api.open311.queries import RequestFilter, service_requests, services
from api.routes.reports import Reporter, ReportIn, to_submission
from exchange.handovers import submit_or_hand_over
from spatial.errors import PlatformError, TooManyRequestsError
from web.access import PUBLIC_VIEW, Scope, client_address
from web.deps import connection, scoped_connection
from web.errors import classify
from web.services import CalendarDep, JurisdictionDep, LocatorDep, ThrottleDep, UsersDep, ZoneDep

WINDOW = timedelta(days=90)
MAX_RESULTS = 1000
ATTRIBUTES = [
    {
        "variable": True,
        "code": "severity",
        "datatype": "singlevaluelist",
        "required": False,
        "datatype_description": "How serious it is",
        "order": 1,
        "description": "严重程度 (severity)",
        "values": [
            {"key": "IV", "name": "一般 (general)"},
            {"key": "III", "name": "较大 (major)"},
            {"key": "II", "name": "重大 (serious)"},
            {"key": "I", "name": "特别重大 (extraordinary)"},
        ],
    }
]
POST_FIELDS = frozenset(
    {
        "api_key",
        "jurisdiction_id",
        "service_code",
        "lat",
        "long",
        "address_string",
        "address_id",
        "email",
        "device_id",
        "account_id",
        "first_name",
        "last_name",
        "phone",
        "description",
        "media_url",
    }
)


def _format(request: Request) -> Format:
    suffix = request.url.path.rsplit(".", 1)[-1]
    return Format(suffix) if suffix in Format._value2member_map_ else Format.JSON


def _spec_error(exc: Exception) -> Open311Error:
    if isinstance(exc, Open311Error):
        return exc
    if isinstance(exc, RequestValidationError | ValidationError):
        fields = "; ".join(f"{'.'.join(map(str, e['loc'][1:] or e['loc']))}: {e['msg']}" for e in exc.errors())
        return Open311Error(400, fields)
    if isinstance(exc, HTTPException):
        return Open311Error(exc.status_code, str(exc.detail))
    status, _ = classify(exc)
    return Open311Error(400 if status == 422 else status, str(exc))


class Open311Route(APIRoute):
    """Turns every refusal into the spec's error document."""

    validation_status = 400  # a request validation error is the spec's 400, never a 422 (api.openapi)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap FastAPI's handler; anything deliberate becomes a spec error, bugs still surface."""
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except (
                Open311Error,
                PlatformError,
                RequestValidationError,
                ValidationError,
                HTTPException,
                psycopg.DataError,
            ) as exc:
                response = _spec_error(exc).response(_format(request))
                if isinstance(exc, TooManyRequestsError):
                    response.headers["Retry-After"] = str(exc.retry_after)
                return response

        return guarded


# public: GET shows public fields of the whole city; POST requires an api_key (checked in create_request)
router = APIRouter(
    prefix="/open311/v2", tags=["open311"], route_class=Open311Route, dependencies=[Depends(PUBLIC_VIEW)]
)


# the URL's suffix: json or xml (checked by _fmt, so any other is the spec's 404 naming the two)
Suffix = Annotated[str, Path(description="json or xml: the answer's format", examples=["json"])]


def _fmt(fmt: str) -> Format:
    if fmt not in Format._value2member_map_:
        raise Open311Error(404, f"format .{fmt} is not offered; use .json or .xml")
    return Format(fmt)


def _jurisdiction(served: str, given: str | None) -> None:
    if given is not None and given != served:
        raise Open311Error(404, f"jurisdiction_id {given!r} is not served here; this is {served!r}")


def _datetime(name: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace(" ", "+"))  # a '+' in a query string arrives as a space
    except ValueError:
        raise Open311Error(400, f"{name} {value!r} is not a W3C datetime, e.g. 2026-11-01T00:00:00+08:00") from None
    if parsed.tzinfo is None:
        raise Open311Error(400, f"{name} {value!r} has no timezone; add Z or an offset such as +08:00")
    return parsed


def _count(name: str, value: str | None, default: int, most: int) -> int:
    if value is None:
        return default
    if not value.isdigit() or not 1 <= int(value) <= most:
        raise Open311Error(400, f"{name} must be a whole number from 1 to {most}, got {value!r}")
    return int(value)


@router.get("/discovery.{fmt}", response_model=None, responses=answers(Discovery))
async def discovery(request: Request, fmt: Suffix) -> Response:
    """Where this city's GeoReport v2 endpoint is and what it speaks."""
    base = str(request.base_url).rstrip("/") + "/open311/v2/"
    return render(
        {
            "changeset": "2026-11-27T00:00:00+08:00",
            "contact": "城市运行管理服务中心 (City Operations Centre)",
            "key_service": "API keys are issued by the operations centre",
            "endpoints": [
                {
                    "specification": "http://wiki.open311.org/GeoReport_v2",
                    "url": base,
                    "changeset": "2026-11-27T00:00:00+08:00",
                    "type": "production",
                    "formats": ["text/xml", "application/json"],
                }
            ],
        },
        _fmt(fmt),
        "discovery",
    )


@router.get("/services.{fmt}", response_model=None, responses=answers(list[Service]))
async def list_services(
    request: Request, fmt: Suffix, served: JurisdictionDep, jurisdiction_id: str | None = None
) -> Response:
    """Every category a report may be filed under, with its group and keywords."""
    format_ = _fmt(fmt)
    _jurisdiction(served, jurisdiction_id)
    async with connection(request) as conn:
        return render(await services(conn), format_, "services")


@router.get("/services/{service_code}.{fmt}", response_model=None, responses=answers(ServiceDefinition))
async def service_definition(
    request: Request, service_code: str, fmt: Suffix, served: JurisdictionDep, jurisdiction_id: str | None = None
) -> Response:
    """The attributes a service takes (severity, optional)."""
    format_ = _fmt(fmt)
    _jurisdiction(served, jurisdiction_id)
    async with connection(request) as conn:
        if not await services(conn, service_code):
            raise Open311Error(404, f"service_code {service_code!r} not found; GET services.{fmt} lists them")
    return render({"service_code": service_code, "attributes": ATTRIBUTES}, format_, "service_definition")


def _report_from_form(form: dict[str, str], attributes: dict[str, str]) -> ReportIn:
    if "lat" not in form or "long" not in form:
        raise Open311Error(400, "lat and long are required (address lookup is not offered here)")
    try:
        lat, lon = float(form["lat"]), float(form["long"])
    except ValueError:
        raise Open311Error(400, f"lat and long must be numbers, got {form['lat']!r}, {form['long']!r}") from None
    contact = {
        "name": " ".join(filter(None, (form.get("first_name"), form.get("last_name")))) or None,
        "phone": form.get("phone"),
    }
    return ReportIn(
        lon=lon,
        lat=lat,
        category=form["service_code"],
        severity=attributes.get("severity", "IV"),
        source="citizen_app",
        description=form.get("description") or form["service_name"],
        address=form.get("address_string"),
        reporter=Reporter(**contact) if any(contact.values()) else None,
    )


@router.post("/requests.{fmt}", status_code=201, response_model=None, responses=answers(list[FiledRequest], 201))
async def create_request(
    request: Request,
    fmt: Suffix,
    served: JurisdictionDep,
    users: UsersDep,
    throttle: ThrottleDep,
    locator: LocatorDep,
    calendar: CalendarDep,
) -> Response:
    """File a service request (form-encoded, as the spec says); the answer carries its id and token."""
    format_ = _fmt(fmt)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        raise Open311Error(400, "send the request form-encoded (application/x-www-form-urlencoded)")
    async with request.form(max_files=0, max_fields=40, max_part_size=64 << 10) as raw:
        fields = {k: v for k, v in raw.items() if isinstance(v, str)}
    attributes = {k[10:-1]: v for k, v in fields.items() if k.startswith("attribute[") and k.endswith("]")}
    unknown = sorted(k for k in fields if k not in POST_FIELDS and not k.startswith("attribute["))
    if unknown or set(attributes) - {"severity"}:
        raise Open311Error(400, f"unknown field(s) {unknown + sorted(set(attributes) - {'severity'})}")
    client = await users.by_key(request, fields["api_key"]) if fields.get("api_key") else None
    if client is None or not client.may("cases:report"):
        raise Open311Error(
            403, "api_key missing, revoked or not allowed to file reports; the operations centre issues keys"
        )
    throttle.intake(client_address(request), client.username)
    request.state.scope = Scope.of(client)  # the key's jurisdiction, not the public view
    _jurisdiction(served, fields.get("jurisdiction_id"))
    code = fields.get("service_code")
    if not code:
        raise Open311Error(400, "service_code is required; GET services.json lists them")
    async with scoped_connection(request) as conn:
        found = await services(conn, code)
        if not found:
            raise Open311Error(404, f"service_code {code!r} not found; GET services.{fmt} lists them")
        body = _report_from_form({**fields, "service_name": str(found[0]["service_name"])}, attributes)
        submission = to_submission(body)
        # kept as sent, never fetched or shown: a remote media_url is the client's, not ours to download
        sent = {k: fields[k] for k in ("media_url", "email", "device_id", "account_id") if fields.get(k)}
        sent["client"] = client.username  # which integration filed it
        submission = replace(submission, given={**submission.given, "open311": sent})
        answer, handed_over = await submit_or_hand_over(
            conn, submission, None, locator, calendar, actor=client.username, within=client.unit_code
        )
    if handed_over:  # over the city line: the neighbour takes it (exchange.handovers); our reference is the handover's
        to = answer["handed_over_to"]
        reference, token, notice = (
            f"H{answer['handover']}",
            None,
            f"已移交 {to['name']} 办理 (handed over to {to['name']})",
        )
    else:
        reference, token = answer["report_id"], answer["token"]
        notice = f"受理单位 {answer['responsible']['name']}, 期限 {answer['deadline']}"
    return render(
        [
            {
                "service_request_id": reference,
                "token": token,
                "service_notice": notice,
                "account_id": fields.get("account_id"),
            }
        ],
        format_,
        "service_requests",
        201,
    )


def _media_base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/api/v1/media"


@router.get("/requests.{fmt}", response_model=None, responses=answers(list[ServiceRequest]))
async def list_requests(request: Request, fmt: Suffix, served: JurisdictionDep, zone: ZoneDep) -> Response:
    """Requests of the last 90 days (or the window asked for), newest first, at most 1,000 per page."""
    format_ = _fmt(fmt)
    query = request.query_params
    _jurisdiction(served, query.get("jurisdiction_id"))
    ids = tuple(i.strip() for i in query.get("service_request_id", "").split(",") if i.strip())
    if any(not i.isdigit() or len(i) > 18 for i in ids):
        given = query["service_request_id"]
        raise Open311Error(400, f"service_request_id must be numeric ids separated by commas, got {given!r}")
    start, end = _datetime("start_date", query.get("start_date")), _datetime("end_date", query.get("end_date"))
    end = end or (start + WINDOW if start else datetime.now(UTC))
    start = start or end - WINDOW
    if end <= start or end - start > WINDOW:
        raise Open311Error(400, "start_date must come before end_date and the two may span at most 90 days")
    statuses = tuple(s.strip() for s in query.get("status", "").split(",") if s.strip())
    if set(statuses) - {"open", "closed"}:
        raise Open311Error(400, f"status must be open, closed or both, got {query['status']!r}")
    size = _count("page_size", query.get("page_size"), MAX_RESULTS, MAX_RESULTS)
    page = _count("page", query.get("page"), 1, 10**6)
    where = RequestFilter(
        ids=tuple(map(int, ids)),
        codes=tuple(c.strip() for c in query.get("service_code", "").split(",") if c.strip()),
        start=start,
        end=end,
        statuses=statuses,
        limit=size,
        offset=(page - 1) * size,
    )
    async with scoped_connection(request) as conn:
        found = await service_requests(conn, where, zone, _media_base(request))
    return render(found, format_, "service_requests")


@router.get("/requests/{service_request_id}.{fmt}", response_model=None, responses=answers(list[ServiceRequest]))
async def get_request(request: Request, service_request_id: str, fmt: Suffix, zone: ZoneDep) -> Response:
    """One request, as a one-element list (the spec's shape)."""
    format_ = _fmt(fmt)
    if not service_request_id.isdigit() or len(service_request_id) > 18:
        raise Open311Error(404, f"service_request_id {service_request_id!r} not found")
    async with scoped_connection(request) as conn:
        found = await service_requests(conn, RequestFilter(ids=(int(service_request_id),)), zone, _media_base(request))
    if not found:
        raise Open311Error(404, f"service_request_id {service_request_id!r} not found")
    return render(found, format_, "service_requests")


@router.get("/tokens/{token}.{fmt}", response_model=None, responses=answers(list[FiledRequest]))
async def get_token(request: Request, token: str, fmt: Suffix) -> Response:
    """The service request id a token stands for."""
    format_ = _fmt(fmt)
    try:
        key = uuid.UUID(token)
    except ValueError:
        raise Open311Error(404, f"token {token!r} not found") from None
    async with scoped_connection(request) as conn:
        row = await (await conn.execute("SELECT id FROM report WHERE token = %s", (key,))).fetchone()
    if row is None:
        raise Open311Error(404, f"token {token!r} not found")
    return render([{"service_request_id": str(row[0]), "token": token}], format_, "service_requests")
