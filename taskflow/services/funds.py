"""Funds (资金): budget lines, disbursements (拨付), balances, the disbursement-lag alert, rules.

- A plan's budget is its plan-level fund lines by source (篇2: 2490.96万元 = 230万 财政 +
  2260.96万 社会); when it has none, the task lines are the budget. Allocations are the lines
  that fund a task. Disbursements (``Disbursement``) are recorded against a line with
  ``record_disbursement`` (``taskflow funds disburse``) or stated by the plan file
  (``disbursed:``, 篇3's 1079.4813万元), and the balance is budget minus disbursed.
- A line may have a deadline (``disburse_by``: "6月底前补助到位") and a schedule of planned
  cumulative shares. A line is behind when a checkpoint has passed and the disbursed share
  falls short of it by more than the plan policy's ``behind_threshold`` (any shortfall at a
  100% checkpoint: the money was due in full). The sweep then writes reminders and
  escalations (kind ``fund_lag``) with the plan's policy, as for an overdue task: the lag
  counts from the missed checkpoint, reminders every ``overdue_every`` (working) days,
  escalation steps after their ``after`` days; keys are unique per line, checkpoint, slot,
  level, recipient and channel, so a second sweep writes nothing.
- Plan rules (篇4: 到户资金不低于到县总额的70%) are measured on tagged disbursements.

The rule functions at the top are pure (plain values in, plain values out); the rest are
services over a caller's session (nothing commits here).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from taskflow.errors import NotFound, Problem, UserError
from taskflow.models import (
    AuditEvent,
    Disbursement,
    FundLine,
    Notification,
    Plan,
    PlanRule,
    Task,
    TaskUnit,
    Unit,
)
from taskflow.plans.schema import PolicySpec
from taskflow.rules import Action, Clock, Days, out_of_quiet_hours

WAN = Decimal(10_000)
YI = Decimal(100_000_000)
CENT = Decimal("0.01")
SOURCE_LABELS = {"central": "中央", "provincial": "省级", "municipal": "市级", "county": "县(区)级",
                 "township": "乡镇", "government": "财政", "social": "社会", "other": "其他"}
STATUS_LABELS = {"done": "已拨付完毕", "overdue": "逾期未拨付到位", "behind": "拨付滞后",
                 "ok": "正常", "untracked": "未设拨付期限"}
RULE_KIND_LABELS = {"min_share": "不低于", "max_share": "不高于", "min_amount": "不少于"}
STATED_BY_PLAN = "plan file"
KIND = "fund_lag"
# Who hears of a lagging line that funds no task (no lead unit to remind).
NO_TASK_RECIPIENTS = ("office.coordinator", "issuer.head")


# -- amounts ---------------------------------------------------------------------------------


def parse_amount(text: str | Decimal | int, *, field: str = "--amount") -> Decimal:
    """'12.5万' / '12.5万元' / '125000' / '125,000元' / '0.3亿' → Decimal yuan (2 places).

    Full-width digits are accepted; a bad value is a UserError naming ``field``.
    """
    if isinstance(text, Decimal | int) and not isinstance(text, bool):
        value = Decimal(text)
    else:
        raw = unicodedata.normalize("NFKC", str(text or "")).strip()
        cleaned = re.sub(r"(?<=\d)[,，](?=\d{3})", "", raw).replace(" ", "")
        m = re.fullmatch(r"([+-]?[0-9]+(?:\.[0-9]+)?)(万|亿)?(元)?", cleaned)
        if not m:
            raise UserError.single(f"「{text}」不是金额：请写 12.5万、12.5万元、125000 或 "
                                   "125000元", field=field)
        try:
            value = Decimal(m[1]) * {"万": WAN, "亿": YI, None: Decimal(1)}[m[2]]
        except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
            raise UserError.single(f"「{text}」不是金额", field=field) from None
    if value <= 0:
        raise UserError.single(f"金额必须大于 0（得到 {text}）", field=field)
    if value != value.quantize(CENT):
        raise UserError.single(f"「{text}」精确到分以下：金额最多到分（0.01 元）", field=field)
    return value.quantize(CENT)


def wan(amount: Decimal | None) -> str:
    """Money as offices write it: 2490.96万元, 697亿元, 0万元."""
    if amount is None:
        return "—"
    if abs(amount) >= YI:
        return f"{_plain(amount / YI)}亿元"
    return f"{_plain(amount / WAN)}万元"


def _plain(value: Decimal) -> str:
    text = format(value.quantize(Decimal("0.000001")).normalize(), "f")
    return text if text != "-0" else "0"


def percent(value: Decimal | None) -> str:
    return "—" if value is None else f"{value.quantize(Decimal('0.1'))}%"


# -- pure rules ------------------------------------------------------------------------------


def checkpoints(schedule: Sequence[dict[str, Any]] | None, disburse_by: date | None
                ) -> list[tuple[date, Decimal]]:
    """The line's (day, planned cumulative share %) points, the deadline as 100%."""
    points = [(date.fromisoformat(p["by"]), Decimal(str(p["share"]))) for p in schedule or ()]
    if disburse_by is not None:
        points.append((disburse_by, Decimal(100)))
    return sorted(points)


def planned_share_on(schedule: Sequence[dict[str, Any]] | None, disburse_by: date | None,
                     day: date) -> Decimal | None:
    """The share (%) of the line planned to be disbursed by the end of ``day``."""
    planned = None
    for by, share in checkpoints(schedule, disburse_by):
        if by <= day:
            planned = share if planned is None else max(planned, share)
    return planned


@dataclass(frozen=True)
class Lag:
    since: date  # the checkpoint that was missed (the lag counts from the day after)
    planned: Decimal  # its planned share, %
    actual: Decimal  # the disbursed share now, %
    final: bool  # the checkpoint wanted all of it (the deadline)


def disbursement_lag(*, amount: Decimal, disbursed: Decimal,
                     schedule: Sequence[dict[str, Any]] | None, disburse_by: date | None,
                     today: date, threshold: Decimal) -> Lag | None:
    """Is the line behind its schedule on ``today``? The earliest missed checkpoint, if so.

    A checkpoint on day D is met by the end of D, so the lag starts on D + 1. Disbursed
    amounts only grow, so a line behind checkpoint D now was behind it every day since.
    ``threshold`` (percentage points) is tolerated before a partial checkpoint, nothing
    before a 100% one.
    """
    if amount <= 0:
        return None
    actual = disbursed * 100 / amount
    for day, share in checkpoints(schedule, disburse_by):
        if day >= today:
            break
        tolerance = Decimal(0) if share >= 100 else threshold
        if share - actual > tolerance:
            return Lag(day, share, actual.quantize(CENT), share >= 100)
    return None


def lag_actions(lag: Lag, *, now: datetime, today: date, policy: PolicySpec, days: Days,
                clock: Clock, recipients: tuple[str, ...]) -> list[Action]:
    """The reminder and the escalation due for a lag at ``now`` (the latest slot of each).

    Reminders: the first working day after the missed checkpoint, then every
    ``overdue_every`` days; escalation: the highest step of the policy's ladder whose
    ``after`` days have passed. Like the task rules, a sweep after downtime sends where the
    line stands, not every slot it missed.
    """
    actions: list[Action] = []
    first = days.add(lag.since, 1)
    behind = days.between(lag.since, today)
    if clock.at(first) <= now:
        every = policy.overdue_every
        k = max(0, days.between(first, today) // every)
        for slot in (k, k - 1):
            if slot < 0:
                continue
            day = days.add(first, slot * every) if slot else first
            if clock.at(day) <= now:
                actions.append(Action(KIND, f"{lag.since.isoformat()}:lag{slot}", recipients,
                                      days=behind))
                break
    reached = None
    for step in policy.escalation:
        day = days.add(lag.since, max(step.after, 1))
        if clock.at(day) > now:
            break
        reached = step
    if reached is not None:
        actions.append(Action(KIND, f"{lag.since.isoformat()}:esc{reached.level}",
                              tuple(reached.to), level=reached.level, days=behind,
                              consequence=reached.consequence))
    return actions


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
        return f"{RULE_KIND_LABELS.get(self.kind, self.kind)}{shown}"

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
            source_label=SOURCE_LABELS.get(line.source, line.source), amount=amount,
            disbursed=disbursed, balance=amount - disbursed,
            share=(disbursed * 100 / amount).quantize(CENT) if amount else Decimal(0),
            planned_share=planned_share_on(line.disburse_schedule, line.disburse_by, today),
            disburse_by=line.disburse_by, status=status, status_label=STATUS_LABELS[status],
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
        sources=[SourceTotal(s, SOURCE_LABELS.get(s, s), v) for s, v in by_source.items()],
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
            + "、".join(f"{ln.code} {SOURCE_LABELS.get(ln.source, ln.source)}{wan(ln.amount)}"
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


# -- the sweep's pass over lagging lines -----------------------------------------------------


@dataclass
class LagReport:
    lines: int = 0  # lines with a deadline or schedule looked at
    behind: int = 0  # of them, behind at now
    messages: dict[str, int] = field(default_factory=dict)  # by kind
    unreachable: int = 0


def _outbox_insert(dialect_name: str):
    table = Notification.__table__
    statement = (postgresql.insert(table) if dialect_name == "postgresql" else
                 sqlite.insert(table) if dialect_name == "sqlite" else insert(table))
    return statement.on_conflict_do_nothing(index_elements=["key"])


def sweep_fund_lags(session: Session, *, now: datetime, calendar, directory,
                    plan_ids: Sequence[int] | None = None) -> LagReport:
    """Reminders and escalations for lines behind their disbursement schedule at ``now``.

    Set-based: one query for the tracked lines, one for their payments, one for the funded
    tasks' units; outbox rows go in with ON CONFLICT DO NOTHING on their keys.
    """
    report = LagReport()
    f = FundLine.__table__.c
    query = select(FundLine).where((f.disburse_by.is_not(None))
                                   | (f.disburse_schedule.is_not(None)))
    if plan_ids:
        query = query.where(f.plan_id.in_(list(plan_ids)))
    lines = list(session.exec(query).all())
    report.lines = len(lines)
    if not lines:
        return report
    d = Disbursement.__table__.c
    paid: dict[int, Decimal] = {}
    for line_id, amount in session.execute(select(d.fund_line_id, d.amount).where(
            d.fund_line_id.in_([ln.id for ln in lines]))).all():
        paid[line_id] = paid.get(line_id, Decimal(0)) + _money(amount)
    task_ids = [ln.task_id for ln in lines if ln.task_id]
    units: dict[int, dict[str, tuple[int, ...]]] = {}
    tasks: dict[int, Task] = {}
    if task_ids:
        tasks = {t.id: t for t in session.exec(select(Task).where(Task.id.in_(task_ids)))}
        for link in session.exec(select(TaskUnit).where(TaskUnit.task_id.in_(task_ids))
                                 .order_by(TaskUnit.position)).all():
            by_role = units.setdefault(link.task_id, {})
            by_role[link.role] = (*by_role.get(link.role, ()), link.unit_id)
    plans = {p.id: p for p in session.exec(select(Plan).where(
        Plan.id.in_({ln.plan_id for ln in lines}))).all()}
    contexts: dict[int, tuple[PolicySpec, ZoneInfo, Clock, Days]] = {}
    rows: list[dict[str, Any]] = []
    for line in lines:
        plan = plans[line.plan_id]
        task = tasks.get(line.task_id) if line.task_id else None
        if task is not None and (task.archived_at is not None or task.state == "cancelled"):
            continue
        if plan.id not in contexts:
            policy = PolicySpec.model_validate(plan.policy or {})
            tz = ZoneInfo(plan.timezone)
            contexts[plan.id] = (policy, tz, Clock(tz, policy),
                                 Days(calendar, calendar_days=policy.calendar_days))
        policy, tz, clock, days = contexts[plan.id]
        today = clock.today(now)
        amount = _money(line.amount)
        disbursed = paid.get(line.id, Decimal(0))
        lag = disbursement_lag(amount=amount, disbursed=disbursed,
                               schedule=line.disburse_schedule, disburse_by=line.disburse_by,
                               today=today, threshold=policy.behind_threshold)
        if lag is None:
            continue
        report.behind += 1
        by_role = units.get(line.task_id, {}) if line.task_id else {}
        notify = tuple(policy.notify) if by_role else NO_TASK_RECIPIENTS
        payload = {
            "plan_code": plan.code, "plan_title": plan.title, "line_code": line.code,
            "line_source": SOURCE_LABELS.get(line.source, line.source),
            "line_note": line.note, "amount": wan(amount), "disbursed": wan(disbursed),
            "balance": wan(amount - disbursed), "share": percent(lag.actual),
            "planned_share": percent(lag.planned), "checkpoint": lag.since.isoformat(),
            "disburse_by": line.disburse_by.isoformat() if line.disburse_by else None,
            "task_code": task.code if task else None,
            "task_title": task.title if task else None,
            "lead_units": directory.names(by_role.get("lead", ())),
            "responsible_units": directory.names(by_role.get("responsible", ())),
        }
        not_before = out_of_quiet_hours(now, policy, tz)
        for action in lag_actions(lag, now=now, today=today, policy=policy, days=days,
                                  clock=clock, recipients=notify):
            recipients = directory.resolve(action.recipients, units_by_role=by_role,
                                           jurisdiction_id=plan.jurisdiction_id,
                                           issuer_id=plan.issuer_id)
            if not recipients:
                report.unreachable += 1
                continue
            prefix = f"f{line.id}:{action.occurrence}:{action.kind}:L{action.level}:c"
            for r in recipients:
                rows.append({
                    "key": f"{prefix}{r.contact_id}:{r.channel}", "plan_id": plan.id,
                    "task_id": task.id if task else None, "contact_id": r.contact_id,
                    "kind": KIND, "level": action.level, "channel": r.channel,
                    "address": r.address,
                    "payload": {**payload, "recipient": r.name, "days": action.days,
                                "level": action.level, "consequence": action.consequence},
                    "digest": False, "status": "pending", "created_at": now,
                    "not_before": not_before, "attempts": 0})
            name = "fund_escalation" if action.level else KIND
            report.messages[name] = report.messages.get(name, 0) + 1
    if rows:
        session.connection().execute(_outbox_insert(session.connection().dialect.name), rows)
    return report
