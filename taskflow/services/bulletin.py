"""The bulletin (通报): how a plan's units did in a period, as one dataclass for every format.

``build_bulletin`` reads the database once; ``taskflow.services.bulletin_render`` turns the
result into HTML (with SVG charts), Excel (with charts) or PDF, and the bulletin flow mails
its summary to leaders. How things are counted (docs/bulletin.md):

- Tasks counted: live leaf tasks (not cancelled, not a duty's own row, not a container whose
  steps are counted) whose deadline falls in the period, up to today for a current period.
- On time (按期办结): reported done (提交办结) by the deadline, accepted or awaiting
  acceptance. Done late: reported done after it. Overdue: still open after the deadline.
- As of the period's end: a task counts as done only if it was submitted by then (or by
  ``now``, for a current period), and fund and target figures count what was paid and
  reported up to that day; overdue days run to that day, not to the wall clock.
- By unit: each task counts for each of its lead units (牵头单位); a collective lead
  (各乡镇人民政府) counts for each of its members, never as one unit; a task without a lead
  counts for its plan's coordinating office (the office under the plan's jurisdiction with a
  coordinator, else the issuer). 按期办结率 = on time / due; only units with something due
  are ranked (ties share a rank), then by tasks due.
- Named (点名通报): units with a task overdue at the period's end or done late in it. Praised
  (表扬): units with all their due tasks done on time, never a named unit. Leading
  (按期办结率前列): the best-ranked units with a rate above 0 that are not named.
- The overdue list holds every task open past its deadline at the period's end (earlier
  periods included: they are still owed), with calendar and working days overdue and the 督办
  level. A period outside the plan's year is said so in ``notes``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date as Date
from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from taskflow.domain.labels import STATE_LABELS
from taskflow.domain.messages import MessageKind
from taskflow.domain.states import OPEN, OPEN_NOT_SUBMITTED, TaskState
from taskflow.domain.workdays import Days
from taskflow.models import Contact, Plan, Task, TaskUnit, Unit
from taskflow.services.funds import FundStatus, fund_status, get_plan
from taskflow.services.lights import lights
from taskflow.services.org import load_org
from taskflow.services.outbox import insert_outbox, outbox_row
from taskflow.services.periods import Period, parse_period
from taskflow.services.targets import TargetProgress, target_progress

CLOSED_DONE = (TaskState.submitted, TaskState.done)
STEP = Decimal("0.1")
LEADING = 3  # units shown as 按期办结率前列


@dataclass(frozen=True)
class UnitRate:
    rank: int
    unit: str
    due: int  # tasks due in the period
    on_time: int
    late_done: int
    overdue: int  # due in the period and still open
    rate: Decimal | None  # on_time / due, % (None: nothing due)

    @property
    def shown_rate(self) -> str:
        return "—" if self.rate is None else f"{self.rate}%"


@dataclass(frozen=True)
class OverdueItem:
    plan_code: str
    task_code: str
    title: str
    lead_units: tuple[str, ...]
    due_on: Date
    days_overdue: int  # calendar days
    workdays_overdue: int
    escalation_level: int
    state: str
    state_label: str


@dataclass(frozen=True)
class Bulletin:
    title: str
    plan_codes: tuple[str, ...]
    plan_titles: tuple[str, ...]
    period: Period
    as_of: Date  # the last day counted (the period's end, or today for a current period)
    generated_at: datetime
    total_due: int
    on_time: int
    late_done: int
    overdue_open: int
    rate: Decimal | None  # %
    lights: dict[str, int]  # red / yellow / green over open leaf tasks at generated_at
    units: list[UnitRate]  # ranked
    overdue: list[OverdueItem]  # most days overdue first
    targets: list[TargetProgress]
    funds: list[FundStatus]
    praised: list[UnitRate] = field(default_factory=list)
    named: list[UnitRate] = field(default_factory=list)
    leading: list[UnitRate] = field(default_factory=list)  # 按期办结率前列
    notes: list[str] = field(default_factory=list)  # e.g. a period outside the plan's year

    @property
    def shown_rate(self) -> str:
        return "—" if self.rate is None else f"{self.rate}%"

    @property
    def fund_budget(self) -> Decimal:
        return sum((f.budget for f in self.funds), Decimal(0))

    @property
    def fund_disbursed(self) -> Decimal:
        return sum((f.disbursed for f in self.funds), Decimal(0))

    @property
    def fund_rate(self) -> Decimal | None:
        budget = self.fund_budget
        return (self.fund_disbursed * 100 / budget).quantize(STEP) if budget else None

    @property
    def targets_behind(self) -> list[TargetProgress]:
        return [t for t in self.targets if t.behind]

    def figures(self) -> dict[str, int]:
        """The numbers the bulletin message templates show (notifications/templates)."""
        return {"total": self.total_due, "done": self.on_time + self.late_done,
                "on_time": self.on_time, "overdue": self.overdue_open,
                "red": self.lights.get("red", 0), "yellow": self.lights.get("yellow", 0),
                "green": self.lights.get("green", 0)}

    def summary_lines(self) -> list[str]:
        """A few lines of plain Chinese (the CLI and simulate print them)."""
        lines = [self.title,
                 f"统计截至{self.as_of.year}年{self.as_of.month}月{self.as_of.day}日：到期任务"
                 f"{self.total_due}项，按期办结{self.on_time}项，逾期办结{self.late_done}项，"
                 f"逾期未办结{self.overdue_open}项，按期办结率{self.shown_rate}。"]
        lines[1:1] = self.notes
        if self.leading:
            top = "，".join(f"{u.unit}{u.shown_rate}" for u in self.leading)
            lines.append(f"按期办结率前列：{top}。")
        if self.praised:
            lines.append("表扬：" + "、".join(u.unit for u in self.praised) + "。")
        if self.named:
            lines.append("点名通报：" + "、".join(u.unit for u in self.named) + "。")
        if self.fund_budget:
            rate = "—" if self.fund_rate is None else f"{self.fund_rate}%"
            lagging = sum(len(f.late_lines) for f in self.funds)
            lines.append(f"资金拨付率{rate}；拨付滞后资金{lagging}笔。")
        return lines


def _rate(on_time: int, due: int) -> Decimal | None:
    return (Decimal(on_time) * 100 / due).quantize(STEP) if due else None


def _plans(session: Session, plan: str | Sequence[str] | None) -> list[Plan]:
    if plan is None:
        return list(session.exec(select(Plan).order_by(Plan.code)).all())
    codes = [plan] if isinstance(plan, str) else list(dict.fromkeys(plan))
    if not codes:
        raise ValueError("no plan given")
    return [get_plan(session, code) for code in codes]


def build_bulletin(session: Session, *, plan: str | Sequence[str] | None,
                   period: str | Period, now: datetime, calendar=None) -> Bulletin:
    """The bulletin of ``plan`` (a code, or several codes counted together; None: every plan
    together) for ``period`` at ``now``.

    ``period``: a Period or its text (2025, 2025-H1, 2025-Q2, 2025-06, 2025-W23).
    ``calendar``: the working-day calendar (default: chinese-calendar's data, no holiday files).
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if calendar is None:
        from taskflow.calendar import WorkCalendar

        calendar = WorkCalendar()
    span = parse_period(period) if isinstance(period, str) else period
    plans = _plans(session, plan)
    tz = ZoneInfo(plans[0].timezone) if plans else ZoneInfo("Asia/Shanghai")
    # Everything is counted as it stood at the period's end (or now, for a current period).
    cutoff = min(now, datetime.combine(span.end + timedelta(days=1), time(), tz))
    as_of = min(span.end, now.astimezone(tz).date())
    plan_ids = [p.id for p in plans]
    by_id = {p.id: p for p in plans}
    tasks = list(session.exec(select(Task).where(
        Task.plan_id.in_(plan_ids), Task.archived_at.is_(None)).order_by(
        Task.plan_id, Task.position)).all()) if plan_ids else []
    parents = {t.parent_id for t in tasks if t.parent_id is not None}
    leaves = [t for t in tasks if t.id not in parents and not t.recurrence
              and t.state != TaskState.cancelled]
    lead_names = _lead_names(session, leaves, plans)

    tally: dict[str, list[int]] = {}  # unit -> [due, on time, late done, overdue]
    total = on_time = late = overdue_open = 0
    overdue: list[OverdueItem] = []
    days_by_plan: dict[int, Days] = {}
    for task in leaves:
        if task.due_on is None or task.due_at is None:
            continue
        finished_at = task.submitted_at or task.completed_at
        finished = task.state in CLOSED_DONE and (finished_at is None or finished_at <= cutoff)
        is_overdue = not finished and task.due_at <= cutoff and (
            task.state in OPEN_NOT_SUBMITTED or task.state in CLOSED_DONE)
        if is_overdue:
            if task.plan_id not in days_by_plan:
                days_by_plan[task.plan_id] = Days(calendar, calendar_days=False)
            overdue.append(OverdueItem(
                plan_code=by_id[task.plan_id].code, task_code=task.code, title=task.title,
                lead_units=tuple(lead_names[task.id]), due_on=task.due_on,
                days_overdue=(as_of - task.due_on).days,
                workdays_overdue=days_by_plan[task.plan_id].between(task.due_on, as_of),
                escalation_level=task.escalation_level, state=task.state,
                state_label=STATE_LABELS.get(task.state, task.state)))
        if not span.start <= task.due_on <= as_of:
            continue
        total += 1
        done_in_time = finished and task.submitted_at is not None and \
            task.submitted_at <= task.due_at
        done_late = finished and not done_in_time
        on_time += done_in_time
        late += done_late
        overdue_open += is_overdue
        for unit in lead_names[task.id]:
            entry = tally.setdefault(unit, [0, 0, 0, 0])
            entry[0] += 1
            entry[1] += done_in_time
            entry[2] += done_late
            entry[3] += is_overdue
    overdue.sort(key=lambda o: (-o.days_overdue, o.plan_code, o.task_code))

    # Only units with something due are ranked (tally holds no other).
    ordered = sorted(tally.items(), key=lambda kv: (-(kv[1][1] / kv[1][0]), -kv[1][0],
                                                    kv[1][3], kv[0]))
    units: list[UnitRate] = []
    for position, (unit, (due, ok, late_n, open_n)) in enumerate(ordered, start=1):
        rate = _rate(ok, due)
        rank = units[-1].rank if units and units[-1].rate == rate else position
        units.append(UnitRate(rank, unit, due, ok, late_n, open_n, rate))
    late_units = {o_unit for o in overdue for o_unit in o.lead_units}
    named = sorted((u for u in units if u.overdue or u.late_done or u.unit in late_units),
                   key=lambda u: (-u.overdue, u.rate if u.rate is not None else 0, u.unit))
    named_set = {u.unit for u in named}
    for unit in sorted(late_units - named_set - {u.unit for u in units}):
        # overdue from an earlier period only: named too, with nothing due in this one
        named.append(UnitRate(0, unit, 0, 0, 0, 0, None))
    named_set = {u.unit for u in named}
    praised = [u for u in units if u.due and u.on_time == u.due and u.unit not in named_set]
    leading = [u for u in units if u.rate and u.unit not in named_set][:LEADING]

    colours = lights(session, [t for t in leaves if t.state in OPEN],
                     now=now, calendar=calendar) if leaves else {}
    counted = {"red": 0, "yellow": 0, "green": 0}
    for colour in colours.values():
        if colour in counted:
            counted[colour] += 1
    funds = [fund_status(session, plan=p.code, now=cutoff, calendar=calendar) for p in plans]
    funds = [f for f in funds if f.lines or f.rules]
    targets = target_progress(session, plans=plans, periods=span.months() if span.kind in (
        "year", "half", "quarter") else [span], now=cutoff)
    notes = [f"所选期间{span.label}不在《{p.title}》的实施年度（{p.year}年）内，本期没有该方案的"
             f"到期任务。" for p in plans
             if span.end < Date(p.year, 1, 1) or span.start > Date(p.year, 12, 31)]
    if len(plans) == 1:
        title = f"关于《{plans[0].title}》{span.label}推进情况的通报"
    else:
        title = f"关于{span.label}扶贫专项实施方案推进情况的通报"
    return Bulletin(
        title=title, plan_codes=tuple(p.code for p in plans),
        plan_titles=tuple(p.title for p in plans), period=span, as_of=as_of,
        generated_at=now, total_due=total, on_time=on_time, late_done=late,
        overdue_open=overdue_open, rate=_rate(on_time, total), lights=counted, units=units,
        overdue=overdue, targets=targets, funds=funds, praised=praised, named=named,
        leading=leading, notes=notes)


def _lead_names(session: Session, tasks: list[Task], plans: list[Plan]
                ) -> dict[int, list[str]]:
    """Each task's lead units by name: a collective's members (never the collective itself),
    and for a task without a lead its plan's coordinating office."""
    org = load_org(session)
    names = dict(session.execute(select(Unit.id, Unit.name)).all())
    leads: dict[int, list[int]] = {}
    ids = [t.id for t in tasks]
    for chunk in range(0, len(ids), 900):
        for task_id, unit_id in session.execute(
                select(TaskUnit.task_id, TaskUnit.unit_id)
                .where(TaskUnit.task_id.in_(ids[chunk:chunk + 900]), TaskUnit.role == "lead")
                .order_by(TaskUnit.position)).all():
            leads.setdefault(task_id, []).append(unit_id)
    coordinators = {p.id: names[_coordinator(session, p)] for p in plans}
    out: dict[int, list[str]] = {}
    for task in tasks:
        members = [m for u in leads.get(task.id, []) for m in org.members(u)]
        found = list(dict.fromkeys(names[m] for m in members))
        out[task.id] = found or [coordinators[task.plan_id]]
    return out


def _coordinator(session: Session, plan: Plan) -> int:
    """The unit that answers for a plan's lead-less tasks: the office under its jurisdiction
    with a coordinator (else the first office), else its issuer, else its jurisdiction."""
    offices = list(session.exec(select(Unit.id).where(
        Unit.parent_id == plan.jurisdiction_id, Unit.kind == "office").order_by(Unit.id)).all())
    if offices:
        with_coordinator = session.exec(select(Contact.unit_id).where(
            Contact.unit_id.in_(offices), Contact.role == "coordinator")).first()
        return with_coordinator or offices[0]
    return plan.issuer_id or plan.jurisdiction_id


def bulletin_payload(bulletin: Bulletin, *, link: str | None = None,
                     max_rows: int = 10) -> dict:
    """What the bulletin email/SMS/IM templates get (notifications/templates/*/bulletin.*)."""
    return {
        "plan_code": bulletin.plan_codes[0] if len(bulletin.plan_codes) == 1 else None,
        "plan_title": "、".join(bulletin.plan_titles) if len(bulletin.plan_titles) <= 2
        else f"{bulletin.plan_titles[0]}等{len(bulletin.plan_titles)}个方案",
        "title": bulletin.title, "period": bulletin.period.label,
        "period_code": bulletin.period.code, "figures": bulletin.figures(),
        "late_units": [u.unit for u in bulletin.named][:max_rows],
        "praised_units": [u.unit for u in bulletin.praised][:max_rows],
        "ranking": [{"rank": u.rank, "unit": u.unit, "due": u.due, "on_time": u.on_time,
                     "overdue": u.overdue, "rate": u.shown_rate}
                    for u in bulletin.units[:max_rows]],
        "overdue_items": [{"task_code": o.task_code, "title": o.title,
                           "units": "、".join(o.lead_units), "due_on": o.due_on.isoformat(),
                           "days": o.days_overdue, "level": o.escalation_level}
                          for o in bulletin.overdue[:max_rows]],
        "fund_rate": None if bulletin.fund_rate is None else f"{bulletin.fund_rate}%",
        "link": link,
    }



LEADER_SELECTORS = ("jurisdiction.leader_in_charge", "jurisdiction.head", "issuer.head")


@dataclass
class QueuedBulletin:
    plan_code: str
    period: str
    recipients: int  # outbox rows written now (0: already queued before)
    unreachable: bool  # no leader with an address


def queue_bulletin(session: Session, *, bulletin: Bulletin, now: datetime,
                   to: Sequence[str] = LEADER_SELECTORS, link: str | None = None
                   ) -> QueuedBulletin:
    """Outbox rows (kind ``bulletin``) to the plans' leaders, one per contact and channel.

    The message is ``bulletin:<plan>:<period>`` (``<plan>+<plan>`` for a bulletin of several
    plans), so a second run for the same plans and period writes nothing. Leaders: ``to``
    selectors resolved against each plan's jurisdiction and issuer
    (taskflow.services.recipients); a leader of several of the plans gets one message.
    """
    from taskflow.services.recipients import Directory

    if not bulletin.plan_codes:
        raise ValueError("a bulletin without a plan has nobody to go to")
    plans = [get_plan(session, code) for code in bulletin.plan_codes]
    directory = Directory.load(session)
    recipients = list(dict.fromkeys(r for plan in plans for r in directory.resolve(
        tuple(to), units_by_role={}, jurisdiction_id=plan.jurisdiction_id,
        issuer_id=plan.issuer_id)))
    payload = bulletin_payload(bulletin, link=link)
    code = "+".join(sorted(p.code for p in plans))
    if len(code) > 120:  # the key column holds 300 characters
        code = f"{len(plans)}plans-{hashlib.sha1(code.encode()).hexdigest()[:12]}"
    message = f"bulletin:{code}:{bulletin.period.code}"
    plan_id = plans[0].id if len(plans) == 1 else None
    rows = [outbox_row(message=message, kind=MessageKind.bulletin, recipient=r,
                       payload=payload, now=now, plan_id=plan_id) for r in recipients]
    written = len(insert_outbox(session.connection(), rows))
    return QueuedBulletin(code, bulletin.period.code, written, not rows)
