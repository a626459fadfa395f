"""Node trees → plan-file dicts (docs/plan-format.md), with the review of each part."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from taskflow.parsing import quantities
from taskflow.parsing.actors import action_title, actor_at, after
from taskflow.parsing.confidence import assess
from taskflow.parsing.duties import step_actor
from taskflow.parsing.review import FoundTask, Review
from taskflow.parsing.schedule import Schedule, Step, _progress, parse_schedule
from taskflow.parsing.structure import Node, Part
from taskflow.parsing.text import squeeze
from taskflow.plans.units import UnitIndex

PLACEHOLDER_JURISDICTION = "todo.jurisdiction"

BACKGROUND = ("对象范围", "实施范围", "基本情况", "指导思想", "基本原则", "总体要求", "目的意义",
              "编制依据", "工作原则", "存在的问题", "存在问题", "背景", "总体思路", "适用范围")
# What was achieved ("二、试点成效") is no task, and its figures no targets or funds; "确保扶贫
# 成效" in a heading is a goal.
_RESULTS = re.compile(r"^[\u4e00-\u9fff]{0,6}(?:成效|成绩|成果)$")
FUNDS = ("资金筹措", "资金来源", "投资估算", "资金安排", "资金保障", "筹资", "资金预算",
         "资金投入")
ACCEPTANCE = ("验收标准", "考核标准", "验收办法", "评分标准")
_INSPECTION = re.compile(
    r"(季度|半年|年底|年终|年度|月度|每月|每季度)(检查|通报|考核|督查|考评|评估)")


def section_kind(title: str) -> str:
    flat = squeeze(title)
    if any(k in flat for k in FUNDS):
        return "funds"
    if any(k in flat for k in ACCEPTANCE):
        return "acceptance"
    if any(k in flat for k in BACKGROUND) or (
            _RESULTS.match(flat) and not re.search(r"确保|提升|巩固|扩大", flat)):
        return "background"
    return "tasks"


@dataclass
class Context:
    year: int
    units: UnitIndex | None
    jurisdiction: str | None
    review: Review
    cache: dict = field(default_factory=dict)
    unit_pattern: re.Pattern[str] | None = None
    subject_pattern: re.Pattern[str] | None = None
    first_is_lead: bool = False  # the document says "列第一位的责任单位为牵头单位"
    author: str | None = None  # the unit the document speaks as ("县林业局…", "我局…")

    def resolve(self, name: str, jurisdiction: str | None) -> tuple[str | None, str | None]:
        """(code, None) or (None, why not) — cached per name and scope."""
        key = (name, jurisdiction)
        if key not in self.cache:
            if self.units is None:
                self.cache[key] = (None, None)
            else:
                try:
                    self.cache[key] = (self.units.resolve(name, jurisdiction), None)
                except ValueError as exc:
                    self.cache[key] = (None, str(exc))
        return self.cache[key]


def _num(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _text(node: Node) -> str:
    parts = [lab.text for lab in node.label("text")] + [text for _, text in node.body]
    return "".join(p.strip() for p in parts if p.strip())


def _schedule_sources(node: Node) -> list[tuple[int, str]]:
    return [(lab.line, lab.text) for lab in node.labels if lab.kind in ("schedule", "due")]


def _merge(schedules: list[Schedule]) -> Schedule:
    if len(schedules) == 1:
        return schedules[0]
    merged = Schedule()
    for s in schedules:
        merged.steps += s.steps
        merged.duties += s.duties
        merged.ongoing += s.ongoing
        merged.issues += s.issues
        merged.counts += s.counts
        merged.start = merged.start or s.start
    _progress(merged, None)
    return merged


class PlanBuilder:
    def __init__(self, part: Part, ctx: Context, year: int):
        self.part = part
        self.ctx = ctx
        self.year = year
        self.review = ctx.review
        self.names: list[tuple[str, str, str]] = []  # (name, ref, code) to resolve

    # -- tasks ----------------------------------------------------------------------------

    def task(self, node: Node, code: str) -> dict[str, Any]:
        t: dict[str, Any] = {"code": code, "title": node.title}
        position = len(self.review.tasks)  # listed before its children
        units = node.units
        if self.ctx.author and not units:
            # A report in the first person ("我局…"): its work is its author's.
            units.lead.append(self.ctx.author)
            node.extra["inferred_lead"] = (f"牵头单位推断为撰文单位“{self.ctx.author}”"
                                           "（文中自称“我局”等），原文未写")
        if self.ctx.first_is_lead and not units.lead and len(units.responsible) > 1 and \
                node.extra.get("found_by") != "duty":
            units.lead, units.responsible = units.responsible[:1], units.responsible[1:]
            node.extra["first_is_lead"] = True
        for role in ("lead", "responsible", "cooperating"):
            names = getattr(units, role)
            if names:
                t[role] = list(names)
                self.names.extend((n, node.ref, code) for n in names)
        for person in units.persons:
            self.review.add("check", "人名，不是单位：未列入单位", node.ref,
                            code, person)
        text = _text(node)
        if text:
            t["text"] = text
        sources = _schedule_sources(node)
        if node.extra.get("dates_from_children"):
            sched = Schedule()  # its duties are its children, each with its own dates
            strict = False
        elif sources:
            t["schedule"] = ";".join(s.strip() for _, s in sources)
            sched = _merge([parse_schedule(s, self.year, line=line, strict=True)
                            for line, s in sources])
            strict = True
        else:
            # The title is the item's first sentence: "推进“一网通办”,2023年6月底前实现…".
            words = text if node.long_title else "。".join(p for p in (node.title, text) if p)
            sched = parse_schedule(words, self.year, line=node.line, strict=False)
            strict = False
        self.schedule_into(t, node, sched, strict, code)
        if node.extra.get("found_by") == "duty":
            for ms in t.get("milestones", []):  # "10月底前县上完成验收": 县上 acts in the task
                for name in ms.get("lead", []) + ms.get("responsible", []):
                    if name not in t.get("lead", []) + t.get("responsible", []):
                        t.setdefault("responsible", []).append(name)
        self.quantities_into(t, node, text, sched)
        self.cooperating_into(t, node, text + t.get("schedule", ""))
        if "lead" not in t:
            self.subject_lead_into(t, node, text)
        children = [self.task(child, f"{code}.{i}") for i, child in
                    enumerate(node.children, 1)]
        duties = [] if node.extra.get("skip_duties") else sched.duties
        if len(duties) == 1 and not t.get("milestones") and not children:
            t["recurrence"] = duties[0].rrule
            if duties[0].start and "start" not in t:
                t["start"] = duties[0].start
        else:
            for duty in duties:
                child: dict[str, Any] = {"code": f"{code}.{len(children) + 1}",
                                         "title": duty.title[:80], "schedule": duty.title}
                for role in ("lead", "responsible"):
                    if role in t:
                        child[role] = list(t[role])
                child["recurrence"] = duty.rrule
                if duty.start:
                    child["start"] = duty.start
                children.append(child)
                self.found(child, node.ref, node=node)
        if children:
            t["children"] = children
        if "due" not in t and children and all("due" in c for c in children):
            pass  # expand derives a container's deadline from its children
        self.found(t, node.ref, position, node)
        return t

    def found(self, t: dict[str, Any], ref: str, position: int | None = None,
              node: Node | None = None) -> None:
        due = t.get("due")
        sure, guesses = assess(node, t) if node is not None else (1.0, [])
        item = FoundTask(t["code"], t["title"], ref, list(t.get("lead", [])),
                         list(t.get("responsible", [])),
                         due.isoformat() if isinstance(due, date) else due,
                         len(t.get("milestones", [])), t.get("recurrence"), sure, guesses,
                         list(t.get("cooperating", [])))
        if guesses:
            self.review.add("guess", "；".join(guesses), ref, t["code"])
        if (t.get("responsible") or t.get("cooperating")) and not t.get("lead"):
            # The import refuses a task that names units but no lead: say so before it.
            self.review.add("check", "写明了责任单位但原文未写牵头单位：导入前请补写牵头单位"
                            "（lead），或标明各自负责（each_responsible: true）", ref, t["code"])
        if position is None:
            self.review.tasks.append(item)
        else:
            self.review.tasks.insert(position, item)

    def schedule_into(self, t: dict[str, Any], node: Node, sched: Schedule, strict: bool,
                      code: str) -> None:
        for issue in sched.issues:
            self.review.add(issue.kind, issue.message, f"line {issue.line}" if issue.line
                            else node.ref, code, issue.phrase)
        for text in sched.ongoing:
            self.review.add("info", "持续性工作，无完成期限", node.ref, code, text)
        milestones = sched.milestones
        dated_labels = [lab for lab in node.labels if lab.kind == "schedule"]
        make_steps = len(milestones) >= 2 or (len(milestones) == 1 and dated_labels and
                                              milestones[0].title != milestones[0].when.phrase)
        if make_steps:
            out = []
            for step in milestones:
                ms: dict[str, Any] = {"title": step.title[:120] or step.when.phrase}
                if node.extra.get("found_by") == "duty":
                    self.step_units(ms, step, t)
                if step.when.kind == "period" and step.when.start is not None:
                    ms["start"] = step.when.start
                ms["due"] = step.when.due
                if step.target is not None:
                    ms["target"] = f"{_num(step.target[0])} {step.target[1]}"
                out.append(ms)
            t["milestones"] = out
        due = sched.due
        if due is not None:
            t["due"] = due
        for step in milestones:
            if step.when.due is not None and step.when.due.year < self.year:
                self.review.add("check", f"日期 {step.when.due} 早于方案年度（{self.year} 年）",
                                f"line {step.line}" if step.line else node.ref,
                                code, step.when.phrase)
        if sched.start is not None:
            t["start"] = sched.start
        elif not make_steps and len(milestones) == 1 and milestones[0].when.kind == "period" \
                and strict and milestones[0].when.start is not None:
            t["start"] = milestones[0].when.start  # "整改提升阶段(2024年6月至9月)"
        if sched.progress:
            t["progress_plan"] = [{"by": by, "cumulative": value if isinstance(value, str)
                                   else _num(value)} for by, value in sched.progress]
        if due is None and not sched.duties and strict:
            self.review.add("unresolved", "进度安排中未找到完成期限", node.ref, code,
                            t.get("schedule"))

    def step_units(self, ms: dict[str, Any], step: Step, t: dict[str, Any]) -> None:
        """A step's own actor ("省政府各牵头部门要于1月底前完成…"): its units, and its title
        without them."""
        own = actor_at(squeeze(step.title))
        if own is not None:
            ms["title"] = action_title(after(step.title, own.end))[:120] or ms["title"]
        elif step.lead_in:
            own = actor_at(squeeze(step.lead_in))
            if own is None:
                ms["title"] = (step.lead_in + step.title)[:120]
        actor = own or step_actor("", "", step.sentence)
        if actor is None:
            return
        if own is None and actor.names == t.get("responsible", t.get("lead")):
            return  # the task's own units: nothing to add
        ms[actor.role] = list(actor.names)
        self.names.extend((n, f"line {step.line}", t["code"]) for n in actor.names)

    def quantities_into(self, t: dict[str, Any], node: Node, text: str,
                        sched: Schedule) -> None:
        target_text = "".join(lab.text for lab in node.label("target")) or text
        if sched.total is not None:
            value, unit = sched.total
            t["target"] = {"value": _num(value), "unit": unit, "note": "各年目标之和"}
        elif (q := quantities.target(node.title, arabic=True) or
              quantities.target(target_text)) is not None:
            note = q.clause if len(q.clause) <= 80 else q.clause[:80] + "…"
            t["target"] = {"value": _num(q.value), "unit": q.unit, "note": note}
        elif sched.counts:
            count, unit, note, _ = sched.counts[0]
            t["target"] = {"value": count, "unit": unit, "note": note}
        if "progress_plan" in t and "target" not in t and any(
                not isinstance(p["cumulative"], str) for p in t["progress_plan"]):
            del t["progress_plan"]
        fund_text = "".join(lab.text for lab in node.label("funds")) + text
        funds = quantities.fund_lines(fund_text)
        funds += node.extra.get("funds", [])
        if funds:
            t["funds"] = funds

    def subject_lead_into(self, t: dict[str, Any], node: Node, text: str) -> None:
        """"省卫生计生委负责…" / "省文化新闻出版厅会同…": a known unit that opens the text leads."""
        pattern = self.ctx.subject_pattern
        if pattern is None:
            return
        for candidate in (node.title, text):
            m = pattern.match(squeeze(candidate))
            if m:
                t["lead"] = [m["unit"]]
                t.pop("cooperating", None) if t.get("cooperating") == [m["unit"]] else None
                self.names.append((m["unit"], node.ref, t["code"]))
                return

    def cooperating_into(self, t: dict[str, Any], node: Node, text: str) -> None:
        """"联合区扶贫移民局…" / "会同省财政部门…": known units named in the text cooperate."""
        pattern = self.ctx.unit_pattern
        if pattern is None or not text:
            return
        named = set(t.get("lead", [])) | set(t.get("responsible", []))
        for m in pattern.finditer(squeeze(text)):
            name = m["unit"]
            if name not in named and name not in t.get("cooperating", []):
                t.setdefault("cooperating", []).append(name)
                self.names.append((name, node.ref, t["code"]))

    # -- the plan ---------------------------------------------------------------------------

    def plan(self, code: str, title: str, document: str) -> dict[str, Any] | None:
        part = self.part
        nodes = part.nodes
        summary = [text for _, text in part.preamble]
        funds: list[dict] = []
        task_nodes: list[Node] = []
        sections = bool(nodes) and all(n.style in ("cn", "md1", "md2") for n in nodes)
        if sections:
            task_sections = []
            for node in nodes:
                kind = section_kind(node.title)
                if kind == "background":
                    summary.append(f"{node.title}:{_text(node)}" if _text(node) else node.title)
                    for child in node.children:
                        summary.append(child.title + _text(child))
                elif kind == "funds":
                    texts = [_text(node)] + [c.title + "。" + _text(c) for c in node.children]
                    funds += quantities.fund_lines("".join(texts))
                elif kind == "acceptance":
                    items = [c.title for c in node.children] or [_text(node)]
                    self.review.add("check", f"验收标准 {len(items)} 条未归入具体任务：请写入"
                                    "相应任务的 acceptance:",
                                    node.ref, None, node.title)
                else:
                    task_sections.append(node)
            if len(task_sections) == 1 and task_sections[0].children:
                section = task_sections[0]
                task_nodes = section.children
                if _text(section):
                    summary.append(_text(section))
            else:
                task_nodes = task_sections
        else:
            task_nodes = nodes
        tasks = [self.task(node, str(i)) for i, node in enumerate(task_nodes, 1)]
        if not tasks:
            return None
        plan: dict[str, Any] = {"code": code, "title": title, "year": self.year}
        plan["jurisdiction"] = self.ctx.jurisdiction or PLACEHOLDER_JURISDICTION
        source: dict[str, Any] = {"document": document}
        if part.number is not None:
            source["part"] = f"篇{part.number}"
        source["lines"] = f"{part.line}-{part.end_line}"
        plan["source"] = source
        if summary:
            plan["summary"] = "".join(s.strip() for s in summary)[:2000]
        plan["tasks"] = tasks
        if funds:
            plan["funds"] = [{"code": f"F{i}", **line} for i, line in enumerate(funds, 1)]
        inspections = self.inspections()
        if inspections:
            plan["inspections"] = inspections
        return plan

    def inspections(self) -> list[dict[str, Any]]:
        """"季度检查、半年通报、年底考核" anywhere in the part: the inspection programme."""
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        texts = [t for _, t in self.part.preamble]

        def walk(nodes: list[Node]) -> None:
            for n in nodes:
                texts.append(n.title + _text(n) + "".join(lab.text for lab in n.labels))
                walk(n.children)

        walk(self.part.nodes)
        for m in _INSPECTION.finditer(squeeze("。".join(texts))):
            title = m[0].removeprefix("每")
            if title in seen:
                continue
            seen.add(title)
            period, act = m[1].removeprefix("每"), m[2]
            kind = {"通报": "bulletin", "考核": "assessment", "考评": "assessment"}.get(
                act, "inspection")
            item: dict[str, Any] = {"code": f"I{len(out) + 1}", "title": title, "kind": kind}
            if period in ("季度",):
                item["recurrence"] = "FREQ=MONTHLY;INTERVAL=3"
            elif period in ("月度", "月"):
                item["recurrence"] = "FREQ=MONTHLY"
            elif period == "半年":
                item["when"] = date(self.year, 6, 30)
            else:
                item["when"] = date(self.year, 12, 31)
            out.append(item)
        return out


def _labels(index: UnitIndex) -> str:
    labels = sorted({label for entry in index.by_code.values() for label in entry.labels()
                     if len(label) >= 4 and entry.kind != "collective"}, key=len, reverse=True)
    return "|".join(map(re.escape, labels))


def unit_pattern(index: UnitIndex | None) -> re.Pattern[str] | None:
    """A regex for "联合X" / "会同X" with X any known unit label (4+ characters)."""
    if index is None or not index.by_code:
        return None
    return re.compile(r"(?:联合|会同|协同)(?P<unit>" + _labels(index) + ")")


def subject_pattern(index: UnitIndex | None) -> re.Pattern[str] | None:
    """A regex for a text opening with a known unit that leads: "X负责", "X会同Y", "X统筹"."""
    if index is None or not index.by_code:
        return None
    return re.compile(r"^(?:由)?(?P<unit>" + _labels(index) + r")(?:负责|牵头|统筹|会同|具体负责)")


