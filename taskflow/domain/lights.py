"""Traffic lights (红黄绿灯) of a task: red overdue, yellow close or behind plan, green on track."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from taskflow.domain.reminders import TaskFacts
from taskflow.domain.workdays import Clock, Days
from taskflow.plans.schema import PolicySpec


def planned_share(progress_plan: list[dict], today: date, target: Decimal | None
                  ) -> Decimal | None:
    """The share (%) of the target planned to be done by ``today`` (the last checkpoint)."""
    reached = None
    for point in progress_plan:
        if date.fromisoformat(point["by"]) <= today:
            value = Decimal(point["cumulative"])
            if point.get("share", True):
                reached = value
            elif target:
                reached = value * 100 / target
    return reached


def light(task: TaskFacts, now: datetime, policy: PolicySpec, days: Days, clock: Clock, *,
          progress_plan: list[dict] | None = None, target: Decimal | None = None,
          actual_percent: Decimal | None = None, submitted_at: datetime | None = None
          ) -> str:
    """红黄绿灯: "red" overdue, "yellow" close or behind schedule, "green" on track.

    Closed tasks are "green" when done and "none" when cancelled.
    """
    if task.state == "cancelled":
        return "none"
    if task.state == "done":
        return "green"
    late_submission = submitted_at is not None and task.due_at is not None and \
        submitted_at > task.due_at
    if task.due_at is not None and now >= task.due_at and (
            task.state != "submitted" or late_submission):
        return "red"
    if task.state == "submitted":
        return "green"
    today = clock.today(now)
    if task.due_on is not None and task.state != "pending" and \
            days.between(today, task.due_on) <= policy.warning_window:
        return "yellow"
    if progress_plan:
        planned = planned_share(progress_plan, today, target)
        if planned is not None and planned - (actual_percent or Decimal(0)) > \
                policy.behind_threshold:
            return "yellow"
    return "green"
