"""Turn a validated plan file into concrete rows: dates, codes, templates, units resolved.

Everything a plan file can get wrong beyond its shape is found here, with the file:line of the
value at fault, before anything touches the database.

``expand`` returns new values and changes nothing it is given (the plan file, its positions,
the unit directory). It resolves the file (codes, dates, units, funds; every problem at once),
then runs ``STEPS``: small functions from a resolved plan to a new resolved plan (tree order,
units inherited by steps, a container's span), so that a further step is one more function.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from taskflow.errors import Problem, UserError
from taskflow.plans.dates import (
    PhraseError,
    check_range,
    recurrence_rule,
    resolve_date,
    shift_years,
)
from taskflow.plans.schema import (
    CODE_PATTERN,
    FundSpec,
    PlanFile,
    TaskKind,
    TaskSpec,
    TaskUnitRole,
    _amount_yuan,
)
from taskflow.plans.units import UnitIndex, entries_from_flat, flatten
from taskflow.plans.yamlio import Located


@dataclass(frozen=True, slots=True)
class ResolvedTask:
    code: str
    parent_code: str | None
    kind: str
    title: str
    text: str | None = None
    schedule_text: str | None = None
    start_on: date | None = None
    due_on: date | None = None
    target_value: Decimal | None = None
    target_unit: str | None = None
    progress_plan: list[dict[str, Any]] = field(default_factory=list)
    recurrence: str | None = None
    acceptance: list[str] = field(default_factory=list)
    units: list[tuple[str, str]] = field(default_factory=list)  # (unit code, role)
    position: int = 0
    source_line: int | None = None


@dataclass(frozen=True)
class ResolvedFund:
    code: str
    source: str
    amount: Decimal
    note: str | None
    task_code: str | None
    scope: str = "plan"  # "task" for lines written under a task
    disburse_by: date | None = None
    # planned cumulative disbursement: [{"by": ISO day, "share": "50"}] (percent of the line)
    schedule: list[dict[str, Any]] = field(default_factory=list)
    # disbursements the text reports as made: [{"paid_on": date, "amount": Decimal, "note"}]
    disbursed: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class ResolvedInspection:
    code: str
    title: str
    kind: str
    due_on: date | None
    recurrence: str | None
    units: list[str]
    inspectors: list[str]
    note: str | None
    notice_days: int | None = None
    rectify_within: int | None = None
    sample: dict[str, Any] | None = None  # SampleSpec as JSON


@dataclass(frozen=True)
class ResolvedRule:
    code: str
    kind: str
    subject: str
    threshold: Decimal
    text: str
    measure: dict[str, Any] | None = None  # {"tag": ..., "of": ...}: how it is measured


@dataclass(frozen=True)
class ResolvedPlan:
    code: str
    title: str
    year: int
    source_year: int | None  # the year the file names, when it names one
    year_shift: int
    timezone: str
    issuer_code: str | None
    jurisdiction_code: str
    source: dict[str, Any]
    summary: str | None
    new_units: list[Any]  # FlatUnit specs the plan itself declares
    tasks: list[ResolvedTask]
    funds: list[ResolvedFund]
    inspections: list[ResolvedInspection]
    rules: list[ResolvedRule]
    policy: dict[str, Any] = field(default_factory=dict)
    assessment: dict[str, Any] | None = None  # AssessmentSpec as JSON, when the file has one


_CODE = re.compile(CODE_PATTERN)
_YEAR = re.compile(r"\d{4}")
_ROLES = tuple(role.value for role in TaskUnitRole)


def _share(text: str | Decimal) -> tuple[Decimal, bool]:
    """'40%' -> (40, True); 400 -> (400, False)."""
    if isinstance(text, str):
        return Decimal(text.strip().removesuffix("%")), True
    return Decimal(text), False


class _Expander:
    def __init__(self, plan: PlanFile, located: Located, units: UnitIndex, year: int | None):
        self.plan = plan
        self.loc = located
        self.units = units
        self.resolved_units: dict[str, str | ValueError] = {}
        self.resolved_dates: dict[tuple, date | PhraseError] = {}
        self.problems: list[Problem] = []
        self.tasks: list[ResolvedTask] = []
        self.task_paths: dict[str, tuple] = {}
        self.funds: list[ResolvedFund] = []
        self.plan_leads: list[str] = []  # the plan-level lead, resolved in run()
        self.leadless: set[tuple] = set()  # paths already refused for having no lead
        if plan.year == "20xx":
            if year is None:
                self.fail(("year",), "方案年度写作 20xx，请指定年度（如 --year 2025）")
                year = 2000
            self.year, self.source_year, self.shift = year, None, 0
        else:
            file_year = int(plan.year)
            self.year = year if year is not None else file_year
            self.source_year, self.shift = file_year, self.year - file_year

    def fail(self, path: tuple, message: str) -> None:
        self.problems.append(self.loc.problem(path, message))

    # -- values ---------------------------------------------------------------------------

    def date(self, phrase, year: int, path: tuple, bound: str) -> date | None:
        if phrase is None:
            return None
        key = (phrase, year, bound)  # a plan repeats its few phrases ("6月底前") many times
        found = self.resolved_dates.get(key)
        if found is None:
            try:
                found = resolve_date(phrase, year, bound=bound)
                # An ISO date or an explicit year in the file moves with the plan year; the
                # plan year itself is already the new one, so shift only what names a year.
                if isinstance(phrase, date) or _YEAR.search(str(phrase)):
                    found = shift_years(found, self.shift)
                found = check_range(found)
            except PhraseError as exc:
                found = exc
            self.resolved_dates[key] = found
        if isinstance(found, PhraseError):
            self.fail(path, str(found))
            return None
        return found

    def unit(self, name: str, path: tuple) -> str | None:
        # A plan names a few dozen units over and over: resolve each name once.
        found = self.resolved_units.get(name)
        if found is None:
            try:
                found = self.units.resolve(name, self.plan.jurisdiction)
            except ValueError as exc:
                found = exc
            self.resolved_units[name] = found
        if isinstance(found, ValueError):
            self.fail(path, str(found))
            return None
        return found

    def unit_refs(self, spec, path: tuple) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for role in _ROLES:
            for i, name in enumerate(getattr(spec, role) or ()):
                code = self.unit(name, (*path, role, i))
                if code is not None and (code, role) not in out:
                    out.append((code, role))
        return out

    def lead_refs(self, spec, code: str, path: tuple) -> list[tuple[str, str]]:
        """The task's units; a task naming units but no lead takes the plan's lead, or is
        refused unless it says 各自负责 (each_responsible)."""
        refs = self.unit_refs(spec, path)
        named = spec.responsible or getattr(spec, "cooperating", None)
        if spec.lead and spec.each_responsible:
            self.fail((*path, "each_responsible"), f"任务 {code} 既写了牵头单位又标明各自负责"
                                                   "（each_responsible），二者只能取其一")
        elif named and not spec.lead and not spec.each_responsible:
            if self.plan_leads:
                refs = [(unit, "lead") for unit in self.plan_leads] + [
                    ref for ref in refs if ref[0] not in self.plan_leads]
            elif path not in self.leadless:  # a repeated entry is said once
                self.leadless.add(path)
                role = "responsible" if spec.responsible else "cooperating"
                self.fail((*path, role), f"任务 {code} 写明了责任单位但没有牵头单位：请写明"
                          "牵头单位（lead），或在方案中写明统一牵头单位（方案级 lead），"
                          "或标明各单位各自负责（each_responsible: true）")
        return refs

    # -- tasks ----------------------------------------------------------------------------

    def add_task(self, spec: TaskSpec, code: str, title: str, parent: str | None, year: int,
                 path: tuple, in_template: bool = False) -> None:
        if isinstance(spec.year, str):  # "+1": relative to the plan year
            year = self.year + int(spec.year)
        elif spec.year is not None:
            if not 1990 <= spec.year <= 2200:
                self.fail((*path, "year"), f"年度 {spec.year} 超出范围 1990-2200")
            year = spec.year + self.shift
        if not _CODE.fullmatch(code) or "{" in code:
            self.fail((*path, "code"), f"{code!r} 不是有效的编号")
            return
        if code in self.task_paths:
            first = self.loc.place(self.task_paths[code])
            self.fail((*path, "code"), f"任务编号 {code!r} 重复（第一次出现在{first}）")
            return
        if spec.parent is not None and parent is not None and spec.parent != parent:
            self.fail((*path, "parent"), f"上级任务 {spec.parent!r} 与所在层级（位于 "
                                         f"{parent!r} 之下）矛盾")
        self.task_paths[code] = path
        start_on = self.date(spec.start, year, (*path, "start"), "start")
        due_on = self.date(spec.due, year, (*path, "due"), "end")
        if start_on and due_on and due_on < start_on:
            self.fail((*path, "due"), f"期限 {due_on} 早于开始日期 {start_on}")
        progress_plan = []
        for i, point in enumerate(spec.progress_plan):
            by = self.date(point.by, year, (*path, "progress_plan", i, "by"), "end")
            value, is_share = _share(point.cumulative)
            if is_share and value > 100:
                self.fail((*path, "progress_plan", i, "cumulative"), "比例不能超过 100%")
            if not is_share and spec.target is None:
                self.fail((*path, "progress_plan", i, "cumulative"),
                          "填写数量需要任务设有目标（target），或改写比例，如 40%")
            if by is not None:
                progress_plan.append({"by": by.isoformat(), "cumulative": str(value),
                                      "share": is_share})
        if len(progress_plan) > 1 and [p["by"] for p in progress_plan] != sorted(
                p["by"] for p in progress_plan):
            self.fail((*path, "progress_plan"), "进度节点须按日期先后排列")
        kind, recurrence = spec.kind.value, None
        if spec.recurrence is not None:
            try:
                recurrence = recurrence_rule(spec.recurrence)
            except PhraseError as exc:
                self.fail((*path, "recurrence"), str(exc))
            if spec.kind == TaskKind.task:
                kind = TaskKind.duty.value
        self.tasks.append(ResolvedTask(
            code=code, parent_code=parent, kind=kind, title=title, text=spec.text,
            schedule_text=spec.schedule, start_on=start_on, due_on=due_on,
            target_value=spec.target.value if spec.target is not None else None,
            target_unit=spec.target.unit if spec.target is not None else None,
            progress_plan=progress_plan, recurrence=recurrence,
            acceptance=list(spec.acceptance), units=self.lead_refs(spec, code, path),
            position=len(self.tasks), source_line=self.loc.line(path)))
        for i, fund in enumerate(spec.funds):
            self.add_fund(fund, f"{code}.F{i + 1}", code, (*path, "funds", i), year)

        for i, ms in enumerate(spec.milestones):
            ms_path = (*path, "milestones", i)
            ms_code = ms.code or f"{code}.m{i + 1}"
            milestone = TaskSpec(code=ms_code, title=ms.title, kind=TaskKind.milestone,
                                 start=ms.start, due=ms.due, target=ms.target, lead=ms.lead,
                                 responsible=ms.responsible,
                                 each_responsible=ms.each_responsible)
            self.add_task(milestone, ms_code, ms.title, code, year, ms_path)
        if spec.template is not None:
            if in_template:
                self.fail((*path, "template"), "模板中不能再引用模板")
            elif spec.template not in self.plan.templates:
                known = "、".join(self.plan.templates) or "未定义任何模板"
                self.fail((*path, "template"), f"未知模板 {spec.template!r}（{known}）")
            else:
                for i, child in enumerate(self.plan.templates[spec.template]):
                    child_path = ("templates", spec.template, i)
                    # Template titles may say {parent}: "{parent}：施工" for each project.
                    child_title = child.title.replace("{parent}", title)
                    self.add_task(child, f"{code}.{child.code}", child_title, code, year,
                                  child_path, in_template=True)
        self.add_children(spec.children, code, year, path, in_template)

    def add_children(self, children: list[TaskSpec], parent: str | None, year: int, path: tuple,
                     in_template: bool = False) -> None:
        for i, child in enumerate(children):
            child_path = (*path, "children", i) if path else ("tasks", i)
            if child.repeat is None:
                self.add_task(child, child.code, child.title, parent, year, child_path,
                              in_template)
                continue
            if in_template:
                self.fail((*child_path, "repeat"), "模板中不能使用 repeat")
                continue
            if "{n" not in child.code:
                self.fail((*child_path, "code"), "重复任务的编号须包含 {n}，"
                                                 "如 2012-{n:02d}")
                continue
            for n in range(1, child.repeat + 1):
                try:
                    code, title = child.code.format(n=n), child.title.format(n=n)
                except (ValueError, KeyError, IndexError) as exc:
                    self.fail((*child_path, "code"), f"{{n}} 格式有误：{exc}")
                    break
                self.add_task(child, code, title, parent, year, child_path)

    def attach_flat_parents(self) -> None:
        """Top-level tasks may name a parent (flat lists); check it exists and forms no cycle."""
        known = {t.code for t in self.tasks}
        for index, task in enumerate(self.tasks):
            spec_parent = None
            path = self.task_paths[task.code]
            if len(path) == 2 and path[0] == "tasks":
                spec_parent = self.plan.tasks[path[1]].parent
            if spec_parent is None:
                continue
            if spec_parent not in known:
                self.fail((*path, "parent"), f"未知上级任务 {spec_parent!r}")
                continue
            self.tasks[index] = replace(task, parent_code=spec_parent)
        by_code = {t.code: t for t in self.tasks}
        for task in self.tasks:
            seen, current = [], task.code
            while current is not None and current not in seen:
                seen.append(current)
                current = by_code[current].parent_code if current in by_code else None
            if current == task.code:
                cycle = " → ".join([*seen, task.code])
                self.fail((*self.task_paths[task.code], "parent"),
                          f"任务层级成环：{cycle}")
                return

    def add_fund(self, fund: FundSpec, default_code: str, task_code: str | None,
                 path: tuple, year: int) -> None:
        if fund.task is not None and task_code is not None:
            self.fail((*path, "task"), "任务自身的资金条目不能指向其他任务")
        disburse_by = self.date(fund.disburse_by, year, (*path, "disburse_by"), "end")
        schedule: list[dict[str, Any]] = []
        disbursed: list[dict[str, Any]] = []
        for i, point in enumerate(fund.schedule):
            where = (*path, "schedule", i)
            by = self.date(point.by, year, (*where, "by"), "end")
            if isinstance(point.cumulative, str):
                share = Decimal(point.cumulative.strip().removesuffix("%"))
            elif fund.amount > 0:
                share = (Decimal(point.cumulative) * 100 / fund.amount).quantize(
                    Decimal("0.01"))
            else:
                share = Decimal(100)
            if share > 100:
                self.fail((*where, "cumulative"), "超过该笔资金总额（最多 100%）")
            if by is not None:
                schedule.append({"by": by.isoformat(), "share": str(share)})
        days = [p["by"] for p in schedule]
        if days != sorted(days):
            self.fail((*path, "schedule"), "拨付节点须按日期先后排列")
        if disburse_by and days and days[-1] > disburse_by.isoformat():
            self.fail((*path, "schedule"), f"有拨付节点晚于 disburse_by {disburse_by}")
        total = Decimal(0)
        for i, item in enumerate(fund.disbursed):
            paid_on = self.date(item.paid_on, year, (*path, "disbursed", i, "paid_on"), "end")
            total += item.amount
            if paid_on is not None:
                disbursed.append({"paid_on": paid_on, "amount": item.amount,
                                  "note": item.note})
        if total > fund.amount:
            self.fail((*path, "disbursed"), f"已拨付金额（{total} 元）超过该笔资金总额"
                                            f"（{fund.amount} 元）")
        self.funds.append(ResolvedFund(
            fund.code or default_code, fund.source.value, fund.amount, fund.note,
            task_code or fund.task, "task" if task_code else "plan", disburse_by, schedule,
            disbursed))

    # -- the plan -------------------------------------------------------------------------

    def run(self) -> ResolvedPlan:
        plan = self.plan
        new_units = list(flatten(plan.units, plan.jurisdiction, self.loc, ("units",)))
        # The plan's own units join a directory of this plan's (the caller's is left alone);
        # one declared again keeps its directory entry: the units import will update it.
        self.units = self.units.extended(
            entry for entry in entries_from_flat(new_units) if entry.code not in self.units)
        if plan.jurisdiction not in self.units:
            self.fail(("jurisdiction",), f"未知辖区单位代码 {plan.jurisdiction!r}")
        issuer = self.unit(plan.issuer, ("issuer",)) if plan.issuer else None
        self.plan_leads = [c for i, n in enumerate(plan.lead) if (c := self.unit(n, ("lead", i)))]

        self.add_children(plan.tasks, None, self.year, ())
        self.attach_flat_parents()
        for i, fund in enumerate(plan.funds):
            self.add_fund(fund, f"F{i + 1}", None, ("funds", i), self.year)
        task_codes = {t.code for t in self.tasks}
        for i, fund in enumerate(self.funds):
            if fund.task_code and fund.task_code not in task_codes:
                self.fail(("funds", i, "task"), f"未知任务 {fund.task_code!r}")
        fund_codes: set[str] = set()
        for fund in self.funds:
            if fund.code in fund_codes:
                self.problems.append(Problem(f"资金编号 {fund.code!r} 重复",
                                             file=self.loc.file, field="funds"))
            fund_codes.add(fund.code)

        inspections = []
        for i, spec in enumerate(plan.inspections):
            path = ("inspections", i)
            rule = None
            if spec.recurrence:
                try:
                    rule = recurrence_rule(spec.recurrence)
                except PhraseError as exc:
                    self.fail((*path, "recurrence"), str(exc))
            inspections.append(ResolvedInspection(
                spec.code, spec.title, spec.kind.value,
                self.date(spec.when, self.year, (*path, "when"), "end"), rule,
                [c for j, n in enumerate(spec.units)
                 if (c := self.unit(n, (*path, "units", j)))],
                [c for j, n in enumerate(spec.inspectors)
                 if (c := self.unit(n, (*path, "inspectors", j)))],
                spec.note, spec.notice_days, spec.rectify_within,
                spec.sample.model_dump(mode="json") if spec.sample else None))
        rules = []
        for i, spec in enumerate(plan.rules):
            try:
                value = (_amount_yuan(spec.threshold) if spec.kind == "min_amount"
                         else _share(spec.threshold)[0])
            except (ValueError, InvalidOperation):
                self.fail(("rules", i, "threshold"), f"{spec.threshold!r} 不是有效的"
                          + ("金额（如 500万元）" if spec.kind == "min_amount" else
                             "比例（如 70%）"))
                continue
            if spec.kind.endswith("share") and not 0 <= value <= 100:
                self.fail(("rules", i, "threshold"), "比例应在 0% 到 100% 之间")
            measure = {"tag": spec.tag, "of": spec.of} if spec.tag else None
            if spec.of and not spec.tag:
                self.fail(("rules", i, "of"), "使用 `of` 时须同时给出 `tag`（即计入比较的部分）")
            rules.append(ResolvedRule(spec.code, spec.kind, spec.subject, value, spec.text,
                                      measure))

        if self.problems:
            raise UserError(self.problems)
        source = plan.source.model_dump(exclude_none=True) if plan.source else {}
        return ResolvedPlan(
            code=plan.code, title=plan.title, year=self.year, source_year=self.source_year,
            year_shift=self.shift, timezone=plan.timezone, issuer_code=issuer,
            jurisdiction_code=plan.jurisdiction, source=source, summary=plan.summary,
            new_units=new_units, tasks=self.tasks, funds=self.funds, inspections=inspections,
            rules=rules, policy=plan.policy.model_dump(mode="json"),
            assessment=plan.assessment.model_dump(mode="json") if plan.assessment else None,
        )


# -- steps: a resolved plan in, a new resolved plan out ----------------------------------------

Step = Callable[[ResolvedPlan, UnitIndex], ResolvedPlan]


def tree_order(plan: ResolvedPlan, units: UnitIndex) -> ResolvedPlan:
    """Parents before children, siblings in file order; positions follow that order."""
    children: dict[str | None, list[ResolvedTask]] = {}
    for task in plan.tasks:
        children.setdefault(task.parent_code, []).append(task)
    ordered: list[ResolvedTask] = []
    stack = list(reversed(children.get(None, [])))
    while stack:
        task = stack.pop()
        position = len(ordered)
        ordered.append(task if task.position == position else replace(task, position=position))
        stack.extend(reversed(children.get(task.code, [])))
    return replace(plan, tasks=ordered)


def inherit_units(plan: ResolvedPlan, units: UnitIndex) -> ResolvedPlan:
    """A step (a child) that names no units belongs to its parent's units (tasks in tree
    order: a parent's own inheritance is settled before its children's)."""
    settled: dict[str, list[tuple[str, str]]] = {}
    tasks = []
    for task in plan.tasks:
        inherited = settled.get(task.parent_code) if task.parent_code else None
        if not task.units and inherited:
            task = replace(task, units=list(inherited))
        settled[task.code] = task.units
        tasks.append(task)
    return replace(plan, tasks=tasks)


def container_spans(plan: ResolvedPlan, units: UnitIndex) -> ResolvedPlan:
    """A container without a deadline ends with its last step when every step has one; it
    starts with its earliest step when every step says when it starts (a step without a
    start runs from the plan's start, and so does its container). Children come before their
    parent in reverse tree order, so nested containers span outward."""
    kids: dict[str, list[ResolvedTask]] = {}
    spanned: list[ResolvedTask] = []
    for task in reversed(plan.tasks):
        mine = kids.pop(task.code, [])
        due_on, start_on = task.due_on, task.start_on
        if due_on is None and mine and all(k.due_on for k in mine):
            due_on = max(k.due_on for k in mine)  # type: ignore[type-var]
        if start_on is None and mine and all(k.start_on for k in mine):
            start_on = min(k.start_on for k in mine)  # type: ignore[type-var]
        if (due_on, start_on) != (task.due_on, task.start_on):
            task = replace(task, due_on=due_on, start_on=start_on)
        spanned.append(task)
        if task.parent_code is not None:
            kids.setdefault(task.parent_code, []).append(task)
    spanned.reverse()
    return replace(plan, tasks=spanned)


# The steps every import runs, in order; each sees the previous one's result.
STEPS: tuple[Step, ...] = (tree_order, inherit_units, container_spans)


def expand(plan: PlanFile, located: Located, units: UnitIndex, *, year: int | None,
           steps: tuple[Step, ...] = STEPS) -> ResolvedPlan:
    """Resolve a plan against a unit directory, then run ``steps`` over it; raises UserError
    listing every problem. Nothing given is changed: the result is new values."""
    expander = _Expander(plan, located, units, year)
    resolved = expander.run()
    for step in steps:
        resolved = step(resolved, expander.units)
    return resolved
