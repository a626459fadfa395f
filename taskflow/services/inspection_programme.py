"""An inspection programme edited in the web app: cycles a coordinator adds or removes.

Cycles from the plan file are the file's (a re-import updates or removes them); the ones made
here carry ``origin = "web"`` and survive re-imports unless the file takes over their code.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from taskflow.domain.labels import ROUND_KIND_LABELS
from taskflow.errors import UserError
from taskflow.models import AuditEvent, InspectionCycle, Plan, Unit
from taskflow.plans.dates import PhraseError, recurrence_rule, resolve_date
from taskflow.plans.schema import InspectionKind
from taskflow.services.units import unit_index


def _next_code(session: Session, plan: Plan) -> str:
    codes = set(session.scalars(select(InspectionCycle.code).where(
        InspectionCycle.plan_id == plan.id)))
    n = 1
    while f"web-{n}" in codes:
        n += 1
    return f"web-{n}"


def add_cycle(session: Session, *, plan: Plan, title: str, kind: str, when: str | None,
              recurrence: str | None, units: list[str], notice_days: int | None,
              rectify_within: int | None, note: str | None, actor: str,
              now: datetime) -> InspectionCycle:
    """Declare one round ("9月", "2025-09-15") or a cycle ("每季度") of a plan's programme."""
    title = (title or "").strip()
    if not title:
        raise UserError.single("请填写检查名称", field="title")
    if kind not in {k.value for k in InspectionKind}:
        raise UserError.single(f"类型应为 {'、'.join(ROUND_KIND_LABELS.values())} 之一",
                               field="kind")
    when, recurrence = (when or "").strip() or None, (recurrence or "").strip() or None
    if (when is None) == (recurrence is None):
        raise UserError.single("请填写“时间”（一次，如 9月）或“周期”（如 每季度），二选一",
                               field="when")
    due_on, rule = None, None
    try:
        if when:
            due_on = resolve_date(when, plan.year, bound="end")
        else:
            rule = recurrence_rule(recurrence)
    except PhraseError as exc:
        raise UserError.single(str(exc), field="when" if when else "recurrence") from None
    for name, value, low, high in (("notice_days", notice_days, 0, 60),
                                   ("rectify_within", rectify_within, 1, 365)):
        if value is not None and not low <= value <= high:
            raise UserError.single(f"应在 {low}–{high} 个工作日之间", field=name)
    unit_codes = []
    directory = unit_index(session)
    area = session.get(Unit, plan.jurisdiction_id).code  # names as the plan's text uses them
    for index, ref in enumerate(u.strip() for u in units if u.strip()):
        try:
            unit_codes.append(directory.resolve(ref, area))
        except ValueError as exc:
            raise UserError.single(str(exc), field=f"units[{index}]") from None
    cycle = InspectionCycle(plan_id=plan.id, code=_next_code(session, plan), title=title,
                            kind=kind, due_on=due_on, recurrence=rule, unit_codes=unit_codes,
                            inspector_codes=[], note=(note or "").strip() or None,
                            notice_days=notice_days, rectify_within=rectify_within,
                            origin="web")
    session.add(cycle)
    session.flush()
    session.add(AuditEvent(at=now, actor=actor, action="inspection.cycle_added",
                           entity="inspection_cycle", entity_id=cycle.id, plan_id=plan.id,
                           after={"code": cycle.code, "title": title, "kind": kind,
                                  "due_on": due_on.isoformat() if due_on else None,
                                  "recurrence": rule, "units": unit_codes}))
    return cycle


def remove_cycle(session: Session, *, plan: Plan, cycle_id: int, actor: str,
                 now: datetime) -> None:
    """Remove a web-declared cycle; rounds already made stay (their findings are history)."""
    cycle = session.get(InspectionCycle, cycle_id)
    if cycle is None or cycle.plan_id != plan.id:
        raise UserError.single("没有这个检查安排", field="cycle")
    if cycle.origin != "web":
        raise UserError.single("这项检查来自方案文件，请修改方案文件后重新导入", field="cycle")
    session.add(AuditEvent(at=now, actor=actor, action="inspection.cycle_removed",
                           entity="inspection_cycle", entity_id=cycle.id, plan_id=plan.id,
                           before={"code": cycle.code, "title": cycle.title}))
    session.delete(cycle)


def split_units(text: str | None) -> list[str]:
    """Units typed in one field, separated by commas, 、 or new lines."""
    return [part for part in re.split(r"[,，、;\n]+", text or "") if part.strip()]
