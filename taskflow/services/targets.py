"""Quantitative targets: planned vs actual per period (篇2 "1-3 月完成 10%; 4-6 月 30%…").

Planned: the task's ``progress_plan`` (cumulative shares or quantities by a day); the whole
target is planned by the task's deadline. Actual: the newest progress report up to the end of
each period (units report cumulative figures), a quantity or a percent of the target; a task
accepted as done counts as its target reached. A period is behind when planned minus actual
exceeds the plan policy's ``behind_threshold`` percentage points (the yellow-light rule).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from taskflow.domain.lights import planned_share
from taskflow.domain.states import TaskState
from taskflow.models import Plan, ProgressReport, Task, TaskUnit, Unit
from taskflow.plans.schema import PolicySpec
from taskflow.services.periods import Period

HUNDRED = Decimal(100)
STEP = Decimal("0.01")


@dataclass(frozen=True)
class TargetPoint:
    period: str  # 2025-Q2
    label: str  # 2025年第二季度
    end: date
    planned: Decimal | None  # cumulative quantity planned by the period's end
    planned_share: Decimal | None  # the same as % of the target
    actual: Decimal | None  # cumulative quantity reported by then (None: not yet reported)
    actual_share: Decimal | None
    gap: Decimal | None  # planned_share - actual_share, percentage points (> 0: behind)
    behind: bool


@dataclass(frozen=True)
class TargetProgress:
    plan_code: str
    task_code: str
    task_title: str
    lead_units: tuple[str, ...]
    target: Decimal
    measure: str  # 人次, 个村, %
    due_on: date | None
    state: str
    points: list[TargetPoint]

    @property
    def last(self) -> TargetPoint | None:
        return self.points[-1] if self.points else None

    @property
    def attainment(self) -> Decimal | None:
        """Actual as % of the whole target at the last period."""
        last = self.last
        return last.actual_share if last else None

    @property
    def behind(self) -> bool:
        last = self.last
        return bool(last and last.behind)


def _quantity(report: ProgressReport, target: Decimal) -> Decimal | None:
    if report.quantity is not None:
        return Decimal(str(report.quantity))
    if report.percent is not None:
        return Decimal(str(report.percent)) * target / HUNDRED
    return None


def target_progress(session: Session, *, plans: Sequence[Plan], periods: Sequence[Period],
                    now: datetime) -> list[TargetProgress]:
    """Planned vs actual at the end of each period, for every live task with a target.

    A period that ends after ``now`` is measured at ``now``; one that starts after it has no
    actual. Tasks in tree order, plans in the given order.
    """
    out: list[TargetProgress] = []
    for plan in plans:
        tz = ZoneInfo(plan.timezone)
        today = now.astimezone(tz).date()
        policy = PolicySpec.model_validate(plan.policy or {})
        tasks = list(session.exec(select(Task).where(
            Task.plan_id == plan.id, Task.archived_at.is_(None), Task.target_value.is_not(None),
            Task.state != TaskState.cancelled).order_by(Task.position)).all())
        if not tasks:
            continue
        ids = [t.id for t in tasks]
        reports: dict[int, list[ProgressReport]] = {}
        for report in session.exec(select(ProgressReport).where(
                ProgressReport.task_id.in_(ids)).order_by(ProgressReport.reported_at,
                                                           ProgressReport.id)).all():
            reports.setdefault(report.task_id, []).append(report)
        leads: dict[int, list[str]] = {}
        for task_id, name in session.execute(
                select(TaskUnit.task_id, Unit.name).join(Unit, Unit.id == TaskUnit.unit_id)
                .where(TaskUnit.task_id.in_(ids), TaskUnit.role == "lead")
                .order_by(TaskUnit.position)).all():
            leads.setdefault(task_id, []).append(name)
        for task in tasks:
            target = Decimal(str(task.target_value))
            points = []
            for period in periods:
                end_day = min(period.end, today)
                cutoff = min(datetime.combine(period.end + timedelta(days=1), time(0), tz), now)
                planned_pct = planned_share(task.progress_plan or [], period.end, target)
                if task.due_on is not None and task.due_on <= period.end:
                    planned_pct = HUNDRED
                actual = None
                if period.start <= today:
                    for report in reports.get(task.id, []):
                        if report.reported_at <= cutoff:
                            value = _quantity(report, target)
                            if value is not None:
                                actual = value
                    if task.state == TaskState.done and task.completed_at is not None and \
                            task.completed_at <= cutoff:
                        actual = max(actual or Decimal(0), target)
                actual_pct = (actual * HUNDRED / target).quantize(STEP) \
                    if actual is not None and target else None
                gap = None
                if planned_pct is not None and period.start <= today:
                    gap = (planned_pct - (actual_pct or Decimal(0))).quantize(STEP)
                points.append(TargetPoint(
                    period=period.code, label=period.label, end=end_day,
                    planned=(target * planned_pct / HUNDRED).quantize(STEP)
                    if planned_pct is not None else None,
                    planned_share=planned_pct.quantize(STEP) if planned_pct is not None
                    else None,
                    actual=actual.quantize(STEP) if actual is not None else None,
                    actual_share=actual_pct, gap=gap,
                    behind=gap is not None and gap > policy.behind_threshold))
            out.append(TargetProgress(
                plan_code=plan.code, task_code=task.code, task_title=task.title,
                lead_units=tuple(leads.get(task.id, ())), target=target,
                measure=task.target_unit or "", due_on=task.due_on, state=task.state,
                points=points))
    return out


def planned_vs_actual(session: Session, *, plan: str, period: str | Period, now: datetime,
                      step: str = "month") -> list[TargetProgress]:
    """One plan's targets, planned vs actual for each month (or quarter) of ``period``.

    ``plan`` is the plan's code, ``period`` a Period or its text (2025, 2025-H1, 2025-Q2...);
    ``step`` "month", "quarter" or "whole" (one point at the period's end).
    """
    from taskflow.services.funds import get_plan
    from taskflow.services.periods import parse_period

    row = get_plan(session, plan)
    whole = parse_period(period) if isinstance(period, str) else period
    steps = {"month": whole.months, "quarter": whole.quarters, "whole": lambda: [whole]}
    if step not in steps:
        raise ValueError(f"unknown step {step!r}: month, quarter or whole")
    return target_progress(session, plans=[row], periods=steps[step](), now=now)
