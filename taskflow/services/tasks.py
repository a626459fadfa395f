"""What people do to tasks: units acknowledge, report and submit; coordinators accept,
return, extend and cancel. Every change is compare-and-set on the task's state and leaves an
AuditEvent; an action the state does not allow is an IllegalTransition (a user error).

After any change the task's ``next_action_at`` is set to now, so the next sweep re-decides it
from its new state: an extended or accepted task never gets a stale reminder, because the old
deadline's slots are no longer what the rules compute.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlmodel import Session, select

from taskflow.domain.states import CLOSED, IllegalTransition, transition
from taskflow.errors import NotFound, UserError
from taskflow.models import AuditEvent, Plan, ProgressReport, Task, TaskUnit, Unit
from taskflow.plans.dates import FIRST_DAY, LAST_DAY
from taskflow.services.org import acting_units
from taskflow.services.plan_tasks import day_end

# A new deadline outside these is a typo (the pages' date inputs, the API, the CLI and plan
# import agree: one range, taskflow.plans.dates).
EXTEND_FIRST_DAY, EXTEND_LAST_DAY = FIRST_DAY, LAST_DAY


def find_task(session: Session, plan_code: str, code: str) -> Task:
    task = session.exec(select(Task).join(Plan, Plan.id == Task.plan_id).where(
        Plan.code == plan_code, Task.code == code,
        Task.archived_at.is_(None))).first()  # type: ignore[union-attr]
    if task is None:
        raise NotFound.single(f"方案 {plan_code} 中没有任务 {code}")
    return task


def _unit_of(session: Session, task: Task, unit: str | None) -> Unit | None:
    """The acting unit must be one of the task's units (or a member of a collective one)."""
    if unit is None:
        return None
    from taskflow.services.queries import find_unit

    row = find_unit(session, unit)
    if row.id not in acting_units(session, [task.id]).get(task.id, ()):
        raise UserError.single(f"{row.name} 不是任务 {task.code} 的承办单位")
    return row


def _apply(session: Session, task: Task, action: str, *, actor: str, now: datetime,
           values: dict[str, Any] | None = None, note: str | None = None) -> Task:
    new_state = transition(task.state, action)
    before = {"state": task.state}
    changes = {"state": new_state, "updated_at": now, "next_action_at": now,
               **(values or {})}
    result = session.execute(
        update(Task).where(Task.id == task.id, Task.state == task.state).values(**changes)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        raise UserError.single(f"任务 {task.code} 刚被他人修改，请刷新后重试")
    after = {"state": new_state}
    for key, value in (values or {}).items():
        if key in ("due_on", "escalation_level"):
            before[key] = _plain(getattr(task, key))
            after[key] = _plain(value)
    session.add(AuditEvent(at=now, actor=actor, action=f"task.{action}", entity="task",
                           entity_id=task.id, plan_id=task.plan_id, before=before, after=after,
                           note=note))
    session.flush()
    session.refresh(task)
    return task


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def acknowledge(session: Session, task: Task, *, unit: str | None, actor: str,
                now: datetime) -> Task:
    _unit_of(session, task, unit)
    return _apply(session, task, "acknowledge", actor=actor, now=now,
                  values={"acknowledged_at": now})


def report_progress(session: Session, task: Task, *, unit: str | None, actor: str,
                    now: datetime, percent: Decimal | None = None,
                    quantity: Decimal | None = None, amount: Decimal | None = None,
                    note: str | None = None) -> ProgressReport:
    """Record cumulative progress; a report also counts as the unit's acknowledgement."""
    if percent is None and quantity is None and amount is None and not note:
        raise UserError.single("进度报送至少需要完成比例、数量、资金或说明之一")
    if percent is not None and not Decimal(0) <= percent <= Decimal(100):
        raise UserError.single(f"完成比例应在 0–100 之间，收到 {percent}")
    for name, value in (("数量", quantity), ("资金", amount)):
        if value is not None and value < 0:
            raise UserError.single(f"{name}不能为负数：{value}")
    acting = _unit_of(session, task, unit)
    values: dict[str, Any] = {}
    if task.acknowledged_at is None:
        values["acknowledged_at"] = now
    _apply(session, task, "report", actor=actor, now=now, values=values, note=note)
    report = ProgressReport(task_id=task.id, unit_id=acting.id if acting else None,
                            reported_at=now, percent=percent, quantity=quantity, amount=amount,
                            note=note, reporter=actor)
    session.add(report)
    session.flush()
    return report


def _require_evidence(session: Session, task: Task, note: str | None) -> None:
    """A rectification (整改) is closed on evidence: a note now or a progress report's note."""
    if task.kind != "rectification" or (note or "").strip():
        return
    reported = session.exec(select(ProgressReport.id).where(
        ProgressReport.task_id == task.id, ProgressReport.note.is_not(None),  # type: ignore
        ProgressReport.note != "")).first()
    if reported is None:
        raise UserError.single(f"整改任务 {task.code} 需要整改情况说明或佐证材料"
                               "（--note，或先报送带说明的进度）")


def submit(session: Session, task: Task, *, unit: str | None, actor: str, now: datetime,
           note: str | None = None) -> Task:
    _unit_of(session, task, unit)
    _require_evidence(session, task, note)
    values: dict[str, Any] = {"submitted_at": now}
    if task.acknowledged_at is None:
        values["acknowledged_at"] = now
    return _apply(session, task, "submit", actor=actor, now=now, values=values, note=note)


def accept(session: Session, task: Task, *, actor: str, now: datetime,
           note: str | None = None) -> Task:
    return _apply(session, task, "accept", actor=actor, now=now,
                  values={"completed_at": now, "next_action_at": None}, note=note)


def return_(session: Session, task: Task, *, reason: str, actor: str, now: datetime) -> Task:
    if not reason.strip():
        raise UserError.single("退回需要说明理由")
    return _apply(session, task, "return", actor=actor, now=now,
                  values={"submitted_at": None}, note=reason)


def extend(session: Session, task: Task, *, due_on: date, reason: str, actor: str,
           now: datetime) -> Task:
    """Move the deadline; the escalation ladder starts again from the new date."""
    if not reason.strip():
        raise UserError.single("延期需要说明理由")
    if task.due_on is not None and due_on <= task.due_on:
        raise UserError.single(f"新期限 {due_on} 应晚于原期限 {task.due_on}")
    if not EXTEND_FIRST_DAY <= due_on <= EXTEND_LAST_DAY:
        # 9999-12-31 would overflow the deadline arithmetic (working days after it)
        raise UserError.single(f"新期限 {due_on} 超出允许范围（{EXTEND_FIRST_DAY.year}–"
                               f"{EXTEND_LAST_DAY.year} 年）")
    plan = session.get(Plan, task.plan_id)
    return _apply(session, task, "extend", actor=actor, now=now, note=reason, values={
        "due_on": due_on, "due_at": day_end(due_on, ZoneInfo(plan.timezone)),
        "escalation_level": 0})


def cancel(session: Session, task: Task, *, reason: str, actor: str, now: datetime) -> Task:
    if not reason.strip():
        raise UserError.single("撤销需要说明理由")
    return _apply(session, task, "cancel", actor=actor, now=now,
                  values={"next_action_at": None}, note=reason)


def assign_units(session: Session, task: Task, *, lead: list[int], responsible: list[int],
                 actor: str, now: datetime) -> Task:
    """Replace the task's lead and responsible units (cooperating units stay as they are)."""
    lead = list(dict.fromkeys(lead))
    responsible = [u for u in dict.fromkeys(responsible) if u not in lead]
    if not lead:
        raise UserError.single("至少需要一个牵头单位", field="牵头单位")
    if task.state in CLOSED:
        raise IllegalTransition.single(f"任务 {task.code} 已办结或撤销，不能再调整承办单位")
    known = {u.id: u for u in session.exec(select(Unit).where(
        Unit.id.in_(lead + responsible))).all()}  # type: ignore[union-attr]
    missing = [str(u) for u in lead + responsible if u not in known]
    if missing:
        raise UserError.single(f"没有这些单位：{', '.join(missing)}", field="单位")
    old = session.exec(select(TaskUnit).where(TaskUnit.task_id == task.id,
                                              TaskUnit.role.in_(("lead", "responsible")))
                       ).all()  # type: ignore[union-attr]
    codes = {u.id: u.code for u in session.exec(select(Unit).where(Unit.id.in_(
        [link.unit_id for link in old]))).all()}  # type: ignore[union-attr]
    before = {role: [codes[link.unit_id] for link in sorted(old, key=lambda x: x.position)
                     if link.role == role] for role in ("lead", "responsible")}
    for link in old:
        session.delete(link)
    session.flush()
    for role, ids in (("lead", lead), ("responsible", responsible)):
        for position, unit_id in enumerate(ids):
            session.add(TaskUnit(task_id=task.id, unit_id=unit_id, role=role,
                                 position=position))
    # The sweep re-decides the task (its messages now go to the new units).
    session.execute(update(Task).where(Task.id == task.id).values(
        updated_at=now, next_action_at=now).execution_options(synchronize_session=False))
    session.add(AuditEvent(at=now, actor=actor, action="task.assign", entity="task",
                           entity_id=task.id, plan_id=task.plan_id, before=before,
                           after={"lead": [known[u].code for u in lead],
                                  "responsible": [known[u].code for u in responsible]}))
    session.flush()
    session.refresh(task)
    return task
