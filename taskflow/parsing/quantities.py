"""Targets and money: "培训农民工 500 人次", "资金 20 万元, 其中省级资金 9 万元", "两名以上".

A task's target is the first quantity that follows a verb (培训, 资助, 完成, 新建…) in its text,
else its first quantity; ranges ("3—5 个") give their lower bound. Money becomes fund lines:
when a total is followed by parts (其中…) that add up to it, the parts are the lines; amounts
that are standards ("每生每年 3000 元", "1万元/家", "5万元以下") are not budget lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from taskflow.parsing.numbers import CN_DIGITS, decimal

_NUM = rf"(?:\d+(?:\.\d+)?|[{CN_DIGITS}]+)"
_MEASURES = ("人次", "万亩", "平方米", "立方米", "公里", "千米", "万人", "万户", "个", "名",
             "人", "位", "所", "家", "户", "座", "场", "项", "套", "台", "辆", "份", "期", "批",
             "支", "间", "处", "条", "块", "张", "本", "册", "吨", "头", "只", "株", "棵", "件",
             "篇", "亩", "米", "次", "村", "团队", "%")
_QUANTITY = re.compile(
    rf"(?<![\d.A-Za-z])(?P<a>{_NUM})(?:\s*[—\-~～至到]\s*(?P<b>{_NUM}))?\s*(?P<mul>万|亿)?\s*"
    rf"(?P<unit>{'|'.join(map(re.escape, _MEASURES))})(?P<cls>\((?:次|个)\))?")
_MONEY = re.compile(
    rf"(?<![\d.])(?P<a>\d+(?:\.\d+)?|[{CN_DIGITS}]+)\s*(?P<mul>万|亿)?\s*元")
_VERB = re.compile(r"(培训|资助|完成|新建|建设|建成|招募|帮扶|改造|组织|举办|覆盖|实现|达到|达|"
                   r"培养|配备|放映|安排|吸纳|转移|带动|发展|扶持|救助|开展|实施|创建|打造|"
                   r"选派|提供|解决|支援|新增|种植|修建|落实|发放|搬迁|招聘|开设|入驻)")
_COUNT_GOES_ON = re.compile(r"以上|以下|左右|的|次|人次")
_NOUN_END = re.compile(r"[,;。、(：:的\s]|$")
# "每生…3000 元", "按…", "人均…": a standard. "每年投资 389.28 万元" is a yearly budget line.
_PER = re.compile(r"(每[^年季月周\d,;。][^\d,;。]{0,5}$|按$|人均$|平均$|户均$|标准$)")


@dataclass
class Quantity:
    value: Decimal
    unit: str
    text: str  # as written ("3—5 个")
    clause: str
    start: int
    verb: bool  # a verb comes shortly before it in the same clause


@dataclass
class Money:
    amount: Decimal  # yuan
    text: str
    context: str  # the words before it in the clause
    after: str  # the words after it (a parenthetical often names the source)
    standard: bool  # a per-unit standard or a cap, not a budget line
    start: int


def _clause_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    left = max(text.rfind(p, 0, start) for p in ",;。!?\n") + 1
    rights = [i for p in ",;。!?\n" if (i := text.find(p, end)) != -1]
    return left, min(rights) if rights else len(text)


def quantities(text: str, *, arabic: bool = False) -> list[Quantity]:
    out: list[Quantity] = []
    for m in _QUANTITY.finditer(text):
        value = decimal(m["a"])
        if value is None:
            continue
        if not m["a"][0].isdigit():  # a Chinese numeral: only counts of two or more
            if arabic or text[max(0, m.start() - 1):m.start()] in "“\"《":
                continue
            if value < 2 or m["unit"] in ("次", "个", "人", "%", "期", "批", "项", "条", "处"):
                continue
            after = text[m.end():m.end() + 2]
            if m["unit"] in ("村", "乡", "镇") or (
                    re.match(r"[\u4e00-\u9fff]", after) and not _COUNT_GOES_ON.match(after)):
                # "日峰镇五一村塘源排洪渠", "民生十件实事": a name, not a count.
                continue
        if m.group(0).rstrip().endswith("年"):
            continue
        unit = m["unit"]
        if m["mul"]:
            unit = m["mul"] + unit
        if m["cls"]:
            unit += m["cls"]
        if unit == "个" and re.match(r"(?:月|季度|工作日|日|天|周|星期|年|百分点)", text[m.end():]):
            continue  # "第1个月的20日前", "10个工作日内": a time, not a target
        if unit == "个":
            rest = text[m.end():m.end() + 12]
            noun = _NOUN_END.search(rest)
            if noun and 0 < noun.start() <= 8:
                unit += rest[:noun.start()]
        left, right = _clause_bounds(text, m.start(), m.end())
        before = text[left:m.start()]
        if text[m.end():m.end() + 1] == "/" and unit != "%":
            continue  # "3500元/人", "1万元/家": a rate, not a quantity
        verb = bool(_VERB.search(before[-12:]))
        out.append(Quantity(value, unit, m.group(0).strip(), text[left:right].strip(),
                            m.start(), verb))
    return out


def target(text: str, *, arabic: bool = False) -> Quantity | None:
    """The quantity a task is measured by, or None (``arabic``: figures only, for titles)."""
    found = [q for q in quantities(text, arabic=arabic) if q.unit != "%" or q.verb]
    if not found:
        found = quantities(text, arabic=arabic)
    if not found:
        return None
    # A range ("1-2个", "3—5 个") is a weaker candidate than a single figure.
    single = [q for q in found if not re.search(r"\d\s*[—\-~～至到]", q.text)]
    with_verb = [q for q in single if q.verb]
    return (with_verb or single or found)[0]


def money(text: str) -> list[Money]:
    out: list[Money] = []
    standard_until = -1  # inside the parenthesis that details a standard: standards too
    for m in _MONEY.finditer(text):
        value = decimal(m["a"])
        if value is None:
            continue
        factor = {"万": Decimal(10_000), "亿": Decimal(100_000_000), None: Decimal(1)}[m["mul"]]
        left, right = _clause_bounds(text, m.start(), m.end())
        before = text[left:m.start()]
        after = text[m.end():right]
        standard = bool(_PER.search(before.rstrip())) or after.startswith("/") or \
            bool(re.match(r"^\s*(?:以下|以内|以上|左右|/)", after)) or "标准" in after[:4] or \
            bool(re.search(r"每[生人户村所个家站]", before)) or m.start() < standard_until
        if standard and text[m.end():m.end() + 1] in "(（":
            close = text.find(")", m.end())
            standard_until = close if close != -1 else len(text)
        out.append(Money((value * factor).quantize(Decimal("0.01")), m.group(0), before,
                         after, standard, m.start()))
    return out


def fund_source(context: str, after: str = "") -> str:
    """Which level of government (or society) a fund line's words name."""
    source = _source_of(context)
    if source != "other":
        return source
    # The words right after the amount: "(中央财政资金)", "中央财政专项资金".
    m = re.match(r"^\s*(\([^)]*\)|[\u4e00-\u9fff]{0,10})", after)
    return _source_of(m[1] if m else "")


def _source_of(words: str) -> str:
    levels = [lvl for key, lvl in (("中央", "central"), ("央", "central"), ("省", "provincial"),
                                   ("市级", "municipal"), ("市、", "municipal"),
                                   ("市财政", "municipal"), ("州级", "municipal"),
                                   ("县级", "county"), ("区级", "county"), ("县财政", "county"),
                                   ("区财政", "county"), ("乡镇", "township"))
              if key in words]
    if len(set(levels)) > 1:
        return "government"
    if levels:
        return levels[0]
    if re.search(r"社会|募集|捐|企业|自筹", words):
        return "social"
    if re.search(r"财政|政府|专项|整合|争取|彩票", words):
        return "government"
    return "other"


_TOTAL = re.compile(r"(共需|总投资|合计|总计|共计|投入各类|投入资金|安排资金|投资)")
_PART = re.compile(r"其中")


def fund_lines(text: str) -> list[dict]:
    """Fund lines (plan-file form) from a text: parts of a total, or single amounts."""
    found = [m for m in money(text) if not m.standard]
    if not found:
        return []
    lines: list[Money] = list(found)
    if len(found) >= 2:
        first, rest = found[0], found[1:]
        total = sum((m.amount for m in rest), Decimal(0))
        tolerance = max(first.amount * Decimal("0.01"), Decimal("0.01"))
        if abs(total - first.amount) <= tolerance or (
                _PART.search(text[first.start:rest[0].start + 1]) and total <= first.amount):
            lines = rest if abs(total - first.amount) <= tolerance else found
    total_source = fund_source(found[0].context, found[0].after)
    if total_source == "other" and "财政" in text:
        total_source = "government"
    out = []
    for m in lines:
        source = fund_source(m.context, m.after)
        if source == "other":
            source = total_source if total_source != "other" else "government"
        words = re.split(r"[、和]|\d+(?:\.\d+)?\s*[万亿]?元", m.context)[-1]
        tail = re.match(r"^\s*(?:\([^)]*\)|[\u4e00-\u9fff]{0,8}资金)?", m.after)[0]  # type: ignore[index]
        note = (words.strip() + m.text + tail.strip()).strip(" ,:;。")
        note = re.sub(r"^(?:其中|计划|安排|共需)+[,:]?", "", note, count=1).strip(" ,:")
        line = {"source": source, "amount": _amount(m.amount)}
        if note:
            line["note"] = note if len(note) <= 60 else note[:60] + "…"
        out.append(line)
    return out


def _amount(yuan: Decimal) -> str:
    if yuan >= 100_000_000 and (yuan / 100_000_000) == (yuan / 100_000_000).quantize(
            Decimal("0.01")):
        return f"{(yuan / 100_000_000).normalize():f}亿元"
    if yuan >= 10_000:
        return f"{(yuan / 10_000).normalize():f}万元"
    return f"{yuan.normalize():f}"
