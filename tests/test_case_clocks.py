"""Deadline arithmetic of the loop's moves (no database): filing before a holiday week, parking
across it, extensions, urgent hours, and moves that must leave the clocks alone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from command.case_clocks import Clocks, StageLimits, advance
from command.working_time import LimitKind, TimeLimit, WorkingCalendar

CN = ZoneInfo("Asia/Shanghai")
CALENDAR = WorkingCalendar.china()
STAGES = StageLimits(
    {
        "filed": TimeLimit(1, LimitKind.WORKING_HOURS),
        "dispatched": TimeLimit(2, LimitKind.WORKING_HOURS),
        "handling": None,
        "parked": TimeLimit(5, LimitKind.WORKING_DAYS),
        "checking": TimeLimit(4, LimitKind.WORKING_HOURS),
    }
)
TWO_DAYS = TimeLimit(2, LimitKind.WORKING_DAYS)
START = datetime(2026, 2, 1, tzinfo=CN)


def at(day: int, hour: int, minute: int = 0, month: int = 2) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=CN)


def clocks(deadline: datetime, **values: object) -> Clocks:
    base = {
        "filed_at": START,
        "deadline": deadline,
        "due_at": deadline,
        "review_at": None,
        "parked_remaining_s": None,
        "dispatched_at": None,
    }
    return Clocks(**{**base, **values})  # type: ignore[arg-type]


def move(
    before: Clocks,
    action: str,
    from_state: str,
    to_state: str,
    now: datetime,
    limit: TimeLimit = TWO_DAYS,
    extend_by: float | None = None,
) -> Clocks:
    return advance(
        before,
        action,
        from_state,
        to_state,
        now,
        category_limit=limit,
        stages=STAGES,
        calendar=CALENDAR,
        extend_by=extend_by,
    )


def test_filed_friday_1759_before_the_spring_festival_week() -> None:
    """After hours on Friday 13 Feb 2026: Saturday the 14th is a make-up workday, 15–23 are off."""
    filed = move(clocks(START), "file", "accepted", "filed", at(13, 17, 59))
    assert filed.filed_at == at(13, 17, 59)
    assert filed.deadline == at(24, 17, 30)  # 7 h on the make-up Saturday, 7 h on Tuesday the 24th
    assert filed.due_at == at(14, 10)  # dispatch within 1 working hour: Saturday 09:00–10:00


def test_parking_across_the_holiday_week_keeps_the_working_time_left() -> None:
    handling = clocks(at(14, 11))
    parked = move(handling, "approve_parking", "parking_requested", "parked", at(13, 16, 30))
    assert parked.parked_remaining_s == 3 * 3600  # Friday 16:30–17:30 and Saturday 09:00–11:00
    assert parked.due_at is None and parked.review_at == at(27, 16, 30)  # 5 workdays: 14th, 24th–27th
    resumed = move(parked, "resume", "parked", "handling", at(24, 9))
    assert resumed.deadline == at(24, 12) and resumed.due_at == at(24, 12) and resumed.parked_remaining_s is None


def test_parking_an_overdue_case_leaves_nothing_to_lay_out() -> None:
    parked = move(clocks(at(13, 10)), "approve_parking", "parking_requested", "parked", at(13, 15))
    assert parked.parked_remaining_s == 0
    assert move(parked, "resume", "parked", "handling", at(24, 9)).deadline == at(24, 9)


def test_urgent_hours_run_on_the_wall_clock_through_holidays() -> None:
    urgent = TimeLimit(2, LimitKind.URGENT_HOURS)
    filed = move(clocks(START), "file", "accepted", "filed", at(16, 23, 30), urgent)
    assert filed.deadline == at(17, 1, 30)
    parked = move(clocks(at(17, 1, 30)), "approve_parking", "parking_requested", "parked", at(17, 1), urgent)
    assert parked.parked_remaining_s == 1800
    assert move(parked, "resume", "parked", "handling", at(18, 8), urgent).deadline == at(18, 8, 30)


@pytest.mark.parametrize(("asked", "expected"), [(None, at(26, 17, 30)), (0.5, at(25, 14))])
def test_an_approved_extension_moves_the_deadline_by_what_was_asked(asked: float | None, expected: datetime) -> None:
    extended = move(
        clocks(at(24, 17, 30)), "approve_extension", "extension_requested", "handling", at(24, 10), extend_by=asked
    )
    assert extended.deadline == expected and extended.due_at == expected  # default: one more category limit


def test_an_extension_of_an_overdue_case_counts_from_now() -> None:
    extended = move(
        clocks(at(24, 9, 30)), "approve_extension", "extension_requested", "handling", at(24, 13, 30), extend_by=0.5
    )
    assert extended.deadline == at(24, 17)  # half a working day (3.5 h) from Tuesday 13:30


def test_moves_to_the_same_state_and_final_states() -> None:
    before = clocks(at(24, 17, 30), due_at=at(24, 11))
    assert move(before, "supervise", "dispatched", "dispatched", at(24, 10)) == before
    closed = move(before, "close", "checking", "closed", at(24, 10))
    assert closed.due_at is None and closed.deadline == before.deadline
    checking = move(before, "feedback", "handling", "checking", at(24, 10))
    assert checking.due_at == at(24, 15, 30)  # 4 working hours: 10–12 and 13:30–15:30


def test_reopening_restarts_the_handling_clock() -> None:
    reopened = move(clocks(at(24, 17, 30)), "reopen", "closed", "filed", at(27, 9, 0, month=2))
    assert reopened.filed_at == at(27, 9) and reopened.deadline == at(28, 17, 30)  # Saturday the 28th is worked
