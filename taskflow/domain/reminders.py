"""What is due for a task at an instant: activation, 签收 chases, deadline reminders, overdue
reminders and escalation (督办), and when to look at the task again.

Nothing here reads the clock, the database or the network: ``now`` and every fact come in as
arguments, so each rule is tested exhaustively with plain values. The sweep service feeds these
functions from the database and writes what they decide.

Catch-up is built into the decisions: for each kind of message only the latest slot that has
come is returned (after three days of downtime a task gets one reminder for where it stands,
not the three it missed), and the idempotency key of that slot makes a second sweep a no-op.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from taskflow.domain.states import CLOSED, STEP_KINDS
from taskflow.domain.workdays import Clock, Days
from taskflow.plans.schema import PolicySpec


@dataclass(frozen=True)
class TaskFacts:
    """What the rules need to know about a task (plain values, read by the sweep)."""

    id: int
    state: str
    kind: str = "task"
    is_leaf: bool = True
    start_at: datetime | None = None
    due_on: date | None = None
    due_at: datetime | None = None
    activated_at: datetime | None = None
    acknowledged_at: datetime | None = None
    escalation_level: int = 0
    recurrence: str | None = None
    materialized_until: date | None = None


@dataclass(frozen=True)
class Action:
    kind: str  # assigned | ack_chase | due_soon | due_today | overdue | escalation
    occurrence: str  # part of the idempotency key: which slot of which deadline
    recipients: tuple[str, ...]
    level: int = 0
    days: int | None = None  # working days before the deadline / overdue
    consequence: str | None = None


@dataclass(frozen=True)
class Decision:
    actions: tuple[Action, ...] = ()
    state: str | None = None  # new state, if the rules change it (activation)
    activated_at: datetime | None = None
    escalation_level: int | None = None  # new level, if raised
    materialize_until: date | None = None  # duties: make occurrences up to this day
    next_action_at: datetime | None = None


@dataclass
class _Plan:
    """Candidate slots: (time, action) pairs; the latest past one per kind is due."""

    now: datetime
    due: dict[str, tuple[datetime, Action]] = field(default_factory=dict)
    future: list[datetime] = field(default_factory=list)

    def slot(self, at: datetime, action: Action, group: str | None = None) -> None:
        group = group or action.kind
        if at <= self.now:
            current = self.due.get(group)
            if current is None or at >= current[0]:
                self.due[group] = (at, action)
        else:
            self.future.append(at)


def decide(task: TaskFacts, now: datetime, policy: PolicySpec, days: Days, clock: Clock
           ) -> Decision:
    """Everything due for ``task`` at ``now``, and when to look at it next.

    The decision depends on the facts but not on ``task.id`` (keys name the task, the sweep
    does): the sweep reuses one decision for the many tasks that share all other facts.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if task.state in CLOSED or task.state == "submitted":
        return Decision()  # nothing owed by the units; the coordinator acts next

    plan = _Plan(now)
    state = activated_at = escalation_level = materialize_until = None
    if task.state == "pending":
        if task.start_at is not None and task.start_at > now:
            return Decision(next_action_at=task.start_at)
        state, activated_at = "active", now
        if task.kind not in STEP_KINDS:
            plan.slot(now, Action("assigned", "assigned", tuple(policy.notify)))
        task = replace(task, state="active", activated_at=activated_at)

    if task.state == "active" and task.kind not in STEP_KINDS:
        _ack_chase(task, clock.today(task.activated_at or now), policy, days, clock, plan)
    if task.recurrence:
        horizon = clock.today(now) + timedelta(days=policy.occurrence_horizon)
        if task.materialized_until is None or task.materialized_until < horizon:
            materialize_until = horizon
        # look again when the horizon has moved a week on
        plan.future.append(clock.at(clock.today(now) + timedelta(days=7)))
    if task.due_on is not None and task.due_at is not None and task.is_leaf:
        _deadline(task, policy, days, clock, plan)
        level = _escalation(task, policy, days, clock, plan)
        if level > task.escalation_level:
            escalation_level = level

    due = plan.due
    if len(due) > 1:
        actions = tuple(action for _, action in sorted(due.values(), key=_first))
    else:
        actions = tuple(action for _, action in due.values())
    return Decision(actions=actions, state=state, activated_at=activated_at,
                    escalation_level=escalation_level, materialize_until=materialize_until,
                    next_action_at=min(plan.future) if plan.future else None)


def _first(pair: tuple) -> Any:
    return pair[0]


def _around(days: Days, origin: date, today: date, every: int, limit: int | None = None
            ) -> range:
    """Slot numbers k worth checking for slots origin + k*every: the last past and the next.

    Computing k from the day count (instead of walking from the origin) keeps a task that has
    been overdue for years as cheap as one overdue since yesterday. With a limit, slots
    stop at k = limit - 1.
    """
    elapsed = days.between(origin, today)
    k = max(0, elapsed // every)
    if limit is not None:
        k = min(k, limit - 1)
        return range(max(0, k - 1), min(k + 2, limit))
    return range(max(0, k - 1), k + 2)


def _ack_chase(task: TaskFacts, activated_day: date, policy: PolicySpec, days: Days,
               clock: Clock, plan: _Plan) -> None:
    first = days.add(activated_day, policy.acknowledge_within)
    activated = task.activated_at or plan.now
    if policy.chase_limit == 0:
        return
    for k in _around(days, first, clock.today(plan.now), policy.chase_every,
                     policy.chase_limit):
        day = days.add(first, k * policy.chase_every) if k else first
        if task.due_on is not None and day >= task.due_on:
            break  # from the deadline on, the overdue ladder takes over
        plan.slot(max(clock.at(day), activated),
                  Action("ack_chase", f"ack:{day.isoformat()}", tuple(policy.notify), days=k))


def _deadline(task: TaskFacts, policy: PolicySpec, days: Days, clock: Clock,
              plan: _Plan) -> None:
    assert task.due_on is not None and task.due_at is not None
    due_key = task.due_on.isoformat()
    if plan.now < task.due_at:
        for before in policy.remind_before:
            day = days.on_or_before(task.due_on) if before == 0 else days.add(task.due_on,
                                                                              -before)
            kind = "due_today" if before == 0 else "due_soon"
            plan.slot(clock.at(day), Action(kind, f"{due_key}:before{before}",
                                            tuple(policy.notify), days=before),
                      group="deadline")
        plan.future.append(task.due_at)  # becomes overdue
        return
    # Overdue: the first working day after the deadline, then every overdue_every days.
    first = days.add(task.due_on, 1)
    for k in _around(days, first, clock.today(plan.now), policy.overdue_every):
        day = days.add(first, k * policy.overdue_every) if k else first
        plan.slot(clock.at(day), Action("overdue", f"{due_key}:overdue{k}",
                                        tuple(policy.notify),
                                        days=days.between(task.due_on, day)),
                  group="deadline")


def _escalation(task: TaskFacts, policy: PolicySpec, days: Days, clock: Clock,
                plan: _Plan) -> int:
    """The escalation level that has come; the action for it if it is new."""
    assert task.due_on is not None and task.due_at is not None
    reached = task.escalation_level
    for step in policy.escalation:
        at = task.due_at if step.after == 0 else clock.at(days.add(task.due_on, step.after))
        at = max(at, task.due_at)
        if at > plan.now:
            plan.future.append(at)
            break
        if step.level > task.escalation_level:
            reached = step.level
            plan.slot(at, Action("escalation", f"{task.due_on.isoformat()}:esc{step.level}",
                                 tuple(step.to), level=step.level, days=step.after,
                                 consequence=step.consequence))
    return reached


# -- quiet hours -----------------------------------------------------------------------------


def out_of_quiet_hours(at: datetime, policy: PolicySpec, tz: ZoneInfo) -> datetime:
    """The first instant at or after ``at`` outside the policy's quiet hours."""
    quiet = policy.quiet_hours
    if quiet is None:
        return at
    local = at.astimezone(tz)
    start = time(*(int(x) for x in quiet.start.split(":")))
    end = time(*(int(x) for x in quiet.end.split(":")))
    clock_time = local.time()
    if start <= end:
        inside = start <= clock_time < end
        release_day = local.date()
    else:  # spans midnight: 21:00-08:00
        inside = clock_time >= start or clock_time < end
        release_day = local.date() + timedelta(days=1) if clock_time >= start else local.date()
    if not inside:
        return at
    return datetime.combine(release_day, end, tz).astimezone(UTC)

