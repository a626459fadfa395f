"""Traffic lights (红黄绿灯) for many tasks at once, from the pure rule in taskflow.rules."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlmodel import Session

from taskflow.domain.lights import light
from taskflow.domain.reminders import TaskFacts
from taskflow.domain.workdays import Clock, Days
from taskflow.models import Plan, ProgressReport, Task
from taskflow.plans.schema import PolicySpec


def latest_progress(session: Session, task_ids: Sequence[int]) -> dict[int, ProgressReport]:
    """The newest report of each task (cumulative figures: the newest is the state)."""
    if not task_ids:
        return {}
    newest = (select(ProgressReport.task_id, func.max(ProgressReport.id).label("id"))
              .where(ProgressReport.task_id.in_(task_ids)).group_by(ProgressReport.task_id)
              .subquery())
    rows = session.scalars(select(ProgressReport).join(newest, newest.c.id == ProgressReport.id))
    return {r.task_id: r for r in rows}


def lights(session: Session, tasks: Sequence[Task], *, now: datetime, calendar
           ) -> dict[int, str]:
    plans: dict[int, tuple[PolicySpec, Clock, Days]] = {}
    progress = latest_progress(session, [t.id for t in tasks])
    out: dict[int, str] = {}
    for task in tasks:
        if task.plan_id not in plans:
            plan = session.get(Plan, task.plan_id)
            policy = PolicySpec.model_validate(plan.policy or {})
            plans[task.plan_id] = (policy, Clock(ZoneInfo(plan.timezone), policy),
                                   Days(calendar, calendar_days=policy.calendar_days))
        policy, clock, days = plans[task.plan_id]
        report = progress.get(task.id)
        actual = None
        if report is not None:
            if report.percent is not None:
                actual = report.percent
            elif report.quantity is not None and task.target_value:
                actual = report.quantity * Decimal(100) / task.target_value
        facts = TaskFacts(id=task.id, state=task.state, kind=task.kind, due_on=task.due_on,
                          due_at=task.due_at, start_at=task.start_at)
        out[task.id] = light(facts, now, policy, days, clock, progress_plan=task.progress_plan,
                             target=task.target_value, actual_percent=actual,
                             submitted_at=task.submitted_at)
    return out
