"""Replay a year of plans day by day with a simulated clock and simulated units.

Each lead unit gets a temperament from the seed: most are punctual (acknowledge the next
working day, submit a few working days early), some are late (acknowledge after a few days,
submit after the deadline), some never act. The coordinator accepts submissions the next
working day. Every day the sweep runs at 09:30 local time and writes its messages to the
outbox; units act in the afternoon. The result is what a year of the engine looks like.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select
from sqlmodel import Session

from taskflow.db import write_session
from taskflow.domain.states import STEP_KINDS, WORKING, TaskState
from taskflow.models import AuditEvent, Notification, Task, TaskUnit, Unit
from taskflow.services import tasks as actions
from taskflow.services.lights import lights
from taskflow.services.sweep import sweep

TEMPERAMENTS = (("punctual", 0.7), ("late", 0.2), ("silent", 0.1))
SHANGHAI = ZoneInfo("Asia/Shanghai")
ACTOR = "simulation"


@dataclass
class SimulationReport:
    days: int = 0
    messages: Counter = field(default_factory=Counter)  # outbox rows by kind
    escalations: Counter = field(default_factory=Counter)  # tasks escalated, by level
    acknowledgements: int = 0
    submissions: int = 0
    acceptances: int = 0
    temperaments: dict[str, str] = field(default_factory=dict)  # unit name -> temperament
    on_time: dict[str, tuple[int, int]] = field(default_factory=dict)  # unit: (on time, due)
    lights: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    bulletin: Any = None  # the year's 通报 (taskflow.services.bulletin.Bulletin) at the end


def simulate(engine: Engine, *, start: date, end: date, calendar, seed: int = 1,
             tz: ZoneInfo = SHANGHAI) -> SimulationReport:
    rng = random.Random(seed)
    report = SimulationReport()
    temperament: dict[int, str] = {}
    plans: dict[int, tuple[date | None, date | None]] = {}  # task id -> (ack day, submit day)
    accept_on: dict[int, date] = {}
    day = start
    while day <= end:
        report.days += 1
        result = sweep(engine, now=_at(day, time(9, 30), tz), calendar=calendar)
        report.errors.extend(f"{day} {code}: {error}" for _, code, error in result.errors)
        _act(engine, day, tz, calendar, rng, temperament, plans, accept_on, report)
        day += timedelta(days=1)
    _summarise(engine, start, end, tz, calendar, temperament, report)
    from taskflow.services.bulletin import build_bulletin

    with Session(engine) as session:  # every plan together, for the last simulated year
        report.bulletin = build_bulletin(session, plan=None, period=str(end.year),
                                         now=_at(end, time(18, 0), tz), calendar=calendar)
    return report


def _at(day: date, moment: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, moment, tz).astimezone(UTC)


def _temperament(rng: random.Random) -> str:
    roll, acc = rng.random(), 0.0
    for name, share in TEMPERAMENTS:
        acc += share
        if roll < acc:
            return name
    return TEMPERAMENTS[-1][0]


def _plan_task(task: Task, who: str, rng: random.Random, calendar, today: date
               ) -> tuple[date | None, date | None]:
    """When this unit will acknowledge and submit the task (None: never)."""
    if who == "silent":
        return None, None
    activated = task.activated_at.date() if task.activated_at else today
    if who == "punctual":
        ack = calendar.add_workdays(activated, rng.randint(0, 1))
        submit = calendar.add_workdays(task.due_on, -rng.randint(1, 5)) if task.due_on else None
    else:
        ack = calendar.add_workdays(activated, rng.randint(2, 6))
        submit = calendar.add_workdays(task.due_on, rng.randint(1, 8)) if task.due_on else None
    if submit is not None and submit < ack:
        submit = ack
    return ack, submit


def _act(engine: Engine, day: date, tz: ZoneInfo, calendar, rng: random.Random,
         temperament: dict[int, str], plans: dict[int, tuple[date | None, date | None]],
         accept_on: dict[int, date], report: SimulationReport) -> None:
    afternoon = _at(day, time(15, 0), tz)
    with write_session(engine) as session:
        open_tasks = list(session.scalars(select(Task).where(
            Task.state.in_((*WORKING, TaskState.submitted)),
            Task.archived_at.is_(None))))
        leads = _leads(session, [t.id for t in open_tasks])
        has_children = set(session.scalars(select(Task.parent_id).where(
            Task.parent_id.in_([t.id for t in open_tasks]))))
        for task in open_tasks:
            if task.state == TaskState.submitted:
                if accept_on.setdefault(task.id, calendar.add_workdays(day, 1)) <= day:
                    actions.accept(session, task, actor=ACTOR, now=afternoon)
                    report.acceptances += 1
                continue
            unit_id = leads.get(task.id)
            if unit_id is None:
                continue  # nobody leads it: it waits for the coordinator
            who = temperament.setdefault(unit_id, _temperament(rng))
            if task.id not in plans:
                plans[task.id] = _plan_task(task, who, rng, calendar, day)
            ack_day, submit_day = plans[task.id]
            if task.state == TaskState.active and task.kind not in STEP_KINDS and ack_day and \
                    ack_day <= day:
                actions.acknowledge(session, task, unit=None, actor=ACTOR, now=afternoon)
                report.acknowledgements += 1
            if task.id in has_children or task.recurrence:
                continue  # containers close when the coordinator sees their steps done
            if submit_day is not None and submit_day <= day:
                actions.submit(session, task, unit=None, actor=ACTOR, now=afternoon)
                report.submissions += 1


def _leads(session: Session, task_ids: list[int]) -> dict[int, int]:
    out: dict[int, int] = {}
    for chunk in range(0, len(task_ids), 900):
        for task_id, unit_id in session.execute(
                select(TaskUnit.task_id, TaskUnit.unit_id).where(
                    TaskUnit.task_id.in_(task_ids[chunk:chunk + 900]),
                    TaskUnit.role == "lead").order_by(TaskUnit.position.desc())):
            out[task_id] = unit_id
    return out


def _summarise(engine: Engine, start: date, end: date, tz: ZoneInfo, calendar,
               temperament: dict[int, str], report: SimulationReport) -> None:
    window_start, window_end = _at(start, time(0), tz), _at(end + timedelta(days=1), time(0), tz)
    with Session(engine) as session:
        report.messages = Counter(dict(session.execute(
            select(Notification.kind, func.count()).where(
                Notification.created_at >= window_start, Notification.created_at < window_end)
            .group_by(Notification.kind)).all()))
        for after in session.scalars(select(AuditEvent.after).where(
                AuditEvent.action == "task.escalate", AuditEvent.at >= window_start,
                AuditEvent.at < window_end)):
            report.escalations[after["escalation_level"]] += 1
        names = {u.id: u.name for u in session.scalars(select(Unit))}
        report.temperaments = {names[u]: t for u, t in temperament.items()}
        leaves = list(session.scalars(select(Task).where(
            Task.due_on >= start, Task.due_on <= end, Task.archived_at.is_(None),
            Task.id.not_in(select(Task.parent_id).where(Task.parent_id.is_not(None))))))
        leads = _leads(session, [t.id for t in leaves])
        tally: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for task in leaves:
            if task.id not in leads or task.recurrence:
                continue
            entry = tally[names[leads[task.id]]]
            entry[1] += 1
            if task.submitted_at is not None and task.submitted_at <= task.due_at:
                entry[0] += 1
        report.on_time = {name: (done, due) for name, (done, due) in tally.items()}
        everything = list(session.scalars(select(Task).where(Task.archived_at.is_(None))))
        colours = lights(session, everything, now=window_end - timedelta(seconds=1),
                         calendar=calendar)
        report.lights = Counter(colours.values())
