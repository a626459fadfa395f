"""Replay plans day by day with a simulated clock, simulated units and the real dispatcher.

Each unit gets a temperament from the seed: most are punctual (acknowledge within a working
day or two, report progress as they go, submit a few working days early, pay out funds on
schedule), some are late (acknowledge after days, submit after the deadline, pay late), a
few never act. Every day runs as the office's would: the sweep at 09:30 local time and the
dispatcher right after it (digests, urgent escalations), units acting through the day, the
coordinator accepting submissions the next working day, inspectors recording the day's
inspection rounds (a failed item makes a 整改 task), a second sweep and dispatch at 15:30.
Messages are delivered through the file channel into the simulation's folder, dated with
the simulated day; taskflow.services.stream measures the stream people received.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select
from sqlmodel import Session

from taskflow.db import write_session
from taskflow.domain.states import STEP_KINDS, WORKING, TaskState
from taskflow.errors import UserError
from taskflow.models import (
    AuditEvent,
    Disbursement,
    FundLine,
    InspectionAssignment,
    InspectionRound,
    Notification,
    Plan,
    Task,
    TaskUnit,
    Unit,
)
from taskflow.plans.units import read_units_files
from taskflow.services import intake
from taskflow.services import tasks as actions
from taskflow.services.funds import record_disbursement
from taskflow.services.inspection_findings import record_finding
from taskflow.services.inspection_rounds import generate_rounds, round_checklist
from taskflow.services.lights import lights
from taskflow.services.stream import StreamFigures, stream_figures
from taskflow.services.sweep import SweepReport, sweep
from taskflow.services.units import import_units

TEMPERAMENTS = (("punctual", 0.7), ("late", 0.2), ("silent", 0.1))
SHANGHAI = ZoneInfo("Asia/Shanghai")
ACTOR = "simulation"
INSPECTOR = "simulation:inspector"
FAIL_SHARE = 0.15  # checklist items an inspector fails
REPORT_EVERY = 20  # working days between a working unit's progress reports
SWEEPS = (time(9, 30), time(15, 30))  # each followed by a dispatch a minute later
UNITS_ACT = time(11, 0)
COORDINATOR_ACTS = time(14, 0)


@dataclass
class SimulationReport:
    days: int = 0
    sweep: SweepReport = field(default_factory=SweepReport)
    messages: Counter = field(default_factory=Counter)  # outbox rows written, by kind
    escalations: Counter = field(default_factory=Counter)  # tasks escalated, by level
    acknowledgements: int = 0
    reports: int = 0
    submissions: int = 0
    acceptances: int = 0
    disbursements: int = 0
    findings: Counter = field(default_factory=Counter)  # by result
    rectifications: int = 0  # 整改 tasks made by failed items
    dispatch: Counter = field(default_factory=Counter)  # messages by outcome, rows withdrawn
    temperaments: dict[str, str] = field(default_factory=dict)  # unit name -> temperament
    on_time: dict[str, tuple[int, int]] = field(default_factory=dict)  # unit: (on time, due)
    lights: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    stream: StreamFigures | None = None  # the messages people received
    assessment: list[tuple[str, Any]] = field(default_factory=list)  # (plan code, scores)
    bulletin: Any = None  # the year's 通报 (taskflow.services.bulletin.Bulletin) at the end


class _Units:
    """The simulated units: each one's temperament and its intentions for each task."""

    def __init__(self, rng: random.Random, calendar):
        self.rng = rng
        self.calendar = calendar
        self.temperament: dict[int, str] = {}
        self.plans: dict[int, tuple[date | None, date | None]] = {}  # task: (ack, submit)
        self.reported: dict[int, date] = {}  # task: last progress report
        self.accept_on: dict[int, date] = {}

    def who(self, unit_id: int) -> str:
        if unit_id not in self.temperament:
            self.temperament[unit_id] = _draw(self.rng.random())
        return self.temperament[unit_id]

    def intends(self, task: Task, unit_id: int, today: date) -> tuple[date | None, date | None]:
        """When the unit will acknowledge and submit the task (None: never)."""
        if task.id in self.plans:
            return self.plans[task.id]
        who, add = self.who(unit_id), self.calendar.add_workdays
        started = today
        if who == "silent":
            ack = submit = None
        elif who == "punctual":
            ack = add(started, self.rng.randint(0, 1))
            submit = add(task.due_on, -self.rng.randint(1, 5)) if task.due_on else None
        else:
            ack = add(started, self.rng.randint(2, 6))
            submit = add(task.due_on, self.rng.randint(1, 8)) if task.due_on else None
        if submit is not None and ack is not None and submit < ack:
            submit = ack
        self.plans[task.id] = (ack, submit)
        return ack, submit


def _draw(roll: float) -> str:
    """The temperament whose share of [0, 1) the roll falls in."""
    acc = 0.0
    for name, share in TEMPERAMENTS:
        acc += share
        if roll < acc:
            return name
    return TEMPERAMENTS[-1][0]


def load_seed(session: Session, *, seed_dir: Path, year: int, now: datetime) -> None:
    """The simulation's starting point: the org chart and the seed plans of ``year``."""
    import_units(session, read_units_files([seed_dir / "org"]), actor=ACTOR, now=now)
    for path in sorted(seed_dir.glob("p*.yaml")):
        intake.import_file(session, path=path, year=year, actor=ACTOR, now=now)


def simulate(engine: Engine, *, start: date, end: date, calendar, seed: int = 1,
             tz: ZoneInfo = SHANGHAI, messages_dir: Path | None = None) -> SimulationReport:
    """Run the days from ``start`` to ``end``; with ``messages_dir``, deliver every day's
    messages as files there (and measure the stream)."""
    if end < start:
        raise UserError.single("--to 早于 --from")
    rng = random.Random(seed)
    units = _Units(rng, calendar)
    report = SimulationReport()
    dispatcher = _Dispatch(engine, messages_dir, calendar) if messages_dir else None
    with write_session(engine) as session:
        for year in range(start.year, end.year + 1):
            generate_rounds(session, year=year, calendar=calendar, now=_at(start, time(8), tz),
                            actor=ACTOR)
    day = start
    while day <= end:
        report.days += 1
        for moment in SWEEPS:
            _sweep(engine, day, moment, tz, calendar, report)
            if dispatcher is not None:
                dispatcher.run(_at(day, moment, tz) + timedelta(minutes=1), report)
            if moment == SWEEPS[0] and calendar.is_workday(day):
                _units_act(engine, day, tz, calendar, units, report)
                _coordinator_acts(engine, day, tz, calendar, units, report)
                _inspectors_act(engine, day, tz, calendar, rng, report)
        day += timedelta(days=1)
    _summarise(engine, start, end, tz, calendar, units, report, measured=dispatcher is not None)
    return report


def _at(day: date, moment: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, moment, tz).astimezone(UTC)


def _sweep(engine: Engine, day: date, moment: time, tz: ZoneInfo, calendar,
           report: SimulationReport) -> None:
    result = sweep(engine, now=_at(day, moment, tz), calendar=calendar)
    report.sweep.merge(result)
    report.errors.extend(f"{day} {code}: {error}" for _, code, error in result.errors)


class _Dispatch:
    """The real dispatcher, every channel written as files under the simulation's folder."""

    def __init__(self, engine: Engine, directory: Path, calendar):
        from notifications.channels.file import FileChannel
        from notifications.dispatch import build_dispatcher
        from taskflow.domain.messages import CHANNELS
        from taskflow.settings import load_settings

        settings = load_settings(data_dir=directory.parent, notify_file_dir=directory,
                                 base_url="http://taskflow.example.gov.cn")
        files = FileChannel(directory, sender=settings.smtp_from)
        self.dispatcher = build_dispatcher(engine, settings, calendar=calendar,
                                           channels={c: files for c in CHANNELS})

    def run(self, now: datetime, report: SimulationReport) -> None:
        import asyncio

        result = asyncio.run(self.dispatcher.run(now=now))
        report.dispatch.update(result.messages)
        report.dispatch["withdrawn"] += result.counts.withdrawn
        report.errors.extend(f"{now:%Y-%m-%d} #{ids}: {error}"
                             for ids, _, error in result.errors[:5])


# -- what the units, the coordinator and the inspectors do -------------------------------------


def _units_act(engine: Engine, day: date, tz: ZoneInfo, calendar, units: _Units,
               report: SimulationReport) -> None:
    now = _at(day, UNITS_ACT, tz)
    with write_session(engine) as session:
        tasks = list(session.scalars(select(Task).where(
            Task.state.in_(WORKING), Task.archived_at.is_(None))
            .order_by(Task.id)))
        leads = _leads(session, [t.id for t in tasks])
        parents = set(session.scalars(select(Task.parent_id).where(
            Task.parent_id.in_([t.id for t in tasks]))))
        for task in tasks:
            unit_id = leads.get(task.id)
            if unit_id is None:
                continue  # nobody leads it: it waits for the coordinator
            ack_day, submit_day = units.intends(task, unit_id, day)
            if task.state == TaskState.active and task.kind not in STEP_KINDS:
                if ack_day is not None and ack_day <= day:
                    actions.acknowledge(session, task, unit=None, actor=ACTOR, now=now)
                    report.acknowledgements += 1
                continue
            if task.id in parents or task.recurrence:
                continue  # containers close when their steps are done (the coordinator)
            if submit_day is not None and submit_day <= day:
                actions.submit(session, task, unit=None, actor=ACTOR, now=now, note="已按要求完成")
                report.submissions += 1
            elif units.who(unit_id) != "silent" and _report_due(task, units, day, calendar):
                _report(session, task, day, now, units, report)
        _disburse(session, day, now, units, leads, report)


def _report_due(task: Task, units: _Units, day: date, calendar) -> bool:
    last = units.reported.get(task.id)
    start = last or (task.activated_at.astimezone(SHANGHAI).date() if task.activated_at
                     else day)
    return calendar.workdays_between(start, day) >= REPORT_EVERY and \
        (task.due_on is None or day < task.due_on)


def _report(session: Session, task: Task, day: date, now: datetime, units: _Units,
            report: SimulationReport) -> None:
    """A progress report: the share of the time gone, with a quantity against the target."""
    started = task.activated_at.astimezone(SHANGHAI).date() if task.activated_at else day
    share = Decimal(100) if task.due_on is None or task.due_on <= started else min(
        Decimal(95), Decimal((day - started).days * 100) / Decimal((task.due_on - started).days))
    share = share.quantize(Decimal(1))
    quantity = (task.target_value * share / 100).quantize(Decimal("0.01")) \
        if task.target_value else None
    actions.report_progress(session, task, unit=None, actor=ACTOR, now=now, percent=share,
                            quantity=quantity, amount=None, note="按计划推进")
    units.reported[task.id] = day
    report.reports += 1


def _disburse(session: Session, day: date, now: datetime, units: _Units,
              leads: dict[int, int], report: SimulationReport) -> None:
    """Fund lines with a schedule: the funded task's lead pays each checkpoint's share on
    the day (punctual), ten days late (late), or never (silent)."""
    lines = list(session.scalars(select(FundLine).where(
        (FundLine.disburse_by.is_not(None)) | (FundLine.disburse_schedule.is_not(None)))))
    if not lines:
        return
    paid = dict(session.execute(select(Disbursement.fund_line_id, func.sum(Disbursement.amount))
                                .group_by(Disbursement.fund_line_id)).all())
    plans = {p.id: p.code for p in session.scalars(select(Plan))}
    for line in lines:
        lead = leads.get(line.task_id) if line.task_id else None
        who = units.who(lead) if lead is not None else "punctual"
        if who == "silent":
            continue
        delay = 0 if who == "punctual" else 10
        points = [(date.fromisoformat(p["by"]), Decimal(p["share"]))
                  for p in (line.disburse_schedule or [])]
        if line.disburse_by is not None:
            points.append((line.disburse_by, Decimal(100)))
        owed = max((share for by, share in points if by + timedelta(days=delay) <= day),
                   default=None)
        if owed is None:
            continue
        amount = (Decimal(line.amount) * owed / 100).quantize(Decimal("0.01")) - \
            Decimal(paid.get(line.id) or 0)
        if amount <= 0:
            continue
        record_disbursement(session, plan=plans[line.plan_id], line=line.code, amount=amount,
                            paid_on=day, actor=ACTOR, now=now)
        report.disbursements += 1


def _coordinator_acts(engine: Engine, day: date, tz: ZoneInfo, calendar, units: _Units,
                      report: SimulationReport) -> None:
    """Submissions accepted the next working day; a container whose steps are all closed is
    closed by its lead (unless silent) and accepted."""
    now = _at(day, COORDINATOR_ACTS, tz)
    with write_session(engine) as session:
        for task in session.scalars(select(Task).where(
                Task.state == TaskState.submitted, Task.archived_at.is_(None))):
            if units.accept_on.setdefault(task.id, calendar.add_workdays(day, 1)) <= day:
                actions.accept(session, task, actor=ACTOR, now=now)
                report.acceptances += 1
        open_children = set(session.scalars(select(Task.parent_id).where(
            Task.parent_id.is_not(None), Task.archived_at.is_(None),
            Task.state.not_in((TaskState.done, TaskState.cancelled)))))
        containers = list(session.scalars(select(Task).where(
            Task.state.in_(WORKING), Task.archived_at.is_(None),
            Task.id.in_(select(Task.parent_id).where(Task.parent_id.is_not(None))))))
        leads = _leads(session, [t.id for t in containers])
        for task in containers:
            if task.id in open_children or (task.recurrence and task.due_on and \
                    task.due_on > day):
                continue
            lead = leads.get(task.id)
            if lead is not None and units.who(lead) == "silent":
                continue
            actions.submit(session, task, unit=None, actor=ACTOR, now=now, note="已按要求完成")
            report.submissions += 1


def _inspectors_act(engine: Engine, day: date, tz: ZoneInfo, calendar, rng: random.Random,
                    report: SimulationReport) -> None:
    """The rounds scheduled today: each inspected unit's checklist, most items passed."""
    now = _at(day, COORDINATOR_ACTS, tz)
    with write_session(engine) as session:
        rounds = list(session.scalars(select(InspectionRound).where(
            InspectionRound.scheduled_on == day, InspectionRound.kind == "inspection")))
        for row in rounds:
            plan = session.get(Plan, row.plan_id)
            targets = {(a.unit_id, a.task_id) for a in session.scalars(
                select(InspectionAssignment).where(InspectionAssignment.round_id == row.id))}
            for unit_id, task_id in sorted(targets, key=lambda t: (t[0], t[1] or 0)):
                unit = session.get(Unit, unit_id)
                for item in round_checklist(session, plan, row, unit_id, task_id)[:6]:
                    failed = rng.random() < FAIL_SHARE
                    out = record_finding(
                        session, plan_code=plan.code, round_ref=row.code, unit=unit.code,
                        item=item.key, result="fail" if failed else "pass",
                        note="台账资料不全，需补充" if failed else None, calendar=calendar,
                        now=now, actor=INSPECTOR)
                    report.findings["fail" if failed else "pass"] += 1
                    report.rectifications += out.rectification is not None


def _leads(session: Session, task_ids: list[int]) -> dict[int, int]:
    out: dict[int, int] = {}
    for chunk in range(0, len(task_ids), 900):
        for task_id, unit_id in session.execute(
                select(TaskUnit.task_id, TaskUnit.unit_id).where(
                    TaskUnit.task_id.in_(task_ids[chunk:chunk + 900]),
                    TaskUnit.role == "lead").order_by(TaskUnit.position.desc())):
            out[task_id] = unit_id
    return out


# -- the year in figures ------------------------------------------------------------------------


def _summarise(engine: Engine, start: date, end: date, tz: ZoneInfo, calendar, units: _Units,
               report: SimulationReport, *, measured: bool) -> None:
    from taskflow.services.assessment import assess
    from taskflow.services.bulletin import build_bulletin

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
        report.temperaments = {names[u]: t for u, t in units.temperament.items()}
        report.on_time = _on_time(session, start, end, names)
        everything = list(session.scalars(select(Task).where(Task.archived_at.is_(None))))
        colours = lights(session, everything, now=window_end - timedelta(seconds=1),
                         calendar=calendar)
        report.lights = Counter(colours.values())
        if measured:
            report.stream = stream_figures(session, since=window_start, until=window_end,
                                           tz=tz)
            report.stream.unreachable = report.sweep.unreachable
            report.stream.due_actions += report.sweep.unreachable
        for code in session.scalars(select(Plan.code).order_by(Plan.code)):
            _, _, scores = assess(session, plan_code=code, now=window_end, year=end.year)
            report.assessment.append((code, scores))
        report.bulletin = build_bulletin(session, plan=None, period=str(end.year),
                                         now=window_end - timedelta(seconds=1),
                                         calendar=calendar)


def _on_time(session: Session, start: date, end: date, names: dict[int, str]
             ) -> dict[str, tuple[int, int]]:
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
    return {name: (done, due) for name, (done, due) in tally.items()}
