"""Recurring duties: "每季度至少研究一次", "每月的23日", "每个季度第1个月的20日前" → RRULEs.

Works on text without whitespace. A recurrence's start comes from "2020年起", "从2022年3月起"
or "从2022年第二季度起" in the same text; "连续3年" bounds a yearly rhythm.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from taskflow.parsing.dates import _BEFORE, _D, _M, _month
from taskflow.parsing.numbers import small_int

_RECURRENCE = re.compile(
    r"(?<!每.)(?:每(?P<n>\d{1,2}|[一二两三四五六七八九十])?个?|(?P<by>逐))"
    r"(?P<u>半年|年度?|季度?|月|周|星期|旬)")
_ONCE_PER = re.compile(r"一(年|季度?|月|周)一(?=[\u4e00-\u9fff])")
_CONSECUTIVE = re.compile(r"连续(\d{1,2}|[一二两三四五六七八九十])年")
_START = re.compile(
    r"(?:从|自)?(?P<y>\d{4}|20[xX×*]{2})年?(?:(?P<m>1[0-2]|0?[1-9])月份?|第?(?P<q>[一二三四1-4])季度)?"
    r"(?:起|开始)")
_COUNT = re.compile(r"(\d{1,3}|[一两二三四五六七八九十]{1,2})次")
# "第1个月的20日前" after 每个季度: that day of the quarter's first (second, third) month.
_QUARTER_MONTH_DAY = re.compile(rf"^第?([1-3一二三])个月的?{_D}[日号]{_BEFORE}")

_PERIODS = {"年": ("YEARLY", 1), "年度": ("YEARLY", 1), "半年": ("MONTHLY", 6),
            "季度": ("MONTHLY", 3), "季": ("MONTHLY", 3), "月": ("MONTHLY", 1),
            "周": ("WEEKLY", 1), "星期": ("WEEKLY", 1)}
_WEEKDAYS = {"一": "MO", "二": "TU", "三": "WE", "四": "TH", "五": "FR", "六": "SA", "日": "SU",
             "天": "SU", "1": "MO", "2": "TU", "3": "WE", "4": "TH", "5": "FR", "6": "SA",
             "7": "SU"}


@dataclass(frozen=True)
class Recurrence:
    rrule: str  # RFC 5545, without the RRULE: prefix
    phrase: str
    start: date | None = None
    count: int | None = None  # times per period ("至少组织 2 次")
    pos: int = 0
    period: str = ""


def _rrule(freq: str, interval: int = 1, **by: str) -> str:
    rule = f"FREQ={freq}" + (f";INTERVAL={interval}" if interval != 1 else "")
    for key, value in by.items():
        rule += f";{key}={value}"
    return rule


def find_recurrences(text: str, year: int) -> list[Recurrence]:
    """Every recurrence in ``text`` (no whitespace): 每季度, 每 2 月, 每年2月底前, 一月一通报."""
    out: list[Recurrence] = []
    start: date | None = None
    if (m := _START.search(text)):
        y = int(m["y"]) if m["y"].isdigit() else year
        month = _month(m["m"]) or ((small_int(m["q"]) or 1) * 3 - 2 if m["q"] else 1)
        if 1949 <= y <= 2200:
            start = date(y, month, 1)
    consecutive = _CONSECUTIVE.search(text)
    for m in _RECURRENCE.finditer(text):
        unit = m["u"]
        if unit == "季":
            unit = "季度"
        n = small_int(m["n"]) if m["n"] else 1
        if m["by"] and unit not in ("月", "季度"):  # 逐年增加 is a trend, 逐月查账 a rhythm
            continue
        if not n:
            continue
        rest = text[m.end():]
        phrase_end = m.end()
        if unit == "旬":
            rule = _rrule("MONTHLY", BYMONTHDAY="10,20,-1")
        else:
            freq, factor = _PERIODS[unit]
            rule = _rrule(freq, n * factor)
            if unit == "季度" and n == 1:
                if (q := _QUARTER_MONTH_DAY.match(rest)):
                    offset, day = small_int(q[1]) or 1, small_int(q[2])
                    if day and 1 <= day <= 31:
                        months = ",".join(str(first + offset - 1) for first in (1, 4, 7, 10))
                        rule = _rrule("YEARLY", BYMONTH=months, BYMONTHDAY=str(day))
                        phrase_end += q.end()
                elif (q := re.match(rf"^末月{_D}[日号]?{_BEFORE}", rest)):
                    day = small_int(q[1])
                    if day and 1 <= day <= 31:
                        rule = _rrule("YEARLY", BYMONTH="3,6,9,12", BYMONTHDAY=str(day))
                        phrase_end += q.end()
                elif (q := re.match(r"^(?:末|结束前)", rest)):
                    rule = _rrule("YEARLY", BYMONTH="3,6,9,12", BYMONTHDAY="-1")
                    phrase_end += q.end()
            elif unit in ("年", "年度") and n == 1:
                if (q := re.match(rf"^{_M}月(?:(底|末)|{_D}[日号]?)?{_BEFORE}", rest)):
                    mo = _month(q[1])
                    if mo:
                        day = "-1" if q[2] else (str(small_int(q[3])) if q[3] else None)
                        by = {"BYMONTH": str(mo)}
                        if day:
                            by["BYMONTHDAY"] = day
                        rule = _rrule("YEARLY", **by)
                        phrase_end += q.end()
                elif (q := re.match(r"^(?:底|末|年底|年末)" + _BEFORE, rest)):
                    rule = _rrule("YEARLY", BYMONTH="12", BYMONTHDAY="31")
                    phrase_end += q.end()
                if consecutive and consecutive.end() <= m.start() + 1:
                    years = small_int(consecutive[1])
                    if years:
                        rule += f";COUNT={years}"
            elif unit == "月" and n == 1:
                if (q := re.match(rf"^的?{_D}[日号]{_BEFORE}", rest)):
                    day = small_int(q[1])
                    if day and 1 <= day <= 31:
                        rule = _rrule("MONTHLY", BYMONTHDAY=str(day))
                        phrase_end += q.end()
                elif (q := re.match(r"^(?:底|末)" + _BEFORE, rest)):
                    rule = _rrule("MONTHLY", BYMONTHDAY="-1")
                    phrase_end += q.end()
            elif unit in ("周", "星期") and n == 1 and \
                    (q := re.match(r"^(?:周|星期)?([一二三四五六日天1-7])", rest)):
                rule = _rrule("WEEKLY", BYDAY=_WEEKDAYS[q[1]])
                phrase_end += q.end()
        count = None
        clause_rest = re.split(r"[,;。]", rest, maxsplit=1)[0]
        if re.search(r"(?:的)?(?:原则|标准|规定)", clause_rest):
            continue  # "按照…每三年命名表彰的原则": a rule quoted, not a duty
        if (c := _COUNT.search(clause_rest)):
            count = small_int(c[1])
        out.append(Recurrence(rule, text[m.start():phrase_end], start, count, m.start(),
                              unit))
    for m in _ONCE_PER.finditer(text):
        unit = "季度" if m[1].startswith("季") else m[1]
        freq, factor = _PERIODS[unit]
        out.append(Recurrence(_rrule(freq, factor), m[0], start, 1, m.start(), unit))
    return sorted(out, key=lambda r: r.pos)


