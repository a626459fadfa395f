"""Set-based numbers for the dashboard and the plan list: lights, overdue, on-time rates.

Everything is computed with SQL aggregates over a caller-given scope (a condition on ``Task``,
e.g. a web user's ``Viewer.task_clause()``), so the cost follows the number of groups, not of
tasks. The only per-task Python work is ``taskflow.domain.lights.light`` on the few rows that
can be yellow.

Lights, exactly as ``taskflow.domain.lights.light`` decides them:

- none: cancelled; green: done;
- red: the deadline has come (``now >= due_at``) and the task is open and not submitted, or it
  was submitted after the deadline;
- yellow: only a working task (active, acknowledged, in progress) due within its plan's
  warning window, or a task with a progress plan (it may be behind schedule); these
  candidates go through ``taskflow.domain.lights.light`` itself;
- green: everything else.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    exists,
    func,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.orm import aliased
from sqlmodel import Session

from taskflow.domain.lights import light
from taskflow.domain.reminders import TaskFacts
from taskflow.domain.states import OPEN, OPEN_NOT_SUBMITTED, WORKING, TaskState
from taskflow.domain.workdays import Clock, Days
from taskflow.models import (
    Notification,
    Plan,
    ProgressReport,
    Task,
    TaskUnit,
    Unit,
)
from taskflow.plans.schema import PolicySpec
from taskflow.services.lights import latest_progress

FAILED_STATUSES = ("failed", "dead", "ambiguous")
LIVE = Task.archived_at.is_(None)
# Written as the partial index ix_task_progress_plan's condition, so the index is used.
HAS_PROGRESS_PLAN = text("CAST(task.progress_plan AS TEXT) != '[]'")
PLANNED = literal_column("CAST(task.progress_plan AS TEXT) != '[]'").label("planned")


def red_clause(now: datetime) -> ColumnElement[bool]:
    """SQL for lights.light(...) == "red"."""
    return and_(Task.due_at.is_not(None), Task.due_at <= now, or_(
        Task.state.in_(OPEN_NOT_SUBMITTED),
        and_(Task.state == TaskState.submitted, Task.submitted_at > Task.due_at)))


@dataclass
class PlanRules:
    """A plan's policy with the clock and day arithmetic lights.light needs."""

    policy: PolicySpec
    clock: Clock
    days: Days

    @classmethod
    def of(cls, plan: Plan, calendar) -> PlanRules:
        policy = PolicySpec.model_validate(plan.policy or {})
        return cls(policy, Clock(ZoneInfo(plan.timezone), policy),
                   Days(calendar, calendar_days=policy.calendar_days))

    def warning_cutoff(self, now: datetime) -> date:
        """A day on or after the last due day lights.light can call yellow for closeness
        (working days in (today, due_on] <= warning_window)."""
        return self.days.add(self.clock.today(now), self.policy.warning_window + 1)

    def window_end(self, now: datetime) -> datetime:
        """An instant after every deadline lights.light can call close (a day's margin in UTC
        for any timezone)."""
        return datetime.combine(self.warning_cutoff(now) + timedelta(days=2),
                                datetime.min.time(), UTC)


class PlanRulesCache:
    def __init__(self, session: Session, calendar):
        self.session, self.calendar = session, calendar
        self._rules: dict[int, PlanRules] = {}

    def get(self, plan_id: int) -> PlanRules:
        found = self._rules.get(plan_id)
        if found is None:
            found = self._rules[plan_id] = PlanRules.of(self.session.get(Plan, plan_id),
                                                        self.calendar)
        return found


def light_of(row, rules: PlanRules, now: datetime, actual: Decimal | None,
             progress_plan: list[dict] | None = None) -> str:
    """lights.light for a row with the Task columns it reads (LIGHT_COLUMNS)."""
    facts = TaskFacts(id=row.id, state=row.state, kind=row.kind, due_on=row.due_on,
                      due_at=row.due_at, start_at=row.start_at)
    return light(facts, now, rules.policy, rules.days, rules.clock,
                 progress_plan=progress_plan, target=row.target_value,
                 actual_percent=actual, submitted_at=row.submitted_at)


def candidate_lights(session: Session, rows, plans: PlanRulesCache, now: datetime
                     ) -> dict[int, str]:
    """rules.light for candidate rows (LIGHT_COLUMNS). A task without a progress plan gets
    the light of its (plan, state, deadline, submission): rules.light reads nothing else
    of it then, so it is evaluated once per distinct combination, not once per task."""
    planned = [r.id for r in rows if r.planned]
    schedules = dict(session.execute(select(Task.id, Task.progress_plan)
                                     .where(Task.id.in_(planned))).all()) if planned else {}
    progress = latest_progress(session, planned)
    memo: dict[tuple, str] = {}
    out: dict[int, str] = {}
    for row in rows:
        rules = plans.get(row.plan_id)
        if row.planned:
            out[row.id] = light_of(row, rules, now,
                                   actual_percent(progress.get(row.id), row.target_value),
                                   schedules.get(row.id))
            continue
        key = (row.plan_id, row.state, row.due_on, row.due_at, row.start_at, row.submitted_at)
        found = memo.get(key)
        if found is None:
            found = memo[key] = light_of(row, rules, now, None)
        out[row.id] = found
    return out


def settled_light(state: str, due_at: datetime | None, submitted_at: datetime | None,
                  now: datetime) -> str | None:
    """The light when the state and deadline decide it alone (rules.light's first steps);
    None when the task may be yellow and rules.light must look at it."""
    if state == TaskState.cancelled:
        return "none"
    if state == TaskState.done:
        return "green"
    if due_at is not None and now >= due_at and (
            state != TaskState.submitted or (submitted_at is not None and submitted_at > due_at)):
        return "red"
    if state == TaskState.submitted:
        return "green"
    return None


def actual_percent(report: ProgressReport | None, target: Decimal | None) -> Decimal | None:
    """The reported share done, as services.lights reads it (percent, else quantity/target)."""
    if report is None:
        return None
    if report.percent is not None:
        return report.percent
    if report.quantity is not None and target:
        return report.quantity * Decimal(100) / target
    return None


LIGHT_COLUMNS = (Task.id, Task.plan_id, Task.state, Task.kind, Task.due_on, Task.due_at,
                 Task.start_at, PLANNED, Task.target_value, Task.submitted_at)


def yellow_by_plan(session: Session, *, scope: ColumnElement[bool], now: datetime,
                   calendar, plan_ids: list[int]) -> Counter:
    """Yellow tasks per plan: rules.light on the candidates only (see the module doc).

    Both candidate sets are found through indexes: ``ix_task_light`` (plan, state, due_at)
    for the warning window, the partial ``ix_task_progress_plan`` for progress plans.
    """
    if not plan_ids:
        return Counter()
    plans = PlanRulesCache(session, calendar)
    # the window ends with the latest cutoff day of any plan; a day later in UTC is safe
    # for every timezone, and rules.light decides each candidate exactly
    until = max(plans.get(pid).window_end(now) for pid in plan_ids)
    in_plans = Task.plan_id.in_(plan_ids)
    # Without a progress plan, rules.light reads only the state, the deadline and the
    # submission: one evaluation per distinct combination, counted in SQL from the index
    # alone; the tasks with a progress plan are then taken out of their group and judged
    # one by one.
    key_columns = (Task.plan_id, Task.state, Task.due_on, Task.due_at, Task.submitted_at)
    groups = {tuple(row[:-1]): row[-1] for row in session.execute(
        select(*key_columns, func.count())
        .where(in_plans, Task.state.in_(WORKING), Task.due_at > now, Task.due_at < until,
               LIVE, scope).group_by(*key_columns))}
    planned = session.execute(select(*LIGHT_COLUMNS).where(
        HAS_PROGRESS_PLAN, Task.state.in_(OPEN_NOT_SUBMITTED), in_plans, LIVE,
        scope, or_(Task.due_at.is_(None), Task.due_at > now))).all()
    out: Counter = Counter()
    judged = candidate_lights(session, planned, plans, now)
    for row in planned:
        colour = judged[row.id]
        key = (row.plan_id, row.state, row.due_on, row.due_at, row.submitted_at)
        if key in groups:
            groups[key] -= 1
        if colour == "yellow":
            out[row.plan_id] += 1
    for (plan_id, state, due_on, due_at, submitted_at), count in groups.items():
        rules = plans.get(plan_id)
        facts = TaskFacts(id=0, state=state, due_on=due_on, due_at=due_at)
        if count and light(facts, now, rules.policy, rules.days, rules.clock,
                           submitted_at=submitted_at) == "yellow":
            out[plan_id] += count
    return out


def light_counts(session: Session, *, scope: ColumnElement[bool], now: datetime, calendar,
                 plan_ids: list[int] | None = None) -> dict[int, Counter]:
    """{plan id: Counter(red=, yellow=, green=, none=)} for the live tasks in ``scope``.

    Three index-only aggregates (tasks by plan and state, red open tasks, late submissions)
    and the yellow candidates; green is what is left.
    """
    where = [LIVE, scope]
    if plan_ids is not None:
        where.append(Task.plan_id.in_(plan_ids))
    by_state: dict[int, Counter] = {}
    for plan_id, state, count in session.execute(
            select(Task.plan_id, Task.state, func.count()).where(*where)
            .group_by(Task.plan_id, Task.state)):
        by_state.setdefault(plan_id, Counter())[state] = count
    late = Task.due_at.is_not(None) & (Task.due_at <= now)
    reds = Counter(dict(session.execute(
        select(Task.plan_id, func.count()).where(*where, late, or_(
            Task.state.in_(OPEN_NOT_SUBMITTED),
            and_(Task.state == TaskState.submitted, Task.submitted_at > Task.due_at)))
        .group_by(Task.plan_id)).all()))
    yellow = yellow_by_plan(session, scope=scope, now=now, calendar=calendar,
                            plan_ids=sorted(by_state))
    out: dict[int, Counter] = {}
    for plan_id, states in by_state.items():
        red, y = reds.get(plan_id, 0), yellow.get(plan_id, 0)
        cancelled = states[TaskState.cancelled]
        out[plan_id] = Counter(red=red, yellow=y, none=cancelled,
                               green=sum(states.values()) - red - y - cancelled)
    return out


def total(counts: dict[int, Counter]) -> Counter:
    out: Counter = Counter(red=0, yellow=0, green=0, none=0)
    for counter in counts.values():
        out.update(counter)
    return out


# -- overdue and due this week ---------------------------------------------------------------


@dataclass
class UnitOverdue:
    unit_id: int
    name: str
    lead: int  # overdue (red) tasks the unit leads
    responsible: int  # ... and those it shares
    oldest: date | None  # the earliest deadline among them


def overdue_by_unit(session: Session, *, scope: ColumnElement[bool], now: datetime,
                    limit: int = 20) -> list[UnitOverdue]:
    """Red tasks per unit named on them (lead or responsible), worst first."""
    rows = session.execute(
        select(TaskUnit.unit_id, Unit.name,
               func.sum(case((TaskUnit.role == "lead", 1), else_=0)).label("lead"),
               func.sum(case((TaskUnit.role != "lead", 1), else_=0)).label("other"),
               func.min(Task.due_on))
        .join(Task, Task.id == TaskUnit.task_id).join(Unit, Unit.id == TaskUnit.unit_id)
        .where(LIVE, scope, red_clause(now), TaskUnit.role.in_(("lead", "responsible")))
        .group_by(TaskUnit.unit_id, Unit.name)
        .order_by(func.count().desc(), func.min(Task.due_on), Unit.name).limit(limit)).all()
    return [UnitOverdue(uid, name, int(lead or 0), int(other or 0), oldest)
            for uid, name, lead, other, oldest in rows]


def week_bounds(now: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Monday 00:00 to the next Monday 00:00 of ``now``'s week in ``tz``, as instants."""
    today = now.astimezone(tz).date()
    monday = today - timedelta(days=today.weekday())
    start = datetime.combine(monday, datetime.min.time(), tz)
    return start, datetime.combine(monday + timedelta(days=7), datetime.min.time(), tz)


def due_between(session: Session, *, scope: ColumnElement[bool], start: datetime,
                end: datetime, limit: int = 30) -> tuple[int, list[tuple[Task, str]]]:
    """Open tasks whose deadline falls in [start, end): (count, the first ``limit`` with
    their plan code), soonest first."""
    where = [LIVE, scope, Task.state.in_(OPEN),
             Task.due_at > start, Task.due_at <= end]
    count = session.scalar(select(func.count()).select_from(Task).where(*where)) or 0
    rows = session.execute(select(Task, Plan.code).join(Plan, Plan.id == Task.plan_id)
                           .where(*where).order_by(Task.due_at, Task.plan_id, Task.position)
                           .limit(limit)).all()
    return count, [(task, code) for task, code in rows]


# -- on-time completion (按期办结率) ------------------------------------------------------------


@dataclass
class OnTime:
    unit_id: int
    name: str
    on_time: int
    due: int

    @property
    def rate(self) -> float:
        return self.on_time / self.due if self.due else 0.0


def on_time_by_unit(session: Session, *, scope: ColumnElement[bool], now: datetime,
                    limit: int | None = None) -> list[OnTime]:
    """按期办结率 by lead unit, as the simulation's summary counts it.

    Counted: live leaf tasks (no sub-tasks), not recurring, not cancelled, with a lead unit,
    whose deadline has come (``due_at <= now``): done, submitted or still open (overdue).
    On time: submitted (reported done) by the deadline as it stands. A task counts for its
    first lead unit (lowest position), like ``services.simulate``. Worst rate first.
    """
    child = aliased(Task)
    earlier = aliased(TaskUnit)
    is_leaf = ~exists(select(child.id).where(child.parent_id == Task.id))
    first_lead = ~exists(select(earlier.id).where(
        earlier.task_id == TaskUnit.task_id, earlier.role == "lead",
        earlier.position < TaskUnit.position))
    on_time = case((and_(Task.submitted_at.is_not(None), Task.submitted_at <= Task.due_at), 1),
                   else_=0)
    rows = session.execute(
        select(TaskUnit.unit_id, Unit.name, func.sum(on_time), func.count())
        .join(Task, Task.id == TaskUnit.task_id).join(Unit, Unit.id == TaskUnit.unit_id)
        .where(LIVE, scope, TaskUnit.role == "lead", first_lead, Task.recurrence.is_(None),
               Task.state != TaskState.cancelled, Task.due_at.is_not(None), Task.due_at <= now,
               is_leaf)
        .group_by(TaskUnit.unit_id, Unit.name)).all()
    out = [OnTime(uid, name, int(done or 0), int(due)) for uid, name, done, due in rows]
    out.sort(key=lambda r: (r.rate, -r.due, r.name))
    return out[:limit] if limit else out


# -- reports and the outbox ------------------------------------------------------------------


def recent_reports(session: Session, *, scope: ColumnElement[bool], limit: int = 10
                   ) -> list[tuple[ProgressReport, Task, str | None]]:
    """The newest progress reports on tasks in scope, with the task and the unit's name."""
    rows = session.execute(
        select(ProgressReport, Task, Unit.name).join(Task, Task.id == ProgressReport.task_id)
        .outerjoin(Unit, Unit.id == ProgressReport.unit_id).where(LIVE, scope)
        .order_by(ProgressReport.reported_at.desc(), ProgressReport.id.desc())
        .limit(limit)).all()
    return [(report, task, name) for report, task, name in rows]


def failed_messages(session: Session, *, plan_ids: list[int] | None, limit: int = 5
                    ) -> tuple[Counter, list[Notification]]:
    """Outbox rows that failed (retrying), died or may have gone out twice (ambiguous):
    counts by status and the latest few. ``plan_ids`` None: every plan and plan-less rows."""
    where = [Notification.status.in_(FAILED_STATUSES)]
    if plan_ids is not None:
        where.append(Notification.plan_id.in_(plan_ids))
    counts = Counter(dict(session.execute(
        select(Notification.status, func.count()).where(*where)
        .group_by(Notification.status)).all()))
    latest = list(session.scalars(select(Notification).where(*where)
                                  .order_by(Notification.id.desc()).limit(limit)))
    return counts, latest
