"""The working calendar that case deadlines run on (GB/T 30428 time limits).

A time limit has a kind: urgent hours and calendar days run around the clock; working hours
count only the working periods of workdays; working days count whole days' worth of working
time (one working day = the length of a working day's periods, so a case filed at 10:00 on a
Friday with one working day is due at 10:00 on the next workday). Workdays are Monday–Friday,
minus public holidays, plus the make-up workdays (调休) of the holiday notices — both data.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from spatial.errors import InvalidInputError

CHINA = ZoneInfo("Asia/Shanghai")
HOLIDAYS_CN = Path(__file__).parent / "holidays_cn.csv"
DEFAULT_PERIODS = ((time(9, 0), time(12, 0)), (time(13, 30), time(17, 30)))


class LimitKind(StrEnum):
    """How a time limit is counted (处置时限类型)."""

    URGENT_HOURS = "urgent_hours"
    WORKING_HOURS = "working_hours"
    WORKING_DAYS = "working_days"
    CALENDAR_DAYS = "calendar_days"


@dataclass(frozen=True)
class TimeLimit:
    """A category's time limit, e.g. 4 working hours or 15 working days."""

    value: float
    kind: LimitKind

    def __post_init__(self) -> None:
        if not self.value > 0:
            raise InvalidInputError(f"a time limit must be positive, got {self.value}")


def load_holidays(path: Path = HOLIDAYS_CN) -> tuple[frozenset[date], frozenset[date]]:
    """(days off, make-up workdays) from a ``date,kind,name`` CSV with # comments."""
    holidays: set[date] = set()
    workdays: set[date] = set()
    with path.open(encoding="utf-8") as handle:
        rows = csv.DictReader(line for line in handle if not line.startswith("#"))
        for row in rows:
            day = date.fromisoformat(row["date"])
            if row["kind"] == "holiday":
                holidays.add(day)
            elif row["kind"] == "workday":
                workdays.add(day)
            else:
                raise InvalidInputError(f"{path.name}: kind must be holiday or workday, not {row['kind']!r}")
    return frozenset(holidays), frozenset(workdays)


@dataclass(frozen=True)
class WorkingCalendar:
    """Workdays and working periods in one time zone."""

    holidays: frozenset[date] = frozenset()
    make_up_workdays: frozenset[date] = frozenset()
    periods: tuple[tuple[time, time], ...] = DEFAULT_PERIODS
    zone: ZoneInfo = field(default=CHINA)

    @classmethod
    def china(cls, path: Path = HOLIDAYS_CN) -> WorkingCalendar:
        """The mainland calendar with the shipped holiday data."""
        holidays, workdays = load_holidays(path)
        return cls(holidays, workdays)

    @property
    def day_length(self) -> timedelta:
        """Working time in one workday."""
        return sum((_span(start, end) for start, end in self.periods), timedelta())

    def is_workday(self, day: date) -> bool:
        """Monday–Friday unless a holiday; weekends only when a make-up workday."""
        if day in self.make_up_workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays

    def _local(self, moment: datetime) -> datetime:
        if moment.tzinfo is None:
            raise InvalidInputError(f"{moment.isoformat()} has no time zone; deadlines need aware times")
        return moment.astimezone(self.zone)

    def _windows_from(self, moment: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working windows (start, end) from ``moment`` on, the first one clipped to it."""
        day = moment.date()
        for _ in range(3 * 366):  # a year without workdays is a broken calendar, not a loop
            if self.is_workday(day):
                for start, end in self.periods:
                    window_start = datetime.combine(day, start, self.zone)
                    window_end = datetime.combine(day, end, self.zone)
                    if window_end > moment:
                        yield max(window_start, moment), window_end
            day += timedelta(days=1)
        raise InvalidInputError("the working calendar has no workday within three years")

    def add_working_time(self, start: datetime, duration: timedelta) -> datetime:
        """The moment when ``duration`` of working time has passed after ``start``."""
        moment = self._local(start)
        remaining = duration
        for window_start, window_end in self._windows_from(moment):
            available = window_end - window_start
            if remaining <= available:
                return window_start + remaining
            remaining -= available
        raise AssertionError("unreachable: _windows_from raises before running out")

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Working time in [start, end) (negative when end is before start)."""
        a, b = self._local(start), self._local(end)
        if b < a:
            return -self.working_time_between(end, start)
        total = timedelta()
        for window_start, window_end in self._windows_from(a):
            if window_start >= b:
                break
            total += min(window_end, b) - window_start
        return total

    def duration(self, limit: TimeLimit) -> timedelta:
        """The limit as a span: of clock time (urgent hours, calendar days) or of working time."""
        if limit.kind is LimitKind.CALENDAR_DAYS:
            return timedelta(days=limit.value)
        if limit.kind is LimitKind.WORKING_DAYS:
            return self.day_length * limit.value
        return timedelta(hours=limit.value)

    def deadlines(self, starts: np.ndarray, limit: TimeLimit) -> np.ndarray:
        """``deadline`` for many start times at once (``datetime64[us]`` UTC in and out).

        Working time becomes a clock: the working windows of the span are laid end to end, a
        start maps to the working time elapsed before it, the limit is added on that clock, and
        the sum maps back to the window it falls in — searchsorted, not a loop per case.
        """
        starts = np.asarray(starts, dtype="datetime64[us]")
        span = np.timedelta64(self.duration(limit), "us")
        if limit.kind in (LimitKind.URGENT_HOURS, LimitKind.CALENDAR_DAYS) or len(starts) == 0:
            return starts + span
        first = starts.min().astype(datetime).replace(tzinfo=UTC).astimezone(self.zone).date()
        last = starts.max().astype(datetime).replace(tzinfo=UTC).astimezone(self.zone).date()
        days = (last - first).days + 2 * int(span / np.timedelta64(self.day_length, "us")) + 30
        opens, closes, before = self._timeline(first, days)
        window = np.searchsorted(closes, starts, side="right")  # the first window still open at the start
        elapsed = before[window] + np.maximum(starts - opens[window], np.timedelta64(0, "us"))
        target = elapsed + span
        due = np.searchsorted(before + (closes - opens), target, side="left")  # first window reaching it
        return opens[due] + (target - before[due])

    @lru_cache(maxsize=64)  # noqa: B019 - calendars are few, long-lived and immutable
    def _timeline(self, first: date, days: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Working windows of ``days`` days from ``first`` (UTC opens, closes) and the work before each."""
        windows = [
            (datetime.combine(day, a, self.zone), datetime.combine(day, b, self.zone))
            for day in (first + timedelta(days=i) for i in range(days)) if self.is_workday(day)
            for a, b in self.periods
        ]  # fmt: skip
        opens = np.array([a.astimezone(UTC).replace(tzinfo=None) for a, _ in windows], dtype="datetime64[us]")
        closes = np.array([b.astimezone(UTC).replace(tzinfo=None) for _, b in windows], dtype="datetime64[us]")
        before = np.concatenate([[np.timedelta64(0, "us")], np.cumsum(closes - opens)[:-1]])
        return opens, closes, before

    def deadline(self, start: datetime, limit: TimeLimit) -> datetime:
        """When a case filed at ``start`` with ``limit`` is due."""
        moment = self._local(start)
        if limit.kind in (LimitKind.URGENT_HOURS, LimitKind.CALENDAR_DAYS):
            return moment + self.duration(limit)
        return self.add_working_time(moment, self.duration(limit))


def _span(start: time, end: time) -> timedelta:
    return datetime.combine(date.min, end) - datetime.combine(date.min, start)
