"""A supervision notice (督办) sent by hand by a coordinator: outbox rows to the lead unit.

Recipients are the lead units' heads and liaisons (falling back as the engine does, see
taskflow.services.recipients), on every channel they can be reached on. The message
names the minute the coordinator clicked, so a double click (or a resubmitted form) within the
same minute makes no second message, while a notice sent again later does go out.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from taskflow.domain.messages import MessageKind
from taskflow.domain.states import CLOSED, IllegalTransition
from taskflow.errors import UserError
from taskflow.models import AuditEvent, Plan, Task, TaskUnit
from taskflow.services.outbox import insert_outbox, outbox_row
from taskflow.services.recipients import Directory

KIND = MessageKind.supervision
SELECTORS = ("lead.head", "lead.liaison")
MAX_NOTE = 500


def send_supervision(session: Session, task: Task, *, note: str | None, actor: str,
                     now: datetime) -> int:
    """Queue the notice; returns the number of new outbox rows (0 for a repeated click)."""
    note = (note or "").strip() or None
    if note and len(note) > MAX_NOTE:
        raise UserError.single(f"督办意见最多 {MAX_NOTE} 字", field="督办意见")
    if task.state in CLOSED:
        raise IllegalTransition.single(f"任务 {task.code} 已办结或撤销，无需督办")
    plan = session.get(Plan, task.plan_id)
    units: dict[str, list[int]] = {}
    for link in session.scalars(select(TaskUnit).where(TaskUnit.task_id == task.id)
                                .order_by(TaskUnit.position)):
        units.setdefault(link.role, []).append(link.unit_id)
    directory = Directory.load(session)
    recipients = directory.resolve(SELECTORS, units_by_role=units,
                                   jurisdiction_id=plan.jurisdiction_id,
                                   issuer_id=plan.issuer_id)
    if not recipients:
        raise UserError.single("牵头单位没有可联系的联系人（请先在单位名录中登记联系人）",
                               field="牵头单位")
    payload = {"plan_code": plan.code, "plan_title": plan.title, "task_code": task.code,
               "task_title": task.title,
               "due_on": task.due_on.isoformat() if task.due_on else None,
               "lead_units": directory.names(units.get("lead", ())),
               "responsible_units": directory.names(units.get("responsible", ())),
               "note": note, "level": 0}
    message = f"t{task.id}:{KIND}:{now.strftime('%Y%m%dT%H%M')}"
    rows = [outbox_row(message=message, kind=KIND, recipient=r, payload=payload, now=now,
                       plan_id=task.plan_id, task_id=task.id) for r in recipients]
    inserted = len(insert_outbox(session.connection(), rows))
    if inserted:
        session.add(AuditEvent(at=now, actor=actor, action="task.supervise", entity="task",
                               entity_id=task.id, plan_id=task.plan_id, note=note,
                               after={"messages": inserted,
                                      "recipients": sorted({r.name for r in recipients})}))
        session.flush()
    return inserted
