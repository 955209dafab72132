"""The board's forms for situation reports and CAP alerts (issue 21 points 6-8): each posts here, runs the
incidents package's own step (draft, edit, approve, issue; compose, approve, publish, update, cancel) in the
caller's scope and answers the board again — or, refused, the refusal in words (see ``acted``).

Times typed in the forms are Beijing time (datetime-local inputs carry no offset); the package checks the
rest: another hand approves, a stale edit is refused, a Cancel needs a published original.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse

from command.users import User
from incidents import alerts, sitreps
from incidents.alerts import AlertSpec, MsgType, Words
from incidents.command import COMMAND
from incidents.sitreps import Figures, SitrepKind, SitrepSpec
from map_ui.incident_board import IncidentId, acted
from map_ui.incident_report_panels import BEIJING, LOCAL_MINUTE
from map_ui.pages import PageAccess
from spatial.errors import InvalidInputError
from web.access import PUBLIC

router = APIRouter(dependencies=[Depends(PUBLIC)], include_in_schema=False)
Commander = Annotated[User, Depends(PageAccess(COMMAND))]
SitrepApprover = Annotated[User, Depends(PageAccess("sitreps:approve"))]
AlertApprover = Annotated[User, Depends(PageAccess("alerts:approve"))]
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Version = Annotated[int, Form(ge=1)]
Count = Annotated[int, Form(ge=0, le=100_000_000)]
XML_TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f]*$"  # what XML 1.0 carries: no control characters but tab and breaks
Text = Annotated[str, Form(max_length=4000, pattern=XML_TEXT)]


def beijing_time(value: str, field: str) -> datetime:
    """A datetime-local value (Beijing time, no offset) as an aware moment."""
    try:
        moment = datetime.strptime(value.strip()[:16], LOCAL_MINUTE)
    except ValueError:
        raise InvalidInputError(f"{field} {value!r} is not a time like 2026-12-03T09:30") from None
    return moment.replace(tzinfo=BEIJING)


def sitrep_spec(
    kind: SitrepKind, body: str, figures_at: str, affected: int, evacuated: int, injured: int, dead: int, damage: int
) -> SitrepSpec:
    """A report as the package takes it, from the form's fields."""
    figures = Figures(affected, evacuated, injured, dead, damage)
    return SitrepSpec(kind, body, figures, beijing_time(figures_at, "figures_at"))


class SitrepForm:
    """The draft form's fields (the same for a new draft and an edit)."""

    def __init__(
        self,
        kind: Annotated[SitrepKind, Form()],
        body: Annotated[str, Form(min_length=1, max_length=20000)],
        figures_at: Annotated[str, Form(max_length=32)],
        affected: Count = 0,
        evacuated: Count = 0,
        injured: Count = 0,
        dead: Count = 0,
        damage_cny: Annotated[int, Form(ge=0, le=10**13)] = 0,
    ) -> None:
        self.fields = (kind, body, figures_at, affected, evacuated, injured, dead, damage_cny)

    def spec(self) -> SitrepSpec:
        """The report the form says."""
        return sitrep_spec(*self.fields)


class AlertForm:
    """The compose (and update) form's fields: Chinese words, English ones when written, CAP's choices, expiry."""

    def __init__(
        self,
        headline: Annotated[str, Form(min_length=1, max_length=160, pattern=XML_TEXT)],
        event: Annotated[str, Form(min_length=1, max_length=100, pattern=XML_TEXT)],
        instruction: Annotated[str, Form(min_length=1, max_length=2000, pattern=XML_TEXT)],
        urgency: Annotated[str, Form(pattern="^(Immediate|Expected|Future|Past|Unknown)$")],
        certainty: Annotated[str, Form(pattern="^(Observed|Likely|Possible|Unlikely|Unknown)$")],
        response_type: Annotated[
            str, Form(pattern="^(Shelter|Evacuate|Prepare|Execute|Avoid|Monitor|Assess|AllClear|None)$")
        ],
        expires: Annotated[str, Form(max_length=32)],
        description: Text = "",
        en_headline: Annotated[str, Form(max_length=160, pattern=XML_TEXT)] = "",
        en_event: Annotated[str, Form(max_length=100, pattern=XML_TEXT)] = "",
        en_instruction: Annotated[str, Form(max_length=2000, pattern=XML_TEXT)] = "",
        en_description: Text = "",
    ) -> None:
        zh = Words(headline.strip(), event.strip(), instruction.strip(), description.strip())
        english = (en_headline.strip(), en_event.strip(), en_instruction.strip())
        if any(english) and not all(english):
            raise InvalidInputError("English words need a headline, an event and an instruction, or none of them")
        en = Words(*english, en_description.strip()) if all(english) else None
        self.spec = AlertSpec(zh, urgency, certainty, response_type, beijing_time(expires, "expires"), en)


@router.post("/incidents/{incident_id}/sitreps", response_class=HTMLResponse)
async def draft_from_form(
    request: Request, user: Commander, incident_id: IncidentId, form: Annotated[SitrepForm, Depends()]
) -> HTMLResponse:
    """Draft a situation report from the board."""
    spec = form.spec()
    return await acted(request, user, incident_id, lambda c: sitreps.draft(c, user, incident_id, spec, _now()))


@router.post("/incidents/{incident_id}/sitreps/{sitrep_id}", response_class=HTMLResponse)
async def edit_from_form(
    request: Request,
    user: Commander,
    incident_id: IncidentId,
    sitrep_id: RowId,
    version: Version,
    form: Annotated[SitrepForm, Depends()],
) -> HTMLResponse:
    """Change a draft on the version the editor saw (stale: the board as it stands, said so)."""
    spec = form.spec()
    return await acted(request, user, incident_id, lambda c: sitreps.edit(c, user, sitrep_id, version, spec, _now()))


@router.post("/incidents/{incident_id}/sitreps/{sitrep_id}/approve", response_class=HTMLResponse)
async def approve_sitrep_from_form(
    request: Request, user: SitrepApprover, incident_id: IncidentId, sitrep_id: RowId, version: Version
) -> HTMLResponse:
    """Approve another commander's draft."""
    return await acted(request, user, incident_id, lambda c: sitreps.approve(c, user, sitrep_id, version))


@router.post("/incidents/{incident_id}/sitreps/{sitrep_id}/issue", response_class=HTMLResponse)
async def issue_from_form(
    request: Request, user: Commander, incident_id: IncidentId, sitrep_id: RowId, version: Version
) -> HTMLResponse:
    """Issue an approved report (it takes the next number)."""
    return await acted(request, user, incident_id, lambda c: sitreps.issue(c, user, sitrep_id, version))


@router.post("/incidents/{incident_id}/alerts", response_class=HTMLResponse)
async def compose_from_form(
    request: Request, user: Commander, incident_id: IncidentId, form: Annotated[AlertForm, Depends()]
) -> HTMLResponse:
    """Compose a draft alert over the incident's perimeter."""
    return await acted(request, user, incident_id, lambda c: alerts.compose(c, user, incident_id, form.spec, _now()))


@router.post("/incidents/{incident_id}/alerts/{alert_id}/approve", response_class=HTMLResponse)
async def approve_alert_from_form(
    request: Request, user: AlertApprover, incident_id: IncidentId, alert_id: RowId, version: Version
) -> HTMLResponse:
    """Approve another commander's alert."""
    return await acted(request, user, incident_id, lambda c: alerts.approve(c, user, alert_id, version))


@router.post("/incidents/{incident_id}/alerts/{alert_id}/publish", response_class=HTMLResponse)
async def publish_from_form(
    request: Request, user: Commander, incident_id: IncidentId, alert_id: RowId
) -> HTMLResponse:
    """Publish an approved alert (once)."""
    return await acted(request, user, incident_id, lambda c: alerts.publish(c, user, alert_id))


@router.post("/incidents/{incident_id}/alerts/{alert_id}/update", response_class=HTMLResponse)
async def update_from_form(
    request: Request, user: Commander, incident_id: IncidentId, alert_id: RowId, form: Annotated[AlertForm, Depends()]
) -> HTMLResponse:
    """Compose an Update of a published alert."""
    spec = form.spec
    return await acted(
        request, user, incident_id, lambda c: alerts.follow_up(c, user, alert_id, MsgType.UPDATE, spec, "", _now())
    )


@router.post("/incidents/{incident_id}/alerts/{alert_id}/cancel", response_class=HTMLResponse)
async def cancel_from_form(
    request: Request,
    user: Commander,
    incident_id: IncidentId,
    alert_id: RowId,
    note: Annotated[str, Form(min_length=1, max_length=1000, pattern=XML_TEXT)],
) -> HTMLResponse:
    """Compose the Cancel of a published alert (the note says why)."""
    return await acted(
        request, user, incident_id, lambda c: alerts.follow_up(c, user, alert_id, MsgType.CANCEL, None, note, _now())
    )


def _now() -> datetime:
    return datetime.now(UTC)
