"""Deadline arithmetic on the working calendar: weekends, holidays, make-up workdays, kinds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from command.working_time import CHINA, LimitKind, TimeLimit, WorkingCalendar
from spatial.errors import InvalidInputError

CAL = WorkingCalendar.china()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=CHINA)


@pytest.mark.parametrize(("start", "limit", "due"), [
    # Friday afternoon + 2 working hours: 1 h on Friday, 1 h on Monday
    ("2026-11-27 16:30", TimeLimit(2, LimitKind.WORKING_HOURS), "2026-11-30 10:00"),
    # over the lunch break: 11:30 + 1 h = 30 min before, 30 min after
    ("2026-11-26 11:30", TimeLimit(1, LimitKind.WORKING_HOURS), "2026-11-26 14:00"),
    # filed on a Saturday night: the clock starts on Monday morning (3 h, lunch, 1 h)
    ("2026-11-28 23:00", TimeLimit(4, LimitKind.WORKING_HOURS), "2026-11-30 14:30"),
    # one working day from Friday 10:00 is Monday 10:00
    ("2026-11-27 10:00", TimeLimit(1, LimitKind.WORKING_DAYS), "2026-11-30 10:00"),
    # 15 working days (违法搭建) from a Monday morning: the end of the 15th workday
    ("2026-11-02 09:00", TimeLimit(15, LimitKind.WORKING_DAYS), "2026-11-20 17:30"),
    # Spring Festival 2025: Monday 27 January 17:00 + 1 h resumes on Wednesday 5 February
    ("2025-01-27 17:00", TimeLimit(1, LimitKind.WORKING_HOURS), "2025-02-05 09:30"),
    # Sunday 26 January 2025 is a make-up workday (调休)
    ("2025-01-25 10:00", TimeLimit(1, LimitKind.WORKING_HOURS), "2025-01-26 10:00"),
    # National Day 2026: 30 September + 1 working day lands on Thursday 8 October
    ("2026-09-30 10:00", TimeLimit(1, LimitKind.WORKING_DAYS), "2026-10-08 10:00"),
    # Saturday 10 October 2026 is worked
    ("2026-10-09 17:00", TimeLimit(1, LimitKind.WORKING_HOURS), "2026-10-10 09:30"),
    # urgent hours and calendar days ignore the calendar
    ("2026-02-16 03:00", TimeLimit(2, LimitKind.URGENT_HOURS), "2026-02-16 05:00"),
    ("2026-02-14 12:00", TimeLimit(3, LimitKind.CALENDAR_DAYS), "2026-02-17 12:00"),
])  # fmt: skip
def test_deadlines(start: str, limit: TimeLimit, due: str) -> None:
    assert CAL.deadline(at(start), limit) == at(due)


def test_workdays_follow_the_holiday_notice() -> None:
    assert not CAL.is_workday(at("2026-02-17").date())  # 春节
    assert CAL.is_workday(at("2026-02-14").date())  # Saturday, worked
    assert not CAL.is_workday(at("2026-11-28").date())  # an ordinary Saturday
    assert CAL.day_length == timedelta(hours=7)


def test_times_in_other_zones_are_converted() -> None:
    utc = datetime.fromisoformat("2026-11-27T08:30:00+00:00")  # 16:30 in Nanjing
    assert CAL.deadline(utc, TimeLimit(2, LimitKind.WORKING_HOURS)) == at("2026-11-30 10:00")


def test_naive_times_and_bad_limits_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="no time zone"):
        CAL.deadline(datetime(2026, 11, 27, 10), TimeLimit(1, LimitKind.WORKING_HOURS))
    with pytest.raises(InvalidInputError, match="positive"):
        TimeLimit(0, LimitKind.WORKING_DAYS)


@settings(max_examples=200, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2026, 12, 1)),
    minutes=st.integers(min_value=1, max_value=60 * 7 * 30),
)
def test_working_time_between_inverts_add(start: datetime, minutes: int) -> None:
    begin = start.replace(tzinfo=CHINA)
    end = CAL.add_working_time(begin, timedelta(minutes=minutes))
    assert CAL.working_time_between(begin, end) == timedelta(minutes=minutes)
    assert end > begin


LIMITS = [TimeLimit(2, LimitKind.URGENT_HOURS), TimeLimit(4, LimitKind.WORKING_HOURS),
          TimeLimit(0.5, LimitKind.WORKING_HOURS), TimeLimit(3, LimitKind.WORKING_DAYS),
          TimeLimit(15, LimitKind.WORKING_DAYS), TimeLimit(7, LimitKind.CALENDAR_DAYS)]  # fmt: skip


@pytest.mark.parametrize("limit", LIMITS)
def test_vectorised_deadlines_equal_the_one_at_a_time_answer(limit: TimeLimit) -> None:
    rng = np.random.default_rng(5)
    # starts across 2025–2026 (National Day, Spring Festival and their make-up Sundays), some on window edges
    seconds = rng.integers(0, 2 * 365 * 86400, 3000)
    edges = [datetime(2025, 9, 30, 17, 30, tzinfo=CHINA), datetime(2026, 2, 14, 9, 0, tzinfo=CHINA),
             datetime(2025, 10, 11, 12, 0, tzinfo=CHINA)]  # fmt: skip
    starts = [datetime(2025, 1, 1, tzinfo=CHINA) + timedelta(seconds=int(s)) for s in seconds] + edges
    utc = np.array([s.astimezone(UTC).replace(tzinfo=None) for s in starts], dtype="datetime64[us]")
    vectorised = CAL.deadlines(utc, limit)
    one_by_one = [CAL.deadline(s, limit).astimezone(UTC).replace(tzinfo=None) for s in starts]
    assert vectorised.tolist() == one_by_one
