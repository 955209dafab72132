"""Situation reports (续报): drafted, approved by another hand, issued and numbered; when the next is due.

The first report is due ``incident_setting.first_sitrep`` minutes after the incident opened, each next one
``sitrep_every`` minutes after the last issued (a city's rules, as data). A draft is edited on the
version its editor saw, so of two commanders editing at once one wins and the other hears 409, never a
silently lost update. Approval is the other-hand rule of any published figure: the author may not approve
their own report. Issuing numbers the report (1, 2, …) under the incident's row lock.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from command.users import User
from incidents.command import require_inside
from incidents.queries.reports import (
    APPROVE,
    DRAFT,
    DUE,
    EDIT,
    INCIDENT,
    ISSUE,
    ISSUED_KINDS,
    LIST,
    LOCK,
    LOCK_INCIDENT,
    READ,
)
from incidents.timeline import log
from incidents.vocabulary import IncidentState
from spatial.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError, StaleVersionError
from spatial.rows import one


class SitrepKind(StrEnum):
    """首报 the first report, 续报 an update, 终报 the final one (after it, no more are due)."""

    FIRST = "first"
    UPDATE = "update"
    FINAL = "final"


class SitrepState(StrEnum):
    """A report's life: drafted, approved by another hand, issued."""

    DRAFT = "draft"
    APPROVED = "approved"
    ISSUED = "issued"


@dataclass(frozen=True)
class Figures:
    """The counts a report gives, true at ``figures_at``: people affected, evacuated, injured, dead, and the
    direct economic loss in CNY."""

    affected: int = 0
    evacuated: int = 0
    injured: int = 0
    dead: int = 0
    damage_cny: int = 0


@dataclass(frozen=True)
class SitrepSpec:
    """What a draft (or an edit of one) says."""

    kind: SitrepKind
    body: str
    figures: Figures
    figures_at: datetime


def _as_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    (i, incident, seq, kind, state, body, figures, figures_at, author, written, approver, approved, issued, ver) = row
    return {
        "id": i,
        "incident_id": incident,
        "seq": seq,
        "kind": kind,
        "state": state,
        "body": body,
        "figures": figures,
        "figures_at": figures_at.isoformat(),
        "author": author,
        "written_at": written.isoformat(),
        "approved_by": approver,
        "approved_at": approved.isoformat() if approved else None,
        "issued_at": issued.isoformat() if issued else None,
        "version": ver,
    }


def _check_time(spec: SitrepSpec, now: datetime) -> None:
    if spec.figures_at.tzinfo is None:
        raise InvalidInputError("figures_at needs a time zone offset, e.g. 2026-12-03T09:30:00+08:00")
    if spec.figures_at > now:
        raise InvalidInputError(f"figures_at {spec.figures_at.isoformat()} is in the future: give when they were true")


async def _incident(conn: psycopg.AsyncConnection, user: User, incident_id: int, lock: bool) -> str:
    row = await (await conn.execute(LOCK_INCIDENT if lock else INCIDENT, (incident_id,))).fetchone()
    if row is None:
        raise NotFoundError(f"no incident {incident_id} in your jurisdiction")
    _, code, state, units, _ = row
    require_inside(user, list(units), code)
    if state != IncidentState.ACTIVE:
        raise ConflictError(f"incident {code} is closed: its reports are final")
    return str(code)


async def _locked(conn: psycopg.AsyncConnection, sitrep_id: int, version: int | None) -> dict[str, Any]:
    row = await (await conn.execute(LOCK, (sitrep_id,))).fetchone()
    if row is None:
        raise NotFoundError(f"no situation report {sitrep_id} in your jurisdiction")
    report = _as_dict(row)
    if version is not None and version != report["version"]:
        raise StaleVersionError(
            f"situation report {sitrep_id} changed meanwhile (version {report['version']}, you sent {version}): "
            "reload it and apply your change again"
        )
    return report


async def draft(
    conn: psycopg.AsyncConnection, user: User, incident_id: int, spec: SitrepSpec, now: datetime
) -> dict[str, Any]:
    """A new draft report of the incident."""
    _check_time(spec, now)
    async with conn.transaction():
        await _incident(conn, user, incident_id, lock=False)
        params = {
            "incident": incident_id,
            "kind": spec.kind.value,
            "body": spec.body,
            "figures": Jsonb(asdict(spec.figures)),
            "figures_at": spec.figures_at,
            "author": user.username,
        }
        report = _as_dict(one(await (await conn.execute(DRAFT, params)).fetchone()))
        await log(conn, incident_id, "sitrep_drafted", user.username, "", sitrep=report["id"], kind=spec.kind.value)
    return report


async def edit(
    conn: psycopg.AsyncConnection, user: User, sitrep_id: int, version: int, spec: SitrepSpec, now: datetime
) -> dict[str, Any]:
    """Change a draft on the version the editor saw (a stale version is a 409: reload and edit again)."""
    _check_time(spec, now)
    async with conn.transaction():
        report = await _locked(conn, sitrep_id, version)
        await _incident(conn, user, report["incident_id"], lock=False)
        if report["state"] != SitrepState.DRAFT:
            raise ConflictError(f"situation report {sitrep_id} is {report['state']}: only a draft is edited")
        params = {
            "id": sitrep_id,
            "kind": spec.kind.value,
            "body": spec.body,
            "figures": Jsonb(asdict(spec.figures)),
            "figures_at": spec.figures_at,
        }
        edited = _as_dict(one(await (await conn.execute(EDIT, params)).fetchone()))
        await log(conn, report["incident_id"], "sitrep_edited", user.username, "", sitrep=sitrep_id)
    return edited


async def approve(conn: psycopg.AsyncConnection, user: User, sitrep_id: int, version: int) -> dict[str, Any]:
    """Approve a draft: by another hand than its author's."""
    async with conn.transaction():
        report = await _locked(conn, sitrep_id, version)
        await _incident(conn, user, report["incident_id"], lock=False)
        if report["author"] == user.username:
            raise ForbiddenError(f"you wrote situation report {sitrep_id}: another commander approves it")
        if report["state"] != SitrepState.DRAFT:
            raise ConflictError(f"situation report {sitrep_id} is already {report['state']}")
        approved = _as_dict(one(await (await conn.execute(APPROVE, (user.username, sitrep_id))).fetchone()))
        await log(conn, report["incident_id"], "sitrep_approved", user.username, "", sitrep=sitrep_id)
    return approved


async def issue(conn: psycopg.AsyncConnection, user: User, sitrep_id: int, version: int) -> dict[str, Any]:
    """Issue an approved report: it takes the next number; a first report comes first, nothing after the final."""
    async with conn.transaction():
        report = await _locked(conn, sitrep_id, version)
        await _incident(conn, user, report["incident_id"], lock=True)  # numbers are handed out one at a time
        if report["state"] != SitrepState.APPROVED:
            raise ConflictError(f"situation report {sitrep_id} is {report['state']}: it is issued once approved")
        kinds = {r[0] for r in await (await conn.execute(ISSUED_KINDS, (report["incident_id"],))).fetchall()}
        if SitrepKind.FINAL in kinds:
            raise ConflictError("the final report of this incident is issued: no report follows it")
        if (report["kind"] == SitrepKind.FIRST) == (SitrepKind.FIRST in kinds):
            wanted = "an update or the final report" if kinds else "the first report (kind first)"
            raise ConflictError(
                f"situation report {sitrep_id} is kind {report['kind']}; the next issued must be {wanted}"
            )
        issued = _as_dict(one(await (await conn.execute(ISSUE, (sitrep_id,))).fetchone()))
        await log(conn, report["incident_id"], "sitrep_issued", user.username, "", sitrep=sitrep_id, seq=issued["seq"])
    return issued


async def read(conn: psycopg.AsyncConnection, sitrep_id: int) -> dict[str, Any]:
    """One report as the caller may see it, or 404."""
    row = await (await conn.execute(READ, (sitrep_id,))).fetchone()
    if row is None:
        raise NotFoundError(f"no situation report {sitrep_id} in your jurisdiction")
    return _as_dict(row)


async def listed(conn: psycopg.AsyncConnection, incident_id: int) -> list[dict[str, Any]]:
    """The incident's reports: issued in their order, then drafts and approved ones."""
    return [_as_dict(r) for r in await (await conn.execute(LIST, (incident_id,))).fetchall()]


async def due(conn: psycopg.AsyncConnection, incident_id: int) -> dict[str, Any]:
    """When the next report is due and whether it is late (none is due once the final is issued or the
    incident is closed)."""
    row = await (await conn.execute(DUE, (incident_id,))).fetchone()
    if row is None:
        raise NotFoundError(f"no incident {incident_id} in your jurisdiction")
    state, _, last_issued, last_kind, issued, due_at, now = row
    if state != IncidentState.ACTIVE or last_kind == SitrepKind.FINAL:
        return {"issued": issued, "last_issued_at": _iso(last_issued), "next_due_at": None, "late": False}
    late_by = max(0, int((now - due_at).total_seconds() // 60))
    return {
        "issued": issued,
        "last_issued_at": _iso(last_issued),
        "next_due_at": due_at.isoformat(),
        "next_kind": SitrepKind.UPDATE.value if issued else SitrepKind.FIRST.value,
        "late": now > due_at,
        "late_minutes": late_by,
    }


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None
