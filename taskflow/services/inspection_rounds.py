"""Inspection rounds: generating them and their notices, and finding a round and its checklist.

The rules are in ``taskflow.domain.inspections`` (pure); this module reads their inputs from the
database and writes what they decide. The caller owns the transaction.

- ``generate_rounds``: the rounds of a year for one plan or all, idempotent by (plan, cycle,
  day): a round is made once, with its scope, its 抽查 sample (seed stored) and its
  inspectors; notices go to the outbox (kinds ``inspection_notice`` and ``inspector_list``),
  keyed per round, recipient and channel, so running it again writes nothing.
- ``find_round`` and ``round_checklist``: a round by code or number, and the checklist of one
  inspected unit in it.

Findings are in ``taskflow.services.inspection_findings``, the year-end assessment in
``taskflow.services.assessment`` (which reuses this module's readers of plans, tasks and the
unit tree).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from taskflow.domain.inspections import (
    DEFAULT_NOTICE_DAYS,
    ChecklistItem,
    assign_inspectors,
    checklist,
    round_dates,
    stratified_sample,
)
from taskflow.domain.reminders import digest_day
from taskflow.domain.states import TaskState
from taskflow.domain.workdays import Clock, Days
from taskflow.errors import NotFound
from taskflow.models import (
    AuditEvent,
    Contact,
    InspectionAssignment,
    InspectionCycle,
    InspectionRound,
    Plan,
    Task,
    TaskUnit,
)
from taskflow.plans.schema import PolicySpec
from taskflow.services.outbox import insert_outbox, outbox_row
from taskflow.services.recipients import Directory, recipients_of

INSPECTOR_ROLES = ("inspector", "coordinator", "liaison", "head")  # first found in a unit
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
            if task.kind != "project" or task.state == TaskState.cancelled:
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
                                              notice_days, calendar)
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


def _write_notices(session: Session, plan: Plan, view: RoundView, org: _Org,
                   tasks: list[Task], links: dict[int, list[TaskUnit]], now: datetime,
                   notice_days: int, calendar) -> int:
    """inspection_notice to each inspected unit, inspector_list to each inspector.

    They join each contact's digest of the notice day (at the policy's send_at); a round
    whose day has passed gets none. Keys: round, kind, unit (notices), contact and channel.
    """
    row = view.round
    policy = PolicySpec.model_validate(plan.policy or {})
    tz = ZoneInfo(plan.timezone)
    today = now.astimezone(tz).date()
    if row.scheduled_on < today:
        return 0
    clock = Clock(tz, policy)
    days = Days(calendar, calendar_days=policy.calendar_days)
    digest_on, not_before = digest_day(max(clock.at(row.notice_on or row.scheduled_on), now),
                                       days, clock)
    head = {"plan_code": plan.code, "plan_title": plan.title, "round_code": row.code,
            "cycle_code": row.cycle_code, "title": row.title, "kind": row.kind,
            "scheduled_on": row.scheduled_on.isoformat(),
            "notice_on": row.notice_on.isoformat() if row.notice_on else None,
            "notice_days": notice_days,
            "period_start": row.period_start.isoformat() if row.period_start else None,
            "period_end": row.period_end.isoformat() if row.period_end else None}
    rows: list[dict[str, Any]] = []

    def add(message: str, kind: str, contact: Contact, payload: dict[str, Any]) -> None:
        rows.extend(outbox_row(message=message, kind=kind, recipient=r, payload=payload,
                               now=now, plan_id=plan.id, not_before=not_before,
                               digest_on=digest_on)
                    for r in recipients_of(contact))

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
    return len(insert_outbox(session.connection(), rows))


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
