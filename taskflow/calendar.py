"""Working days: China's statutory holidays and 调休 make-up days, plus holiday files.

The ``chinese_calendar`` package knows the State Council holiday notices for the years in
``PACKAGE_YEARS`` (read from the package's own data, so upgrading it extends the range). Later
years, or corrections to a year the package knows, come from holiday files that people add with
``taskflow calendar add FILE``; a file for a year replaces the package's data for that year.

A day in a year that neither knows is not silently a working day: the first use of such a year
by a calendar emits a ``CalendarWarning`` (once per year per ``WorkCalendar``), and the year
falls back to Monday-Friday.

Holiday file format (UTF-8 YAML, one year per file)::

    year: 2027
    holidays:            # statutory days off; dates or ranges (inclusive)
      - 2027-01-01
      - {from: 2027-02-06, to: 2027-02-12, name: 春节}
    workdays:            # 调休: weekend days that are working days; dates or ranges
      - 2027-02-14

Rules: every date lies in ``year``; a range's ``from`` is not after its ``to``; ``name`` is a
note for readers; a workday is a Saturday or Sunday (other days work anyway) and is not also a
holiday; no other keys. Weekends not listed under ``workdays`` are days off. Bad files raise
``UserError`` with file:line:column. See docs/calendar.md.

Arithmetic works on per-year sorted ordinals of working days, built lazily and cached, so
``add_workdays`` and ``workdays_between`` cost a bisect per year crossed, not a loop per day.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import MAXYEAR, MINYEAR, date, datetime
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import chinese_calendar
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from taskflow.errors import Problem, UserError
from taskflow.plans.yamlio import read_located, validate

# The package exposes no range constant; its own check (utils._validate_date) uses exactly this.
PACKAGE_YEARS = range(min(chinese_calendar.holidays).year,
                      max(chinese_calendar.holidays).year + 1)
ADD_COMMAND = "taskflow calendar add FILE"


class CalendarWarning(UserWarning):
    """A date in a year with no holiday data: Monday-Friday was assumed."""


@dataclass(frozen=True)
class HolidayYear:
    """The days off and make-up working days of one year, as one holiday file states them."""

    year: int
    holidays: frozenset[date]
    workdays: frozenset[date]
    source: str


# --- holiday files -------------------------------------------------------------------------

def _to_date(value: Any) -> date:
    if isinstance(value, datetime):
        raise ValueError(f"{value} 带有时刻，只需写日期（YYYY-MM-DD）")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"{value!r} 不是有效日期，请写成 YYYY-MM-DD，如 2027-01-01")


_Day = Annotated[date, BeforeValidator(_to_date)]


class _Span(BaseModel):
    """A date or an inclusive range; a bare date becomes a one-day range."""

    model_config = ConfigDict(extra="forbid")

    start: _Day = Field(alias="from")
    to: _Day
    name: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _bare_date(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return value
        if isinstance(value, list):
            raise ValueError("应为日期或日期范围 {from: YYYY-MM-DD, to: YYYY-MM-DD}，"
                             "不能是列表")
        day = _to_date(value)
        return {"from": day, "to": day}

    def days(self) -> Iterable[date]:
        for ordinal in range(self.start.toordinal(), self.to.toordinal() + 1):
            yield date.fromordinal(ordinal)


class _HolidayFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    year: int = Field(ge=MINYEAR, le=MAXYEAR)
    holidays: list[_Span] = Field(min_length=1)
    workdays: list[_Span] = Field(default_factory=list)


def read_holiday_file(path: Path) -> HolidayYear:
    """Read and validate one holiday file; every problem is reported with file:line:column."""
    located = read_located(path)  # an impossible date (2027-02-30) is located there
    parsed = validate(_HolidayFile, located)
    problems: list[Problem] = []
    days: dict[str, dict[date, tuple]] = {"holidays": {}, "workdays": {}}
    for key in ("holidays", "workdays"):
        for index, span in enumerate(getattr(parsed, key)):
            where = (key, index)
            if span.start > span.to:
                problems.append(located.problem(
                    (*where, "to"), f"结束日期（{span.to}）早于开始日期（{span.start}）"))
                continue
            for d in (span.start, span.to):
                if d.year != parsed.year:
                    problems.append(located.problem(
                        where, f"{d} 不在本文件的年度 {parsed.year} 年内"))
                    break
            else:
                for d in span.days():
                    days[key].setdefault(d, where)
    for d, where in days["workdays"].items():
        if d.weekday() < 5:
            problems.append(located.problem(
                where, f"{d} 是星期{'一二三四五六日'[d.weekday()]}，本来就是工作日；workdays "
                       "只列出因调休而上班的周末"))
        if d in days["holidays"]:
            line = located.where(days["holidays"][d])["line"]
            problems.append(located.problem(
                where, f"{d} 同时被列为假日（第 {line} 行）"))
    if problems:
        raise UserError(problems)
    return HolidayYear(parsed.year, frozenset(days["holidays"]), frozenset(days["workdays"]),
                       str(path))


def install_holiday_file(src: Path, directory: Path) -> HolidayYear:
    """Validate ``src`` and copy it to ``directory/{year}.yaml`` atomically.

    A bad file raises UserError before anything is created or written.
    """
    holiday_year = read_holiday_file(src)
    content = src.read_bytes()
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{holiday_year.year}.yaml"
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; a holiday file is not secret
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return HolidayYear(holiday_year.year, holiday_year.holidays, holiday_year.workdays,
                       str(target))


# --- the calendar --------------------------------------------------------------------------

@cache
def _package_days() -> dict[int, tuple[frozenset[date], frozenset[date]]]:
    """chinese_calendar's holidays and make-up working days, grouped by year."""
    grouped: dict[int, tuple[set[date], set[date]]] = {y: (set(), set()) for y in PACKAGE_YEARS}
    for d in chinese_calendar.holidays:
        grouped[d.year][0].add(d)
    for d in chinese_calendar.workdays:
        grouped[d.year][1].add(d)
    return {y: (frozenset(h), frozenset(w)) for y, (h, w) in grouped.items()}


@dataclass(frozen=True, slots=True)
class _Year:
    first: int  # ordinal of 1 January
    flags: bytes  # one byte per day of the year: 1 = working day
    ordinals: list[int]  # the working days' ordinals, ascending


def _build_year(year: int, holidays: frozenset[date], workdays: frozenset[date]) -> _Year:
    first = date(year, 1, 1).toordinal()
    end = date(year + 1, 1, 1).toordinal() if year < MAXYEAR else date(year, 12, 31).toordinal() + 1
    off = {d.toordinal() for d in holidays}
    on = {d.toordinal() for d in workdays}
    # date.fromordinal(o).weekday() == (o + 6) % 7
    flags = bytes(1 if o in on or ((o + 6) % 7 < 5 and o not in off) else 0
                  for o in range(first, end))
    return _Year(first, flags, [first + i for i, f in enumerate(flags) if f])


def _plain(day: date) -> date:
    if isinstance(day, datetime):
        raise TypeError("pass a date (the day in the plan's timezone), not a datetime")
    return day


class WorkCalendar:
    """Working days for deadlines, reminders and escalations; pure (reads no clock, no files).

    ``years`` are holiday files; each replaces chinese_calendar's data for its year or adds a
    year the package does not know.
    """

    def __init__(self, years: Iterable[HolidayYear] = ()) -> None:
        files: dict[int, HolidayYear] = {}
        for holiday_year in years:
            if holiday_year.year in files:
                raise ValueError(f"{holiday_year.year} 年有两个节假日文件："
                                 f"{files[holiday_year.year].source}、{holiday_year.source}")
            files[holiday_year.year] = holiday_year
        self._files = files
        self._years: dict[int, _Year] = {}

    @property
    def files(self) -> Mapping[int, HolidayYear]:
        """The holiday files in use, by year."""
        return dict(self._files)

    @classmethod
    def load(cls, directory: Path | None) -> WorkCalendar:
        """A calendar with every ``*.yaml`` holiday file in ``directory`` (none if missing)."""
        if directory is None or not directory.is_dir():
            return cls()
        years: dict[int, HolidayYear] = {}
        problems: list[Problem] = []
        for path in sorted(directory.glob("*.yaml")):
            holiday_year = read_holiday_file(path)
            other = years.get(holiday_year.year)
            if other is not None:
                problems.append(Problem(
                    f"另一个节假日文件也是 {holiday_year.year} 年的：{other.source}；"
                    "请删除其中一个", file=str(path)))
                continue
            years[holiday_year.year] = holiday_year
        if problems:
            raise UserError(problems)
        return cls(years.values())

    # -- per-year data --

    def _year(self, year: int) -> _Year:
        data = self._years.get(year)
        if data is not None:
            return data
        if year in self._files:
            file = self._files[year]
            data = _build_year(year, file.holidays, file.workdays)
        elif year in PACKAGE_YEARS:
            data = _build_year(year, *_package_days()[year])
        else:
            warnings.warn(
                f"没有 {year} 年的节假日数据（chinese_calendar 只含 {PACKAGE_YEARS.start}-"
                f"{PACKAGE_YEARS.stop - 1} 年，也没有 {year} 年的节假日文件），暂按周一至"
                f"周五为工作日计算。请用 `{ADD_COMMAND}` 添加 {year} 年的节假日"
                "（见 docs/calendar.md）。",
                CalendarWarning, stacklevel=3)
            data = _build_year(year, frozenset(), frozenset())
        self._years[year] = data
        return data

    # -- queries --

    def is_known(self, day: date) -> bool:
        """Whether the day's year has holiday data (the package's or a holiday file's)."""
        return day.year in self._files or day.year in PACKAGE_YEARS

    def is_workday(self, day: date) -> bool:
        data = self._year(_plain(day).year)
        return data.flags[day.toordinal() - data.first] == 1

    def on_or_after(self, day: date) -> date:
        """The first working day on or after ``day``."""
        year = _plain(day).year
        ordinals = self._year(year).ordinals
        i = bisect_left(ordinals, day.toordinal())
        while i == len(ordinals):
            year += 1
            ordinals, i = self._year(year).ordinals, 0
        return date.fromordinal(ordinals[i])

    def on_or_before(self, day: date) -> date:
        """The last working day on or before ``day`` (a deadline that falls on a day off)."""
        year = _plain(day).year
        ordinals = self._year(year).ordinals
        i = bisect_right(ordinals, day.toordinal()) - 1
        while i < 0:
            year -= 1
            ordinals = self._year(year).ordinals
            i = len(ordinals) - 1
        return date.fromordinal(ordinals[i])

    def add_workdays(self, day: date, n: int) -> date:
        """The n-th working day after ``day`` (before it if n < 0).

        n == 0 gives ``day`` itself if it is a working day, else the next working day.
        """
        if n == 0:
            return self.on_or_after(day)
        year = _plain(day).year
        ordinals = self._year(year).ordinals
        if n > 0:
            i = bisect_right(ordinals, day.toordinal()) + n - 1  # working days <= day, then n
            while i >= len(ordinals):
                i -= len(ordinals)
                year += 1
                ordinals = self._year(year).ordinals
        else:
            i = bisect_left(ordinals, day.toordinal()) + n  # working days < day, back n
            while i < 0:
                year -= 1
                ordinals = self._year(year).ordinals
                i += len(ordinals)
        return date.fromordinal(ordinals[i])

    def workdays_between(self, start: date, end: date) -> int:
        """Working days in (start, end]; negative, the same count, when end is before start."""
        if end < start:
            return -self.workdays_between(end, start)
        first, last = _plain(start).year, _plain(end).year
        count = (bisect_right(self._year(last).ordinals, end.toordinal())
                 - bisect_right(self._year(first).ordinals, start.toordinal()))
        for year in range(first, last):
            count += len(self._year(year).ordinals)
        return count


def configured_calendar(settings=None) -> WorkCalendar:
    """The working days as configured: chinese-calendar plus the data directory's holiday
    files (``taskflow calendar add``). Every interface loads its calendar here."""
    from taskflow.settings import get_settings  # settings read the environment: on call

    return WorkCalendar.load((settings or get_settings()).holidays_dir)
