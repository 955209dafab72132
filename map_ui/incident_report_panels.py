"""What the board's situation-report and alert panels show (issue 21 points 6-8): each loader reads, in the
caller's scope, the incident's reports or alerts and what the caller may do with them.

Kept apart from the forms (``incident_reports_board``) so the board can list these loaders without importing
the routes that answer the board.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from command.users import User
from incidents.alerts import AlertState, MsgType
from incidents.alerts import listed as listed_alerts
from incidents.sitreps import Figures, SitrepKind, due
from incidents.sitreps import listed as listed_sitreps

BEIJING = ZoneInfo("Asia/Shanghai")
LOCAL_MINUTE = "%Y-%m-%dT%H:%M"  # what <input type="datetime-local"> shows and sends, in Beijing time
FIGURES = tuple(Figures.__dataclass_fields__)
URGENCY = ("Immediate", "Expected", "Future", "Past", "Unknown")
CERTAINTY = ("Observed", "Likely", "Possible", "Unlikely", "Unknown")
RESPONSE = ("Shelter", "Evacuate", "Prepare", "Execute", "Avoid", "Monitor", "Assess", "AllClear", "None")
ALERT_LIFE = timedelta(hours=24)  # a new alert's default expiry


def local_minute(at: datetime) -> str:
    """A moment as a datetime-local input's value, in Beijing time."""
    return at.astimezone(BEIJING).strftime(LOCAL_MINUTE)


async def sitrep_panel(conn: psycopg.AsyncConnection, incident: dict[str, Any], user: User) -> dict[str, Any]:
    """The reports, when the next is due (and how late), and what this user may do to them."""
    now = datetime.now(BEIJING)
    return {
        "sitreps": await listed_sitreps(conn, incident["id"]),
        "due": await due(conn, incident["id"]),
        "kinds": list(SitrepKind),
        "figure_names": FIGURES,
        "now": local_minute(now),
        "approver": user.may("sitreps:approve"),
        "username": user.username,
    }


async def alert_panel(conn: psycopg.AsyncConnection, incident: dict[str, Any], user: User) -> dict[str, Any]:
    """The alerts (published ones with their follow-ups), the CAP choices, and what this user may do."""
    alerts = await listed_alerts(conn, incident["id"])
    followed = {a["references_id"] for a in alerts if a["references_id"] is not None}
    for alert in alerts:
        alert["words"] = {info["language"]: info for info in alert["content"]["info"]}
        alert["expires_local"] = local_minute(alert["expires"])
        alert["open"] = (
            alert["state"] == AlertState.PUBLISHED
            and alert["msg_type"] != MsgType.CANCEL
            and alert["id"] not in followed
        )
    return {
        "alerts": alerts,
        "urgency": URGENCY,
        "certainty": CERTAINTY,
        "response": RESPONSE,
        "expires": local_minute(datetime.now(BEIJING) + ALERT_LIFE),
        "approver": user.may("alerts:approve"),
        "username": user.username,
    }
