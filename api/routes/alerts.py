"""CAP 1.2 alerts of incidents: composed, approved by another hand, published, updated and cancelled; each
published alert at its own XML URL and the active ones in an Atom feed.

Composing, updating, cancelling and publishing need ``incidents:command`` inside the incident; approving
needs ``alerts:approve`` and another hand than the author's. A published alert is for the public, like
Open311's public views: its XML and the feed need no sign-in and show only what was published.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response
from feedgen.feed import FeedGenerator
from pydantic import AwareDatetime, ConfigDict, Field

from api.body import RequestBody
from api.geojson import FastJSONResponse
from api.incident_schemas import Record, Rows
from command.users import User
from incidents.alerts import (
    AlertSpec,
    MsgType,
    Words,
    active,
    approve,
    compose,
    follow_up,
    listed,
    public,
    publish,
    xml_of,
)
from incidents.command import COMMAND
from incidents.lifecycle import read_incident
from web.access import PUBLIC_VIEW, Access
from web.deps import RowId, scoped_connection

router = APIRouter(prefix="/api/v1", tags=["alerts"])
Reader = Annotated[User, Depends(Access("incidents:read"))]
Commander = Annotated[User, Depends(Access(COMMAND))]
Approver = Annotated[User, Depends(Access("alerts:approve"))]
CAP_XML = "application/cap+xml; charset=utf-8"
Identifier = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,120}$", description="the alert's CAP identifier")]
FEED_SIZE = 200
# what XML 1.0 can carry: no control characters but tab and line breaks
XML_TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f]*$"


class WordsIn(RequestBody):
    """What the alert says in one language."""

    model_config = ConfigDict(str_strip_whitespace=True)
    headline: str = Field(min_length=1, max_length=160, pattern=XML_TEXT)
    event: str = Field(min_length=1, max_length=100, pattern=XML_TEXT)
    instruction: str = Field(min_length=1, max_length=2000, pattern=XML_TEXT)
    description: str = Field(default="", max_length=4000, pattern=XML_TEXT)

    def words(self) -> Words:
        """The words as the incidents package takes them."""
        return Words(self.headline, self.event, self.instruction, self.description)


class AlertIn(RequestBody):
    """An alert (or its update): Chinese words, English ones when written, how urgent and certain, what to do,
    until when, and where (the incident's perimeter unless a polygon is given)."""

    zh: WordsIn
    en: WordsIn | None = None
    urgency: Literal["Immediate", "Expected", "Future", "Past", "Unknown"]
    certainty: Literal["Observed", "Likely", "Possible", "Unlikely", "Unknown"]
    response_type: Literal[
        "Shelter", "Evacuate", "Prepare", "Execute", "Avoid", "Monitor", "Assess", "AllClear", "None"
    ] = Field(alias="responseType")
    expires: AwareDatetime
    status: Literal["Actual", "Exercise", "System", "Test"] = "Actual"
    area: dict | None = Field(default=None, description="GeoJSON Polygon or MultiPolygon (lon, lat)")
    area_desc: str | None = Field(default=None, alias="areaDesc", min_length=1, max_length=500, pattern=XML_TEXT)

    def spec(self) -> AlertSpec:
        """The alert as the incidents package takes it."""
        return AlertSpec(
            self.zh.words(),
            self.urgency,
            self.certainty,
            self.response_type,
            self.expires,
            self.en.words() if self.en else None,
            self.status,
            None if self.area is None else json.dumps(self.area),
            self.area_desc,
        )


class CancelIn(RequestBody):
    """Why the alert is cancelled (the CAP note)."""

    note: str = Field(min_length=1, max_length=1000, pattern=XML_TEXT)


class VersionIn(RequestBody):
    """The version the caller saw."""

    version: int = Field(ge=1)


@router.post("/incidents/{incident_id}/alerts", status_code=201, response_class=FastJSONResponse, response_model=Record)
async def post_alert(request: Request, user: Commander, incident_id: RowId, body: AlertIn) -> FastJSONResponse:
    """Compose a draft alert from the incident."""
    async with scoped_connection(request) as conn:
        alert = await compose(conn, user, incident_id, body.spec(), datetime.now(UTC))
    return FastJSONResponse(public(alert), status_code=201)


@router.get("/incidents/{incident_id}/alerts", response_class=FastJSONResponse, response_model=Rows)
async def get_alerts(request: Request, user: Reader, incident_id: RowId) -> FastJSONResponse:
    """The incident's alerts, drafts included, oldest first."""
    async with scoped_connection(request) as conn:
        await read_incident(conn, incident_id)
        return FastJSONResponse({"alerts": [public(a) for a in await listed(conn, incident_id)]})


@router.post("/alerts/{alert_id}/update", status_code=201, response_class=FastJSONResponse, response_model=Record)
async def post_update(request: Request, user: Commander, alert_id: RowId, body: AlertIn) -> FastJSONResponse:
    """Compose an Update of a published alert (it refers to it; one update or cancel at a time)."""
    async with scoped_connection(request) as conn:
        alert = await follow_up(conn, user, alert_id, MsgType.UPDATE, body.spec(), "", datetime.now(UTC))
    return FastJSONResponse(public(alert), status_code=201)


@router.post("/alerts/{alert_id}/cancel", status_code=201, response_class=FastJSONResponse, response_model=Record)
async def post_cancel(request: Request, user: Commander, alert_id: RowId, body: CancelIn) -> FastJSONResponse:
    """Compose the Cancel of a published alert (409 when there is no published alert to cancel)."""
    async with scoped_connection(request) as conn:
        alert = await follow_up(conn, user, alert_id, MsgType.CANCEL, None, body.note, datetime.now(UTC))
    return FastJSONResponse(public(alert), status_code=201)


@router.post("/alerts/{alert_id}/approve", response_class=FastJSONResponse, response_model=Record)
async def post_approve(request: Request, user: Approver, alert_id: RowId, body: VersionIn) -> FastJSONResponse:
    """Approve an alert someone else composed."""
    async with scoped_connection(request) as conn:
        return FastJSONResponse(public(await approve(conn, user, alert_id, body.version)))


@router.post("/alerts/{alert_id}/publish", response_class=FastJSONResponse, response_model=Record)
async def post_publish(request: Request, user: Commander, alert_id: RowId) -> FastJSONResponse:
    """Publish an approved alert (valid CAP 1.2 or 422 saying why); publishing again answers the same alert."""
    async with scoped_connection(request) as conn:
        return FastJSONResponse(public(await publish(conn, user, alert_id)))


@router.get("/alerts/{identifier}.xml", response_class=Response, dependencies=[Depends(PUBLIC_VIEW)])
async def get_alert_xml(request: Request, identifier: Identifier) -> Response:
    """A published alert's CAP 1.2 XML, exactly as it was sent."""
    async with scoped_connection(request) as conn:
        return Response(await xml_of(conn, identifier), media_type=CAP_XML)


@router.get("/alerts.atom", response_class=Response, dependencies=[Depends(PUBLIC_VIEW)])
async def get_feed(request: Request) -> Response:
    """The alerts in force (published, not expired, not updated or cancelled since) as an Atom feed."""
    async with scoped_connection(request) as conn:
        alerts = await active(conn, FEED_SIZE)
    base = str(request.base_url).rstrip("/")
    feed = FeedGenerator()
    feed.id(f"{base}/api/v1/alerts.atom")
    feed.title("南京市突发事件预警信息 Nanjing emergency alerts")
    feed.author({"name": "南京市城市运行管理中心"})
    feed.link(href=f"{base}/api/v1/alerts.atom", rel="self", type="application/atom+xml")
    feed.language("zh-CN")
    feed.updated(alerts[0]["sent"] if alerts else datetime.now(UTC))
    for alert in reversed(alerts):  # feedgen puts each new entry first
        words = alert["content"]["info"][0]
        url = f"{base}/api/v1/alerts/{alert['identifier']}.xml"
        entry = feed.add_entry()
        entry.id(url)
        entry.title(words["headline"])
        entry.updated(alert["sent"])
        entry.published(alert["sent"])
        entry.summary(words["instruction"])
        entry.link(href=url, rel="alternate", type="application/cap+xml")
    return Response(feed.atom_str(pretty=True), media_type="application/atom+xml; charset=utf-8")
