"""Weekly summaries: tasks past the top of the 督办 ladder, once a week, instead of every day.

After the top escalation step a task gets no more daily reminders (taskflow.domain.reminders).
It is not forgotten: on the first working day of each week, at the plan's send time, each
contact who was reminded of it (the policy's ``notify`` selectors for the task's units) and
each recipient of the top step (the leader in charge) gets one summary listing their tasks
that are still open at the top level, with how long each has been overdue. The summary joins
that day's digest (one message per contact and day); the bulletin lists the same tasks.

The message is ``weekly:<plan>:<day>``, one row per contact and channel, so a second sweep in
the same week writes nothing. A summary day missed while taskflow was down is not caught up:
the bulletin lists the same tasks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from taskflow.domain.messages import MessageKind
from taskflow.domain.reminders import digest_day
from taskflow.domain.states import WORKING
from taskflow.domain.workdays import Clock, Days
from taskflow.models import Plan, Task, TaskUnit
from taskflow.plans.schema import PolicySpec
from taskflow.services.outbox import insert_outbox, outbox_row
from taskflow.services.recipients import Directory, Recipient

KIND = MessageKind.weekly
MAX_ITEMS = 200  # tasks listed in one summary; the rest are counted


@dataclass
class WeeklyReport:
    plans: int = 0  # plans whose summary day it is
    tasks: int = 0  # tasks at the top level listed
    contacts: int = 0  # contacts written a summary (each on their channels)
    unreachable: int = 0  # tasks whose selectors found nobody


@dataclass
class _Listing:
    recipient: Recipient
    items: list[dict[str, Any]] = field(default_factory=list)


def summary_day(today: date, days: Days) -> date | None:
    """The first working day of ``today``'s week (None when the whole week is off)."""
    monday = today - timedelta(days=today.weekday())
    first = days.on_or_after(monday)
    return first if first <= monday + timedelta(days=6) else None


def sweep_weekly(session: Session, *, now: datetime, calendar, directory: Directory,
                 plan_ids: Sequence[int] | None = None) -> WeeklyReport:
    """Write this week's summaries of the plans whose summary is due at ``now``."""
    report = WeeklyReport()
    query = select(Plan)
    if plan_ids:
        query = query.where(Plan.id.in_(list(plan_ids)))
    for plan in session.exec(query).all():
        policy = PolicySpec.model_validate(plan.policy or {})
        if policy.repeat_after_top or not policy.escalation:
            continue  # reminders never end: no summary needed
        tz = ZoneInfo(plan.timezone)
        clock = Clock(tz, policy)
        days = Days(calendar, calendar_days=policy.calendar_days)
        today = clock.today(now)
        if summary_day(today, days) != today or now < clock.at(today):
            continue  # not the week's summary day (a missed one is not caught up)
        day = today
        report.plans += 1
        _plan_summaries(session, plan, policy, day, days, clock, now, directory, report)
    return report


def _plan_summaries(session: Session, plan: Plan, policy: PolicySpec, day: date, days: Days,
                    clock: Clock, now: datetime, directory: Directory,
                    report: WeeklyReport) -> None:
    top = policy.escalation[-1]
    tasks = list(session.exec(select(Task).where(
        Task.plan_id == plan.id, Task.archived_at.is_(None), Task.state.in_(WORKING),
        Task.escalation_level >= top.level, Task.due_on.is_not(None))
        .order_by(Task.due_on, Task.position, Task.id)).all())
    if not tasks:
        return
    units = _units(session, [t.id for t in tasks])
    listings: dict[tuple[int, str], _Listing] = {}
    for task in tasks:
        by_role = units.get(task.id, {})
        recipients = (*directory.resolve(policy.notify, units_by_role=by_role,
                                         jurisdiction_id=plan.jurisdiction_id,
                                         issuer_id=plan.issuer_id),
                      *directory.resolve(top.to, units_by_role=by_role,
                                         jurisdiction_id=plan.jurisdiction_id,
                                         issuer_id=plan.issuer_id))
        if not recipients:
            report.unreachable += 1
            continue
        report.tasks += 1
        item = {"task_code": task.code, "task_title": task.title,
                "due_on": task.due_on.isoformat(), "level": task.escalation_level,
                "days": days.between(task.due_on, day),
                "lead_units": directory.names(by_role.get("lead", ()))}
        for r in recipients:
            listing = listings.setdefault((r.contact_id, r.channel), _Listing(r))
            if item not in listing.items:
                listing.items.append(item)
    digest_on, send_at = digest_day(max(now, clock.at(day)), days, clock)
    rows = []
    for listing in listings.values():
        shown = listing.items[:MAX_ITEMS]
        payload = {"plan_code": plan.code, "plan_title": plan.title, "day": day.isoformat(),
                   "tasks": shown, "more": len(listing.items) - len(shown),
                   "consequence": top.consequence}
        rows.append(outbox_row(message=f"weekly:{plan.code}:{day.isoformat()}", kind=KIND,
                               recipient=listing.recipient, payload=payload, now=now,
                               plan_id=plan.id, not_before=send_at, digest_on=digest_on))
    report.contacts += len({contact for _, contact in insert_outbox(session.connection(),
                                                                    rows)})


def _units(session: Session, task_ids: list[int]) -> dict[int, Mapping[str, tuple[int, ...]]]:
    out: dict[int, dict[str, tuple[int, ...]]] = {}
    link = TaskUnit.__table__.c
    for task_id, unit_id, role in session.execute(
            select(link.task_id, link.unit_id, link.role)
            .where(link.task_id.in_(task_ids)).order_by(link.position)).all():
        by_role = out.setdefault(task_id, {})
        by_role[role] = (*by_role.get(role, ()), unit_id)
    return out
