"""Funds (资金): budget lines, disbursements (拨付), balances, lags and rules by plan.

- A plan's budget is its plan-level fund lines by source (篇2: 2490.96万元 = 230万 财政 +
  2260.96万 社会); when it has none, the task lines are the budget. Allocations are the lines
  that fund a task. Disbursements (``Disbursement``) are recorded against a line with
  ``record_disbursement`` (``taskflow funds disburse``) or stated by the plan file
  (``disbursed:``, 篇3's 1079.4813万元, ``sync_stated_disbursements``), and the balance is
  budget minus disbursed.
- ``fund_status``: each line's share against its schedule (behind or overdue by the rules of
  taskflow.domain.funds) and the plan rules (篇4: 到户资金不低于到县总额的70%),
  measured on tagged disbursements.

Services over a caller's session (nothing commits here); the sweep's reminders for lagging
lines are taskflow.services.fund_lags.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from taskflow.domain.funds import (
    CENT,
    disbursement_lag,
    parse_amount,
    percent,
    planned_share_on,
    wan,
)
from taskflow.domain.labels import (
    FUND_RULE_KIND_LABELS,
    FUND_SOURCE_LABELS,
    FUND_STATUS_LABELS,
    label,
)
from taskflow.domain.workdays import Days
from taskflow.errors import NotFound, Problem, UserError
from taskflow.models import (
    AuditEvent,
    Disbursement,
    FundLine,
    Plan,
    PlanRule,
    Task,
    TaskUnit,
    Unit,
)
from taskflow.plans.schema import PolicySpec

STATED_BY_PLAN = "plan file"


# -- status ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceTotal:
    source: str
    label: str  # 中央, 省级, 社会...
    budget: Decimal  # yuan


@dataclass(frozen=True)
class LineStatus:
    code: str
    scope: str  # plan | task
    source: str
    source_label: str
    amount: Decimal
    disbursed: Decimal
    balance: Decimal
    share: Decimal  # disbursed / amount, %
    planned_share: Decimal | None  # due by today per the schedule, %
    disburse_by: date | None
    status: str  # done | overdue | behind | ok | untracked
    status_label: str
    days_behind: int | None  # working days since the missed checkpoint
    lag_since: date | None
    last_paid_on: date | None
    task_code: str | None
    task_title: str | None
    lead_units: tuple[str, ...]
    note: str | None

    @property
    def late(self) -> bool:
        return self.status in ("overdue", "behind")


@dataclass(frozen=True)
class RuleCheck:
    code: str
    kind: str
    subject: str
    text: str
    threshold: Decimal
    value: Decimal | None  # % for shares, yuan for min_amount; None: not measured
    ok: bool | None  # None: cannot be judged yet
    detail: str  # in Chinese: 达标 / 未达标 / why it is not measured

    @property
    def requirement(self) -> str:
        shown = wan(self.threshold) if self.kind == "min_amount" else percent(self.threshold)
        return f"{label(FUND_RULE_KIND_LABELS, self.kind)}{shown}"

    @property
    def shown_value(self) -> str:
        if self.value is None:
            return "—"
        return wan(self.value) if self.kind == "min_amount" else percent(self.value)


@dataclass(frozen=True)
class FundStatus:
    plan_code: str
    plan_title: str
    as_of: date
    budget: Decimal  # yuan: plan lines (or task lines when the plan has none)
    sources: list[SourceTotal]
    allocated: Decimal  # lines that fund a task
    disbursed: Decimal
    balance: Decimal
    share: Decimal | None  # disbursed / budget, %
    lines: list[LineStatus]
    rules: list[RuleCheck]
    unallocated: Decimal = Decimal(0)  # disbursed against lines no longer in the plan
    budget_from_tasks: bool = False

    @property
    def late_lines(self) -> list[LineStatus]:
        return [line for line in self.lines if line.late]

    @property
    def overdue_lines(self) -> list[LineStatus]:
        return [line for line in self.lines if line.status == "overdue"]


@dataclass(frozen=True)
class _Paid:
    line_id: int | None
    amount: Decimal
    paid_on: date
    tags: tuple[str, ...]


def _money(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(CENT)


def _payments(session: Session, plan_id: int, through: date) -> list[_Paid]:
    d = Disbursement.__table__.c
    rows = session.execute(select(d.fund_line_id, d.amount, d.paid_on, d.tags).where(
        d.plan_id == plan_id, d.paid_on <= through)).all()
    return [_Paid(r.fund_line_id, _money(r.amount), r.paid_on, tuple(r.tags or ()))
            for r in rows]


def _lead_names(session: Session, task_ids: Iterable[int]) -> dict[int, tuple[str, ...]]:
    ids = [t for t in set(task_ids) if t is not None]
    if not ids:
        return {}
    out: dict[int, list[str]] = {}
    for task_id, name in session.execute(
            select(TaskUnit.task_id, Unit.name).join(Unit, Unit.id == TaskUnit.unit_id)
            .where(TaskUnit.task_id.in_(ids), TaskUnit.role == "lead")
            .order_by(TaskUnit.position)).all():
        out.setdefault(task_id, []).append(name)
    return {k: tuple(v) for k, v in out.items()}


def _days(plan: Plan, calendar) -> tuple[PolicySpec, Days]:
    policy = PolicySpec.model_validate(plan.policy or {})
    if calendar is None:
        from taskflow.calendar import WorkCalendar

        calendar = WorkCalendar()
    return policy, Days(calendar, calendar_days=policy.calendar_days)


def get_plan(session: Session, code: str) -> Plan:
    plan = session.exec(select(Plan).where(Plan.code == code)).first()
    if plan is None:
        known = "、".join(session.exec(select(Plan.code).order_by(Plan.code)).all()) or "无"
        raise NotFound.single(f"没有方案 {code}（已有方案：{known}）", field="--plan")
    return plan


def fund_status(session: Session, *, plan: str, now: datetime, calendar=None) -> FundStatus:
    """Budget by source, allocations, disbursed, balances, lags and rule checks at ``now``."""
    row = get_plan(session, plan)
    today = now.astimezone(ZoneInfo(row.timezone)).date()
    policy, days = _days(row, calendar)
    lines = list(session.exec(select(FundLine).where(FundLine.plan_id == row.id)
                              .order_by(FundLine.id)).all())
    payments = _payments(session, row.id, today)
    paid: dict[int | None, Decimal] = {}
    last: dict[int | None, date] = {}
    for p in payments:
        paid[p.line_id] = paid.get(p.line_id, Decimal(0)) + p.amount
        last[p.line_id] = max(last.get(p.line_id, p.paid_on), p.paid_on)
    tasks = {t.id: t for t in session.exec(select(Task).where(
        Task.id.in_([ln.task_id for ln in lines if ln.task_id]))).all()}
    leads = _lead_names(session, tasks)
    statuses = []
    for line in lines:
        amount = _money(line.amount)
        disbursed = paid.get(line.id, Decimal(0))
        tracked = bool(line.disburse_by or line.disburse_schedule)
        lag = disbursement_lag(amount=amount, disbursed=disbursed,
                               schedule=line.disburse_schedule, disburse_by=line.disburse_by,
                               today=today, threshold=policy.behind_threshold)
        if amount > 0 and disbursed >= amount:
            status = "done"
        elif lag is not None:
            past_deadline = line.disburse_by is not None and today > line.disburse_by
            status = "overdue" if lag.final or past_deadline else "behind"
        else:
            status = "ok" if tracked else "untracked"
        task = tasks.get(line.task_id) if line.task_id else None
        statuses.append(LineStatus(
            code=line.code, scope=line.scope, source=line.source,
            source_label=label(FUND_SOURCE_LABELS, line.source), amount=amount,
            disbursed=disbursed, balance=amount - disbursed,
            share=(disbursed * 100 / amount).quantize(CENT) if amount else Decimal(0),
            planned_share=planned_share_on(line.disburse_schedule, line.disburse_by, today),
            disburse_by=line.disburse_by, status=status, status_label=FUND_STATUS_LABELS[status],
            days_behind=days.between(lag.since, today) if lag else None,
            lag_since=lag.since if lag else None, last_paid_on=last.get(line.id),
            task_code=task.code if task else None, task_title=task.title if task else None,
            lead_units=leads.get(task.id, ()) if task else (), note=line.note))
    statuses.sort(key=lambda ln: ln.scope != "plan")  # the budget lines first
    plan_lines = [ln for ln in statuses if ln.scope == "plan"]
    budget_lines = plan_lines or statuses
    by_source: dict[str, Decimal] = {}
    for line in budget_lines:
        by_source[line.source] = by_source.get(line.source, Decimal(0)) + line.amount
    budget = sum((ln.amount for ln in budget_lines), Decimal(0))
    disbursed = sum((p.amount for p in payments), Decimal(0))
    return FundStatus(
        plan_code=row.code, plan_title=row.title, as_of=today, budget=budget,
        sources=[SourceTotal(s, label(FUND_SOURCE_LABELS, s), v) for s, v in by_source.items()],
        allocated=sum((ln.amount for ln in statuses if ln.task_code), Decimal(0)),
        disbursed=disbursed, balance=budget - disbursed,
        share=(disbursed * 100 / budget).quantize(CENT) if budget else None,
        lines=statuses, rules=check_rules(session, row, payments),
        unallocated=paid.get(None, Decimal(0)),
        budget_from_tasks=not plan_lines and bool(statuses))


def check_rules(session: Session, plan: Plan, payments: Sequence[_Paid]) -> list[RuleCheck]:
    """Each plan rule measured on the tagged disbursements (see RuleSpec.tag)."""
    out = []
    for rule in session.exec(select(PlanRule).where(PlanRule.plan_id == plan.id)
                             .order_by(PlanRule.id)).all():
        threshold = Decimal(str(rule.threshold))
        measure = rule.measure or {}
        tag, of = measure.get("tag"), measure.get("of")
        value = ok = None
        if not tag:
            detail = "未设置核算口径（规则未指定拨付标签 tag），请人工核对"
        else:
            part = sum((p.amount for p in payments if tag in p.tags), Decimal(0))
            whole = sum((p.amount for p in payments if of is None or of in p.tags), Decimal(0))
            if rule.kind == "min_amount":
                value, ok = part, part >= threshold
            elif whole == 0:
                detail = "尚无拨付记录，暂无法核算"
            else:
                value = (part * 100 / whole).quantize(CENT)
                ok = value >= threshold if rule.kind == "min_share" else value <= threshold
            if ok is not None:
                verdict = "达标" if ok else "未达标"
                if rule.kind == "min_amount":
                    detail = f"{verdict}：标记「{tag}」的拨付合计{wan(value)}"
                else:
                    whole_text = f"标记「{of}」的拨付" if of else "全部拨付"
                    detail = f"{verdict}：标记「{tag}」的拨付占{whole_text}的{percent(value)}"
        out.append(RuleCheck(rule.code, rule.kind, rule.subject, rule.text,
                             threshold.quantize(CENT), value, ok, detail))
    return out


# -- recording -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DisbursementResult:
    id: int
    plan_code: str
    line_code: str
    task_code: str | None
    unit: str | None
    paid_on: date
    amount: Decimal
    line_amount: Decimal
    line_disbursed: Decimal  # after this one
    line_balance: Decimal
    line_share: Decimal  # %


def _parse_day(value: date | str, field: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise UserError.single(f"「{value}」不是日期：请写 2025-06-20", field=field) from None


def _clean_tags(tags: Iterable[str]) -> list[str]:
    out: list[str] = []
    for tag in tags:
        tag = (tag or "").strip()
        if not tag or len(tag) > 40:
            raise UserError.single(f"标签「{tag}」无效：1 至 40 个字符", field="--tag")
        if tag not in out:
            out.append(tag)
    return out


def record_disbursement(session: Session, *, plan: str, amount: Decimal | str,
                        paid_on: date | str, actor: str, now: datetime,
                        line: str | None = None, task: str | None = None,
                        unit: str | None = None, note: str | None = None,
                        tags: Iterable[str] = ()) -> DisbursementResult:
    """Record money paid out of a fund line (named by code, or by the task it funds).

    Checked before anything is written: the line exists, the amount is positive and fits
    the line's balance, the day is not after today, the unit exists. Writes the row and an
    audit event in the caller's transaction.
    """
    row = get_plan(session, plan)
    if (line is None) == (task is None):
        raise UserError.single("请用 --line（资金编号）或 --task（任务编号）指定资金，二选一")
    value = parse_amount(amount)
    day = _parse_day(paid_on, "--on")
    today = now.astimezone(ZoneInfo(row.timezone)).date()
    if day > today:
        raise UserError.single(f"拨付日期 {day} 晚于今天（{today}）：只能登记已拨付的资金",
                               field="--on")
    lines = list(session.exec(select(FundLine).where(FundLine.plan_id == row.id)
                              .order_by(FundLine.id)).all())
    fund = _pick_line(session, row, lines, line=line, task=task)
    funded = session.get(Task, fund.task_id) if fund.task_id else None
    unit_row = _unit(session, unit, funded)
    cleaned = _clean_tags(tags)
    d = Disbursement.__table__.c
    before = sum((_money(a) for a in session.execute(select(d.amount).where(
        d.fund_line_id == fund.id)).scalars()), Decimal(0))
    line_amount = _money(fund.amount)
    if before + value > line_amount:
        raise UserError.single(
            f"超出资金安排：{fund.code} 安排 {wan(line_amount)}，已拨付 {wan(before)}，"
            f"本次 {wan(value)}，余额仅 {wan(line_amount - before)}", field="--amount")
    text = (note or "").strip() or None
    record = Disbursement(plan_id=row.id, fund_line_id=fund.id, line_code=fund.code,
                          task_id=fund.task_id, unit_id=unit_row.id if unit_row else None,
                          paid_on=day, amount=value, tags=cleaned, note=text, origin="manual",
                          recorded_at=now, recorder=actor)
    session.add(record)
    session.flush()
    after = before + value
    session.add(AuditEvent(
        at=now, actor=actor, action="fund.disburse", entity="disbursement",
        entity_id=record.id, plan_id=row.id, note=text,
        after={"line": fund.code, "amount": str(value), "paid_on": day.isoformat(),
               "unit": unit_row.code if unit_row else None, "tags": cleaned}))
    return DisbursementResult(
        id=record.id, plan_code=row.code, line_code=fund.code,
        task_code=funded.code if funded else None, unit=unit_row.name if unit_row else None,
        paid_on=day, amount=value, line_amount=line_amount, line_disbursed=after,
        line_balance=line_amount - after,
        line_share=(after * 100 / line_amount).quantize(CENT) if line_amount else Decimal(0))


def _pick_line(session: Session, plan: Plan, lines: list[FundLine], *, line: str | None,
               task: str | None) -> FundLine:
    codes = "、".join(ln.code for ln in lines) or "无"
    if line is not None:
        for fund in lines:
            if fund.code == line.strip():
                return fund
        raise NotFound.single(f"方案 {plan.code} 中没有资金 {line}（资金编号：{codes}）",
                              field="--line")
    task_row = session.exec(select(Task).where(Task.plan_id == plan.id, Task.code == task,
                                               Task.archived_at.is_(None))).first()
    if task_row is None:
        raise NotFound.single(f"方案 {plan.code} 中没有任务 {task}", field="--task")
    funding = [ln for ln in lines if ln.task_id == task_row.id]
    if not funding:
        raise UserError.single(f"任务 {task} 没有资金安排（资金编号：{codes}）；请用 --line 指定",
                               field="--task")
    if len(funding) > 1:
        raise UserError.single(
            f"任务 {task} 有 {len(funding)} 笔资金安排（"
            + "、".join(f"{ln.code} {label(FUND_SOURCE_LABELS, ln.source)}{wan(ln.amount)}"
                       for ln in funding) + "）：请用 --line 指定其中一笔", field="--task")
    return funding[0]


def _unit(session: Session, ref: str | None, task: Task | None) -> Unit | None:
    if ref is not None:
        from taskflow.services.queries import find_unit

        try:
            return find_unit(session, ref)
        except NotFound as exc:
            raise NotFound([Problem(p.message, field="--unit") for p in exc.problems]
                           ) from None
    if task is None:
        return None
    return session.exec(select(Unit).join(TaskUnit, TaskUnit.unit_id == Unit.id).where(
        TaskUnit.task_id == task.id, TaskUnit.role == "lead").order_by(TaskUnit.position)
    ).first()


# -- the plan file's stated disbursements ----------------------------------------------------


def sync_stated_disbursements(session: Session, plan: Plan, resolved, report, *,
                              now: datetime) -> None:
    """Make the plan's ``origin='plan'`` disbursements what the plan file states (idempotent)."""
    wanted = sorted((f.code, d["paid_on"], _money(d["amount"]), d.get("note") or None)
                    for f in resolved.funds for d in f.disbursed)
    have_rows = list(session.exec(select(Disbursement).where(
        Disbursement.plan_id == plan.id, Disbursement.origin == "plan")).all())
    have = sorted((r.line_code, r.paid_on, _money(r.amount), r.note) for r in have_rows)
    if wanted == have:
        return
    session.flush()  # the lines _sync_children added need their ids
    lines = {ln.code: ln for ln in session.exec(select(FundLine).where(
        FundLine.plan_id == plan.id)).all()}
    for old in have_rows:
        session.delete(old)
    for code, paid_on, amount, note in wanted:
        line = lines[code]
        session.add(Disbursement(plan_id=plan.id, fund_line_id=line.id, line_code=code,
                                 task_id=line.task_id, paid_on=paid_on, amount=amount,
                                 note=note, origin="plan", recorded_at=now,
                                 recorder=STATED_BY_PLAN))
    if not report.created:
        report.other_changes.append(f"方案文件所列已拨付：{len(wanted)} 笔"
                                    f"（原为 {len(have)} 笔）")
