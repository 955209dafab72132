"""Deadline arithmetic on the working calendar: weekends, holidays, make-up workdays, kinds; where the
holidays come from (the chinesecalendar package, the project's CSV over it) and what happens outside them."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import chinese_calendar
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs
from typer.testing import CliRunner

from cityops.cli import app
from command.working_time import CHINA, LimitKind, TimeLimit, WorkingCalendar, describe_years, load_overrides
from spatial.errors import InvalidInputError

CAL = WorkingCalendar.china()
ONE_HOUR = TimeLimit(1, LimitKind.WORKING_HOURS)
UNCOVERED = "calendar.year_not_covered"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=CHINA)


@pytest.mark.parametrize(
    ("start", "limit", "due"),
    [
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
        # 2024 comes from the chinesecalendar package alone (the notice of 2023-10-25: National Day 1–7 October,
        # Sunday 29 September and Saturday 12 October worked). Monday 30 September 17:00 + 1 h: 30 min that day,
        # the holiday, 30 min on Tuesday 8 October
        ("2024-09-30 17:00", ONE_HOUR, "2024-10-08 09:30"),
        # Saturday 28 September 10:00 is off; Sunday 29 September (调休) is worked: 1 h from its opening
        ("2024-09-28 10:00", ONE_HOUR, "2024-09-29 10:00"),
        # Friday 11 October 17:00 + 1 h: 30 min, then Saturday 12 October (调休) 09:00–09:30
        ("2024-10-11 17:00", ONE_HOUR, "2024-10-12 09:30"),
        # 1 working day (7 h) from Monday 30 September 10:00: 6 h that day (10–12, 13:30–17:30), 1 h on 8 October
        ("2024-09-30 10:00", TimeLimit(1, LimitKind.WORKING_DAYS), "2024-10-08 10:00"),
        # 15 working days from Friday 27 September 09:00: 27, 29 (Sun), 30 Sep; 8, 9, 10, 11, 12 (Sat), 14, 15, 16,
        # 17, 18, 21, 22 Oct — the end of the 15th
        ("2024-09-27 09:00", TimeLimit(15, LimitKind.WORKING_DAYS), "2024-10-22 17:30"),
    ],
)
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


LIMITS = [
    TimeLimit(2, LimitKind.URGENT_HOURS),
    TimeLimit(4, LimitKind.WORKING_HOURS),
    TimeLimit(0.5, LimitKind.WORKING_HOURS),
    TimeLimit(3, LimitKind.WORKING_DAYS),
    TimeLimit(15, LimitKind.WORKING_DAYS),
    TimeLimit(7, LimitKind.CALENDAR_DAYS),
]


@pytest.mark.parametrize("limit", LIMITS)
def test_vectorised_deadlines_equal_the_one_at_a_time_answer(limit: TimeLimit) -> None:
    rng = np.random.default_rng(5)
    # starts across 2025–2026 (National Day, Spring Festival and their make-up Sundays), some on window edges
    seconds = rng.integers(0, 2 * 365 * 86400, 3000)
    edges = [
        datetime(2025, 9, 30, 17, 30, tzinfo=CHINA),
        datetime(2026, 2, 14, 9, 0, tzinfo=CHINA),
        datetime(2025, 10, 11, 12, 0, tzinfo=CHINA),
    ]
    starts = [datetime(2025, 1, 1, tzinfo=CHINA) + timedelta(seconds=int(s)) for s in seconds] + edges
    utc = np.array([s.astimezone(UTC).replace(tzinfo=None) for s in starts], dtype="datetime64[us]")
    vectorised = CAL.deadlines(utc, limit)
    one_by_one = [CAL.deadline(s, limit).astimezone(UTC).replace(tzinfo=None) for s in starts]
    assert vectorised.tolist() == one_by_one


# ---- where the holidays come from ---------------------------------------------------------------
def overrides(tmp_path: Path, *rows: str) -> Path:
    """An override CSV of these rows (after the header)."""
    path = tmp_path / "overrides.csv"
    path.write_text("# a test's own overrides\ndate,kind,name\n" + "".join(f"{row}\n" for row in rows), "utf-8")
    return path


def test_a_row_of_the_override_csv_wins_over_the_package(tmp_path: Path) -> None:
    calendar = WorkingCalendar.china(
        overrides(
            tmp_path, "2024-10-05,workday,测试：假期中的周六改为上班", "2024-10-08,holiday,测试：节后周二改为放假"
        )
    )
    assert calendar.is_workday(date(2024, 10, 5)) and not calendar.is_workday(date(2024, 10, 8))
    # Monday 30 September 17:00 + 1 h: 30 min, then Saturday 5 October (the override's workday) 09:00–09:30
    assert calendar.deadline(at("2024-09-30 17:00"), ONE_HOUR) == at("2024-10-05 09:30")
    # from the holiday on Monday 7 October: Tuesday 8th is now off too, so Wednesday 9th 09:00–10:00
    assert calendar.deadline(at("2024-10-07 10:00"), ONE_HOUR) == at("2024-10-09 10:00")
    assert CAL.deadline(at("2024-10-07 10:00"), ONE_HOUR) == at("2024-10-08 10:00")  # the package alone


def test_only_a_notice_row_makes_a_csv_year_covered(tmp_path: Path) -> None:
    rows = ("2099-01-01,holiday,测试：元旦", "2099-01-02,holiday,测试：元旦")
    assert 2099 not in WorkingCalendar.china(overrides(tmp_path, *rows)).covered_years  # rows alone: maybe partial
    declared = WorkingCalendar.china(overrides(tmp_path, *rows, "2099-01-01,notice,测试用的2099年通知"))
    assert 2099 in declared.covered_years and 2004 in declared.covered_years  # the package's years stay
    assert describe_years(declared.covered_years).endswith(", 2099") and describe_years(frozenset()) == "none"


@pytest.mark.parametrize(
    ("row", "says"),
    [
        ("2099-03-01,notice,测试", "a notice row is dated 1 January of its year, not 2099-03-01"),
        ("2099-13-01,holiday,测试", "'2099-13-01' is not a date (YYYY-MM-DD)"),
        ("2099-01-01,festival,测试", "kind must be holiday, workday or notice, not 'festival'"),
    ],
)
def test_a_malformed_override_row_is_refused_with_what_to_fix(tmp_path: Path, row: str, says: str) -> None:
    with pytest.raises(InvalidInputError, match=re.escape(says)):
        load_overrides(overrides(tmp_path, row))


def test_a_day_both_off_and_worked_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="2099-01-03 is both a holiday and a workday"):
        load_overrides(overrides(tmp_path, "2099-01-03,holiday,测试", "2099-01-03,workday,测试"))


# ---- outside the covered years: computed as Monday–Friday and said loudly ---------------------
def test_a_deadline_in_an_uncovered_year_is_warned_about_once_per_year() -> None:
    calendar = WorkingCalendar.china()  # its own: a calendar warns once per year
    with capture_logs() as logs:
        # 2099 has no notice anywhere: Friday 9 January 2099 17:00 + 1 h is Monday 12 January 09:30 (Mon–Fri)
        assert calendar.deadline(at("2099-01-09 17:00"), ONE_HOUR) == at("2099-01-12 09:30")
        assert calendar.deadline(at("2099-03-02 10:00"), ONE_HOUR) == at("2099-03-02 11:00")  # same year: no repeat
        # before the package (2004): Wednesday 1 October 2003, though a holiday then, counts as a workday
        assert calendar.deadline(at("2003-10-01 10:00"), ONE_HOUR) == at("2003-10-01 11:00")
        calendar.deadline(at("2024-09-30 17:00"), ONE_HOUR)  # covered: nothing to say
        calendar.deadline(at("2098-06-01 10:00"), TimeLimit(2, LimitKind.URGENT_HOURS))  # the clock, no calendar
    warned = [entry for entry in logs if entry["event"] == UNCOVERED]
    assert [(entry["year"], entry["log_level"]) for entry in warned] == [(2099, "warning"), (2003, "warning")]
    assert warned[0]["covered"].startswith("2004–") and warned[0]["assumed"] == "Monday–Friday without holidays"
    assert "2099 holiday notice to holidays_cn.csv" in warned[0]["fix"] and "calendar check" in warned[0]["fix"]


def test_working_time_reaching_into_an_uncovered_year_is_warned_about_where_it_ends(tmp_path: Path) -> None:
    calendar = WorkingCalendar.china(overrides(tmp_path))  # the package alone, whatever the shipped CSV holds
    last = max(calendar.covered_years)
    with capture_logs() as logs:
        calendar.add_working_time(datetime(last, 12, 1, 10, tzinfo=CHINA), timedelta(hours=7))
        assert not logs  # within December
        calendar.add_working_time(datetime(last, 12, 31, 10, tzinfo=CHINA), timedelta(hours=7 * 3))
    assert [entry["year"] for entry in logs if entry["event"] == UNCOVERED] == [last + 1]


def test_vectorised_deadlines_say_which_cases_reached_an_uncovered_year(tmp_path: Path) -> None:
    calendar = WorkingCalendar.china(overrides(tmp_path))
    last = max(calendar.covered_years)
    starts = [
        datetime(last, 12, 1, 10, tzinfo=CHINA),
        datetime(last, 12, 31, 10, tzinfo=CHINA),
        datetime(last, 11, 2, 10, tzinfo=CHINA),
    ]
    utc = np.array([s.astimezone(UTC).replace(tzinfo=None) for s in starts], dtype="datetime64[us]")
    limit = TimeLimit(3, LimitKind.WORKING_DAYS)
    with capture_logs() as logs:
        calendar.deadlines(utc[[0, 2]], limit)
        assert not logs  # the timeline is laid out beyond New Year, but no deadline went there
        dues = calendar.deadlines(utc, limit)
    outside, years = calendar.outside_coverage(utc, dues)
    assert outside.tolist() == [False, True, False] and years == [last + 1]
    assert [entry["year"] for entry in logs if entry["event"] == UNCOVERED] == [last + 1]


# ---- cityops calendar check ---------------------------------------------------------------------
def test_calendar_check_lists_the_covered_years_and_fails_while_next_year_is_missing(tmp_path: Path) -> None:
    runner, empty = CliRunner(), overrides(tmp_path)
    last = max(WorkingCalendar.china(empty).covered_years)
    summer = runner.invoke(app, ["calendar", "check", "--on", f"{last - 1}-06-01", "--overrides", str(empty)])
    assert summer.exit_code == 0, summer.output
    assert f"chinesecalendar {chinese_calendar.__version__}" in summer.output and f"2004–{last}" in summer.output
    assert f"today {last - 1}-06-01" in summer.output and f"{last} (next year): covered" in summer.output
    december = runner.invoke(app, ["calendar", "check", "--on", f"{last}-12-03", "--overrides", str(empty)])
    assert december.exit_code == 1 and f"{last + 1} (next year): not covered" in december.output
    assert f"add the State Council's {last + 1} holiday notice" in december.output
    notice = tmp_path / "notice.csv"
    notice.write_text(f"date,kind,name\n{last + 1}-01-01,holiday,测试\n{last + 1}-01-01,notice,测试用通知\n", "utf-8")
    announced = runner.invoke(app, ["calendar", "check", "--on", f"{last}-12-03", "--overrides", str(notice)])
    assert announced.exit_code == 0 and f"{last + 1} (next year): covered" in announced.output
    assert str(last + 1) in announced.output.split("notice rows")[1].splitlines()[0]  # the CSV's own row says it
    broken = runner.invoke(app, ["calendar", "check", "--overrides", str(overrides(tmp_path, "2099-01-01,x,y"))])
    assert broken.exit_code == 1 and "kind must be holiday, workday or notice" in broken.output
