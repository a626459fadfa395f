"""The schedule grammar: 进度安排 text → dated steps, recurring duties, progress plans, issues.

Everything works on the text without whitespace ("6 月 10 日前" is "6月10日前"), while titles
are cut from the original so they keep the source's spacing. A phrase resolves to a ``When``:

- ``deadline``: a day by which something is done (6月10日前, 6月底前, 7月前 = 30 June, 年底前);
- ``period``: a span (8月, 2至4月, 一、二季度, 2016年, 2016至2018年, “十三五”期间);
- ``start``: from when (2020年起, 从2016年开始);
- ``label``: a context word with no date of its own (春季学期, 秋季学期);
- ``ongoing``: no deadline by design (长期坚持, 持续推进, 常态开展);
- ``asap``: 尽快 — no date the parser can give.

Years: a phrase's own year wins ("2019年11月底前"); "20xx"/"20**" and phrases without a year
use the plan year; 明年/次年 the year after. Nothing here makes up a date: a phrase that does
not resolve stays in the text and is reported as an ``Issue``.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from taskflow.parsing.numbers import cn_year, small_int
from taskflow.parsing.text import compact

# -- tokens (on text without whitespace) ------------------------------------------------------

_M = r"(1[0-2]|0?[1-9]|十[一二]?|[一二三四五六七八九])"
_D = r"(3[01]|[12][0-9]|0?[1-9]|[一二]?十[一二三四五六七八九]?|三十一?|[一二三四五六七八九])"
_BEFORE = r"(?:前|之前|以前)?"
_DASH = r"(?:至|到|-|—|–|~|～)"
_Q = r"[一二三四1-4]"

_PREFIX = re.compile(
    r"^(?:力争|确保|争取|计划|预计|预定|务必|要求|最迟|不迟于|截至|截止到|截止|并于|并在|并|要在|"
    r"须在|需在|应在|于|在|到|至|从|自|拟于|拟在|同时|其中|另|及时|分别|届时)*")
_YEAR = re.compile(r"^(?P<y>\d{4}|20[xX×*]{2}|[〇零一二三四五六七八九]{4})年(?:度)?")
_YEAR_RANGE = re.compile(rf"^(\d{{4}})年?{_DASH}(\d{{4}})年(?:度)?(?:底|末)?{_BEFORE}")
_YEAR_WORD = re.compile(r"^(今年|本年度?|当年|明年|次年|翌年|第二年|下一年度?)")

_MONTH_DAY_RANGE = re.compile(
    rf"^{_M}月{_D}[日号]?{_DASH}(?:{_M}月)?{_D}[日号]{_BEFORE}")
_MONTH_RANGE = re.compile(rf"^{_M}月?(?:{_DASH}|、|和){_M}月份?(底|末)?{_BEFORE}")
_MONTH_DAY = re.compile(rf"^{_M}月{_D}(?:[日号](?:前|之前|以前)?|前|之前|以前|$)")
_MONTH_PART = re.compile(rf"^{_M}月(上旬|中旬|下旬){_BEFORE}")
_MONTH_END = re.compile(rf"^{_M}月(?:底|末){_BEFORE}")
_MONTH_BEFORE = re.compile(rf"^{_M}月(?:前|之前|以前)")
_MONTH = re.compile(rf"^{_M}月份?(?:内|中|间|期间)?")
_QUARTER_RANGE = re.compile(
    rf"^第?({_Q}(?:(?:{_DASH}|、|和)?第?{_Q})+)季度(末|底)?{_BEFORE}")
_QUARTER = re.compile(rf"^第?({_Q})季度(末|底)?{_BEFORE}")
_HALF = re.compile(r"^(上半年|下半年|年中)(末|底)?" + _BEFORE)
_YEAR_END = re.compile(r"^(?:年底|年末|年内|年终|年度内|年度末|全年)" + _BEFORE)
_AFTER_YEAR_END = re.compile(r"^(?:底|末|内|终)" + _BEFORE)
_SINCE = re.compile(r"^(?:起|开始|以后|起步)")
_PAST = re.compile(r"^(?:以来|来)")
_FIVE_YEAR = re.compile(r"^[“\"]?十([二三四五六七八九])五[”\"]?(?:期间|时期|末|内)?")
_SPLIT_YEARS = re.compile(r"^分([一二两三四五六七八九十]|\d{1,2})年(?:实施|建设|推进)?(?:完成)?")
_SEMESTER = re.compile(r"^(春季学期|秋季学期|春季|秋季|上学期|下学期|寒假|暑假|暑期)")
_ONGOING = re.compile(r"^(长期坚持|长期|持续推进|持续开展|持续|常态化|常态|经常性|常年|长效)")
_ASAP = re.compile(r"^(尽快|尽早|立即|马上|即时|第一时间)")
_RELATIVE = re.compile(
    r"(\d{1,3}|[一二两三四五六七八九十]{1,3})个?(工作日|日|天|周|个月|月)(?:内|之内|以内)")
_TIMEISH = re.compile(r"(学期|适时|另行通知|另行安排|近期|择机|定期|不定期|适当时候|随时)")

_RECURRENCE = re.compile(
    r"(?<!每.)每(?P<n>\d{1,2}|[一二两三四五六七八九十])?个?(?P<u>半年|年度?|季度?|月|周|星期|旬)")
_ONCE_PER = re.compile(r"一(年|季度?|月|周)一(?=[\u4e00-\u9fff])")
_CONSECUTIVE = re.compile(r"连续(\d{1,2}|[一二两三四五六七八九十])年")
_START_YEAR = re.compile(r"(?:从|自)?(\d{4}|20[xX×*]{2})年?(?:起|开始)")
_COUNT = re.compile(r"(\d{1,3}|[一两二三四五六七八九十]{1,2})次")
_SHARE = re.compile(r"(\d{1,3}(?:\.\d+)?)%")
_YEARLY_QUANTITY = re.compile(
    r"(\d+(?:\.\d+)?)(万|亿)?(个|所|家|户|人次|名|人|座|项|村|套|台|辆|场|次|公里|万亩|亩|%)")


def month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


@dataclass(frozen=True)
class When:
    kind: str  # deadline | period | start | label | ongoing | asap
    start: date | None
    due: date | None
    phrase: str  # the matched phrase (without whitespace)
    end: int  # where the phrase ends, in the text without whitespace
    year: int | None = None  # the explicit year the phrase named (for following clauses)


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
    """One date expression at the start of ``s`` (after any year): (kind, start, due, length)."""
    if (m := _MONTH_DAY_RANGE.match(s)):
        m1, d1, m2, d2 = _month(m[1]), small_int(m[2]), _month(m[3] or m[1]), small_int(m[4])
        start, due = _safe(year, m1, d1), _safe(year, m2, d2)
        if start and due and start <= due:
            return "period", start, due, m.end()
        return None
    if (m := _MONTH_RANGE.match(s)):
        m1, m2 = _month(m[1]), _month(m[2])
        if m1 and m2 and m1 <= m2:
            return "period", date(year, m1, 1), month_end(year, m2), m.end()
        return None
    if (m := _MONTH_DAY.match(s)):
        day = _safe(year, _month(m[1]), small_int(m[2]))
        if day is None:
            return None
        end = m.end()
        rest = s[end:]
        if (r := re.match(rf"^{_DASH}(?:{_M}月)?{_D}[日号]?{_BEFORE}", rest)):
            until = _safe(year, _month(r[1]) or day.month, small_int(r[2]))
            if until and until >= day:
                return "period", day, until, end + r.end()
        return "deadline", day, day, end
    if (m := _MONTH_PART.match(s)):
        mo = _month(m[1])
        if mo is None:
            return None
        first, last = {"上旬": (1, 10), "中旬": (11, 20), "下旬": (21, None)}[m[2]]
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
    if (m := _YEAR_RANGE.match(s)):
        y1, y2 = int(m[1]), int(m[2])
        if 1949 <= y1 <= y2 <= 2200:
            return When("period", date(y1, 1, 1), date(y2, 12, 31), text[:pos + m.end()],
                        pos + m.end(), y2)
        return None
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
        return When("period", date(y, 1, 1), date(y, 12, 31), text[:pos], pos, explicit_year)
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


# -- recurrences --------------------------------------------------------------------------------

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
    if (m := _START_YEAR.search(text)):
        y = int(m[1]) if m[1].isdigit() else year
        if 1949 <= y <= 2200:
            start = date(y, 1, 1)
    consecutive = _CONSECUTIVE.search(text)
    for m in _RECURRENCE.finditer(text):
        unit = m["u"]
        if unit == "季":
            unit = "季度"
        n = small_int(m["n"]) if m["n"] else 1
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
                if (q := re.match(rf"^末月{_D}[日号]?{_BEFORE}", rest)):
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
                if (q := re.match(rf"^{_D}[日号]{_BEFORE}", rest)):
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


# -- schedules ----------------------------------------------------------------------------------


@dataclass
class Step:
    """A dated step of a schedule: becomes a milestone."""

    title: str
    when: When
    line: int | None
    share: Decimal | None = None  # "完成培训任务 30%"
    target: tuple[Decimal, str] | None = None  # "2016 年完成400 个村"
    detail: list[str] = field(default_factory=list)


@dataclass
class Duty:
    """A recurring duty ("每季度至少研究一次"): becomes a task with a recurrence."""

    title: str
    rrule: str
    phrase: str
    start: date | None
    line: int | None


@dataclass
class Issue:
    """A phrase the parser could not turn into a date; it stays in the text."""

    phrase: str
    message: str
    line: int | None
    kind: str = "unresolved"  # unresolved | info


@dataclass
class Schedule:
    steps: list[Step] = field(default_factory=list)
    duties: list[Duty] = field(default_factory=list)
    ongoing: list[str] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    start: date | None = None
    # "每年至少组织 2 次以上": a count per year, not a rhythm: (count, unit, note, due).
    counts: list[tuple[int, str, str, date]] = field(default_factory=list)
    progress: list[tuple[date, str | Decimal]] = field(default_factory=list)
    total: tuple[Decimal, str] | None = None  # the sum of yearly targets

    @property
    def milestones(self) -> list[Step]:
        return [s for s in self.steps if s.when.due is not None]

    @property
    def due(self) -> date | None:
        dues = [s.when.due for s in self.steps if s.when.due is not None]
        dues += [c[3] for c in self.counts]
        return max(dues) if dues else None


_SENTENCES = re.compile(r"[^。;!?\n]+[。;!?]?")
_CLAUSES = re.compile(r"[^,]+,?")
_LEADING = re.compile(r"^(?:前|之前|以前|,|、|:|并且|并|要|需|须|再|将|起|开始)+")


def _clean(title: str) -> str:
    return _LEADING.sub("", title.strip()).strip().rstrip(",;。、")


def _clauses(sentence: str) -> list[str]:
    return [c.rstrip(",") for c in _CLAUSES.findall(sentence) if c.strip(" ,")]


def parse_schedule(text: str, year: int, *, line: int | None = None,
                   strict: bool = True) -> Schedule:
    """Read a schedule.

    ``strict`` is for text that *is* a schedule (a 进度安排 paragraph, a 完成时限 cell): a
    sentence without any date is reported. Otherwise (a task's body text) only dates at the
    start of a clause count, and dateless text is simply text.
    """
    sched = Schedule()
    last_step: Step | None = None
    for raw_sentence in _SENTENCES.findall(text):
        sentence = raw_sentence.strip().rstrip("。;!?").strip()
        if not sentence:
            continue
        flat, _ = compact(sentence)
        recurrences = find_recurrences(flat, year)
        sentence_steps: list[Step] = []
        pending: list[str] = []
        label = ""
        current: Step | None = None
        sticky_year = year
        for clause in _clauses(sentence):
            c, index = compact(clause)
            if not c:
                continue
            when = match_when(c, sticky_year)
            if when is not None and when.year is not None and when.kind != "start":
                sticky_year = when.year
            rest = _clean(clause[index[when.end - 1] + 1:]) if when and when.end else clause
            if rel := _RELATIVE.search(c):
                sched.issues.append(Issue(
                    clause.strip(), f"相对期限“{rel[0]}”：从某一事件起算，不是日历日期；"
                    "事件时间确定后请补写具体日期", line))
            if when is None:
                if current is not None:
                    current.title = f"{current.title},{clause.strip()}" if current.title \
                        else clause.strip()
                else:
                    pending.append(clause.strip())
                continue
            if when.kind == "start":
                sched.start = when.start
                if current is not None:
                    current.title = f"{current.title},{rest}" if current.title else rest
                elif rest:
                    pending.append(rest)
                continue
            if when.kind == "label":
                label = when.phrase
                if rest:
                    pending.append(rest)
                continue
            if when.kind in ("ongoing", "asap"):
                if when.kind == "asap":
                    sched.issues.append(Issue(clause.strip(), f"“{when.phrase}”：未写具体"
                                              "日期，请补写完成期限", line))
                current = Step(clause.strip(), when, line)
                sentence_steps.append(current)
                continue
            step = Step(label + rest if label and rest else (rest or label), when, line)
            if (share := _SHARE.search(squeeze_rest(rest))) and "完成" in rest:
                step.share = Decimal(share[1])
            if when.kind == "period" and when.year is not None and when.start is not None \
                    and when.start == date(when.start.year, 1, 1) \
                    and when.due == date(when.start.year, 12, 31) \
                    and (q := _YEARLY_QUANTITY.search(squeeze_rest(rest))):
                step.target = (Decimal(q[1]), (q[2] or "") + q[3])
            sentence_steps.append(step)
            current = step
        for step in sentence_steps:
            if not step.title:
                step.title = label or step.when.phrase
        sched.steps.extend(sentence_steps)
        sched.ongoing.extend(s.title for s in sentence_steps if s.when.kind == "ongoing")
        dated = [s for s in sentence_steps if s.when.due is not None]

        # Recurring duties: one per recurrence; its title is the sentence (one recurrence) or
        # its own clause (several in one sentence).
        for rec in recurrences:
            if rec.count and rec.count > 1 and rec.period in ("年", "年度") and \
                    rec.rrule == "FREQ=YEARLY":
                sched.counts.append((rec.count, "次", sentence, date(year, 12, 31)))
                continue
            title = sentence if len(recurrences) == 1 else _clause_at(sentence, rec.pos)
            sched.duties.append(Duty(title.strip(), rec.rrule, rec.phrase, rec.start or
                                     sched.start, line))
        if dated:
            last_step = dated[-1]
        if pending and not recurrences:
            if dated or current is not None:
                # "常态开展暗访抽查,…,年终对…": work before the first date has no date of its own.
                joined = ",".join(pending)
                if strict and not any(s.when.kind == "ongoing" for s in sentence_steps):
                    sched.issues.append(Issue(joined, "进度安排中此部分没有日期",
                                              line))
            elif last_step is not None:
                last_step.detail.append(",".join(pending))
            elif strict:
                sched.issues.append(Issue(sentence, "此句进度安排没有日期", line))
        if strict and not dated and not recurrences and (t := _TIMEISH.search(flat)) and \
                not any(i.phrase == sentence for i in sched.issues):
            sched.issues.append(Issue(sentence, f"“{t[0]}”：无法换算为具体日期", line))
    _progress(sched, line)
    return sched


def _clause_at(sentence: str, pos: int) -> str:
    """The clause of ``sentence`` holding position ``pos`` of its whitespace-free form."""
    seen = 0
    for clause in _clauses(sentence):
        length = len(compact(clause)[0]) + 1  # the comma
        if pos < seen + length:
            return clause.strip()
        seen += length
    return sentence


def squeeze_rest(text: str) -> str:
    return compact(text)[0]


def _progress(sched: Schedule, line: int | None) -> None:
    shares = [s for s in sched.steps if s.share is not None and s.when.due is not None]
    if len(shares) >= 2:
        values = [s.share for s in shares]
        total = sum(values, Decimal(0))
        if abs(total - 100) <= Decimal("0.5"):
            running, points = Decimal(0), []
            for s in shares:
                running += s.share  # type: ignore[operator]
                points.append((s.when.due, f"{running.normalize():f}%"))
        elif values == sorted(values) and values[-1] <= 100:  # already cumulative
            points = [(s.when.due, f"{s.share.normalize():f}%") for s in shares]  # type: ignore[union-attr]
        else:
            sched.issues.append(Issue(
                "、".join(f"{v}%" for v in values), "各阶段完成比例既不合计 100%，也不逐期递增："
                "未生成进度计划", line, "unresolved"))
            points = []
        sched.progress = points  # type: ignore[assignment]
    targets = [s for s in sched.steps if s.target is not None and s.when.due is not None]
    units = {s.target[1] for s in targets}  # type: ignore[index]
    years = [s.when.due for s in targets]
    if len(targets) >= 2 and units == {"%"} and years == sorted(set(years)):  # type: ignore[type-var]
        # Rates by year ("2016 年 85%;2017 年 90%"): levels to reach, not amounts to add.
        for s in targets:
            sched.progress.append((s.when.due, s.target[0]))  # type: ignore[arg-type,index]
        sched.total = (targets[-1].target[0], "%")  # type: ignore[index]
        return
    if len(targets) >= 2 and len(units) == 1 and years == sorted(set(years)):  # type: ignore[type-var]
        running = Decimal(0)
        for s in targets:
            running += s.target[0]  # type: ignore[index]
            sched.progress.append((s.when.due, running))  # type: ignore[arg-type]
        sched.total = (running, units.pop())
