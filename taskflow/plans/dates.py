"""The simple date and recurrence forms a plan file may use.

Plan files carry ISO dates or the short Chinese forms the seed plans use ("6月底前",
"12 月 10 前", "年底前", "三季度", "每季度"). The full schedule grammar (ranges, cumulative
targets by period, free text) belongs to the parsing package; this module only resolves a single
phrase to a date, so that a hand-written plan file stays readable.
"""

from __future__ import annotations

import calendar
import re
from datetime import date

from dateutil.rrule import rrulestr

_CN_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
              "八": 8, "九": 9, "十": 10}


class PhraseError(ValueError):
    """A phrase that is not one of the supported forms; the message says what is expected."""


# The days a deadline may fall on, wherever it comes from (a plan file, a parsed document, an
# extension, the API): outside them a date is a typo (1900, 2210), messages that leave the
# year out would mislead, and the working-day arithmetic after a deadline could overflow.
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2100, 12, 31)


def check_range(d: date) -> date:
    """``d``, or PhraseError when it is outside FIRST_DAY–LAST_DAY."""
    if not FIRST_DAY <= d <= LAST_DAY:
        raise PhraseError(f"日期 {d} 超出允许范围（{FIRST_DAY.year}–{LAST_DAY.year} 年）")
    return d


def _cn_number(text: str) -> int:
    if text.isdigit():
        return int(text)
    if text == "十":
        return 10
    if text.startswith("十"):
        return 10 + _CN_DIGITS[text[1]]
    if text.endswith("十"):
        return _CN_DIGITS[text[0]] * 10
    if "十" in text:
        tens, ones = text.split("十")
        return _CN_DIGITS[tens] * 10 + _CN_DIGITS[ones]
    return _CN_DIGITS[text]


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def _checked(year: int, month: int, day: int, phrase: str) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise PhraseError(f"{phrase!r} 不是有效日期（{year}-{month:02d}-{day:02d}）") from None


_NUM = r"(\d{1,2}|[一二两三四五六七八九十]{1,3})"
_YEAR_PREFIX = re.compile(r"^(?:到|至|于|在)?(?P<year>\d{4}|20xx|20XX|20\*\*)年(?:度)?")
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_ISO_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_MONTH_DAY = re.compile(rf"^{_NUM}月{_NUM}(?:日|号)?(?:前|之前|以前)?$")
_MONTH_END = re.compile(rf"^{_NUM}月(?:底|末)(?:前|之前|以前)?$")
_MONTH_BEFORE = re.compile(rf"^{_NUM}月(?:前|之前|以前)$")
_MONTH = re.compile(rf"^{_NUM}月(?:份)?(?:内|中)?$")
_MONTH_PART = re.compile(rf"^{_NUM}月(上旬|中旬|下旬)(?:前)?$")
_QUARTER = re.compile(rf"^(?:第)?{_NUM}季度(?:末|底)?(?:前)?$")
_YEAR_END = re.compile(r"^(?:年|年底|年末|年内|年终|全年|年底前|年末前|本年度|年度内)(?:前)?$")
_HALF = re.compile(r"^(上半年|下半年)(?:末|底)?(?:前)?$")


def resolve_date(phrase: str | date, year: int, *, bound: str = "end") -> date:
    """Resolve a plan date phrase to a calendar date.

    ``year`` is the plan year, used when the phrase names no year ("20xx" names the plan year).
    ``bound`` says which end of a period a period phrase means: "end" for a deadline ("三季度"
    is 30 September), "start" for a start date ("三季度" is 1 July). "N月前" means before the
    first of month N, so its deadline is the last day of the month before.
    """
    if isinstance(phrase, date):
        return phrase
    if bound not in ("end", "start"):
        raise ValueError(bound)
    raw = phrase
    text = re.sub(r"\s+", "", str(phrase))
    if not text:
        raise PhraseError("日期为空")

    m = _ISO.match(text)
    if m:
        return _checked(int(m[1]), int(m[2]), int(m[3]), raw)
    m = _ISO_MONTH.match(text)
    if m:
        y, mo = int(m[1]), int(m[2])
        if not 1 <= mo <= 12:
            raise PhraseError(f"{raw!r}：月份 {mo} 不在 1–12 之间")
        return _month_end(y, mo) if bound == "end" else date(y, mo, 1)

    if text.startswith(("次年", "明年", "第二年", "翌年")):  # the year after the plan year
        year += 1
        text = text[3:] if text.startswith("第二年") else text[2:]
        text = text or "年底"
        text = "年" + text if text[0] in "底末内终" else text
    m = _YEAR_PREFIX.match(text)
    if m:
        if m["year"].isdigit():
            year = int(m["year"])
        text = text[m.end():]
        # "2019年底前" leaves "底前": the year-end words lost their 年 to the prefix.
        text = "年" + text if not text or text[0] in "底末内终" else text
    text = text.removeprefix("到").removeprefix("于")

    def month(token: str) -> int:
        value = _cn_number(token)
        if not 1 <= value <= 12:
            raise PhraseError(f"{raw!r}：月份 {value} 不在 1–12 之间")
        return value

    if (m := _MONTH_DAY.match(text)):
        return _checked(year, month(m[1]), _cn_number(m[2]), raw)
    if (m := _MONTH_END.match(text)):
        return _month_end(year, month(m[1]))
    if (m := _MONTH_BEFORE.match(text)):
        mo = month(m[1])
        if bound == "start":
            return date(year, 1, 1)
        return date(year - 1, 12, 31) if mo == 1 else _month_end(year, mo - 1)
    if (m := _MONTH_PART.match(text)):
        mo = month(m[1])
        first, last = {"上旬": (1, 10), "中旬": (11, 20), "下旬": (21, None)}[m[2]]
        if bound == "start":
            return date(year, mo, first)
        return _month_end(year, mo) if last is None else date(year, mo, last)
    if (m := _MONTH.match(text)):
        mo = month(m[1])
        return _month_end(year, mo) if bound == "end" else date(year, mo, 1)
    if (m := _QUARTER.match(text)):
        q = _cn_number(m[1])
        if not 1 <= q <= 4:
            raise PhraseError(f"{raw!r}：季度 {q} 不在 1–4 之间")
        return _month_end(year, q * 3) if bound == "end" else date(year, q * 3 - 2, 1)
    if (m := _HALF.match(text)):
        first = m[1] == "上半年"
        if bound == "start":
            return date(year, 1 if first else 7, 1)
        return date(year, 6, 30) if first else date(year, 12, 31)
    if _YEAR_END.match(text):
        return date(year, 12, 31) if bound == "end" else date(year, 1, 1)
    raise PhraseError(
        f"无法识别的日期 {raw!r}；请写 ISO 日期（2025-06-30）"
        "或 6月10日前、6月底前、7月前、9月中旬、三季度、上半年、年底前、2019年底 等形式"
    )


_EVERY = re.compile(
    rf"^每(?:(?P<n>{_NUM})个?)?(?P<unit>年|半年|季度|季|个月|月|周|星期|天|日)(?:度)?")


def recurrence_rule(phrase: str) -> str:
    """Turn "每季度" / "每 2 月" / "每月" / an RRULE into an RFC 5545 RRULE string.

    Trailing words ("每季度至少研究一次") are allowed after the period; a text that is already an
    RRULE ("FREQ=MONTHLY;INTERVAL=3") is validated and returned unchanged.
    """
    text = re.sub(r"\s+", "", phrase)
    # "一月一通报", "一季一研究": once per period.
    text = re.sub(r"^一(年|季度|季|月|周)一", r"每\1", text)
    if text.upper().startswith(("FREQ=", "RRULE:")):
        rule = text.upper().removeprefix("RRULE:")
        try:
            rrulestr(rule, dtstart=None, forceset=False, ignoretz=True)
        except (ValueError, TypeError) as exc:
            raise PhraseError(f"{phrase!r} 不是有效的 RRULE：{exc}") from None
        return rule
    m = _EVERY.match(text)
    if not m:
        raise PhraseError(
            f"无法识别的周期 {phrase!r}；请写 每年、每半年、"
            "每季度、每月、每N月、每周，或 RRULE（如 FREQ=MONTHLY;INTERVAL=2）"
        )
    n = _cn_number(m["n"]) if m["n"] else 1
    if n < 1:
        raise PhraseError(f"{phrase!r}：间隔至少为 1")
    freq, factor = {
        "年": ("YEARLY", 1), "半年": ("MONTHLY", 6), "季度": ("MONTHLY", 3), "季": ("MONTHLY", 3),
        "个月": ("MONTHLY", 1), "月": ("MONTHLY", 1), "周": ("WEEKLY", 1), "星期": ("WEEKLY", 1),
        "天": ("DAILY", 1), "日": ("DAILY", 1),
    }[m["unit"]]
    interval = n * factor
    return f"FREQ={freq}" + (f";INTERVAL={interval}" if interval != 1 else "")


def shift_years(d: date, years: int) -> date:
    """The same calendar day ``years`` later (29 February becomes 28 February)."""
    if years == 0:
        return d
    if not 1 <= d.year + years <= 9999:
        raise PhraseError(f"日期 {d} 移动 {years} 年后超出允许范围（{FIRST_DAY.year}–"
                          f"{LAST_DAY.year} 年）")
    try:
        return d.replace(year=d.year + years)
    except ValueError:
        return d.replace(year=d.year + years, day=28)
