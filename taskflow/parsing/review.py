"""The review report: what the parser found, where, and what a coordinator must fix by hand.

Every task is listed with its source line (or table row); every phrase the parser could not
resolve is listed with its line, so the coordinator checks only those. Items:

- ``unresolved``: a schedule phrase with no date the parser can give (kept in the task's text);
- ``check``: something found but doubtful (an unknown unit, a person set aside as not a unit,
  a placeholder jurisdiction, a year assumed, a date before the plan year);
- ``guess``: what the parser read into the text (a table read from flattened text, units taken
  from a sentence's subject, a lead inferred): each with its line, to confirm;
- ``info``: understood, no action needed (ongoing work, the jurisdiction inferred).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rich.cells import cell_len

KIND_LABELS = {"unresolved": "未能解析", "check": "需核对", "guess": "推断", "info": "说明"}

# Refs stay machine-readable ("line 37", "table 1 row 3", "Sheet1 row 5", "paragraph 4"):
# ReviewItem.line and file:line conventions read them. They are shown in Chinese.
_PLACES = (
    (re.compile(r"^line (\d+)$"), r"第\1行"),
    (re.compile(r"^paragraph (\d+)$"), r"第\1段"),
    (re.compile(r"^table (\d+) row (\d+)$"), r"表\1 第\2行"),
    (re.compile(r"^table (\d+)$"), r"表\1"),
    (re.compile(r"^(.+) row (\d+)$"), r"\1 第\2行"),
)


def place(ref: str | None) -> str:
    """A ref as the coordinator reads it: "line 37" → "第37行", "Sheet1 row 5" → "Sheet1 第5行"."""
    if not ref:
        return ""
    for pattern, label in _PLACES:
        if pattern.match(ref):
            return pattern.sub(label, ref)
    return ref


@dataclass
class FoundTask:
    code: str
    title: str
    ref: str  # "line 37" / "Sheet1 row 5"
    lead: list[str] = field(default_factory=list)
    responsible: list[str] = field(default_factory=list)
    due: str | None = None
    milestones: int = 0
    recurrence: str | None = None
    confidence: float = 1.0  # 0.1–1.0: how sure the parser is (see taskflow.parsing.confidence)
    guesses: list[str] = field(default_factory=list)  # what it read into the text
    cooperating: list[str] = field(default_factory=list)

    @property
    def line(self) -> int | None:
        """The source line ("line 37" → 37); None for table rows of Word and Excel files."""
        if self.ref.startswith("line "):
            return int(self.ref.split()[1])
        return None


@dataclass
class ReviewItem:
    kind: str  # unresolved | check | info
    message: str
    ref: str | None = None
    code: str | None = None  # the task it belongs to
    phrase: str | None = None

    @property
    def line(self) -> int | None:
        if self.ref and self.ref.startswith("line "):
            return int(self.ref.split()[1])
        return None

    @property
    def place(self) -> str:
        return place(self.ref)

    def __str__(self) -> str:
        where = " ".join(x for x in (self.place, f"[{self.code}]" if self.code else None) if x)
        phrase = f"“{_short(self.phrase)}” " if self.phrase else ""
        return f"{where}：{phrase}{self.message}" if where else f"{phrase}{self.message}"


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


def _rjust(text: str, width: int) -> str:
    """Right-justified in a terminal, a wide (Chinese) character counting two columns."""
    return " " * max(0, width - cell_len(text)) + text


@dataclass
class Review:
    source: str
    part: str | None = None
    plan_code: str | None = None
    tasks: list[FoundTask] = field(default_factory=list)
    items: list[ReviewItem] = field(default_factory=list)

    def add(self, kind: str, message: str, ref: str | None = None, code: str | None = None,
            phrase: str | None = None) -> None:
        self.items.append(ReviewItem(kind, message, ref, code, phrase))

    def of_kind(self, kind: str) -> list[ReviewItem]:
        return [item for item in self.items if item.kind == kind]

    @property
    def unresolved(self) -> list[ReviewItem]:
        return self.of_kind("unresolved")

    def format(self, *, tasks: bool = True) -> str:
        head = self.source + (f" {self.part}" if self.part else "")
        if self.plan_code:
            head += f" → 方案 {self.plan_code}"
        lines = [f"== {head}：任务 {len(self.tasks)} 项，未能解析 {len(self.unresolved)} 处，"
                 f"需核对 {len(self.of_kind('check'))} 处"]
        if tasks and self.tasks:
            lines.append("任务：")
            for t in self.tasks:
                facts = []
                if t.lead:
                    facts.append("牵头 " + "、".join(t.lead))
                if t.responsible:
                    facts.append("责任 " + "、".join(t.responsible))
                if t.due:
                    facts.append("限 " + t.due)
                if t.milestones:
                    facts.append(f"{t.milestones} 个节点")
                if t.recurrence:
                    facts.append("周期 " + t.recurrence)
                if t.confidence < 1.0:
                    facts.append(f"可信度 {t.confidence:.2f}")
                suffix = f"  （{'；'.join(facts)}）" if facts else ""
                lines.append(f"  {_rjust(place(t.ref), 14)}  {t.code:<8} "
                             f"{_short(t.title, 40)}{suffix}")
        for kind in ("unresolved", "check", "guess", "info"):
            items = self.of_kind(kind)
            if items:
                lines.append(f"{KIND_LABELS[kind]}：")
                lines.extend(f"  {item}" for item in items)
        return "\n".join(lines)
