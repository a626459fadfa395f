"""Import a resolved plan into the database: idempotent, diffed by stable codes.

Re-importing the same file changes nothing. An edited file updates tasks in place (same row,
so reports and history stay attached), adds new codes, and archives codes that disappeared —
archived, never deleted, because a department may already have reported on them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, col, delete, select

from taskflow.models import AuditEvent, FundLine, InspectionCycle, Plan, PlanRule, Task, Unit
from taskflow.plans.expand import ResolvedPlan
from taskflow.services.funds import sync_stated_disbursements
from taskflow.services.plan_tasks import jsonable, sync_tasks
from taskflow.services.units import import_units


@dataclass
class ImportReport:
    plan_code: str
    created: bool = False
    added: list[str] = field(default_factory=list)
    changed: dict[str, list[str]] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    plan_changed: list[str] = field(default_factory=list)
    other_changes: list[str] = field(default_factory=list)  # funds, inspections, rules
    units_added: list[str] = field(default_factory=list)
    year: int = 0
    year_shift: int = 0
    task_count: int = 0

    @property
    def noop(self) -> bool:
        return not (self.created or self.added or self.changed or self.removed or self.restored
                    or self.plan_changed or self.other_changes or self.units_added)


def content_hash(resolved: ResolvedPlan) -> str:
    """A digest of everything the file says (positions in the file aside), kept on the plan."""
    digest = hashlib.sha256()
    head = {name: getattr(resolved, name) for name in (
        "code", "title", "year", "source_year", "year_shift", "timezone", "issuer_code",
        "jurisdiction_code", "source", "summary", "funds", "inspections", "rules", "policy",
        "assessment")}
    head["new_units"] = [unit.spec.model_dump(mode="json") for unit in resolved.new_units]
    digest.update(repr(head).encode("utf-8"))
    for task in resolved.tasks:
        digest.update(repr((task.code, task.parent_code, task.kind, task.title, task.text,
                            task.schedule_text, task.start_on, task.due_on, task.target_value,
                            task.target_unit, task.progress_plan, task.recurrence,
                            task.acceptance, task.units, task.position)).encode("utf-8"))
    return digest.hexdigest()


def import_plan(session: Session, *, resolved: ResolvedPlan, actor: str, now: datetime,
                source_file: str | None = None) -> ImportReport:
    """Create or update the plan; the caller's transaction makes it all-or-nothing."""
    report = ImportReport(resolved.code, year=resolved.year, year_shift=resolved.year_shift,
                          task_count=len(resolved.tasks))
    if resolved.new_units:
        units_report = import_units(session, resolved.new_units, actor=actor, now=now)
        report.units_added = units_report.added
    unit_ids = {code: uid for code, uid in session.exec(select(Unit.code, Unit.id)).all()}
    digest = content_hash(resolved)

    plan = session.exec(select(Plan).where(Plan.code == resolved.code)).first()
    plan_values = {
        "title": resolved.title, "year": resolved.year, "source_year": resolved.source_year,
        "timezone": resolved.timezone,
        "issuer_id": unit_ids.get(resolved.issuer_code) if resolved.issuer_code else None,
        "jurisdiction_id": unit_ids[resolved.jurisdiction_code], "source": resolved.source,
        "summary": resolved.summary, "policy": resolved.policy,
        "assessment": resolved.assessment,
    }
    if plan is None:
        plan = Plan(code=resolved.code, content_hash=digest, source_file=source_file,
                    imported_at=now, updated_at=now, **plan_values)
        session.add(plan)
        session.flush()
        report.created = True
    else:
        report.plan_changed = [k for k, v in plan_values.items() if getattr(plan, k) != v]
        if report.plan_changed:
            session.add(AuditEvent(
                at=now, actor=actor, action="plan.update", entity="plan", entity_id=plan.id,
                plan_id=plan.id,
                before={k: jsonable(getattr(plan, k)) for k in report.plan_changed},
                after={k: jsonable(plan_values[k]) for k in report.plan_changed}))
            for key, value in plan_values.items():
                setattr(plan, key, value)

    session.flush()
    tasks = sync_tasks(session, plan_id=plan.id, resolved=resolved, unit_ids=unit_ids,
                       actor=actor, now=now)
    report.added, report.changed = tasks.added, tasks.changed
    report.removed, report.restored = tasks.removed, tasks.restored
    _sync_children(session, plan, resolved, report)
    sync_stated_disbursements(session, plan, resolved, report, now=now)

    if not report.noop:
        plan.content_hash = digest
        plan.updated_at = now
        if source_file:
            plan.source_file = source_file
        session.add(AuditEvent(
            at=now, actor=actor, action="plan.import" if report.created else "plan.reimport",
            entity="plan", entity_id=plan.id, plan_id=plan.id, note=source_file,
            after={"added": report.added, "changed": sorted(report.changed),
                   "removed": report.removed, "restored": report.restored,
                   "year": resolved.year, "year_shift": resolved.year_shift}))
    session.flush()
    return report


# The import report names a plan's fund lines, inspections and rules in Chinese.
CHILD_LABELS = {"fundline": "资金", "inspectioncycle": "检查考核", "planrule": "规则"}


def _sync_children(session: Session, plan: Plan, resolved: ResolvedPlan,
                   report: ImportReport) -> None:
    """Fund lines, inspection cycles and rules: upsert by code, drop codes no longer listed."""
    task_ids = {code: tid for code, tid in session.exec(
        select(Task.code, Task.id).where(Task.plan_id == plan.id)).all()}
    specs = {
        FundLine: {f.code: {"scope": f.scope, "source": f.source, "amount": f.amount,
                            "note": f.note,
                            "task_id": task_ids.get(f.task_code) if f.task_code else None,
                            "disburse_by": f.disburse_by,
                            "disburse_schedule": f.schedule or None}
                   for f in resolved.funds},
        InspectionCycle: {i.code: {"title": i.title, "kind": i.kind, "due_on": i.due_on,
                                   "recurrence": i.recurrence, "unit_codes": i.units,
                                   "inspector_codes": i.inspectors, "note": i.note,
                                   "notice_days": i.notice_days,
                                   "rectify_within": i.rectify_within, "sample": i.sample,
                                   "origin": "file"}
                          for i in resolved.inspections},
        PlanRule: {r.code: {"kind": r.kind, "subject": r.subject, "threshold": r.threshold,
                            "text": r.text, "measure": r.measure} for r in resolved.rules},
    }
    for model, wanted in specs.items():
        label = CHILD_LABELS[model.__tablename__]
        rows = {r.code: r for r in session.exec(select(model).where(model.plan_id == plan.id))}
        for code, values in wanted.items():
            row = rows.get(code)
            if row is None:
                session.add(model(plan_id=plan.id, code=code, **values))
                if not report.created:
                    report.other_changes.append(f"{label} {code} 新增")
                continue
            differs = [k for k, v in values.items()
                       if jsonable(getattr(row, k)) != jsonable(v)]
            if differs:
                for key in differs:
                    setattr(row, key, values[key])
                report.other_changes.append(f"{label} {code} 变更（{'、'.join(differs)}）")
        # Cycles a coordinator declared in the web app are not the file's to remove.
        gone = [code for code, row in rows.items() if code not in wanted
                and getattr(row, "origin", "file") != "web"]
        if gone:
            session.exec(delete(model).where(model.plan_id == plan.id,
                                             col(model.code).in_(gone)))
            report.other_changes.extend(f"{label} {code} 删除" for code in gone)
