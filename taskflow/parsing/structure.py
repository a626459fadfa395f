"""Document structure: 篇 parts, numbering levels, headings, labels, task nodes.

A document is a stream of blocks: paragraphs (with their source line) and tables (rows of cells,
from Word, Excel, Markdown or cells flattened one per line). Numbering markers — 一、 (一) 1. 1、
(1) ① 1.1 and Markdown #s — open nodes; their depth follows the order in which the styles
first appear, as in an outline. Several markers on one line ("二、重点工作 (一)定点扶贫工作
1.省、市直部门…") are split apart. Labelled paragraphs (主要任务: 进度安排: 牵头单位: 完成时限:)
attach to the node they follow.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from taskflow.parsing.text import Para
from taskflow.parsing.units import UnitRefs, find_parenthetical, labelled, looks_like_unit, verbal

_CN = "一二三四五六七八九十"
MARKERS: list[tuple[str, re.Pattern[str]]] = [
    ("md", re.compile(r"^(#{1,6})\s+")),
    ("cn", re.compile(rf"^([{_CN}]{{1,3}})\s*[、.．](?![{_CN}]{{1,2}}[、季])\s*")),
    ("pcn", re.compile(rf"^[(（]\s*([{_CN}]{{1,3}})\s*[)）]\s*")),
    ("dotted", re.compile(r"^(\d{1,2}(?:\.\d{1,2}){1,3})(?![\d%.])\s*(?![万亿元个%])")),
    ("num", re.compile(r"^(\d{1,2})\s*[.、．](?![\d%])\s*")),
    ("pnum", re.compile(r"^[(（]\s*(\d{1,2})\s*[)）]\s*")),
    ("circ", re.compile(r"^([①-⑳])\s*")),
]
_INLINE = re.compile(
    rf"\s+(?=(?:[{_CN}]{{1,3}}、(?![{_CN}]{{1,2}}[、季])|[(（][{_CN}]{{1,3}}[)）]|"
    r"\d{1,2}[.、](?![\d%])|[(（]\d{1,2}[)）][\u4e00-\u9fff]|[①-⑳]))")
_FIRST_SUB = re.compile(r"[(（]一[)）]|1[.、](?!\d)")
PART = re.compile(r"^篇\s*([0-9]{1,3}|[一二三四五六七八九十]{1,3})\s*[:：]?\s*(.*)$")
_ATTACHMENTS = re.compile(r"^附\s*件\s*\d{0,2}\s*[:：]")
_ATTACHMENT_ITEM = re.compile(r"^\s*\d{1,2}\s*[.、．]")  # "2.2018年民生十件实事任务分解表"
_LIST_BULLET = re.compile(r"^(?:[-*+]\s+|>\s*)")
_MD_EMPHASIS = re.compile(r"\*\*|__|`")


def marker(text: str) -> tuple[str, str, int] | None:
    """(style, number, length) of the numbering marker that starts ``text``."""
    for style, pattern in MARKERS:
        if (m := pattern.match(text)):
            if style == "dotted":
                return f"dotted{m[1].count('.')}", m[1], m.end()
            if style == "md":
                return f"md{len(m[1])}", "", m.end()
            return style, m[1], m.end()
    return None


def starts_block(text: str) -> bool:
    return bool(marker(text) or PART.match(text) or labelled(text)[0] or labelled(text)[1])


@dataclass
class Labelled:
    kind: str  # text | schedule | due | target | funds
    text: str
    line: int


@dataclass
class Node:
    style: str
    number: str
    title: str
    line: int
    ref: str = ""  # "line 37", "Sheet1 row 5", "table 1 row 3"
    body: list[tuple[int, str]] = field(default_factory=list)
    labels: list[Labelled] = field(default_factory=list)
    units: UnitRefs = field(default_factory=UnitRefs)
    children: list[Node] = field(default_factory=list)
    extra: dict = field(default_factory=dict)  # from tables: funds column, progress
    long_title: str | None = None  # the full first sentence when the title was shortened

    def label(self, kind: str) -> list[Labelled]:
        return [lab for lab in self.labels if lab.kind == kind]


@dataclass
class Part:
    number: int | None
    title: str
    line: int
    end_line: int
    preamble: list[tuple[int, str]] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)  # top level
    back: list[tuple[int, str]] = field(default_factory=list)  # 附件 lists: not tasks
    tables_seen: int = 0


def _split_inline(text: str) -> list[str]:
    parts = _INLINE.split(text)
    out: list[str] = []
    for part in parts:
        # "四、政策措施(一)统筹整合资源": a heading with its first item glued on.
        m = marker(part)
        if m and m[0] == "cn":
            sub = _FIRST_SUB.search(part, m[2])
            if sub and sub.start() - m[2] <= 12 and not re.search(r"[,。;:]",
                                                                   part[m[2]:sub.start()]):
                out.extend([part[:sub.start()].strip(), part[sub.start():].strip()])
                continue
        out.append(part.strip())
    return [p for p in out if p]


def _title_and_body(style: str, text: str) -> tuple[str, str, UnitRefs, str | None]:
    """Split an item's text into (title, body, units from a parenthetical, long title)."""
    refs = UnitRefs()
    if style == "cn" or style.startswith("md"):
        # Section headings: "一、对象范围 全省 42 个…", "三、资金筹措 20xx 年…".
        m = re.match(r"^([^\s。:;,]{1,20})(?:[\s。:]+|$)", text)
        if m and len(text) > m.end() and re.search(r"\s", text[len(m[1]):len(m[1]) + 1]):
            return m[1].strip(), text[m.end():].strip(), refs, None
        if m and m.end() >= len(text.rstrip("。:")):
            return m[1].strip().rstrip("。:"), "", refs, None
    first_stop = re.search(r"[。;:]", text)
    end = first_stop.start() if first_stop else len(text)
    paren = find_parenthetical(text)
    if paren and paren[0] > end + 1 and paren[1] >= len(text.rstrip("。;. ")) and first_stop:
        # "1.保持帮扶政策总体稳定。…。(责任单位:X牵头,Y参加)": the units close the item.
        start, stop, refs = paren
        title = text[:end].strip()
        body = (text[end + 1:start] + text[stop:]).strip().rstrip("。").strip()
        short, rest, long_title = _shorten(title, body)
        return short, rest, refs, long_title
    if paren and paren[0] <= end + 1:
        start, stop, refs = paren
        title = text[:start].strip().rstrip("。,;:").strip()
        body = text[stop:].strip().lstrip("。,;").strip()
        if title:
            short, rest, long_title = _shorten(title, body)
            return short, rest, refs, long_title
    title = text[:end].strip()
    body = text[end + 1:].strip() if first_stop and text[end] == "。" else text[end:].strip()
    if first_stop and text[end] in ":":
        body = text[end + 1:].strip()
        # "工作开展情况:…" after the title is a label for the body, kept as body.
    title, body, long_title = _shorten(title, body)
    return title, body, refs, long_title


_TRAILING_PAREN = re.compile(r"^(?P<title>.+?)\s*[(（](?P<when>[^()（）]{2,30})[)）]\s*[。:：]?$")


def heading_date(title: str) -> tuple[str, str | None]:
    """"专项整治阶段(2010年6月23日至11月20日)" → ("专项整治阶段", "2010年6月23日至11月20日"):
    a heading whose parenthesis is a date phrase and nothing else."""
    from taskflow.parsing.dates import resolve
    from taskflow.parsing.text import normalize

    m = _TRAILING_PAREN.match(title)
    if m is None:
        return title, None
    when = resolve(normalize(m["when"]), 2000)
    if when is None or when.kind not in ("deadline", "period", "invalid"):
        return title, None
    return m["title"].strip(), m["when"].strip()


def _shorten(title: str, body: str) -> tuple[str, str, str | None]:
    """A title longer than 40 characters keeps its first clause that is not only a date."""
    if len(title) <= 40:
        return title, body, None
    from taskflow.parsing.schedule import match_when
    from taskflow.parsing.text import squeeze

    clauses = [c.strip() for c in re.split(r"[,;]", title) if c.strip()]
    for clause in clauses:
        flat = squeeze(clause)
        when = match_when(flat, 2000)
        if when is not None and when.end >= len(flat) - 1:
            continue
        short = clause if len(clause) <= 40 else clause[:40] + "…"
        # The whole sentence stays in the task's text.
        return short, (title + "。" + body) if body else title, title
    return title[:40] + "…", (title + "。" + body) if body else title, title


class Builder:
    """Consumes blocks of one part and builds its node tree."""

    def __init__(self, part: Part, markdown: bool = False):
        self.part = part
        self.markdown = markdown
        self.styles: list[str] = []  # open styles, outermost first
        self.stack: list[Node] = []
        self.attachments = False  # inside "附件:1.…\n2.…": a list of attachments, not tasks
        self.carry: list[str] = []  # units a bracket said 下同 of: every item after it

    @property
    def current(self) -> Node | None:
        return self.stack[-1] if self.stack else None

    def open(self, node: Node) -> None:
        """Place ``node`` by its style: a style already open closes back to its level."""
        if node.style in self.styles:
            depth = self.styles.index(node.style)
            del self.styles[depth:]
            del self.stack[depth:]
        elif node.style == "cn":
            # "五、工作要求" after "(二)…", "1.…" in an excerpt: 一、 is never inside (一) or 1.
            depth = next((i for i, st in enumerate(self.styles) if not st.startswith("md")),
                         len(self.styles))
            del self.styles[depth:]
            del self.stack[depth:]
        parent = self.stack[-1] if self.stack else None
        (parent.children if parent else self.part.nodes).append(node)
        self.stack.append(node)
        self.styles.append(node.style)

    def carry_units(self, node: Node) -> None:
        """"〔责任单位:…。具体任务均涉及相关市(州)人民政府,不再做分工,下同。〕": those units
        are on this item and every item after it that names units."""
        if node.units.carry:
            self.carry = list(node.units.carry)
        elif self.carry and (node.units.lead or node.units.responsible):
            added = [n for n in self.carry if n not in node.units.responsible]
            node.units.responsible.extend(added)
            if added:
                node.extra["carried_units"] = added

    def paragraph(self, line: int, raw: str, ref: str | None = None) -> None:
        text = raw.strip()
        if self.markdown:
            text = _MD_EMPHASIS.sub("", _LIST_BULLET.sub("", text))
        if _ATTACHMENTS.match(text):
            self.attachments = True
            self.part.back.append((line, text))
            return
        if self.attachments and _ATTACHMENT_ITEM.match(text) and len(text) <= 50 and \
                not re.search(r"[。;,]", text):
            self.part.back.append((line, text))  # "2.大英县2017年贫困户退出目标任务"
            return
        self.attachments = False
        for segment in _split_inline(text):
            self.segment(line, segment, ref)

    def segment(self, line: int, text: str, ref: str | None) -> None:
        found = marker(text)
        if found is not None:
            style, number, length = found
            rest = text[length:].strip()
            if not rest:
                return
            if style.startswith("md"):
                inner = marker(rest)
                if inner is not None:  # "## 一、重点任务": the heading's own numbering counts
                    style, number, length = inner
                    rest = rest[length:].strip()
                elif style == "md1" and not self.part.nodes and not self.part.preamble:
                    self.part.preamble.append((line, rest))  # "# 方案标题"
                    return
            title, body, refs, long_title = _title_and_body(style, rest)
            title, when = heading_date(title)
            node = Node(style, number, title or rest[:40], line, ref or f"line {line}",
                        units=refs, long_title=long_title)
            if when:
                node.labels.append(Labelled("schedule", when, line))
                node.extra["heading_date"] = when
            if refs.due:
                node.labels.append(Labelled("due", refs.due, line))
            if when or re.search(r"(?:阶段|步骤)$", node.title):
                node.extra["phase"] = True
            self.carry_units(node)
            self.open(node)
            if body:
                self.attach(line, body)
            return
        self.attach(line, text)

    def attach(self, line: int, text: str) -> None:
        node = self.current
        refs, other, before = labelled(text)
        if refs or other:
            if before.strip():
                self.body(line, before.strip())
            if node is None:
                self.part.preamble.append((line, text))
                return
            node.units.merge(refs)
            for kind, value in other.items():
                node.labels.append(Labelled(kind, value, line))
            return
        if node is not None and len(text) <= 60:
            refs_v = verbal(text.strip().rstrip("。"))
            if refs_v is not None and all(looks_like_unit(n) for n in refs_v.lead +
                                          refs_v.responsible + refs_v.cooperating):
                node.units.merge(refs_v)
                return
        self.body(line, text)

    def body(self, line: int, text: str) -> None:
        if self.current is None:
            self.part.preamble.append((line, text))
        else:
            self.current.body.append((line, text))


def split_parts(paras: list[Para]) -> list[tuple[int | None, str, list[Para]]]:
    """篇N headings split a document into parts; without them it is one part."""
    parts: list[tuple[int | None, str, list[Para]]] = []
    head: list[Para] = []
    for para in paras:
        m = PART.match(para.text)
        if m:
            from taskflow.parsing.numbers import small_int

            number = small_int(m[1]) if not m[1].isdigit() else int(m[1])
            title = re.sub(r"^\d+", "", m[2]).strip() or f"篇{m[1]}"
            parts.append((number, title, [para]))
        elif parts:
            parts[-1][2].append(para)
        else:
            head.append(para)
    if not parts:
        return [(None, "", head)]
    return parts
