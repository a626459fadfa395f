"""Working days: real 2025/2026 holidays, unknown years, holiday files and their errors."""

from __future__ import annotations

import warnings
from datetime import date, datetime, timedelta

import chinese_calendar
import pytest

from taskflow.calendar import (
    PACKAGE_YEARS,
    CalendarWarning,
    HolidayYear,
    WorkCalendar,
    install_holiday_file,
    read_holiday_file,
)
from taskflow.errors import UserError

FUTURE = 2099  # far past anything chinese_calendar will know
FUTURE_FILE = """\
year: 2099
holidays:            # statutory days off
  - 2099-01-01
  - {from: 2099-02-16, to: 2099-02-22, name: 春节}
workdays:            # 调休
  - 2099-02-15
  - 2099-02-28
"""


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(i) for i in range((last - first).days + 1)]


@pytest.fixture
def cal() -> WorkCalendar:
    return WorkCalendar()


@pytest.fixture
def no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error", CalendarWarning)
        yield


def _write(tmp_path, text: str, name: str = "holidays.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


# --- the package's data ----------------------------------------------------------------------

def test_known_years_are_read_from_chinese_calendar():
    assert PACKAGE_YEARS.start == min(chinese_calendar.holidays).year == 2004
    assert PACKAGE_YEARS.stop - 1 == max(chinese_calendar.holidays).year
    assert 2025 in PACKAGE_YEARS
    assert FUTURE not in PACKAGE_YEARS


def test_every_known_day_agrees_with_chinese_calendar(cal, no_warnings):
    for day in _days(date(PACKAGE_YEARS.start, 1, 1), date(PACKAGE_YEARS.stop - 1, 12, 31)):
        assert cal.is_workday(day) == chinese_calendar.is_workday(day), day


def test_national_day_week_2025_is_off_and_make_up_weekend_days_are_working(cal, no_warnings):
    for day in _days(date(2025, 10, 1), date(2025, 10, 8)):
        assert not chinese_calendar.is_workday(day)
        assert not cal.is_workday(day), day
    for make_up in (date(2025, 9, 28), date(2025, 10, 11)):
        assert make_up.weekday() >= 5  # Sunday 28 Sep, Saturday 11 Oct
        assert chinese_calendar.is_workday(make_up)
        assert cal.is_workday(make_up)
    assert cal.is_workday(date(2025, 10, 9))
    assert not cal.is_workday(date(2025, 10, 12))  # an ordinary Sunday


def test_spring_festival_2025_is_off_and_make_up_days_are_working(cal, no_warnings):
    for day in _days(date(2025, 1, 28), date(2025, 2, 4)):
        assert not chinese_calendar.is_workday(day)
        assert not cal.is_workday(day), day
    assert date(2025, 1, 26).weekday() == 6 and date(2025, 2, 8).weekday() == 5
    for make_up in (date(2025, 1, 26), date(2025, 2, 8)):
        assert chinese_calendar.is_workday(make_up)
        assert cal.is_workday(make_up)
    assert cal.is_workday(date(2025, 1, 27))  # the Monday before the holiday


# --- arithmetic --------------------------------------------------------------------------------

def test_add_workdays_jumps_the_national_day_week(cal, no_warnings):
    assert cal.add_workdays(date(2025, 9, 30), 1) == date(2025, 10, 9)
    assert cal.add_workdays(date(2025, 9, 30), 3) == date(2025, 10, 11)  # make-up Saturday
    assert cal.add_workdays(date(2025, 9, 26), 1) == date(2025, 9, 28)  # make-up Sunday
    assert cal.add_workdays(date(2025, 10, 3), 2) == date(2025, 10, 10)  # from inside it


def test_negative_n_counts_back_over_the_holiday(cal, no_warnings):
    assert cal.add_workdays(date(2025, 10, 9), -1) == date(2025, 9, 30)
    assert cal.add_workdays(date(2025, 10, 9), -3) == date(2025, 9, 28)
    assert cal.add_workdays(date(2025, 10, 5), -1) == date(2025, 9, 30)  # from a holiday


def test_add_workdays_across_the_year_boundary(cal, no_warnings):
    # 1-3 Jan 2026 are New Year holidays; Sunday 4 Jan 2026 is a make-up working day.
    assert cal.add_workdays(date(2025, 12, 31), 1) == date(2026, 1, 4)
    assert cal.add_workdays(date(2025, 12, 31), 2) == date(2026, 1, 5)
    assert cal.add_workdays(date(2026, 1, 4), -1) == date(2025, 12, 31)
    assert cal.add_workdays(date(2025, 1, 2), -1) == date(2024, 12, 31)
    assert cal.workdays_between(date(2025, 12, 31), date(2026, 1, 5)) == 2


def test_add_zero_workdays_on_a_holiday_is_the_next_working_day(cal, no_warnings):
    assert cal.add_workdays(date(2025, 10, 1), 0) == date(2025, 10, 9)
    assert cal.add_workdays(date(2025, 10, 9), 0) == date(2025, 10, 9)
    assert cal.add_workdays(date(2025, 10, 11), 0) == date(2025, 10, 11)  # make-up Saturday


def test_deadline_on_a_holiday_moves_back_to_the_last_working_day(cal, no_warnings):
    assert cal.on_or_before(date(2025, 10, 5)) == date(2025, 9, 30)
    assert cal.on_or_before(date(2025, 10, 9)) == date(2025, 10, 9)
    assert cal.on_or_before(date(2026, 1, 3)) == date(2025, 12, 31)  # across the year
    assert cal.on_or_after(date(2025, 10, 5)) == date(2025, 10, 9)
    assert cal.on_or_after(date(2025, 10, 11)) == date(2025, 10, 11)


def test_workdays_between_is_symmetric(cal, no_warnings):
    pairs = [
        (date(2025, 9, 30), date(2025, 10, 9), 1),
        (date(2025, 9, 26), date(2025, 10, 11), 6),  # 28, 29, 30 Sep; 9, 10, 11 Oct
        (date(2025, 1, 1), date(2025, 12, 31), None),
        (date(2024, 6, 1), date(2026, 6, 1), None),
    ]
    for start, end, expected in pairs:
        forward = cal.workdays_between(start, end)
        if expected is not None:
            assert forward == expected
        assert cal.workdays_between(end, start) == -forward
    assert cal.workdays_between(date(2025, 10, 9), date(2025, 10, 9)) == 0
    full_2025 = sum(chinese_calendar.is_workday(d)
                    for d in _days(date(2025, 1, 1), date(2025, 12, 31)))
    assert cal.workdays_between(date(2024, 12, 31), date(2025, 12, 31)) == full_2025


def _naive_add(day: date, n: int) -> date:
    """Day-by-day reference implementation on chinese_calendar directly."""
    step = 1 if n >= 0 else -1
    if n == 0:
        while not chinese_calendar.is_workday(day):
            day += timedelta(1)
        return day
    left = abs(n)
    while left:
        day += timedelta(step)
        left -= chinese_calendar.is_workday(day)
    return day


def test_add_workdays_matches_a_day_by_day_count(cal, no_warnings):
    start = date(2024, 12, 1)
    for offset in range(0, 420, 3):
        day = start + timedelta(offset)
        for n in (-25, -7, -1, 0, 1, 2, 5, 11, 40):
            assert cal.add_workdays(day, n) == _naive_add(day, n), (day, n)


def test_add_workdays_always_lands_on_a_working_day_and_round_trips(cal, no_warnings):
    for offset in range(0, 365 * 16, 11):  # 2007-2022, every 11th day (+600 stays known)
        day = date(2007, 1, 1) + timedelta(offset)
        for n in (1, 2, 3, 5, 8, 13, 21, 55, 250, 600):
            later = cal.add_workdays(day, n)
            assert later > day
            assert cal.is_workday(later)
            assert cal.workdays_between(day, later) == n, (day, n)
            earlier = cal.add_workdays(day, -n)
            assert earlier < day
            assert cal.is_workday(earlier)
            if cal.is_workday(day):
                assert cal.workdays_between(earlier, day) == n, (day, -n)
                assert cal.add_workdays(later, -n) == day


def test_a_datetime_is_refused(cal):
    with pytest.raises(TypeError, match="not a datetime"):
        cal.is_workday(datetime(2025, 10, 1, 9, 0))


# --- years nobody knows ----------------------------------------------------------------------

def test_year_past_the_package_warns_and_falls_back_to_monday_to_friday(cal):
    first_unknown = PACKAGE_YEARS.stop
    assert not cal.is_known(date(first_unknown, 1, 1))
    with pytest.warns(CalendarWarning, match=rf"{first_unknown}.*taskflow calendar add FILE"):
        assert cal.is_workday(date(first_unknown, 1, 1)) == (date(first_unknown, 1, 1).weekday()
                                                              < 5)
    with pytest.warns(CalendarWarning, match=rf"没有 {FUTURE} 年的节假日数据"):
        week = [cal.is_workday(d) for d in _days(date(FUTURE, 1, 5), date(FUTURE, 1, 11))]
    assert week == [True] * 5 + [False] * 2  # Monday 5 January 2099 to Sunday
    with pytest.warns(CalendarWarning, match="2003"):
        assert cal.is_workday(date(2003, 10, 1))  # before the package's first year too


def test_unknown_year_warns_once_per_calendar(cal):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for day in _days(date(FUTURE, 1, 1), date(FUTURE, 12, 20)):  # 3 days stay in 2099
            cal.is_workday(day)
            cal.add_workdays(day, 3)
            cal.workdays_between(date(FUTURE, 1, 1), day)
        WorkCalendar().is_workday(date(FUTURE, 6, 1))  # another calendar warns for itself
    assert [type(w.message) for w in caught] == [CalendarWarning, CalendarWarning]


def test_arithmetic_into_an_unknown_year_warns(cal):
    last_known = date(PACKAGE_YEARS.stop - 1, 12, 31)
    with pytest.warns(CalendarWarning, match=str(PACKAGE_YEARS.stop)):
        assert cal.add_workdays(last_known, 30).year == PACKAGE_YEARS.stop


def test_is_known_does_not_warn(cal, no_warnings):
    assert cal.is_known(date(2025, 10, 1))
    assert not cal.is_known(date(FUTURE, 1, 1))


# --- holiday files -----------------------------------------------------------------------------

def test_holiday_file_removes_the_warning_and_takes_effect(tmp_path, no_warnings):
    _write(tmp_path, FUTURE_FILE, "2099.yaml")
    cal = WorkCalendar.load(tmp_path)
    assert cal.is_known(date(FUTURE, 6, 1))
    assert not cal.is_workday(date(FUTURE, 1, 1))  # a Thursday holiday
    assert cal.is_workday(date(FUTURE, 1, 2))
    assert cal.is_workday(date(FUTURE, 2, 15))  # make-up Sunday
    assert not any(cal.is_workday(d) for d in _days(date(FUTURE, 2, 16), date(FUTURE, 2, 22)))
    assert cal.add_workdays(date(FUTURE, 2, 13), 1) == date(FUTURE, 2, 15)
    assert cal.add_workdays(date(FUTURE, 2, 15), 1) == date(FUTURE, 2, 23)
    assert cal.on_or_before(date(FUTURE, 2, 20)) == date(FUTURE, 2, 15)
    assert cal.workdays_between(date(FUTURE, 2, 13), date(FUTURE, 2, 28)) == 7


def test_read_holiday_file_expands_ranges(tmp_path):
    path = _write(tmp_path, FUTURE_FILE)
    year = read_holiday_file(path)
    assert year == HolidayYear(
        FUTURE,
        frozenset([date(FUTURE, 1, 1), *_days(date(FUTURE, 2, 16), date(FUTURE, 2, 22))]),
        frozenset([date(FUTURE, 2, 15), date(FUTURE, 2, 28)]),
        str(path),
    )


def test_holiday_file_for_a_known_year_replaces_the_package_data(tmp_path, no_warnings):
    _write(tmp_path, "year: 2025\nholidays:\n  - 2025-01-01\n  - 2025-10-09\n", "2025.yaml")
    cal = WorkCalendar.load(tmp_path)
    assert not cal.is_workday(date(2025, 10, 9))  # the correction
    assert cal.is_workday(date(2025, 10, 1))  # the file is the whole year: a plain Wednesday
    assert not cal.is_workday(date(2025, 9, 28))  # no make-up days listed: a Sunday off
    assert cal.is_workday(date(2026, 1, 4))  # other years keep the package's data


def test_load_without_a_directory_uses_the_package_only(tmp_path, no_warnings):
    for cal in (WorkCalendar.load(None), WorkCalendar.load(tmp_path / "missing")):
        assert cal.files == {}
        assert not cal.is_workday(date(2025, 10, 1))


def test_two_files_for_one_year_are_refused(tmp_path):
    _write(tmp_path, FUTURE_FILE, "2099.yaml")
    _write(tmp_path, FUTURE_FILE, "notice-2099.yaml")
    with pytest.raises(UserError, match=r"2099\.yaml") as caught:
        WorkCalendar.load(tmp_path)
    assert "notice-2099.yaml" in str(caught.value)
    with pytest.raises(ValueError, match="年有两个节假日文件"):
        WorkCalendar([read_holiday_file(tmp_path / "2099.yaml")] * 2)


@pytest.mark.parametrize(("old", "new", "needle", "message"), [
    ("  - 2099-01-01\n", "  - 2098-12-31\n", "2098-12-31", "不在本文件的年度 2099 年内"),
    ("to: 2099-02-22", "to: 2100-01-01", "2100-01-01", "2100-01-01 不在本文件的年度 2099 年内"),
    ("  - 2099-02-28\n", "  - 2099-02-21\n", "2099-02-21", "同时被列为假日（第 4 行）"),
    ("name: 春节}", "name: 春节, colour: red}", "colour", "未知字段 'colour'"),
    ("year: 2099\n", "year: 2099\nyaer: 2099\n", "yaer", "未知字段 'yaer'"),
    ("  - 2099-01-01\n", "  - 2099-01-01: x: y\n", "x: y", "YAML 语法错误"),
    ("from: 2099-02-16, to: 2099-02-22", "from: 2099-02-22, to: 2099-02-16", "2099-02-22",
     "结束日期（2099-02-16）早于开始日期（2099-02-22）"),
    ("  - 2099-01-01\n", "  - 2099-02-30\n", "2099-02-30", "不是有效日期"),
    ("  - 2099-01-01\n", "  - 1st of January\n", "1st of January", "不是有效日期，请写成"),
    ("  - 2099-02-28\n", "  - 2099-02-27\n", "2099-02-27", "是星期五"),
])
def test_bad_holiday_file_names_file_and_line(tmp_path, old, new, needle, message):
    assert old in FUTURE_FILE
    text = FUTURE_FILE.replace(old, new)
    path = _write(tmp_path, text)
    with pytest.raises(UserError) as caught:
        read_holiday_file(path)
    assert f"{path}:{_line_of(text, needle)}:" in str(caught.value)
    assert message in str(caught.value)


def test_holiday_file_without_holidays_is_refused(tmp_path):
    path = _write(tmp_path, "year: 2099\nworkdays: [2099-02-28]\n")
    with pytest.raises(UserError, match="holidays: 缺少必填字段"):
        read_holiday_file(path)


def test_install_writes_the_file_as_its_year(tmp_path):
    src = _write(tmp_path, FUTURE_FILE, "国务院通知.yaml")
    directory = tmp_path / "data" / "holidays"
    installed = install_holiday_file(src, directory)
    assert installed.year == FUTURE
    assert installed.source == str(directory / "2099.yaml")
    assert [p.name for p in directory.iterdir()] == ["2099.yaml"]  # no temp file left
    assert (directory / "2099.yaml").read_text(encoding="utf-8") == FUTURE_FILE
    assert WorkCalendar.load(directory).is_known(date(FUTURE, 1, 1))


def test_install_replaces_an_earlier_file_for_the_year(tmp_path):
    directory = tmp_path / "holidays"
    install_holiday_file(_write(tmp_path, FUTURE_FILE, "first.yaml"), directory)
    corrected = FUTURE_FILE.replace("  - 2099-02-28\n", "")
    install_holiday_file(_write(tmp_path, corrected, "second.yaml"), directory)
    assert (directory / "2099.yaml").read_text(encoding="utf-8") == corrected
    assert not WorkCalendar.load(directory).is_workday(date(FUTURE, 2, 28))


def test_install_writes_nothing_for_a_bad_file(tmp_path):
    bad = _write(tmp_path, FUTURE_FILE.replace("2099-02-28", "2098-02-28"), "bad.yaml")
    directory = tmp_path / "holidays"
    with pytest.raises(UserError, match="不在本文件的年度 2099 年内"):
        install_holiday_file(bad, directory)
    assert not directory.exists()

    install_holiday_file(_write(tmp_path, FUTURE_FILE, "good.yaml"), directory)
    with pytest.raises(UserError):
        install_holiday_file(bad, directory)
    assert [p.name for p in directory.iterdir()] == ["2099.yaml"]
    assert (directory / "2099.yaml").read_text(encoding="utf-8") == FUTURE_FILE
