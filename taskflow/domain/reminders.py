"""What is due for a task at an instant: activation, 签收 chases, deadline reminders, overdue
reminders and escalation (督办), and when to look at the task again.

Nothing here reads the clock, the database or the network: ``now`` and every fact come in as
arguments, so each rule is tested exhaustively with plain values. The sweep service feeds these
functions from the database and writes what they decide.

Catch-up is built into the decisions: for each kind of message only the latest slot that has
come is returned (after three days of downtime a task gets one reminder for where it stands,
not the three it missed), and the idempotency key of that slot makes a second sweep a no-op.

Chasing starts when taskflow learns of a task: nothing is owed for a slot before the task
started (its 交办 says where it stands), and a task that starts after its deadline (a plan
imported late in the year) counts its overdue reminders and escalation from that day, not
from the old deadline, so an import in December does not put the whole year's work in front
of the county leader at once. Overdue reminders back off (1, 3, 5, 10 working days, then
weekly by default) and stop after the top escalation step; from then on the task is in the
weekly summaries (taskflow.services.weekly) and the bulletin.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

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
    has_units: bool = True  # False: a heading grouping other tasks, or a task nobody leads


@dataclass(frozen=True)
class Action:
    kind: str  # assigned | ack_chase | due_soon | due_today | overdue | escalation
    occurrence: str  # part of the idempotency key: which slot of which deadline
    recipients: tuple[str, ...]
    level: int = 0
    # working days before the deadline (due_soon), overdue (overdue, escalation, and an
    # assigned task that started after its deadline), or chases so far (ack_chase)
    days: int | None = None
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
    """Candidate slots: (time, action) pairs; the latest past one per group is due.

    Slots before ``floor`` (the task's start) are owed nothing: the 交办 said it all.
    """

    now: datetime
    floor: datetime | None = None
    due: dict[str, tuple[datetime, Action]] = field(default_factory=dict)
    future: list[datetime] = field(default_factory=list)

    def slot(self, at: datetime, action: Action, group: str | None = None) -> None:
        group = group or action.kind
        if at <= self.now:
            if self.floor is not None and at < self.floor:
                return
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
        task = replace(task, state="active", activated_at=activated_at)
        if _assignable(task):
            late = (days.between(task.due_on, clock.today(now))
                    if task.due_at is not None and task.due_on is not None
                    and task.due_at <= now else None)
            plan.slot(now, Action("assigned", "assigned", tuple(policy.notify), days=late))
    # Nothing is owed for slots before the task started: its 交办 says where it stands. A
    # step (milestone, duty occurrence) starts silently, so its own day's slots still count.
    if task.activated_at is not None:
        plan.floor = (task.activated_at if task.kind not in STEP_KINDS
                      else clock.start_of(clock.today(task.activated_at)))

    if task.state == "active" and _assignable(task):
        _ack_chase(task, clock.today(task.activated_at or now), policy, days, clock, plan)
    if task.recurrence:
        horizon = clock.today(now) + timedelta(days=policy.occurrence_horizon)
        if task.materialized_until is None or task.materialized_until < horizon:
            materialize_until = horizon
        # look again when the horizon has moved a week on
        plan.future.append(clock.at(clock.today(now) + timedelta(days=7)))
    if task.due_on is not None and task.due_at is not None and task.is_leaf:
        origin = _origin(task, clock)
        _deadline(task, origin, policy, days, clock, plan)
        level = _escalation(task, origin, policy, days, clock, plan)
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


def _assignable(task: TaskFacts) -> bool:
    """Whether a task gets a 交办 and its 签收 is chased: not a step (milestone, occurrence),
    nor a heading that only groups tasks and names no unit of its own."""
    return task.kind not in STEP_KINDS and (task.has_units or task.is_leaf)


def _origin(task: TaskFacts, clock: Clock) -> date:
    """The day overdue reminders and escalation count from: the deadline, or the day the
    task started when that was later (taskflow learned of it after its deadline)."""
    assert task.due_on is not None
    if task.activated_at is None:
        return task.due_on
    return max(task.due_on, clock.today(task.activated_at))


def overdue_offsets(policy: PolicySpec, elapsed: int) -> tuple[int | None, int | None]:
    """Around ``elapsed`` working days past the origin: the last overdue-reminder offset that
    has come and the next one (None when there is none), by the policy's schedule
    (overdue_repeat, then every overdue_every days), cut after the top escalation step."""
    repeat = policy.overdue_repeat
    last_fixed = repeat[-1]
    if elapsed <= last_fixed:
        passed = [d for d in repeat if d <= elapsed]
        coming = [d for d in repeat if d > elapsed]
        current = passed[-1] if passed else None
        upcoming = coming[0] if coming else last_fixed + policy.overdue_every
    else:
        k = (elapsed - last_fixed) // policy.overdue_every
        current = last_fixed + k * policy.overdue_every
        upcoming = current + policy.overdue_every
    stop = _stop_after(policy)
    if stop is not None:
        if current is not None and current > stop:
            current = max((d for d in _offsets_until(policy, stop)), default=None)
        if upcoming is not None and upcoming > stop:
            upcoming = None
    return current, upcoming


def _stop_after(policy: PolicySpec) -> int | None:
    """Overdue reminders end after the top escalation step (unless repeat_after_top)."""
    if policy.repeat_after_top or not policy.escalation:
        return None
    return policy.escalation[-1].after


def _offsets_until(policy: PolicySpec, stop: int) -> list[int]:
    out = [d for d in policy.overdue_repeat if d <= stop]
    d = policy.overdue_repeat[-1] + policy.overdue_every
    while d <= stop:
        out.append(d)
        d += policy.overdue_every
    return out


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


def _deadline(task: TaskFacts, origin: date, policy: PolicySpec, days: Days, clock: Clock,
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
    # Overdue: by the policy's schedule of working days after the origin.
    elapsed = days.between(origin, clock.today(plan.now))
    current, upcoming = overdue_offsets(policy, elapsed)
    if current is not None:
        day = days.add(origin, current)
        plan.slot(clock.at(day), Action("overdue", f"{due_key}:overdue{current}",
                                        tuple(policy.notify),
                                        days=days.between(task.due_on, day)),
                  group="deadline")
    if upcoming is not None:
        plan.future.append(clock.at(days.add(origin, upcoming)))


def _escalation(task: TaskFacts, origin: date, policy: PolicySpec, days: Days, clock: Clock,
                plan: _Plan) -> int:
    """The escalation level that has come; the action for it if it is new."""
    assert task.due_on is not None and task.due_at is not None
    reached = task.escalation_level
    late_start = origin > task.due_on
    for step in policy.escalation:
        if step.after == 0 and not late_start:
            at = task.due_at
        else:
            at = max(clock.at(days.add(origin, step.after)), task.due_at)
        if at > plan.now:
            plan.future.append(at)
            break
        if step.level > task.escalation_level:
            reached = step.level
            day = clock.today(at)
            plan.slot(at, Action("escalation", f"{task.due_on.isoformat()}:esc{step.level}",
                                 tuple(step.to), level=step.level,
                                 days=days.between(task.due_on, day),
                                 consequence=step.consequence))
    return reached


# -- when a message goes -----------------------------------------------------------------------

# Reminders that can wait for the contact's digest of the day (below the urgent level).
DIGESTIBLE = frozenset({"assigned", "ack_chase", "due_soon", "due_today", "overdue",
                        "fund_lag", "weekly", "inspection_notice", "inspector_list"})


def goes_alone(policy: PolicySpec, kind: str, level: int) -> bool:
    """Urgent escalations (at or above the policy's urgent level) go at once, alone; so
    does everything when the plan has turned digests off."""
    if not policy.digest:
        return True
    if kind == "escalation" or (kind == "fund_lag" and level > 0):
        return level >= policy.urgent_level
    return kind not in DIGESTIBLE


def digest_day(now: datetime, days: Days, clock: Clock) -> tuple[date, datetime]:
    """The digest a message written at ``now`` joins: the day's (the next working day's on a
    day off), and the instant it goes (the plan's send time, or now when that has passed)."""
    day = days.on_or_after(clock.today(now))
    return day, max(now, clock.at(day))
