"""The schedule grammar: 进度安排 text → dated steps, recurring duties, progress plans, issues.

A schedule is split into sentences (。;) and clauses (,): a clause that starts with a date
phrase (``taskflow.parsing.dates``) starts a step, clauses without one continue the step
before. In a task's running text (not a 进度安排) a date counts only where the words make it a
deadline: at the start of a clause, or after 于/在 ("第一批验收结果于6月30日前上报"), or
followed by 前/底前; dates in sentences that report past work ("进行了", "已完成") are not
deadlines. Recurrences (``taskflow.parsing.recurrence``) become duties. Nothing here makes up
a date: a phrase that does not resolve stays in the text and is reported as an ``Issue``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal

from taskflow.parsing.dates import When, match_when, month_end, resolve
from taskflow.parsing.recurrence import Recurrence, find_recurrences
from taskflow.parsing.text import compact

__all__ = ["Duty", "Issue", "Recurrence", "Schedule", "Step", "When", "find_recurrences",
           "match_when", "month_end", "parse_schedule", "resolve"]

_RELATIVE = re.compile(
    r"(\d{1,3}|[一二两三四五六七八九十]{1,3})个?(工作日|日|天|周|个月|月)(?:内|之内|以内)")
_TIMEISH = re.compile(r"(学期|适时|另行通知|另行安排|近期|择机|定期|不定期|适当时候|随时)")
_SHARE = re.compile(r"(\d{1,3}(?:\.\d+)?)%")
_YEARLY_QUANTITY = re.compile(
    r"(\d+(?:\.\d+)?)(万|亿)?(个|所|家|户|人次|名|人|座|项|村|套|台|辆|场|次|公里|万亩|亩|%)")

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
    lead_in: str = ""  # the words before a date inside its clause ("省政府各牵头部门要")
    sentence: str = ""  # the sentence it was read from (its actor is found there)


@dataclass
class Duty:
    """A recurring duty ("每季度至少研究一次"): becomes a task with a recurrence."""

    title: str
    rrule: str
    phrase: str
    start: date | None
    line: int | None
    sentence: str = ""


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
# Where a date may start inside a clause: after 于/在, or at a month, year or quarter word.
_INNER = re.compile(
    r"[于在](?=[\d一二三四五六七八九十今明次本年上下第每])|(?<![\d.])\d{1,4}(?=\s*(?:年|月|[.\-/]\d))|"
    r"(?<![一二三四五六七八九十])[一二三四五六七八九十](?=[一二]?月)|"
    r"年[底末终]|第?[一二三四]季度|[上下]半年|今年|明年")
# Nothing in a text can be a date or a rhythm without one of these.
_DATEISH = re.compile(r"[\d月年季旬底末半每逐周今明起〇○零]|持续|长期|常态|常年|经常|尽快|尽早|"
                      r"立即|马上|第一时间|适时|学期|另行|工作日|十.五|择机|定期|近期|随时|季|春|秋|"
                      r"暑|寒|长效|即时")
# "年底兑现", "年底交账": a year's end followed by what is due then.
_DUE_VERB = re.compile(r"^(?:兑现|交账|完成|建成|见效|达标|验收|到位|前)")
# A year alone counts in running text only where the words make it a deadline.
_YEAR_VERB = re.compile(
    r"^(?:要|将|计划|力争|确保|全面|基本|累计|新建|新增|完成|实现|建成|达到|启动|实施|培训|"
    r"帮扶|改造|覆盖|全部|底|末|内)")
# Reports of work done: a date there is history, not a deadline.
_PAST_WORK = re.compile(
    r"[\u4e00-\u9fff](?:了)(?![解])|已经|已(?:完成|达标|建成|实施|启动|开展|制定|下达|拨付|"
    r"全面|基本|落实|签订|印发|出台)")


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
    if not _DATEISH.search(text):
        if strict and text.strip():
            sched.issues.append(Issue(text.strip(), "此句进度安排没有日期", line))
        return sched
    last_step: Step | None = None
    for raw_sentence in _SENTENCES.findall(text):
        sentence = raw_sentence.strip().rstrip("。;!?").strip()
        if not sentence or (not strict and not _DATEISH.search(sentence)):
            continue  # running text without a date word: nothing to read here
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
            lead_in = ""
            if when is not None and when.bare and not strict and when.phrase[:1].isdigit() \
                    and not _YEAR_VERB.match(c[when.end:]):
                when = None  # "2015年贫困山区…项目": a year naming things, not a deadline
            if when is None and (inner := _inner_when(c, sticky_year)) is not None:
                when, at = inner
                lead_in = clause[:index[at]].strip() if at else ""
            if when is not None and when.year is not None and when.kind != "start":
                sticky_year = when.year
            if when is not None and when.kind == "invalid":
                sched.issues.append(Issue(when.phrase, f"“{when.phrase}”不是有效日期：未设完成"
                                          "期限，请核对原文", line))
                when = None
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
            step = Step(label + rest if label and rest else (rest or label), when, line,
                        lead_in=lead_in, sentence=sentence)
            if (share := _SHARE.search(squeeze_rest(rest))) and "完成" in rest:
                step.share = Decimal(share[1])
            if when.kind == "period" and when.year is not None and when.start is not None \
                    and when.start == date(when.start.year, 1, 1) \
                    and when.due == date(when.start.year, 12, 31) \
                    and (q := _YEARLY_QUANTITY.search(squeeze_rest(rest))):
                step.target = (Decimal(q[1]), (q[2] or "") + q[3])
            sentence_steps.append(step)
            current = step
        if not strict:
            # "7月中上旬,…进行了核准备案": a step whose words report work done is history.
            sentence_steps = [st for st in sentence_steps
                              if not _PAST_WORK.search(compact(st.lead_in + st.title)[0])]
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
                                     sched.start, line, sentence))
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


def _inner_when(c: str, year: int) -> tuple[When, int] | None:
    """A deadline inside a clause (no whitespace) and where it starts: "第一批验收结果于6月30日前
    上报", "省政府各牵头部门要于1月底前完成", "年底兑现". Bare months and years inside a clause
    are not deadlines ("对2016年度…项目进行了核准")."""
    rhythm = "每" in c or "逐" in c
    for m in _INNER.finditer(c, 1):
        at = m.start()
        if rhythm and c.count("(", 0, at) > c.count(")", 0, at):
            continue  # "每季度末(分别在6月、9月和12月底)": the rhythm's months, no deadline
        when = match_when(c[at:], year)
        if when is None or when.kind in ("label", "ongoing", "asap", "start"):
            continue
        phrase = when.phrase
        marked = c[at] in "于在"
        if when.kind == "invalid" and (marked or phrase.endswith(("前", "日", "号"))):
            return replace(when, end=at + when.end), at
        if when.due is None or (when.bare and not _YEAR_VERB.match(c[at + when.end:])):
            continue
        before = phrase.endswith(("前", "之前", "以前")) or (
            when.kind == "deadline" and phrase.endswith(("底", "末")))
        year_end = phrase.endswith(("年底", "年末", "年终")) and _DUE_VERB.match(
            c[at + when.end:])
        if marked or before or year_end:
            return replace(when, end=at + when.end), at
    return None


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
