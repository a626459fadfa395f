"""Date phrases: "6 月 10 日前", "2005.5—2006.6", "二季度", "今年年底" → a ``When``.

Everything works on the text without whitespace ("6 月 10 日前" is "6月10日前"). A phrase
resolves to a ``When``:

- ``deadline``: a day by which something is done (6月10日前, 6月底前, 7月前 = 30 June, 年底前);
- ``period``: a span (8月, 2至4月, 一、二季度, 2016年, 2016至2018年, “十三五”期间, 2005.1—4);
- ``start``: from when (2020年起, 从2016年开始);
- ``label``: a context word with no date of its own (春季学期, 秋季学期);
- ``ongoing``: no deadline by design (长期坚持, 持续推进, 常态开展);
- ``asap``: 尽快 — no date the parser can give;
- ``invalid``: written as a date but no such day exists (2019年2月29日, 12月32日, 13月):
  never given a due date, always reported.

Years: a phrase's own year wins ("2019年11月底前"); "20xx"/"20**" and phrases without a year
use the plan year; 明年/次年 the year after. Nothing here makes up a date.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

from taskflow.parsing.numbers import cn_year, small_int
from taskflow.parsing.text import compact

# -- tokens (on text without whitespace) ------------------------------------------------------

_M = r"(1[0-2]|0?[1-9]|十[一二]?|[一二三四五六七八九])"
_D = r"(3[01]|[12][0-9]|0?[1-9]|[一二]?十[一二三四五六七八九]?|三十一?|[一二三四五六七八九])"
_BEFORE = r"(?:前|之前|以前)?"
_DASH = r"(?:至|到|-|—|–|~|～|－)"
_Q = r"[一二三四1-4]"
# "4月20日(星期五)前": the weekday a notice adds to a date.
_WEEKDAY = r"(?:\((?:星期|周|礼拜)([一二三四五六日天])\))?"

_PREFIX = re.compile(
    r"^(?:力争|确保|争取|计划|预计|预定|务必|要求|最迟|不迟于|截至|截止到|截止|并于|并在|并|要在|"
    r"须在|需在|应在|务于|须于|应于|要于|于|在|到|至|从|自|拟于|拟在|同时|其中|另|及时|分别|届时)*")
_YEAR = re.compile(r"^(?P<y>\d{4}|20[xX×*]{2}|[〇○零一二三四五六七八九]{4})年(?:度)?")
_YEAR_RANGE = re.compile(rf"^(\d{{4}})年?{_DASH}(\d{{4}})年(?:度)?(?:底|末)?{_BEFORE}")
_YEAR_WORD = re.compile(r"^(今年|本年度?|当年|明年|次年|翌年|第二年|下一年度?)")
# "2005.1—4", "2005.5—2006.6", "2019.12.31", "2016-08-29": years written with dots or dashes.
_DOTTED = re.compile(
    r"^((?:19|20)\d{2})([.\-/])(1[0-2]|0?[1-9])(?:\2(3[01]|[12]\d|0?[1-9]))?(?![\d万亿元%])"
    rf"(?:{_DASH}(?:((?:19|20)\d{{2}})[.\-/])?(1[0-2]|0?[1-9])(?:[.\-/](3[01]|[12]\d|0?[1-9]))?"
    r"(?![\d万亿元%.]))?(?:前|之前|以前)?")

_MONTH_DAY_RANGE = re.compile(
    rf"^{_M}月{_D}[日号]?{_WEEKDAY}{_DASH}(?:{_M}月)?{_D}[日号]{_WEEKDAY}{_BEFORE}")
_MONTH_RANGE = re.compile(rf"^{_M}月?(?:{_DASH}|、|和){_M}月份?(底|末)?{_BEFORE}")
_MONTH_DAY = re.compile(rf"^{_M}月{_D}(?:[日号]{_WEEKDAY}(?:前|之前|以前)?|前|之前|以前|$)")
# Written as a day, whatever the numbers: "12月32日", "2月30日", "13月5日".
_DAYISH = re.compile(
    r"^(\d{1,2}|[一二三四五六七八九十]{1,3})月(\d{1,3}|[一二三四五六七八九十]{1,4})[日号]")
_MONTHISH = re.compile(r"^(\d{1,3})月")
_INVALID_TAIL = re.compile(rf"{_WEEKDAY}(?:底|末)?(?:前|之前|以前)?")
# Written like "2005.1—4" but not a date: "2005.13—4", "2019.2.30".
_DOTTED_ISH = re.compile(
    r"^(?:19|20)\d{2}[.\-/]\d{1,3}(?:[.\-/]\d{1,3})?(?:[—–\-~至]\d{1,4}(?:[.\-/]\d{1,3})*)?"
    r"(?![\d万亿元%])")
_MONTH_PART = re.compile(rf"^{_M}月(上旬|中旬|下旬|中上旬|中下旬){_BEFORE}")
_MONTH_END = re.compile(rf"^{_M}月(?:底|末){_BEFORE}")
_MONTH_BEFORE = re.compile(rf"^{_M}月(?:前|之前|以前)")
_MONTH = re.compile(rf"^{_M}月份?(?:内|中|间|期间)?")
_QUARTER_RANGE = re.compile(
    rf"^第?({_Q}(?:(?:{_DASH}|、|和)?第?{_Q})+)季度(末|底)?{_BEFORE}")
_QUARTER = re.compile(rf"^第?({_Q})季度(末|底)?{_BEFORE}")
_HALF = re.compile(r"^(上半年|下半年|年中)(末|底)?" + _BEFORE)
# 全年 alone is the year's end ("全年完成"); "全年目标任务" is a noun phrase.
_YEAR_END = re.compile(r"^(?:年底|年末|年内|年终|年度内|年度末|全年(?=$|完成|内|前))" + _BEFORE)
_AFTER_YEAR_END = re.compile(r"^(?:底|末|内|终)" + _BEFORE)
_SINCE = re.compile(r"^(?:起|开始|以后|起步)")
_PAST = re.compile(r"^(?:以来|来)")
_FIVE_YEAR = re.compile(r"^[“\"]?十([二三四五六七八九])五[”\"]?(?:期间|时期|末|内)?")
_SPLIT_YEARS = re.compile(r"^分([一二两三四五六七八九十]|\d{1,2})年(?:实施|建设|推进)?(?:完成)?")
_SEMESTER = re.compile(r"^(春季学期|秋季学期|春季|秋季|上学期|下学期|寒假|暑假|暑期)")
_ONGOING = re.compile(r"^(长期坚持|长期|持续推进|持续开展|持续|常态化|常态|经常性|常年|长效)")
_ASAP = re.compile(r"^(尽快|尽早|立即|马上|即时|第一时间)")

def month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


@dataclass(frozen=True)
class When:
    kind: str  # deadline | period | start | label | ongoing | asap | invalid
    start: date | None
    due: date | None
    phrase: str  # the matched phrase (without whitespace)
    end: int  # where the phrase ends, in the text without whitespace
    year: int | None = None  # the explicit year the phrase named (for following clauses)
    bare: bool = False  # a year alone ("2016 年…"): a date only where the words make it one


def _safe(year: int, month: int | None, day: int | None) -> date | None:
    if month is None or day is None:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _month(token: str | None) -> int | None:
    value = small_int(token) if token else None
    return value if value is not None and 1 <= value <= 12 else None


def _quarter_span(year: int, first: int, last: int) -> tuple[date, date]:
    return date(year, first * 3 - 2, 1), month_end(year, last * 3)


def _single(s: str, year: int, explicit: bool) -> tuple[str, date | None, date | None, int] | None:
    """One date expression at the start of ``s`` (after any year): (kind, start, due, length).

    A phrase written as a day that does not exist ("2月29日" in 2019, "12月32日") is
    ``invalid``: it must never fall back to its month or its year.
    """
    if (m := _MONTH_DAY_RANGE.match(s)):
        m1, d1 = _month(m[1]), small_int(m[2])
        m2, d2 = _month(m[4] or m[1]), small_int(m[5])
        start, due = _safe(year, m1, d1), _safe(year, m2, d2)
        if start and due and start <= due:
            return "period", start, due, m.end()
        return "invalid", None, None, m.end()
    if (m := _MONTH_RANGE.match(s)):
        m1, m2 = _month(m[1]), _month(m[2])
        if m1 and m2 and m1 <= m2:
            return "period", date(year, m1, 1), month_end(year, m2), m.end()
        return None
    if (m := _MONTH_DAY.match(s)):
        day = _safe(year, _month(m[1]), small_int(m[2]))
        if day is None:
            return "invalid", None, None, m.end()
        end = m.end()
        rest = s[end:]
        if (r := re.match(rf"^{_DASH}(?:{_M}月)?{_D}[日号]?{_WEEKDAY}{_BEFORE}", rest)):
            until = _safe(year, _month(r[1]) or day.month, small_int(r[2]))
            if until and until >= day:
                return "period", day, until, end + r.end()
        return "deadline", day, day, end
    bad = _DAYISH.match(s) or _MONTHISH.match(s)
    if bad and (bad.re is _DAYISH or not _month(bad[1])):
        # A day or a month that the patterns above refused: 12月32日, 2月30日, 13月.
        end = bad.end() + len(_INVALID_TAIL.match(s, bad.end())[0])  # type: ignore[index]
        return "invalid", None, None, end
    if (m := _MONTH_PART.match(s)):
        mo = _month(m[1])
        if mo is None:
            return None
        first, last = {"上旬": (1, 10), "中旬": (11, 20), "下旬": (21, None), "中上旬": (1, 20),
                       "中下旬": (11, None)}[m[2]]
        due = month_end(year, mo) if last is None else date(year, mo, last)
        return "deadline", date(year, mo, first), due, m.end()
    if (m := _MONTH_END.match(s)):
        mo = _month(m[1])
        return ("deadline", month_end(year, mo), month_end(year, mo), m.end()) if mo else None
    if (m := _MONTH_BEFORE.match(s)):
        mo = _month(m[1])
        if mo is None:
            return None
        due = date(year - 1, 12, 31) if mo == 1 else month_end(year, mo - 1)
        return "deadline", None, due, m.end()
    if (m := _MONTH.match(s)):
        mo = _month(m[1])
        if mo is None:
            return None
        end = m.end()
        # "6 月至 8 月", "6月1日至8月31日": a range whose first part is a bare month.
        if (r := re.match(rf"^{_DASH}", s[end:])):
            second = _single(s[end + r.end():], year, explicit)
            if second and second[2] and second[2] >= date(year, mo, 1):
                return "period", date(year, mo, 1), second[2], end + r.end() + second[3]
        return "period", date(year, mo, 1), month_end(year, mo), end
    if (m := _QUARTER_RANGE.match(s)):
        quarters = [small_int(q) for q in re.findall(_Q, m[1])]
        if all(quarters) and quarters == sorted(quarters):
            start, due = _quarter_span(year, quarters[0], quarters[-1])  # type: ignore[arg-type]
            return "period", start, due, m.end()
        return None
    if (m := _QUARTER.match(s)):
        q = small_int(m[1])
        if not q:
            return None
        start, due = _quarter_span(year, q, q)
        return ("deadline" if m[2] else "period"), start, due, m.end()
    if (m := _HALF.match(s)):
        if m[1] == "年中":
            return "deadline", date(year, 6, 30), date(year, 6, 30), m.end()
        first = m[1] == "上半年"
        start = date(year, 1 if first else 7, 1)
        due = date(year, 6, 30) if first else date(year, 12, 31)
        return ("deadline" if m[2] else "period"), start, due, m.end()
    if (m := _YEAR_END.match(s)):
        return "deadline", date(year, 1, 1), date(year, 12, 31), m.end()
    if explicit and (m := _AFTER_YEAR_END.match(s)):
        return "deadline", date(year, 1, 1), date(year, 12, 31), m.end()
    return None


def _dotted(m: re.Match[str], text: str, pos: int) -> When:
    """"2005.1—4", "2005.5—2006.6", "2019.12.31", "2016-08-29": a period or a day."""
    y1, m1 = int(m[1]), int(m[3])
    d1 = int(m[4]) if m[4] else None
    end = pos + m.end()
    if not 1949 <= y1 <= 2200:
        return When("invalid", None, None, text[:end], end)
    start = _safe(y1, m1, d1 or 1)
    if m[6] is None:
        if start is None:
            return When("invalid", None, None, text[:end], end)
        if d1:
            return When("deadline", start, start, text[:end], end, y1)
        return When("period", start, month_end(y1, m1), text[:end], end, y1)
    y2 = int(m[5]) if m[5] else y1
    m2, d2 = int(m[6]), int(m[7]) if m[7] else None
    due = _safe(y2, m2, d2) if d2 else (month_end(y2, m2) if 1 <= m2 <= 12 else None)
    if start is None or due is None or due < start or y2 > 2200:
        return When("invalid", None, None, text[:end], end)
    return When("period", start, due, text[:end], end, y2)


def match_when(text: str, year: int) -> When | None:
    """The date phrase at the start of ``text`` (no whitespace), or None.

    Connectives before the phrase (到, 力争, 确保, 预计在…) are allowed and included in the match.
    """
    pre = _PREFIX.match(text)
    pos = pre.end() if pre else 0
    s = text[pos:]
    for special in (_SEMESTER, _ONGOING, _ASAP):
        if (m := special.match(s)):
            kind = {_SEMESTER: "label", _ONGOING: "ongoing", _ASAP: "asap"}[special]
            return When(kind, None, None, text[:pos + m.end()], pos + m.end())
    if (m := _FIVE_YEAR.match(s)):
        n = small_int(m[1]) + 10  # type: ignore[operator]
        first = 1966 + 5 * (n - 3)
        return When("period", date(first, 1, 1), date(first + 4, 12, 31),
                    text[:pos + m.end()], pos + m.end())
    if (m := _SPLIT_YEARS.match(s)):
        n = small_int(m[1])
        if n and 1 <= n <= 20:
            return When("period", date(year, 1, 1), date(year + n - 1, 12, 31),
                        text[:pos + m.end()], pos + m.end())
    if (m := _DOTTED.match(s)):
        return _dotted(m, text, pos)
    if (m := _YEAR_RANGE.match(s)):
        y1, y2 = int(m[1]), int(m[2])
        if 1949 <= y1 <= y2 <= 2200:
            return When("period", date(y1, 1, 1), date(y2, 12, 31), text[:pos + m.end()],
                        pos + m.end(), y2)
        return None
    if (m := _DOTTED_ISH.match(s)):
        end = pos + m.end()
        return When("invalid", None, None, text[:end], end)
    explicit_year: int | None = None
    named = False
    if (m := _YEAR.match(s)):
        token = m["y"]
        if token.isdigit():
            explicit_year = int(token)
        elif token.startswith("20"):
            explicit_year = year  # 20xx: the plan year
        else:
            explicit_year = cn_year(token)
        if explicit_year is None or not 1949 <= explicit_year <= 2200:
            return None
        named = True
        s, pos = s[m.end():], pos + m.end()
    elif (m := _YEAR_WORD.match(s)):
        explicit_year = year + (0 if m[1] in ("今年", "本年", "本年度", "当年") else 1)
        named = True
        s, pos = s[m.end():], pos + m.end()
        # "明年底", "今年内": the year words lost their 年 to the year word.
        if s[:1] in ("底", "末", "内", "终"):
            s = "年" + s
            pos -= 1
    y = explicit_year if explicit_year is not None else year
    single = _single(s, y, named)
    if single is None:
        if not named:
            return None
        if _SINCE.match(s):
            m = _SINCE.match(s)
            return When("start", date(y, 1, 1), None, text[:pos + m.end()], pos + m.end(),  # type: ignore[union-attr]
                        explicit_year)
        if _PAST.match(s):
            return None
        # A bare year: "2016 年完成400 个村", "确保 2016 年实现全覆盖", "至 2020 年".
        return When("period", date(y, 1, 1), date(y, 12, 31), text[:pos], pos, explicit_year,
                    bare=True)
    kind, start, due, length = single
    end = pos + length
    return When(kind, start, due, text[:end], end, explicit_year)


def resolve(phrase: str, year: int) -> When | None:
    """A whole phrase as one date (or None): the table-driven entry point."""
    text, _ = compact(phrase)
    when = match_when(text, year)
    if when is None or when.end != len(text):
        return None
    return when


