"""Inspection rounds, findings, rectification tasks and the year-end assessment.

The rules are in ``taskflow.inspections`` (pure); this module reads their inputs from the
database and writes what they decide. The caller owns the transaction.

- ``generate_rounds``: the rounds of a year for one plan or all, idempotent by (plan, cycle,
  day): a round is made once, with its scope, its 抽查 sample (seed stored) and its
  inspectors; notices go to the outbox (kinds ``inspection_notice`` and ``inspector_list``),
  keyed per round, recipient and channel, so running it again writes nothing.
- ``record_finding``: an inspector's result for one checklist item; a failed item makes a
  rectification task (整改, kind ``rectification``) for the inspected unit, which the sweep then
  activates, reminds and escalates like any task. Submitting it needs evidence (see
  ``taskflow.services.tasks``).
- ``assess`` and ``write_score_sheet``: the 百分制 score of each unit, and the Excel sheet.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from taskflow.errors import NotFound, UserError
from taskflow.inspections import (
    DEFAULT_NOTICE_DAYS,
    DEFAULT_RECTIFY_WITHIN,
    DEFAULT_WEIGHTS,
    PART_LABELS,
    ChecklistItem,
    UnitFacts,
    UnitScore,
    assign_inspectors,
    checklist,
    display_width,
    round_dates,
    safe_cell,
    score_units,
    stratified_sample,
)
from taskflow.models import (
    AuditEvent,
    Contact,
    Disbursement,
    FundLine,
    InspectionAssignment,
    InspectionCycle,
    InspectionFinding,
    InspectionRound,
    Notification,
    Plan,
    ProgressReport,
    Task,
    TaskUnit,
    Unit,
)
from taskflow.plans.schema import PolicySpec
from taskflow.rules import Clock, out_of_quiet_hours
from taskflow.services.plans import day_end, day_start
from taskflow.services.recipients import ADDRESS_FIELD, Directory, channels_of

INSPECTOR_ROLES = ("inspector", "coordinator", "liaison", "head")  # first found in a unit
RESULTS = ("pass", "fail", "note")
ACTOR = "inspections"


# -- rounds ----------------------------------------------------------------------------------


@dataclass
class RoundView:
    plan: Plan
    round: InspectionRound
    created: bool
    assignments: list[InspectionAssignment] = field(default_factory=list)
    unassigned: list[str] = field(default_factory=list)  # targets nobody may inspect
    notices: int = 0  # outbox rows written now


def _plans(session: Session, plan_code: str | None) -> list[Plan]:
    query = select(Plan).order_by(Plan.code)
    if plan_code:
        query = query.where(Plan.code == plan_code)
    plans = list(session.exec(query).all())
    if plan_code and not plans:
        raise NotFound.single(f"没有方案 {plan_code}")
    return plans


def _live_tasks(session: Session, plan_id: int) -> list[Task]:
    return list(session.exec(select(Task).where(
        Task.plan_id == plan_id, Task.archived_at.is_(None))  # type: ignore[union-attr]
        .order_by(Task.position, Task.id)).all())


def _links(session: Session, task_ids: Sequence[int]) -> dict[int, list[TaskUnit]]:
    out: dict[int, list[TaskUnit]] = {}
    if task_ids:
        for link in session.exec(select(TaskUnit).where(col(TaskUnit.task_id).in_(task_ids))
                                 .order_by(TaskUnit.position)).all():
            out.setdefault(link.task_id, []).append(link)
    return out


class _Org:
    """The unit tree for scope, sampling and "own unit" questions."""

    def __init__(self, directory: Directory):
        self.d = directory
        self.by_code = {u.code: uid for uid, u in directory.units.items()}
        self._below: dict[int, frozenset[int]] = {}

    def members(self, unit_ids: Iterable[int]) -> list[int]:
        out: list[int] = []
        for uid in unit_ids:
            for member in self.d.members(uid):
                if member not in out:
                    out.append(member)
        return out

    def below(self, unit_id: int) -> frozenset[int]:
        """The unit and every unit under it."""
        found = self._below.get(unit_id)
        if found is None:
            seen, stack = {unit_id}, [unit_id]
            while stack:
                for child in self.d.children.get(stack.pop(), []):
                    if child not in seen:
                        seen.add(child)
                        stack.append(child)
            found = self._below[unit_id] = frozenset(seen)
        return found

    def ancestors(self, unit_id: int) -> list[int]:
        out, current = [], self.d.units[unit_id].parent_id
        while current is not None:
            out.append(current)
            current = self.d.units[current].parent_id
        return out

    def code(self, unit_id: int) -> str:
        return self.d.units[unit_id].code

    def name(self, unit_id: int) -> str:
        return self.d.units[unit_id].name

    def kind(self, unit_id: int) -> str:
        return self.d.units[unit_id].kind


@dataclass(frozen=True)
class _Target:
    key: str  # unit code, or task:<code>
    kind: str  # unit / village / township / project
    unit_id: int  # the inspected unit (a project's lead unit)
    task_id: int | None = None


@dataclass(frozen=True)
class _Inspector:
    contact_id: int
    unit_id: int
    name: str


def _scope(org: _Org, cycle: InspectionCycle, tasks: list[Task],
           links: dict[int, list[TaskUnit]]) -> list[int]:
    """The inspected units: the cycle's, else the lead and responsible units of the plan."""
    if cycle.unit_codes:
        ids = [org.by_code[c] for c in cycle.unit_codes if c in org.by_code]
    else:
        ids = []
        for task in tasks:
            if task.kind == "rectification":
                continue
            for link in links.get(task.id, []):
                if link.role in ("lead", "responsible") and link.unit_id not in ids:
                    ids.append(link.unit_id)
    return org.members(ids)


def _population(org: _Org, scope: list[int], strata: str, tasks: list[Task],
                links: dict[int, list[TaskUnit]]) -> dict[str, list[str]]:
    """What a sample is drawn from, by stratum: villages by township, townships by their
    parent, projects by lead unit."""
    population: dict[str, list[str]] = {}
    if strata == "project":
        for task in tasks:
            if task.kind != "project" or task.state == "cancelled":
                continue
            leads = [link.unit_id for link in links.get(task.id, []) if link.role == "lead"]
            stratum = org.code(leads[0]) if leads else "-"
            population.setdefault(stratum, []).append(task.code)
        return population
    seen: set[int] = set()
    for unit_id in scope:
        for uid in org.below(unit_id):
            if uid in seen or org.kind(uid) != strata:
                continue
            seen.add(uid)
            parent = org.d.units[uid].parent_id
            stratum = org.code(parent) if parent is not None else "-"
            population.setdefault(stratum, []).append(org.code(uid))
    return population


def _inspectors(org: _Org, cycle: InspectionCycle, plan: Plan) -> list[_Inspector]:
    """People who inspect: the inspector units' inspectors (else coordinators, liaisons,
    heads); without inspector units, the offices under the plan's jurisdiction."""
    if cycle.inspector_codes:
        unit_ids = org.members(org.by_code[c] for c in cycle.inspector_codes
                               if c in org.by_code)
    else:
        unit_ids = org.d.offices(plan.jurisdiction_id)
    out: list[_Inspector] = []
    for unit_id in unit_ids:
        people = org.d.contacts.get(unit_id, [])
        for role in INSPECTOR_ROLES:
            chosen = [c for c in people if c.role == role]
            if chosen:
                break
        else:
            chosen = list(people[:1])
        out.extend(_Inspector(c.id, unit_id, c.name) for c in chosen)
    return out


def may_inspect(org: _Org) -> Any:
    """Nobody inspects their own unit or a unit below it."""

    def allowed(inspector: _Inspector, target: _Target) -> bool:
        return target.unit_id not in org.below(inspector.unit_id)

    return allowed


def generate_rounds(session: Session, *, year: int, calendar, now: datetime,
                    plan_code: str | None = None, actor: str = ACTOR) -> list[RoundView]:
    """Make the missing rounds of ``year`` (one plan or all) and write their notices."""
    directory = Directory.load(session)
    org = _Org(directory)
    views: list[RoundView] = []
    for plan in _plans(session, plan_code):
        cycles = list(session.exec(select(InspectionCycle).where(
            InspectionCycle.plan_id == plan.id).order_by(InspectionCycle.id)).all())
        if not cycles:
            continue
        tasks = _live_tasks(session, plan.id)
        links = _links(session, [t.id for t in tasks])
        existing = {(r.cycle_code, r.scheduled_on): r for r in session.exec(
            select(InspectionRound).where(InspectionRound.plan_id == plan.id)).all()}
        for cycle in cycles:
            notice_days = DEFAULT_NOTICE_DAYS if cycle.notice_days is None else cycle.notice_days
            for when in round_dates(year=year, calendar=calendar, due_on=cycle.due_on,
                                    recurrence=cycle.recurrence, notice_days=notice_days):
                row = existing.get((cycle.code, when.scheduled_on))
                if row is None:
                    view = _make_round(session, plan, cycle, when, org, tasks, links, now,
                                       actor)
                else:
                    view = RoundView(plan, row, False, list(session.exec(
                        select(InspectionAssignment).where(
                            InspectionAssignment.round_id == row.id)
                        .order_by(InspectionAssignment.id)).all()))
                view.notices = _write_notices(session, plan, view, org, tasks, links, now,
                                              notice_days)
                views.append(view)
    views.sort(key=lambda v: (v.round.scheduled_on, v.plan.code, v.round.cycle_code))
    return views


def _make_round(session: Session, plan: Plan, cycle: InspectionCycle, when, org: _Org,
                tasks: list[Task], links: dict[int, list[TaskUnit]], now: datetime,
                actor: str) -> RoundView:
    scope = _scope(org, cycle, tasks, links)
    code = f"{cycle.code}@{when.scheduled_on.isoformat()}"
    sample: dict[str, Any] = {}
    drawn: dict[str, list[str]] = {}
    spec = cycle.sample if cycle.kind == "inspection" else None
    if spec:
        seed = f"{spec.get('seed', 0)}|{plan.code}|{code}"
        population = _population(org, scope, spec["strata"], tasks, links)
        drawn = stratified_sample(population, share=Decimal(str(spec["share"])), seed=seed,
                                  minimum=int(spec.get("min", 1)))
        sample = {"strata": spec["strata"], "share": str(spec["share"]), "seed": seed,
                  "min": int(spec.get("min", 1)), "drawn": drawn}
    picked = [c for codes in drawn.values() for c in codes]
    strata = sample.get("strata")
    scope_view = {
        "units": [org.code(u) for u in scope],
        "townships": sorted({org.code(u) for s in scope for u in org.below(s)
                             if org.kind(u) == "township"}),
        "villages": (sorted(picked) if strata == "village" else
                     sorted({org.code(u) for s in scope for u in org.below(s)
                             if org.kind(u) == "village"})),
        "projects": sorted(picked) if strata == "project" else [],
    }
    row = InspectionRound(
        plan_id=plan.id, cycle_id=cycle.id, cycle_code=cycle.code, code=code, kind=cycle.kind,
        title=cycle.title, seq=when.seq, period_start=when.period_start,
        period_end=when.period_end, scheduled_on=when.scheduled_on, notice_on=when.notice_on,
        scope=scope_view, sample=sample, state="planned", created_at=now, updated_at=now)
    session.add(row)
    session.flush()
    view = RoundView(plan, row, True)
    if cycle.kind == "inspection":
        targets = _targets(org, scope, strata, picked, tasks, links)
        inspectors = _inspectors(org, cycle, plan)
        result = assign_inspectors(targets, inspectors, may_inspect(org))
        for target in targets:
            inspector = result.by_target.get(target)
            assignment = InspectionAssignment(
                round_id=row.id, target=target.key, target_kind=target.kind,
                unit_id=target.unit_id, task_id=target.task_id,
                inspector_contact_id=inspector.contact_id if inspector else None,
                inspector_unit_id=inspector.unit_id if inspector else None)
            session.add(assignment)
            view.assignments.append(assignment)
        view.unassigned = [t.key for t in result.unassigned]
    session.add(AuditEvent(at=now, actor=actor, action="inspection.round", entity="round",
                           entity_id=row.id, plan_id=plan.id,
                           after={"code": code, "scheduled_on": when.scheduled_on.isoformat(),
                                  "targets": len(view.assignments),
                                  "unassigned": view.unassigned}))
    session.flush()
    return view


def _targets(org: _Org, scope: list[int], strata: str | None, picked: list[str],
             tasks: list[Task], links: dict[int, list[TaskUnit]]) -> list[_Target]:
    """Scope units (but those of the sampled kind) and the sampled villages/townships/projects."""
    out = [_Target(org.code(u), "unit", u) for u in scope
           if strata is None or org.kind(u) != strata]
    if strata in ("village", "township"):
        out.extend(_Target(c, strata, org.by_code[c]) for c in picked)
    elif strata == "project":
        by_code = {t.code: t for t in tasks}
        for code in picked:
            task = by_code[code]
            leads = [link.unit_id for link in links.get(task.id, []) if link.role == "lead"]
            lead = leads[0] if leads else (scope[0] if scope else None)
            if lead is not None:
                out.append(_Target(f"task:{code}", "project", lead, task.id))
    return out


def _checklist_for(org: _Org, unit_id: int, tasks: list[Task],
                   links: dict[int, list[TaskUnit]], task_id: int | None = None
                   ) -> list[ChecklistItem]:
    """验收标准 of the tasks that cover the unit (its own, a collective's it belongs to, or a
    unit above it); a project: its own. Nothing covers it: every item of the plan."""
    with_items = [t for t in tasks if t.acceptance and t.kind != "rectification"]
    if task_id is not None:
        own = [t for t in with_items if t.id == task_id]
        if own:
            return checklist({t.code: t.acceptance for t in own})
    covering = {unit_id, *org.ancestors(unit_id)}
    chosen = []
    for task in with_items:
        for link in links.get(task.id, []):
            if link.unit_id in covering or unit_id in org.members([link.unit_id]):
                chosen.append(task)
                break
    return checklist({t.code: t.acceptance for t in (chosen or with_items)})


def _insert(dialect_name: str):
    table = Notification.__table__
    statement = (postgresql.insert(table) if dialect_name == "postgresql" else
                 sqlite.insert(table) if dialect_name == "sqlite" else insert(table))
    return statement.on_conflict_do_nothing(index_elements=["key"])


def _write_notices(session: Session, plan: Plan, view: RoundView, org: _Org,
                   tasks: list[Task], links: dict[int, list[TaskUnit]], now: datetime,
                   notice_days: int) -> int:
    """inspection_notice to each inspected unit, inspector_list to each inspector.

    They go out on the notice day at the policy's send_at (out of quiet hours); a round whose
    day has passed gets none. Keys: round, kind, unit (notices), contact and channel.
    """
    row = view.round
    policy = PolicySpec.model_validate(plan.policy or {})
    tz = ZoneInfo(plan.timezone)
    today = now.astimezone(tz).date()
    if row.scheduled_on < today:
        return 0
    clock = Clock(tz, policy)
    send_at = clock.at(row.notice_on or row.scheduled_on)
    not_before = out_of_quiet_hours(max(send_at, now), policy, tz)
    head = {"plan_code": plan.code, "plan_title": plan.title, "round_code": row.code,
            "cycle_code": row.cycle_code, "title": row.title, "kind": row.kind,
            "scheduled_on": row.scheduled_on.isoformat(),
            "notice_on": row.notice_on.isoformat() if row.notice_on else None,
            "notice_days": notice_days,
            "period_start": row.period_start.isoformat() if row.period_start else None,
            "period_end": row.period_end.isoformat() if row.period_end else None}
    rows: list[dict[str, Any]] = []

    def add(key: str, kind: str, contact: Contact, payload: dict[str, Any]) -> None:
        for channel in channels_of(contact):
            rows.append({
                "key": f"{key}:c{contact.id}:{channel}", "plan_id": plan.id, "task_id": None,
                "contact_id": contact.id, "kind": kind, "level": 0, "channel": channel,
                "address": getattr(contact, ADDRESS_FIELD[channel]),
                "payload": {**payload, "recipient": contact.name}, "digest": False,
                "status": "pending", "created_at": now, "not_before": not_before,
                "attempts": 0})

    # The inspected units: the round's scope units (a sample is not announced).
    contacts_by_id = {c.id: c for people in org.d.contacts.values() for c in people}
    inspectors_of: dict[int, list[str]] = {}
    for a in view.assignments:
        if a.inspector_contact_id in contacts_by_id:
            inspectors_of.setdefault(a.unit_id, []).append(
                contacts_by_id[a.inspector_contact_id].name)
    for code in row.scope.get("units", []):
        unit_id = org.by_code.get(code)
        if unit_id is None:
            continue
        items = _checklist_for(org, unit_id, tasks, links) if row.kind == "inspection" else []
        payload = {**head, "unit": org.name(unit_id), "unit_code": code,
                   "inspectors": sorted(set(inspectors_of.get(unit_id, []))),
                   "checklist": [i.text for i in items]}
        for contact in org.d.contacts_for([unit_id], "liaison"):
            add(f"round{row.id}:inspection_notice:u{unit_id}", "inspection_notice", contact,
                payload)
    # The inspectors: each their list.
    lists: dict[int, list[dict[str, Any]]] = {}
    for a in view.assignments:
        if a.inspector_contact_id is None:
            continue
        items = _checklist_for(org, a.unit_id, tasks, links, a.task_id)
        lists.setdefault(a.inspector_contact_id, []).append({
            "target": a.target, "kind": a.target_kind, "unit": org.name(a.unit_id),
            "unit_code": org.code(a.unit_id), "checklist_items": len(items)})
    for contact_id, targets in lists.items():
        contact = contacts_by_id.get(contact_id)
        if contact is not None:
            add(f"round{row.id}:inspector_list", "inspector_list", contact,
                {**head, "targets": targets})
    if rows:
        have = set(session.exec(select(Notification.key).where(
            col(Notification.key).in_([r["key"] for r in rows]))).all())
        rows = [r for r in rows if r["key"] not in have]
    if not rows:
        return 0
    connection = session.connection()
    connection.execute(_insert(connection.dialect.name), rows)  # a racing writer: skipped
    return len(rows)


# -- finding rounds and checklists -----------------------------------------------------------


def find_round(session: Session, plan_code: str, ref: str) -> tuple[Plan, InspectionRound]:
    """A round by code ("quarterly-check@2025-03-31") or number ("quarterly-check#1", in the
    plan year)."""
    plan = _plans(session, plan_code)[0]
    query = select(InspectionRound).where(InspectionRound.plan_id == plan.id)
    m = re.fullmatch(r"(.+)#([0-9]+)", ref)
    if m:
        rows = [r for r in session.exec(query.where(InspectionRound.cycle_code == m[1])).all()
                if r.scheduled_on.year == plan.year and r.seq == int(m[2])]
    else:
        rows = list(session.exec(query.where(InspectionRound.code == ref)).all())
    if not rows:
        raise NotFound.single(f"方案 {plan_code} 中没有检查轮次 {ref}"
                              "（先运行 taskflow inspections plan）")
    return plan, rows[0]


def round_checklist(session: Session, plan: Plan, row: InspectionRound, unit_id: int,
                    task_id: int | None = None) -> list[ChecklistItem]:
    org = _Org(Directory.load(session))
    tasks = _live_tasks(session, plan.id)
    return _checklist_for(org, unit_id, tasks, _links(session, [t.id for t in tasks]), task_id)


# -- findings and rectification --------------------------------------------------------------


@dataclass
class FindingResult:
    finding: InspectionFinding
    rectification: Task | None = None
    created: bool = True


def record_finding(session: Session, *, plan_code: str, round_ref: str, unit: str, item: str,
                   result: str, calendar, now: datetime, actor: str, note: str | None = None,
                   photo: str | None = None) -> FindingResult:
    """Record (or correct) the result of one checklist item for an inspected unit.

    ``item`` is a checklist key ("1.1#2": the second 验收标准 of task 1.1) or a free text.
    A failed item creates a rectification task for the unit, once per finding.
    """
    from taskflow.services.queries import find_unit

    if result not in RESULTS:
        raise UserError.single(f"检查结果应为 {'/'.join(RESULTS)}，收到 {result!r}")
    item = item.strip()
    if not item:
        raise UserError.single("检查项不能为空")
    if result == "fail" and not (note or "").strip() and not photo:
        raise UserError.single("不合格项需要说明问题（--note）或照片（--photo）")
    plan, row = find_round(session, plan_code, round_ref)
    target_unit = find_unit(session, unit)
    assignments = list(session.exec(select(InspectionAssignment).where(
        InspectionAssignment.round_id == row.id)).all())
    allowed = {a.unit_id for a in assignments}
    if not assignments:
        codes = row.scope.get("units", [])
        allowed = set(session.exec(select(Unit.id).where(
            col(Unit.code).in_(codes))).all()) if codes else set()
    if target_unit.id not in allowed:
        raise UserError.single(f"{target_unit.name} 不在检查轮次 {row.code} 的检查对象中")
    task_id = next((a.task_id for a in assignments if a.unit_id == target_unit.id
                    and a.task_id is not None), None)
    criterion, item_task = None, None
    m = re.fullmatch(r"(.+)#([0-9]+)", item)
    if m:
        items = {i.key: i for i in round_checklist(session, plan, row, target_unit.id,
                                                   task_id)}
        if item not in items:
            raise UserError.single(f"{target_unit.name} 的检查清单中没有 {item}"
                                   f"（有：{'、'.join(items) or '无'}）")
        criterion = items[item].text
        item_task = session.exec(select(Task).where(
            Task.plan_id == plan.id, Task.code == items[item].task_code)).first()
    tz = ZoneInfo(plan.timezone)
    today = now.astimezone(tz).date()
    finding = session.exec(select(InspectionFinding).where(
        InspectionFinding.round_id == row.id, InspectionFinding.unit_id == target_unit.id,
        InspectionFinding.item == item)).first()
    created = finding is None
    before = None
    if finding is None:
        finding = InspectionFinding(round_id=row.id, unit_id=target_unit.id, item=item,
                                    result=result, recorded_on=today, recorded_at=now)
        session.add(finding)
    else:
        before = {"result": finding.result, "note": finding.note, "photo": finding.photo}
    finding.task_id = item_task.id if item_task else task_id
    finding.criterion = criterion
    finding.result, finding.note, finding.photo = result, note, photo
    finding.inspector = actor
    finding.recorded_on, finding.recorded_at = today, now
    if row.state == "planned":
        row.state = "held"
        row.updated_at = now
    session.flush()
    out = FindingResult(finding, created=created)
    if result == "fail" and finding.rectification_task_id is None:
        out.rectification = _rectification(session, plan, row, finding, target_unit.id,
                                           target_unit.name, calendar, now, actor, today)
        finding.rectification_task_id = out.rectification.id
    elif finding.rectification_task_id is not None:
        out.rectification = session.get(Task, finding.rectification_task_id)
    session.add(AuditEvent(at=now, actor=actor, action="inspection.finding",
                           entity="finding", entity_id=finding.id, plan_id=plan.id,
                           before=before, after={"round": row.code, "unit": target_unit.code,
                                                 "item": item, "result": result},
                           note=note))
    session.flush()
    return out


def _rectification(session: Session, plan: Plan, row: InspectionRound,
                   finding: InspectionFinding, unit_id: int, unit_name: str, calendar,
                   now: datetime, actor: str, today: date) -> Task:
    """整改: a task for the inspected unit, due N working days after the finding.

    It has no parent (a child would turn the inspected task into a parent, which loses its
    own reminders); the finding links both. Its start is now, so the next sweep activates it,
    chases 签收, reminds before the deadline and escalates when it is overdue.
    """
    cycle = session.get(InspectionCycle, row.cycle_id) if row.cycle_id else None
    within = (cycle.rectify_within if cycle and cycle.rectify_within is not None
              else DEFAULT_RECTIFY_WITHIN)
    due_on = calendar.add_workdays(today, within)
    tz = ZoneInfo(plan.timezone)
    what = finding.criterion or finding.item
    text = f"{row.title}（{row.scheduled_on.isoformat()}）发现问题：{what}"
    if finding.note:
        text += f"\n检查说明：{finding.note}"
    if finding.photo:
        text += f"\n照片：{finding.photo}"
    task = Task(
        plan_id=plan.id, parent_id=None, code=f"rect-{finding.id}", kind="rectification",
        title=f"整改：{unit_name}：{what}"[:500], text=text, position=10_000 + (finding.id or 0),
        start_on=today, due_on=due_on, planned_due_on=due_on,
        start_at=max(now, day_start(today, tz)), due_at=day_end(due_on, tz), state="pending",
        next_action_at=now, created_at=now, updated_at=now)
    session.add(task)
    session.flush()
    session.add(TaskUnit(task_id=task.id, unit_id=unit_id, role="lead", position=0))
    session.add(AuditEvent(at=now, actor=actor, action="task.create", entity="task",
                           entity_id=task.id, plan_id=plan.id,
                           after={"kind": "rectification", "due_on": due_on.isoformat(),
                                  "finding": finding.id, "round": row.code}))
    session.flush()
    return task


# -- the year-end assessment -----------------------------------------------------------------


def _weights(plan: Plan) -> dict[str, Decimal]:
    if plan.assessment and plan.assessment.get("weights"):
        return {k: Decimal(str(v)) for k, v in plan.assessment["weights"].items()}
    return dict(DEFAULT_WEIGHTS)


def assess(session: Session, *, plan_code: str, now: datetime, year: int | None = None
           ) -> tuple[Plan, dict[str, Decimal], list[UnitScore]]:
    """Each unit's 百分制 score in the plan, from the facts up to ``now``.

    Tasks counted: the plan's live leaf tasks (not duties, not cancelled) due in the year by
    ``now``, for each of their lead and responsible units (a collective: each member).
    On time: done, submitted (or accepted) by the deadline as it stands (an approved
    extension counts). Target: the latest reported quantity (else percent) against the
    target. Funds: the disbursements recorded against the task (else the latest reported
    amount) against the task's fund lines.
    Inspections: checklist items passed / inspected in the year's rounds.
    """
    plan = _plans(session, plan_code)[0]
    year = year or plan.year
    org = _Org(Directory.load(session))
    tasks = _live_tasks(session, plan.id)
    parents = {t.parent_id for t in tasks if t.parent_id is not None}
    counted = [t for t in tasks if t.id not in parents and t.kind != "duty"
               and t.state != "cancelled" and t.due_on is not None and t.due_on.year == year
               and t.due_at is not None and t.due_at <= now]
    ids = [t.id for t in counted]
    links = _links(session, ids)
    latest: dict[int, ProgressReport] = {}
    if ids:
        for report in session.exec(select(ProgressReport).where(
                col(ProgressReport.task_id).in_(ids), ProgressReport.reported_at <= now)
                .order_by(ProgressReport.reported_at, ProgressReport.id)).all():
            latest[report.task_id] = report
    # Disbursements recorded against the tasks (taskflow funds disburse, the plan's stated
    # payments) are the better record; a task without any falls back to its units' reports.
    paid: dict[int, Decimal] = {}
    if ids:
        today = now.astimezone(ZoneInfo(plan.timezone)).date()
        for task_id, amount in session.execute(
                select(Disbursement.task_id, func.sum(Disbursement.amount))
                .where(col(Disbursement.task_id).in_(ids), Disbursement.paid_on <= today)
                .group_by(Disbursement.task_id)).all():
            paid[task_id] = Decimal(amount)
    planned: dict[int, Decimal] = {}
    plan_lines: dict[int, Decimal] = {}
    if ids:
        for line in session.exec(select(FundLine).where(col(FundLine.task_id).in_(ids))).all():
            target = planned if line.scope == "task" else plan_lines
            target[line.task_id] = target.get(line.task_id, Decimal(0)) + line.amount
    facts: dict[int, UnitFacts] = {}

    def of(unit_id: int) -> UnitFacts:
        if unit_id not in facts:
            facts[unit_id] = UnitFacts(org.code(unit_id), org.name(unit_id))
        return facts[unit_id]

    for task in counted:
        units = org.members(link.unit_id for link in links.get(task.id, [])
                            if link.role in ("lead", "responsible"))
        report = latest.get(task.id)
        done_at = task.submitted_at or task.completed_at
        on_time = task.state == "done" and done_at is not None and done_at <= task.due_at
        ratio = None
        if task.target_value:
            if report is not None and report.quantity is not None:
                ratio = report.quantity / task.target_value
            elif report is not None and report.percent is not None:
                ratio = report.percent / 100
            elif task.state == "done":
                ratio = Decimal(1)
            else:
                ratio = Decimal(0)
        money = planned.get(task.id) or plan_lines.get(task.id) or Decimal(0)
        spent = paid.get(task.id)
        if spent is None and report is not None and report.amount is not None:
            spent = report.amount
        for unit_id in units:
            unit = of(unit_id)
            unit.tasks_due += 1
            unit.tasks_on_time += on_time
            if ratio is not None:
                unit.target_ratios.append(ratio)
            if money:
                unit.funds_planned += money
                unit.funds_disbursed += spent or Decimal(0)
    rounds = [r.id for r in session.exec(select(InspectionRound).where(
        InspectionRound.plan_id == plan.id)).all()]
    if rounds:
        for finding in session.exec(select(InspectionFinding).where(
                col(InspectionFinding.round_id).in_(rounds),
                InspectionFinding.recorded_at <= now)).all():
            if finding.recorded_on.year != year or finding.result == "note":
                continue
            unit = of(finding.unit_id)
            if finding.result == "pass":
                unit.items_passed += 1
            else:
                unit.items_failed += 1
    weights = _weights(plan)
    return plan, weights, score_units(facts.values(), weights)


HEADER = ("排名", "单位", "单位编码")
DETAIL = ("到期任务", "按时办结", "目标任务数", "计划资金(元)", "已拨付(元)", "检查合格项",
          "检查不合格项")


def write_score_sheet(path: Path, *, plan: Plan, year: int, weights: dict[str, Decimal],
                      scores: list[UnitScore]) -> Path:
    """The score sheet (Excel): frozen header, ranking, widths that fit Chinese text."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    parts = [p for p in PART_LABELS if p in weights and weights[p] > 0]
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = f"{year}年度考核"[:31]
    header = [*HEADER, *(f"{PART_LABELS[p]}({weights[p].normalize():f})" for p in parts),
              "总分", *DETAIL]
    sheet.append(header)
    for score in scores:
        f = score.facts or UnitFacts(score.unit, score.name)
        sheet.append([safe_cell(v) for v in (
            score.rank, score.name, score.unit,
            *(float(score.points[p]) if p in score.points else None for p in parts),
            float(score.total), f.tasks_due, f.tasks_on_time, len(f.target_ratios),
            float(f.funds_planned), float(f.funds_disbursed), f.items_passed,
            f.items_failed)])
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="DDEBF7")
    for cell in sheet[1]:
        cell.font, cell.fill = bold, fill
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=False)
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions
    for index, column in enumerate(sheet.iter_cols(min_row=1, max_row=sheet.max_row), 1):
        widest = max(display_width(str(c.value)) for c in column if c.value is not None)
        sheet.column_dimensions[get_column_letter(index)].width = min(60, widest + 2)
    notes = workbook.create_sheet("说明")
    notes.append([safe_cell(f"{plan.title}（{plan.code}）{year}年度考核，百分制。")])
    notes.append(["各项得分 = 权重 × 完成率；某项无数据时，其余各项权重按比例折算为100分。"])
    notes.column_dimensions["A"].width = 80
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(path)
    return path
