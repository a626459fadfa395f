"""Reporting periods as offices name them: 2025, 2025-H1, 2025-Q2, 2025-06, 2025-W23.

A period is a closed range of calendar days with a Chinese label (2025年第二季度). Used by the
bulletin (通报), planned-vs-actual of targets and, later, the web app.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from taskflow.errors import UserError

_CN_NUMBERS = "一二三四"
PERIOD_FORMS = "2025、2025-H1、2025-Q2、2025-06 或 2025-W23"


@dataclass(frozen=True)
class Period:
    code: str  # as written: 2025-Q2
    kind: str  # year | half | quarter | month | week
    start: date
    end: date  # inclusive
    label: str  # 2025年第二季度

    def __contains__(self, day: date) -> bool:
        return self.start <= day <= self.end

    def months(self) -> list[Period]:
        """The calendar months overlapping the period (a week gives its month(s))."""
        out, year, month = [], self.start.year, self.start.month
        while date(year, month, 1) <= self.end:
            out.append(parse_period(f"{year}-{month:02d}"))
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return out

    def quarters(self) -> list[Period]:
        out = []
        for month in self.months():
            quarter = parse_period(f"{month.start.year}-Q{(month.start.month - 1) // 3 + 1}")
            if quarter not in out:
                out.append(quarter)
        return out


def _month_end(year: int, month: int) -> date:
    first_next = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return first_next - timedelta(days=1)


def parse_period(text: str) -> Period:
    """'2025-Q2' → Period(2025-04-01 .. 2025-06-30, '2025年第二季度'); UserError if not a period."""
    value = (text or "").strip().upper()
    bad = UserError.single(f"--period「{text}」不是有效的期间：请写 {PERIOD_FORMS}",
                           field="--period")
    m = re.fullmatch(r"(\d{4})(?:-(H[12]|Q[1-4]|\d{1,2}|W\d{1,2}))?", value)
    if not m:
        raise bad
    year = int(m[1])
    if not 1990 <= year <= 2200:
        raise bad
    part = m[2]
    if part is None:
        return Period(value, "year", date(year, 1, 1), date(year, 12, 31), f"{year}年")
    if part[0] == "H":
        half = int(part[1])
        start = date(year, 1 if half == 1 else 7, 1)
        end = date(year, 6, 30) if half == 1 else date(year, 12, 31)
        return Period(value, "half", start, end, f"{year}年{'上' if half == 1 else '下'}半年")
    if part[0] == "Q":
        quarter = int(part[1])
        first = 3 * (quarter - 1) + 1
        return Period(value, "quarter", date(year, first, 1), _month_end(year, first + 2),
                      f"{year}年第{_CN_NUMBERS[quarter - 1]}季度")
    if part[0] == "W":
        week = int(part[1:])
        try:
            start = date.fromisocalendar(year, week, 1)
        except ValueError:
            raise bad from None
        end = start + timedelta(days=6)
        return Period(value, "week", start, end,
                      f"{year}年第{week}周（{start.month}月{start.day}日至{end.month}月{end.day}日）")
    month = int(part)
    if not 1 <= month <= 12:
        raise bad
    return Period(f"{year}-{month:02d}", "month", date(year, month, 1),
                  _month_end(year, month), f"{year}年{month}月")


def period_containing(day: date, kind: str) -> Period:
    """The period of ``kind`` (week, month, quarter, half, year) that holds ``day``."""
    if kind == "week":
        iso = day.isocalendar()
        return parse_period(f"{iso.year}-W{iso.week:02d}")
    if kind == "month":
        return parse_period(f"{day.year}-{day.month:02d}")
    if kind == "quarter":
        return parse_period(f"{day.year}-Q{(day.month - 1) // 3 + 1}")
    if kind == "half":
        return parse_period(f"{day.year}-H{1 if day.month <= 6 else 2}")
    if kind == "year":
        return parse_period(str(day.year))
    raise ValueError(f"unknown period kind {kind!r}")


def previous_period(day: date, kind: str) -> Period:
    """The last whole period of ``kind`` before the one holding ``day`` (last week, month)."""
    current = period_containing(day, kind)
    return period_containing(current.start - timedelta(days=1), kind)
