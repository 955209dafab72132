"""A force answers its assignment: accept (en route), arrive (on scene), complete, or unable with a reason.

The people behind a force (its users, ``app_user.force_id``: one person or a crew) answer for it;
a dispatcher may answer on its behalf (a radio call), as before. Each answer locks the assignment
row, so of two answers at once one wins and the other finds the assignment moved on (409 saying
where it stands) — never a lost update. The answers a stage allows are data here (``NEXT``) and
are returned with every assignment, so a page offers exactly those.

The accept deadline is enforced here too, not only by the sweeper: an accept arriving after it
releases the assignment and re-offers the case in its own transaction (what the sweeper would
have done a few seconds later), commits that, and answers 409 naming the force it was offered
to. "Unable" releases the assignment with the reason and re-offers the case the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row

from forces.dispatch import CHANGES, assignment_view, end_assignment, plain, stage_of
from forces.settings import ForceSettings
from forces.vocabulary import AssignmentStage
from spatial.audit import record_async
from spatial.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from spatial.privacy import mask_contact

ANSWERS = ("accept", "arrive", "complete", "unable")
NEXT: dict[AssignmentStage, tuple[str, ...]] = {
    AssignmentStage.OFFERED: ("accept", "unable"),
    AssignmentStage.EN_ROUTE: ("arrive", "unable"),
    AssignmentStage.ON_SCENE: ("complete", "unable"),
    AssignmentStage.RELEASED: (),
}
MAX_REASON = 500
RECENT = timedelta(hours=12)  # released assignments a force still sees in its list
READ = """
SELECT a.case_id, a.force_id, a.accept_by < now(), a.accepted_at, a.arrived_at, a.released_at, a.release_reason
FROM assignment a WHERE a.id = %s
"""
FORCE_CODE = "SELECT code, name FROM cityops_force_cards(ARRAY[%s::bigint])"
RELEASE = "SELECT case_id, force_id FROM cityops_release_assignment(%s, %s, %s, %s)"
REOFFER = "SELECT next_id, next_force_id FROM cityops_reoffer(%s, %s, %s, %s)"
REOFFERED_TO = "SELECT next_id, code, name FROM cityops_reoffered_to(%s)"
MINE = "SELECT * FROM cityops_force_assignments(%s, %s)"
MY_FORCE = "SELECT id, code, name, kind::text AS kind, status::text AS status FROM force WHERE id = %s"


@dataclass(frozen=True)
class Redispatch:
    """How a released case is offered again: to a fresh force on shift now, with a new accept deadline."""

    zone: ZoneInfo
    stale_after: timedelta
    accept_within: timedelta
    enabled: bool

    @classmethod
    def of(cls, settings: ForceSettings, zone: ZoneInfo) -> Redispatch:
        """From the service's dispatch settings (``CITYOPS_REDISPATCH`` …), in the city's zone."""
        return cls(zone, settings.stale_after, settings.accept_within, settings.redispatch)

    def arguments(self) -> tuple[datetime, time, timedelta]:
        """``fresh_since``, ``local_time``, ``accept_within`` as the database functions take them."""
        now = datetime.now(self.zone)
        return now - self.stale_after, now.time(), self.accept_within


@dataclass(frozen=True)
class Locked:
    """An assignment row as locked for an answer."""

    id: int
    case_id: int
    force_id: int
    overdue: bool
    accepted_at: datetime | None
    arrived_at: datetime | None
    released_at: datetime | None
    release_reason: str | None

    @property
    def stage(self) -> AssignmentStage:
        """offered → en_route → on_scene, or released."""
        return stage_of(self.accepted_at, self.arrived_at, self.released_at)


@dataclass(frozen=True)
class Outcome:
    """What releasing an assignment led to: the case offered to ``next_force`` (assignment ``next_id``), or not."""

    case_id: int
    force_id: int
    next_id: int | None = None
    next_force: int | None = None


async def _read(conn: psycopg.AsyncConnection, assignment_id: int, lock: str = " FOR UPDATE") -> Locked:
    row = await (await conn.execute(READ + lock, (assignment_id,))).fetchone()
    if row is None:
        raise NotFoundError(f"no assignment {assignment_id}")
    return Locked(assignment_id, *row)


async def force_label(conn: psycopg.AsyncConnection, force_id: int) -> str:
    """A force as a person names it: code and name (any force: the commander may know whom it was offered to)."""
    row = await (await conn.execute(FORCE_CODE, (force_id,))).fetchone()
    return f"force {force_id}" if row is None else f"force {row[0]} ({row[1]})"


async def _released(conn: psycopg.AsyncConnection, row: Locked) -> ConflictError:
    """Why an answer to a released assignment comes too late, naming the force the case went to."""
    if row.release_reason != "accept_timeout":
        return ConflictError(
            f"assignment {row.id} was released at {row.released_at.isoformat()} "  # type: ignore[union-attr]
            f"({row.release_reason}): there is nothing left to answer"
        )
    after = await (await conn.execute(REOFFERED_TO, (row.id,))).fetchone()
    if after is None:
        return ConflictError(
            f"assignment {row.id} was not accepted in time and was released; no other force of "
            "the unit was free, so the commander decides who goes"
        )
    return ConflictError(
        f"assignment {row.id} was not accepted in time: the case was re-offered to force "
        f"{after[1]} ({after[2]}) as assignment {after[0]}"
    )


async def release_and_reoffer(
    conn: psycopg.AsyncConnection, assignment_id: int, reason: str, note: str, actor: str, redispatch: Redispatch
) -> Outcome:
    """Release (timed out, unable) and, when configured, offer the case to the next candidate; audited, announced."""
    case_id, force_id = await (await conn.execute(RELEASE, (assignment_id, reason, note, actor))).fetchone()  # type: ignore[misc]
    outcome = Outcome(case_id, force_id)
    if redispatch.enabled:
        nxt = await (await conn.execute(REOFFER, (assignment_id, *redispatch.arguments()))).fetchone()
        outcome = Outcome(case_id, force_id, *nxt)  # type: ignore[misc]
    await announce_release(conn, assignment_id, reason, actor, outcome)
    return outcome


async def announce_release(
    conn: psycopg.AsyncConnection, assignment_id: int, reason: str, actor: str, outcome: Outcome
) -> None:
    """Audit a release that may have re-offered the case, and tell the change feed (at commit)."""
    action = "forces.accept_timeout" if reason == "accept_timeout" else f"forces.{reason}"
    await record_async(
        conn,
        actor,
        action,
        f"assignment:{assignment_id}",
        case=outcome.case_id,
        force=outcome.force_id,
        next_force=outcome.next_force,
        next=outcome.next_id,
    )
    await conn.execute("SELECT pg_notify(%s, %s)", (CHANGES, f"{reason}:{outcome.case_id}"))


async def _accept(conn: psycopg.AsyncConnection, row: Locked, actor: str) -> None:
    await conn.execute("UPDATE assignment SET accepted_at = now(), changed_by = %s WHERE id = %s", (actor, row.id))
    await conn.execute("SELECT cityops_force_en_route(%s)", (row.id,))
    await record_async(conn, actor, "forces.accepted", f"assignment:{row.id}", case=row.case_id, force=row.force_id)
    await conn.execute("SELECT pg_notify(%s, %s)", (CHANGES, f"accepted:{row.case_id}"))


async def _arrive(conn: psycopg.AsyncConnection, row: Locked, actor: str) -> None:
    await conn.execute("UPDATE assignment SET arrived_at = now(), changed_by = %s WHERE id = %s", (actor, row.id))
    await conn.execute("SELECT cityops_force_on_scene(%s)", (row.id,))
    await record_async(conn, actor, "forces.on_scene", f"assignment:{row.id}", case=row.case_id, force=row.force_id)
    await conn.execute("SELECT pg_notify(%s, %s)", (CHANGES, f"on_scene:{row.case_id}"))


def _checked_reason(answer: str, reason: str) -> str:
    if answer not in ANSWERS:
        raise InvalidInputError(f"answer must be one of {', '.join(ANSWERS)}, not {answer!r}")
    reason = reason.strip()
    if answer == "unable" and not reason:
        raise InvalidInputError("unable needs a reason: say what keeps the force from going (road closed, …)")
    if len(reason) > MAX_REASON:
        raise InvalidInputError(f"reason: at most {MAX_REASON} characters")
    return reason


async def answer(
    conn: psycopg.AsyncConnection,
    assignment_id: int,
    given: str,
    reason: str,
    actor: str,
    redispatch: Redispatch,
    answering_for: int | None,
) -> dict[str, Any]:
    """Apply one answer for the force ``answering_for`` (None: a dispatcher, any assignment in their scope)."""
    reason = _checked_reason(given, reason)
    late = False
    async with conn.transaction():
        row = await _read(conn, assignment_id)
        if answering_for is not None and row.force_id != answering_for:
            raise ForbiddenError(
                f"assignment {assignment_id} is for {await force_label(conn, row.force_id)}; you "
                f"answer for {await force_label(conn, answering_for)} only"
            )
        if row.stage == AssignmentStage.RELEASED:
            raise await _released(conn, row)
        if given not in NEXT[row.stage]:
            raise ConflictError(
                f"assignment {assignment_id} is {row.stage} now: it can be answered with "
                f"{' or '.join(NEXT[row.stage])}, not {given}"
            )
        if given == "accept" and row.overdue:  # the sweeper has not come round yet: do its work, then refuse
            await release_and_reoffer(conn, assignment_id, "accept_timeout", "", "system:dispatch", redispatch)
            late = True
        elif given == "accept":
            await _accept(conn, row, actor)
        elif given == "arrive":
            await _arrive(conn, row, actor)
        elif given == "complete":
            await end_assignment(conn, assignment_id, "completed", actor)
        else:
            await release_and_reoffer(conn, assignment_id, "unable", reason, actor, redispatch)
    if late:  # committed: the re-offer stands whatever the caller does next
        raise await _released(conn, await _read(conn, assignment_id, lock=""))
    return with_answers(await assignment_view(conn, assignment_id))


def with_answers(view: dict[str, Any]) -> dict[str, Any]:
    """An assignment with the answers its stage allows next."""
    return {**view, "answers": list(NEXT[view["stage"]])}


async def my_assignments(conn: psycopg.AsyncConnection, force_id: int) -> dict[str, Any]:
    """The force's active assignments, then those released lately, each with its case's summary (reporter masked)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        force = await (await cur.execute(MY_FORCE, (force_id,))).fetchone()
        if force is None:
            raise NotFoundError(f"force {force_id}, which your user answers for, is not in your unit")
        rows = await (await cur.execute(MINE, (force_id, RECENT))).fetchall()
    items = []
    for row in rows:
        stage = stage_of(row["accepted_at"], row["arrived_at"], row["released_at"])
        items.append(
            {**plain(row), "reporter": mask_contact(row["reporter"]), "stage": stage, "answers": list(NEXT[stage])}
        )
    return {"force": force, "items": items}
