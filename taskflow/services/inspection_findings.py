"""Inspection findings: an inspector's result for one checklist item, and the 整改 task a
failed item makes.

- ``record_finding``: records (or corrects) the result; a failed item makes a rectification
  task (整改, kind ``rectification``) for the inspected unit, which the sweep then activates,
  reminds and escalates like any task. Submitting it needs evidence (see
  ``taskflow.services.tasks``).

The caller owns the transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from taskflow.domain.inspections import DEFAULT_RECTIFY_WITHIN
from taskflow.domain.states import TaskState
from taskflow.errors import UserError
from taskflow.models import (
    AuditEvent,
    InspectionAssignment,
    InspectionCycle,
    InspectionFinding,
    InspectionRound,
    Plan,
    Task,
    TaskUnit,
    Unit,
)
from taskflow.services.inspection_rounds import find_round, round_checklist
from taskflow.services.plan_tasks import day_end, day_start

RESULTS = ("pass", "fail", "note")


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
        start_at=max(now, day_start(today, tz)), due_at=day_end(due_on, tz),
        state=TaskState.pending, next_action_at=now, created_at=now, updated_at=now)
    session.add(task)
    session.flush()
    session.add(TaskUnit(task_id=task.id, unit_id=unit_id, role="lead", position=0))
    session.add(AuditEvent(at=now, actor=actor, action="task.create", entity="task",
                           entity_id=task.id, plan_id=plan.id,
                           after={"kind": "rectification", "due_on": due_on.isoformat(),
                                  "finding": finding.id, "round": row.code}))
    session.flush()
    return task
