"""Read-side queries for the CLI (and later the web app): plans, task trees, units, tasks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import func
from sqlmodel import Session, col, select

from taskflow.domain.states import OPEN, TaskState
from taskflow.errors import NotFound
from taskflow.models import (
    Contact,
    FundLine,
    InspectionCycle,
    Plan,
    Task,
    TaskUnit,
    Unit,
)


@dataclass
class PlanSummary:
    plan: Plan
    tasks: int
    open: int
    overdue: int
    funds: Decimal


def plan_summaries(session: Session, *, now: datetime) -> list[PlanSummary]:
    open_states = list(OPEN)
    live = Task.archived_at.is_(None)  # type: ignore[union-attr]
    counts = dict(session.exec(select(Task.plan_id, func.count()).where(live)
                               .group_by(Task.plan_id)).all())
    opened = dict(session.exec(select(Task.plan_id, func.count()).where(
        live, col(Task.state).in_(open_states)).group_by(Task.plan_id)).all())
    overdue = dict(session.exec(select(Task.plan_id, func.count()).where(
        live, col(Task.state).in_(open_states), col(Task.due_at) <= now)
        .group_by(Task.plan_id)).all())
    # A plan's budget is its plan-level lines; task lines are often parts of them (篇2's
    # 4.2 money is inside the 2490.96万), so they count only when a plan has no total.
    overall = dict(session.exec(select(FundLine.plan_id, func.sum(FundLine.amount))
                                .where(FundLine.scope == "plan")
                                .group_by(FundLine.plan_id)).all())
    parts = dict(session.exec(select(FundLine.plan_id, func.sum(FundLine.amount))
                              .where(FundLine.scope == "task")
                              .group_by(FundLine.plan_id)).all())
    funds = {pid: overall.get(pid) or parts.get(pid) for pid in {*overall, *parts}}
    return [PlanSummary(p, counts.get(p.id, 0), opened.get(p.id, 0), overdue.get(p.id, 0),
                        Decimal(funds.get(p.id) or 0))
            for p in session.exec(select(Plan).order_by(Plan.code)).all()]


def get_plan(session: Session, code: str) -> Plan:
    plan = session.exec(select(Plan).where(Plan.code == code)).first()
    if plan is None:
        known = ", ".join(session.exec(select(Plan.code).order_by(Plan.code)).all()) or "无"
        raise NotFound.single(f"方案 {code!r} 不存在（现有方案：{known}）")
    return plan


def units_by_id(session: Session) -> dict[int, Unit]:
    return {u.id: u for u in session.exec(select(Unit)).all()}


def task_units(session: Session, task_ids: Sequence[int]) -> dict[int, list[TaskUnit]]:
    out: dict[int, list[TaskUnit]] = {}
    if not task_ids:
        return out
    rank = {"lead": 0, "responsible": 1, "cooperating": 2}
    links = session.exec(select(TaskUnit).where(col(TaskUnit.task_id).in_(task_ids))).all()
    for link in sorted(links, key=lambda x: (rank.get(x.role, 9), x.position)):
        out.setdefault(link.task_id, []).append(link)
    return out


def plan_tasks(session: Session, plan: Plan) -> list[Task]:
    return list(session.exec(select(Task).where(Task.plan_id == plan.id,
                                                Task.archived_at.is_(None))  # type: ignore
                             .order_by(Task.position)).all())


def plan_funds(session: Session, plan: Plan) -> list[FundLine]:
    return list(session.exec(select(FundLine).where(FundLine.plan_id == plan.id)
                             .order_by(FundLine.id)).all())


def plan_inspections(session: Session, plan: Plan) -> list[InspectionCycle]:
    return list(session.exec(select(InspectionCycle).where(InspectionCycle.plan_id == plan.id)
                             .order_by(InspectionCycle.id)).all())


def contacts_by_unit(session: Session) -> dict[int, list[Contact]]:
    out: dict[int, list[Contact]] = {}
    for contact in session.exec(select(Contact).where(Contact.active)
                                .order_by(Contact.id)).all():
        out.setdefault(contact.unit_id, []).append(contact)
    return out


def find_unit(session: Session, ref: str) -> Unit:
    from taskflow.services.units import unit_index

    try:
        code = unit_index(session).resolve(ref, None)
    except ValueError as exc:
        raise NotFound.single(str(exc)) from None
    return session.exec(select(Unit).where(Unit.code == code)).one()


def search_tasks(session: Session, *, now: datetime, plan: str | None = None,
                 unit: str | None = None, state: str | None = None,
                 due_before: date | None = None, overdue: bool = False,
                 limit: int | None = None) -> list[tuple[Task, Plan]]:
    query = select(Task, Plan).join(Plan, Plan.id == Task.plan_id).where(
        Task.archived_at.is_(None))  # type: ignore[union-attr]
    if plan:
        query = query.where(Task.plan_id == get_plan(session, plan).id)
    if unit:
        target = find_unit(session, unit)
        # A unit sees its own tasks and those of the units below it.
        below = [target.id]
        children: dict[int | None, list[int]] = {}
        for uid, parent in session.exec(select(Unit.id, Unit.parent_id)).all():
            children.setdefault(parent, []).append(uid)
        for uid in below:
            below.extend(children.get(uid, []))
        query = query.where(col(Task.id).in_(
            select(TaskUnit.task_id).where(col(TaskUnit.unit_id).in_(below))))
    if state:
        valid = [s.value for s in TaskState]
        if state not in valid:
            raise NotFound.single(f"未知状态 {state!r}（可用状态：{', '.join(valid)}）")
        query = query.where(Task.state == state)
    if due_before:
        query = query.where(col(Task.due_on) < due_before)
    if overdue:
        query = query.where(col(Task.state).in_(list(OPEN)),
                            col(Task.due_at) <= now)
    query = query.order_by(Task.due_at.is_(None), Task.due_at, Plan.code,  # type: ignore
                           Task.position)
    if limit:
        query = query.limit(limit)
    return list(session.exec(query).all())
