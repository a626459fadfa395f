"""The sweep: find what is due, decide with the pure rules, write state and outbox rows.

Cost follows the number of due actions, not the size of the database: each batch selects only
tasks whose ``next_action_at`` has come, through the partial index. A batch is one write
transaction: state changes are compare-and-set on (id, state, next_action_at), and every
message is an outbox row with a unique idempotency key inserted in the same transaction, so
two sweeps at once, or the same sweep twice, write each message once.

On PostgreSQL the batch's rows are claimed FOR UPDATE SKIP LOCKED, so concurrent sweeps
split the work; on SQLite the write transaction starts with BEGIN IMMEDIATE, so they queue.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from taskflow.db import write_session
from taskflow.models import AuditEvent, Notification, Plan, Task, TaskUnit
from taskflow.plans.schema import PolicySpec
from taskflow.rules import Clock, Days, Decision, TaskFacts, decide, out_of_quiet_hours
from taskflow.services.recipients import Directory

log = logging.getLogger(__name__)

PUSH_BACK = timedelta(hours=1)  # a task whose rule raised is looked at again after this
ACTOR = "engine"
DIGESTIBLE = {"due_soon", "due_today", "overdue", "ack_chase"}


@dataclass
class SweepReport:
    batches: int = 0
    tasks: int = 0
    activated: int = 0
    messages: Counter = field(default_factory=Counter)  # by kind
    escalations: Counter = field(default_factory=Counter)  # by level
    occurrences: int = 0
    lost_races: int = 0  # another sweep had already handled the task
    unreachable: int = 0  # actions whose selectors found nobody with an address
    errors: list[tuple[int, str, str]] = field(default_factory=list)  # (task id, code, error)

    def merge(self, other: SweepReport) -> None:
        for name in ("batches", "tasks", "activated", "occurrences", "lost_races",
                     "unreachable"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.messages.update(other.messages)
        self.escalations.update(other.escalations)
        self.errors.extend(other.errors)


@dataclass
class _PlanContext:
    plan: Plan
    policy: PolicySpec
    tz: ZoneInfo
    clock: Clock
    days: Days


class _Contexts:
    def __init__(self, session: Session, calendar):
        self.session = session
        self.calendar = calendar
        self.cache: dict[int, _PlanContext] = {}

    def get(self, plan_id: int) -> _PlanContext:
        if plan_id not in self.cache:
            plan = self.session.get(Plan, plan_id)
            policy = PolicySpec.model_validate(plan.policy or {})
            tz = ZoneInfo(plan.timezone)
            self.cache[plan_id] = _PlanContext(
                plan, policy, tz, Clock(tz, policy),
                Days(self.calendar, calendar_days=policy.calendar_days))
        return self.cache[plan_id]


def _insert(session: Session, table):
    dialect = session.get_bind().dialect.name
    return (postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)) \
        if dialect in ("postgresql", "sqlite") else insert(table)


def sweep(engine: Engine, *, now: datetime, calendar, batch_size: int = 500,
          plan_ids: list[int] | None = None, max_batches: int | None = None) -> SweepReport:
    """Run batches until nothing is due at ``now``; each batch is its own transaction."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    report = SweepReport()
    directory: Directory | None = None
    while max_batches is None or report.batches < max_batches:
        with write_session(engine) as session:
            if directory is None:
                directory = Directory.load(session)
            batch = _sweep_batch(session, now=now, calendar=calendar, batch_size=batch_size,
                                 plan_ids=plan_ids, directory=directory)
        if batch.tasks == 0:
            break
        report.merge(batch)
    return report


def _facts(task: Task, is_leaf: bool) -> TaskFacts:
    return TaskFacts(
        id=task.id, state=task.state, kind=task.kind, is_leaf=is_leaf, start_at=task.start_at,
        due_on=task.due_on, due_at=task.due_at, activated_at=task.activated_at,
        acknowledged_at=task.acknowledged_at, escalation_level=task.escalation_level,
        recurrence=task.recurrence, materialized_until=task.materialized_until)


def _sweep_batch(session: Session, *, now: datetime, calendar, batch_size: int,
                 plan_ids: list[int] | None, directory: Directory) -> SweepReport:
    report = SweepReport(batches=1)
    query = (select(Task).where(Task.next_action_at <= now, Task.archived_at.is_(None))
             .order_by(Task.next_action_at, Task.id).limit(batch_size))
    if plan_ids:
        query = query.where(Task.plan_id.in_(plan_ids))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=Task)
    tasks = list(session.scalars(query))
    report.tasks = len(tasks)
    if not tasks:
        return report
    ids = [t.id for t in tasks]
    parents = set(session.scalars(select(Task.parent_id).where(
        Task.parent_id.in_(ids), Task.archived_at.is_(None))).all())
    units_by_task: dict[int, dict[str, list[int]]] = {}
    for task_id, unit_id, role in session.execute(
            select(TaskUnit.task_id, TaskUnit.unit_id, TaskUnit.role)
            .where(TaskUnit.task_id.in_(ids)).order_by(TaskUnit.position)):
        units_by_task.setdefault(task_id, {}).setdefault(role, []).append(unit_id)
    contexts = _Contexts(session, calendar)

    outbox: list[dict[str, Any]] = []
    audits: list[dict[str, Any]] = []
    for task in tasks:
        ctx = contexts.get(task.plan_id)
        units = units_by_task.get(task.id, {})
        # Everything that can fail on a task's data is computed before anything is written,
        # so a bad row is pushed back whole instead of half-applied or stopping the sweep.
        try:
            decision = decide(_facts(task, task.id not in parents), now, ctx.policy, ctx.days,
                              ctx.clock)
            occurrences = (_occurrence_rows(task, ctx, decision.materialize_until, now)
                           if decision.materialize_until is not None else [])
            messages = _messages(task, ctx, decision, directory, units, now, report)
        except Exception as exc:
            log.exception("rule failed for task %s", task.id)
            _push_back(session, task, now, f"{type(exc).__name__}: {exc}", report)
            continue
        if not _compare_and_set(session, task, decision, now):
            report.lost_races += 1
            continue
        if decision.state == "active":
            report.activated += 1
            audits.append(_audit(task, now, "task.activate", {"state": "pending"},
                                 {"state": "active"}))
        if decision.escalation_level is not None:
            report.escalations[decision.escalation_level] += 1
            audits.append(_audit(task, now, "task.escalate",
                                 {"escalation_level": task.escalation_level},
                                 {"escalation_level": decision.escalation_level}))
        report.occurrences += _insert_occurrences(session, occurrences, units)
        outbox.extend(messages)
    if outbox:
        statement = _insert(session, Notification).on_conflict_do_nothing(
            index_elements=["key"])
        session.execute(statement, outbox)
    if audits:
        session.execute(insert(AuditEvent), audits)
    return report


def _messages(task: Task, ctx: _PlanContext, decision: Decision, directory: Directory,
              units: dict[str, list[int]], now: datetime, report: SweepReport
              ) -> list[dict[str, Any]]:
    """Outbox rows for the decision's actions: one per recipient and channel."""
    rows: list[dict[str, Any]] = []
    not_before = out_of_quiet_hours(now, ctx.policy, ctx.tz)
    for action in decision.actions:
        recipients = directory.resolve(
            action.recipients, units_by_role=units, jurisdiction_id=ctx.plan.jurisdiction_id,
            issuer_id=ctx.plan.issuer_id)
        if not recipients:
            report.unreachable += 1
            continue
        payload = _payload(task, ctx, action, directory, units)
        for r in recipients:
            rows.append({
                "key": f"t{task.id}:{action.occurrence}:{action.kind}:L{action.level}:"
                       f"c{r.contact_id}:{r.channel}",
                "plan_id": task.plan_id, "task_id": task.id, "contact_id": r.contact_id,
                "kind": action.kind, "level": action.level, "channel": r.channel,
                "address": r.address, "payload": {**payload, "recipient": r.name},
                "digest": ctx.policy.digest and action.kind in DIGESTIBLE,
                "status": "pending", "created_at": now, "not_before": not_before,
                "attempts": 0,
            })
        report.messages[action.kind] += 1
    return rows


def _compare_and_set(session: Session, task: Task, decision: Decision, now: datetime) -> bool:
    """Write the decision only if nobody changed the task since we read it."""
    next_at = decision.next_action_at
    if next_at is not None and next_at <= now:
        next_at = now + timedelta(minutes=1)  # never select the same row again in this sweep
    values: dict[str, Any] = {"next_action_at": next_at, "sweep_error": None}
    if decision.state is not None:
        values.update(state=decision.state, activated_at=decision.activated_at, updated_at=now)
    if decision.escalation_level is not None:
        values["escalation_level"] = decision.escalation_level
    if decision.materialize_until is not None:
        values["materialized_until"] = decision.materialize_until
    result = session.execute(
        update(Task).where(Task.id == task.id, Task.state == task.state,
                           _same_instant(task.next_action_at)).values(**values)
        .execution_options(synchronize_session=False))
    return result.rowcount == 1


def _same_instant(value: datetime | None):
    return Task.next_action_at.is_(None) if value is None else Task.next_action_at == value


def _push_back(session: Session, task: Task, now: datetime, error: str,
               report: SweepReport) -> None:
    session.execute(update(Task).where(Task.id == task.id).values(
        next_action_at=now + PUSH_BACK, sweep_error=error[:2000])
        .execution_options(synchronize_session=False))
    report.errors.append((task.id, task.code, error))


def _audit(task: Task, now: datetime, action: str, before: dict, after: dict) -> dict:
    return {"at": now, "actor": ACTOR, "action": action, "entity": "task",
            "entity_id": task.id, "plan_id": task.plan_id, "before": before, "after": after,
            "note": None}


def _payload(task: Task, ctx: _PlanContext, action, directory: Directory,
             units: dict[str, list[int]]) -> dict[str, Any]:
    """What a template needs to word the message (the notifications package renders it)."""
    def names(role: str) -> list[str]:
        return [directory.units[u].name for u in units.get(role, [])]

    return {
        "plan_code": ctx.plan.code, "plan_title": ctx.plan.title, "task_code": task.code,
        "task_title": task.title, "due_on": task.due_on.isoformat() if task.due_on else None,
        "days": action.days, "level": action.level, "consequence": action.consequence,
        "lead_units": names("lead"), "responsible_units": names("responsible"),
    }


def _occurrence_rows(duty: Task, ctx: _PlanContext, until: date, now: datetime
                     ) -> list[dict[str, Any]]:
    """The duty's occurrences (one task per period) whose period starts by ``until``.

    Each occurrence spans from one recurrence instant to the day before the next; its
    deadline is the last day of that span. Codes are "<duty>@<start>", so materialising the
    same period twice inserts nothing.
    """
    start = duty.start_on or date(ctx.plan.year, 1, 1)
    end = duty.due_on or date(ctx.plan.year, 12, 31)
    midnight = datetime.min.time()
    rule = rrulestr(duty.recurrence, dtstart=datetime.combine(start, midnight))
    starts = [d.date() for d in rule.between(datetime.combine(start, midnight),
                                             datetime.combine(end, midnight), inc=True)]
    rows = []
    for i, period_start in enumerate(starts):
        if period_start > until:
            break
        if duty.materialized_until and period_start <= duty.materialized_until:
            continue
        period_end = starts[i + 1] - timedelta(days=1) if i + 1 < len(starts) else end
        start_at = datetime.combine(period_start, midnight, ctx.tz)
        due_at = datetime.combine(period_end + timedelta(days=1), midnight, ctx.tz)
        rows.append({
            "plan_id": duty.plan_id, "parent_id": duty.id,
            "code": f"{duty.code}@{period_start.isoformat()}", "kind": "occurrence",
            "title": f"{duty.title}（{period_start.isoformat()}至{period_end.isoformat()}）",
            "position": duty.position, "start_on": period_start, "due_on": period_end,
            "planned_due_on": period_end, "start_at": start_at, "due_at": due_at,
            "state": "pending", "progress_plan": [], "acceptance": [], "escalation_level": 0,
            "next_action_at": start_at, "created_at": now, "updated_at": now,
        })
    return rows


def _insert_occurrences(session: Session, rows: list[dict[str, Any]],
                        units: dict[str, list[int]]) -> int:
    inserted = 0
    for row in rows:
        new_id = session.scalar(_insert(session, Task).values(**row).on_conflict_do_nothing(
            index_elements=["plan_id", "code"]).returning(Task.id))
        if new_id is None:
            continue  # another sweep made it first
        inserted += 1
        links = [{"task_id": new_id, "unit_id": unit_id, "role": role, "position": i}
                 for role, unit_ids in units.items() for i, unit_id in enumerate(unit_ids)]
        if links:
            session.execute(insert(TaskUnit), links)
    return inserted
