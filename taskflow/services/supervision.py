"""A supervision notice (督办) sent by hand by a coordinator: outbox rows to the lead unit.

Recipients are the lead units' heads and liaisons (falling back as the engine does, see
taskflow.services.recipients), on every channel they can be reached on. The idempotency key
holds the minute the coordinator clicked, so a double click (or a resubmitted form) within the
same minute makes no second message, while a notice sent again later does go out.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from taskflow.domain.states import CLOSED, IllegalTransition
from taskflow.errors import UserError
from taskflow.models import AuditEvent, Notification, Plan, Task, TaskUnit
from taskflow.services.recipients import Directory

KIND = "supervision"
SELECTORS = ("lead.head", "lead.liaison")
MAX_NOTE = 500


def _insert(session: Session):
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(Notification.__table__).on_conflict_do_nothing(index_elements=["key"])


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
    minute = now.strftime("%Y%m%dT%H%M")
    rows = [{"key": f"t{task.id}:{KIND}:{minute}:c{r.contact_id}:{r.channel}",
             "plan_id": task.plan_id, "task_id": task.id, "contact_id": r.contact_id,
             "kind": KIND, "level": 0, "channel": r.channel, "address": r.address,
             "payload": {**payload, "recipient": r.name}, "digest": False,
             "status": "pending", "created_at": now, "not_before": now, "attempts": 0}
            for r in recipients]
    inserted = 0
    for row in rows:  # a handful of rows: one statement each, to count the new ones
        # RETURNING, not rowcount: drivers disagree on the row count of ON CONFLICT DO NOTHING.
        inserted += len(session.execute(_insert(session).values(**row)
                                        .returning(Notification.__table__.c.id)).all())
    if inserted:
        session.add(AuditEvent(at=now, actor=actor, action="task.supervise", entity="task",
                               entity_id=task.id, plan_id=task.plan_id, note=note,
                               after={"messages": inserted,
                                      "recipients": sorted({r.name for r in recipients})}))
        session.flush()
    return inserted
