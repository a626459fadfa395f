"""Facts about a whole document: its own year, its issuer, rules it states for itself.

- **Year.** A plan's dates without a year resolve in the document's own year: the date it was
  signed or published ("2016年8月29日", "二○○七年四月十三日", "成文日期:2016-08-29",
  "发布时间: 2018-09-05"), else the years of its dated deadlines ("到 2019 年底", "2016 年
  完成400 个村"), never years that name past work or things ("2015年度…项目", "对 2020 年已
  达标的…", "从2002年起,…完成了", "2003年以来"). "20xx" in the text means the plan year is a
  parameter of the import.
- **Issuer.** The unit named on the signature line above the date ("沙市镇人民政府"), in a
  "发布机构:" / "信息来源:" field, or as the subject of the opening sentence ("县林业局在专项
  扶贫工作中…"): used to infer the jurisdiction and to resolve "我局".
- **Document rules.** "列第一位的责任单位为牵头单位": in every list of 责任单位 without a
  牵头单位, the first unit leads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from taskflow.parsing.actors import actor_at, is_unit_name
from taskflow.parsing.dates import match_when
from taskflow.parsing.numbers import cn_year
from taskflow.parsing.text import squeeze

_CN = "〇○零一二三四五六七八九十"
_FULL_DATE = (r"(?P<y>(?:19|20)\d{2})\s*(?:年\s*(?P<m>\d{1,2})\s*月\s*(?P<d>\d{1,2})\s*日|"
              r"[-./](?P<m2>\d{1,2})[-./](?P<d2>\d{1,2}))|"
              rf"(?P<cy>[{_CN}]{{4}})年[{_CN}]{{1,2}}月[{_CN}]{{1,3}}日")
_LABELLED_DATE = re.compile(r"(?:成文日期|发布日期|发布时间|印发日期|发文日期|日期)\s*[:：]?\s*"
                            rf"(?:{_FULL_DATE})")
# A line that is a date: the signature's ("2016年8月29日"), or a posting stamp ("2017-09-21 00:00").
_DATE_LINE = re.compile(rf"^\s*(?:{_FULL_DATE})(?:\s*印发|\s+\d{{1,2}}:\d{{2}}.*)?\s*$")
_SIGNED = re.compile(rf"^(?P<who>[\u4e00-\u9fff() ]{{4,40}}?)\s*(?:{_FULL_DATE})(?:\s*印发)?\s*$")
_PLACEHOLDER_YEAR = re.compile(r"20[xX×*]{2}")
_YEAR_MENTION = re.compile(r"(?<![〔\[\d(（])(?:19|20)\d{2}\s*年")
_FIELD_ISSUER = re.compile(r"(?:发布机构|信息来源|来源|发文机关|发文单位)\s*[:：]\s*"
                           r"(?P<who>[\u4e00-\u9fff()]{3,30})")
_FIRST_IS_LEAD = re.compile(r"列(?:第一|首)位的(?:为|是)?(?:责任单位|单位)?(?:为|是)牵头(?:单位)?")
_PAST_AFTER = re.compile(r"^(?:以来|来|的基础上|已|底的|年底的|的)")
_SELF = re.compile(r"我(?P<kind>局|委|办|县|市|区|镇|乡|厅|部|中心|站|所|院)")


def _year_of(m: re.Match[str]) -> int | None:
    if m["y"]:
        return int(m["y"])
    if m["cy"]:
        return cn_year(m["cy"])
    return None


@dataclass
class DocumentFacts:
    year: int | None  # the document's own year, or None
    year_source: str  # why: "落款日期 2016年8月29日", "文中期限 2019 年底"…
    year_line: int | None
    placeholder: bool  # "20xx" is written: the year is the import's
    issuer: str | None
    issuer_line: int | None
    first_is_lead: bool
    author: str | None = None  # the issuer when the text speaks as it ("我局")


def document_facts(paras: list[tuple[int, str]]) -> DocumentFacts:
    texts = [t for _, t in paras]
    year, source, year_line = _dated_year(paras)
    if year is None:
        year, source, year_line = _deadline_year(paras)
    issuer, line = _issuer(paras)
    joined = squeeze("".join(texts))
    author = self_reference(joined, issuer) if issuer else None
    return DocumentFacts(year, source, year_line, bool(_PLACEHOLDER_YEAR.search(joined)),
                         issuer, line, bool(_FIRST_IS_LEAD.search(joined)), author)


def _dated_year(paras: list[tuple[int, str]]) -> tuple[int | None, str, int | None]:
    """The signing or publishing date: a labelled date anywhere, else a line that is a date."""
    for line, text in paras:
        if (m := _LABELLED_DATE.search(text)) and (y := _year_of(m)):
            return y, f"发布日期 {m[0].split(':')[-1].split('：')[-1].strip()}", line
    for line, text in reversed(paras):
        stripped = text.strip()
        if len(stripped) > 60:
            continue
        m = _DATE_LINE.search(stripped) or _SIGNED.match(stripped)
        if m and (y := _year_of(m)):
            return y, f"落款日期 {m.group(0).strip()[-16:].strip()}", line
    return None, "", None


def _deadline_year(paras: list[tuple[int, str]]) -> tuple[int | None, str, int | None]:
    """The earliest year of a dated deadline in the text (not of past work or of things)."""
    best: tuple[int, str, int] | None = None
    for line, text in paras:
        flat = squeeze(text)
        for m in _YEAR_MENTION.finditer(flat):
            start = m.start()
            when = match_when(flat[start:], 2000)
            if when is None or when.kind in ("start", "invalid") or when.year is None:
                continue
            after = flat[start + when.end:]
            if _PAST_AFTER.match(after):
                continue
            if when.bare and not re.match(r"(?:要|将|计划|力争|确保|全面|基本|累计|新建|新增|完成|"
                                          r"实现|建成|达到|帮扶|改造|覆盖|底|末|内)", after):
                continue
            clause = re.split(r"[,;。]", after, maxsplit=1)[0]
            if re.search(r"[\u4e00-\u9fff]了|已经", clause):
                continue  # "到2012年全县…完成了整村推进": history
            if best is None or when.year < best[0]:
                best = (when.year, f"文中期限“{when.phrase}”", line)
    return best if best else (None, "", None)


def _issuer(paras: list[tuple[int, str]]) -> tuple[str | None, int | None]:
    """The issuing unit: a "发布机构:" field, the signature line above the date, a line that is
    only a unit's name at the top, or the subject of the opening sentence."""
    for line, text in paras[:12]:
        if (m := _FIELD_ISSUER.search(text)) and is_unit_name(m["who"]):
            return m["who"], line
    for i, (line, text) in enumerate(paras):
        stripped = text.strip()
        if _DATE_LINE.search(stripped) and i > 0:
            prev_line, prev = paras[i - 1]
            name = squeeze(prev)
            if is_unit_name(name) and len(name) <= 30:
                return name, prev_line
        if (m := _SIGNED.match(stripped)) and is_unit_name(squeeze(m["who"])):
            return squeeze(m["who"]), line
    for line, text in paras[:6]:
        name = squeeze(text)
        if is_unit_name(name) and len(name) <= 30 and ("政府" in name or name.endswith(
                ("局", "委", "办", "办公室", "小组", "委员会", "厅"))):
            return name, line
    joined = "".join(t for _, t in paras)
    for line, text in paras[:3]:
        # "20xx年,县林业局在专项扶贫工作中…" in a text that says 我局: the author.
        actor = actor_at(squeeze(re.sub(r"^\s*(?:20[\dxX*]{2}|今年)\s*年?,?", "", text)))
        if actor is not None and len(actor.names) == 1 and \
                self_reference(joined, actor.names[0]) == actor.names[0]:
            return actor.names[0], line
    return None, None


def self_reference(text: str, issuer: str | None) -> str | None:
    """"我局" → the issuer when the issuer is a 局 (the document speaking of itself)."""
    m = _SELF.search(text)
    if m is None or issuer is None:
        return None
    return issuer if issuer.endswith(m["kind"]) else None
