"""The working calendar that case deadlines run on (GB/T 30428 time limits).

A time limit has a kind: urgent hours and calendar days run around the clock; working hours
count only the working periods of workdays; working days count whole days' worth of working
time (one working day = the length of a working day's periods, so a case filed at 10:00 on a
Friday with one working day is due at 10:00 on the next workday). Workdays are Monday–Friday,
minus public holidays, plus the make-up workdays (调休) of the holiday notices — both data.

The holidays come from the maintained ``chinesecalendar`` package (the State Council's notices
since 2004); ``holidays_cn.csv`` holds overrides for notices newer than the installed package —
a row there wins over the package for its date. A year is covered when the package has it or
the CSV declares its notice complete (a ``notice`` row).

A deadline whose working time crosses a day of an uncovered year is computed as Monday–Friday
and **warned about loudly**, not refused: a citizen's report must become a case even in the
weeks between the end of the package's data and next year's notice (cases filed in December
are due in January), and for all but the few holiday weeks Monday–Friday is the right answer.
Refusing would drop reports to protect a deadline that is off by at most a holiday's length.
So every such computation logs ``calendar.year_not_covered`` (once per year and calendar,
with what to do), the historic import counts the cases concerned in its summary, and
``cityops calendar check`` fails while this year or the next is missing, for the operator to
add the notice before it matters.
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

import chinese_calendar
import numpy as np
import structlog

from spatial.errors import InvalidInputError

CHINA = ZoneInfo("Asia/Shanghai")
HOLIDAYS_CN = Path(__file__).parent / "holidays_cn.csv"
ASSUMED = "Monday–Friday without holidays"
LOGGER = "cityops.calendar"
DEFAULT_PERIODS = ((time(9, 0), time(12, 0)), (time(13, 30), time(17, 30)))


class LimitKind(StrEnum):
    """How a time limit is counted (处置时限类型)."""

    URGENT_HOURS = "urgent_hours"
    WORKING_HOURS = "working_hours"
    WORKING_DAYS = "working_days"
    CALENDAR_DAYS = "calendar_days"


WALL_CLOCK = frozenset({LimitKind.URGENT_HOURS, LimitKind.CALENDAR_DAYS})  # kinds the calendar does not count


@dataclass(frozen=True)
class TimeLimit:
    """A category's time limit, e.g. 4 working hours or 15 working days."""

    value: float
    kind: LimitKind

    def __post_init__(self) -> None:
        if not self.value > 0:
            raise InvalidInputError(f"a time limit must be positive, got {self.value}")


@dataclass(frozen=True)
class HolidayData:
    """Days off, make-up workdays (调休), and the years for which they are complete."""

    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()
    years: frozenset[int] = frozenset()

    def overridden_by(self, newer: HolidayData) -> HolidayData:
        """``newer``'s rows win for their dates (a day it calls a workday is no holiday); both sets of years count."""
        return HolidayData(
            (self.holidays - newer.workdays) | newer.holidays,
            (self.workdays - newer.holidays) | newer.workdays,
            self.years | newer.years,
        )


def package_holidays() -> HolidayData:
    """The ``chinesecalendar`` package's data; its years are its first to last listed (the package's own check)."""
    holidays = frozenset(chinese_calendar.holidays)
    years = frozenset(range(min(holidays).year, max(holidays).year + 1))
    return HolidayData(holidays, frozenset(chinese_calendar.workdays), years)


def load_overrides(path: Path = HOLIDAYS_CN) -> HolidayData:
    """The project's ``date,kind,name`` CSV (# comments); kind is holiday, workday or notice.

    A year counts as covered only by a ``notice`` row dated 1 January of that year (its name: the
    notice's title): a few rows of a year may be early corrections, so only an explicit line says
    the whole notice is there.
    """
    days: dict[str, set[date]] = {"holiday": set(), "workday": set()}
    years: set[int] = set()
    with path.open(encoding="utf-8") as handle:
        for row in csv.DictReader(line for line in handle if not line.startswith("#")):
            try:
                day = date.fromisoformat(row["date"])
            except ValueError:
                raise InvalidInputError(f"{path.name}: {row['date']!r} is not a date (YYYY-MM-DD)") from None
            if row["kind"] == "notice":
                if (day.month, day.day) != (1, 1):
                    raise InvalidInputError(f"{path.name}: a notice row is dated 1 January of its year, not {day}")
                years.add(day.year)
            elif row["kind"] in days:
                days[row["kind"]].add(day)
            else:
                raise InvalidInputError(f"{path.name}: kind must be holiday, workday or notice, not {row['kind']!r}")
    if both := days["holiday"] & days["workday"]:
        raise InvalidInputError(f"{path.name}: {min(both)} is both a holiday and a workday")
    return HolidayData(frozenset(days["holiday"]), frozenset(days["workday"]), frozenset(years))


@dataclass(frozen=True)
class Coverage:
    """Which years the package and the override CSV cover, judged on one day."""

    package: frozenset[int]
    overrides: frozenset[int]
    today: date

    @property
    def years(self) -> frozenset[int]:
        """Covered by either source."""
        return self.package | self.overrides

    @property
    def missing(self) -> list[int]:
        """This year and the next when uncovered: next year's notice is due by December, before its cases are."""
        return [year for year in (self.today.year, self.today.year + 1) if year not in self.years]


def coverage(today: date, overrides: Path = HOLIDAYS_CN) -> Coverage:
    """The calendar's coverage as ``cityops calendar check`` reports it."""
    return Coverage(package_holidays().years, load_overrides(overrides).years, today)


def describe_years(years: frozenset[int]) -> str:
    """Years as runs for people, e.g. {2004, …, 2026, 2028} → "2004–2026, 2028"; "none" when empty."""
    runs: list[list[int]] = []
    for year in sorted(years):
        if runs and runs[-1][1] == year - 1:
            runs[-1][1] = year
        else:
            runs.append([year, year])
    return ", ".join(f"{a}–{b}" if a != b else str(a) for a, b in runs) or "none"


@dataclass(frozen=True)
class WorkingCalendar:
    """Workdays and working periods in one time zone."""

    holidays: frozenset[date] = frozenset()
    make_up_workdays: frozenset[date] = frozenset()
    periods: tuple[tuple[time, time], ...] = DEFAULT_PERIODS
    zone: ZoneInfo = field(default=CHINA)
    covered_years: frozenset[int] = frozenset()
    _warned: set[int] = field(default_factory=set, init=False, compare=False, repr=False)

    @classmethod
    def china(cls, overrides: Path = HOLIDAYS_CN) -> WorkingCalendar:
        """The mainland calendar: the ``chinesecalendar`` package, the project's CSV winning where it speaks."""
        data = package_holidays().overridden_by(load_overrides(overrides))
        return cls(data.holidays, data.workdays, covered_years=data.years)

    def uncovered_years(self, first: date, last: date) -> list[int]:
        """The years from ``first`` to ``last`` whose holidays the calendar does not know."""
        return [year for year in range(first.year, last.year + 1) if year not in self.covered_years]

    def _vouch(self, first: date, last: date) -> None:
        """Working time from ``first`` to ``last`` was counted: warn about the uncovered years in it."""
        for year in self.uncovered_years(first, last):
            self._warn(year)

    def _warn(self, year: int) -> None:
        """Log that a deadline assumed Monday–Friday in ``year`` — once per year, not once per case."""
        if year not in self._warned:
            self._warned.add(year)
            # a logger of the moment, not one kept since import: the service's configuration caches a logger on
            # first use, and this warning comes once a year (whoever listens now — a test, a CLI — hears it)
            structlog.get_logger(LOGGER).warning(
                "calendar.year_not_covered",
                year=year,
                covered=describe_years(self.covered_years),
                assumed=ASSUMED,
                fix=f"add the State Council's {year} holiday notice to {HOLIDAYS_CN.name} "
                "(or upgrade chinesecalendar); `cityops calendar check` lists the covered years",
            )

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
                self._vouch(moment.date(), window_start.date())
                return window_start + remaining
            remaining -= available
        raise AssertionError("unreachable: _windows_from raises before running out")

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Working time in [start, end) (negative when end is before start)."""
        a, b = self._local(start), self._local(end)
        if b < a:
            return -self.working_time_between(end, start)
        self._vouch(a.date(), b.date())
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
        if limit.kind in WALL_CLOCK or len(starts) == 0:
            return starts + span
        first, last = self._day(starts.min()), self._day(starts.max())
        days = (last - first).days + 2 * int(span / np.timedelta64(self.day_length, "us")) + 30
        opens, closes, before = self._timeline(first, days)
        window = np.searchsorted(closes, starts, side="right")  # the first window still open at the start
        elapsed = before[window] + np.maximum(starts - opens[window], np.timedelta64(0, "us"))
        target = elapsed + span
        due = np.searchsorted(before + (closes - opens), target, side="left")  # first window reaching it
        dues = opens[due] + (target - before[due])
        for year in self.outside_coverage(starts, dues)[1]:
            self._warn(year)
        return dues

    def outside_coverage(self, starts: np.ndarray, dues: np.ndarray) -> tuple[np.ndarray, list[int]]:
        """Which spans from start to due (``datetime64[us]`` UTC) reach into a year the calendar does not
        know, and which years those are (one comparison per uncovered year, not a date per row)."""
        starts, dues = np.asarray(starts, dtype="datetime64[us]"), np.asarray(dues, dtype="datetime64[us]")
        years: list[int]
        outside, years = np.zeros(len(starts), dtype=bool), []
        if len(starts) == 0:
            return outside, years
        for year in self.uncovered_years(self._day(starts.min()), self._day(dues.max())):
            opens, closes = (self._instant(date(y, 1, 1)) for y in (year, year + 1))
            crossing = (starts < closes) & (dues >= opens)
            if crossing.any():
                outside |= crossing
                years.append(year)
        return outside, years

    def _day(self, moment: np.datetime64) -> date:
        """The local date of a UTC ``datetime64``."""
        return moment.astype(datetime).replace(tzinfo=UTC).astimezone(self.zone).date()

    def _instant(self, day: date) -> np.datetime64:
        """Local midnight starting ``day`` as a UTC ``datetime64[us]``."""
        midnight = datetime.combine(day, time(0), self.zone).astimezone(UTC).replace(tzinfo=None)
        return np.datetime64(midnight, "us")

    @lru_cache(maxsize=64)  # noqa: B019 - calendars are few, long-lived and immutable
    def _timeline(self, first: date, days: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Working windows of ``days`` days from ``first`` (UTC opens, closes) and the work before each."""
        windows = [
            (datetime.combine(day, a, self.zone), datetime.combine(day, b, self.zone))
            for day in (first + timedelta(days=i) for i in range(days))
            if self.is_workday(day)
            for a, b in self.periods
        ]
        opens = np.array([a.astimezone(UTC).replace(tzinfo=None) for a, _ in windows], dtype="datetime64[us]")
        closes = np.array([b.astimezone(UTC).replace(tzinfo=None) for _, b in windows], dtype="datetime64[us]")
        before = np.concatenate([[np.timedelta64(0, "us")], np.cumsum(closes - opens)[:-1]])
        return opens, closes, before

    def deadline(self, start: datetime, limit: TimeLimit) -> datetime:
        """When a case filed at ``start`` with ``limit`` is due."""
        moment = self._local(start)
        if limit.kind in WALL_CLOCK:
            return moment + self.duration(limit)
        return self.add_working_time(moment, self.duration(limit))


def _span(start: time, end: time) -> timedelta:
    return datetime.combine(date.min, end) - datetime.combine(date.min, start)
