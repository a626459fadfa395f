"""Import a resolved plan into the database: idempotent, diffed by stable codes.

Re-importing the same file changes nothing. An edited file updates tasks in place (same row,
so reports and history stay attached), adds new codes, and archives codes that disappeared —
archived, never deleted, because a department may already have reported on them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, delete, select

from taskflow.domain.states import GENERATED_KINDS
from taskflow.models import (
    AuditEvent,
    FundLine,
    InspectionCycle,
    Plan,
    PlanRule,
    Task,
    TaskUnit,
    Unit,
)
from taskflow.plans.expand import ResolvedPlan, ResolvedTask
from taskflow.services.units import import_units

# Fields whose change a coordinator cares about; position and source_line follow silently.
TASK_FIELDS = ("parent", "kind", "title", "text", "schedule_text", "start_on", "due_on",
               "target_value", "target_unit", "progress_plan", "recurrence", "acceptance",
               "units")
DATE_FIELDS = {"start_on", "due_on", "recurrence"}


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


def day_start(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tz).astimezone(UTC)


def day_end(day: date, tz: ZoneInfo) -> datetime:
    """The end of ``day`` in ``tz``: the first instant of the next day, as UTC."""
    return datetime.combine(day + timedelta(days=1), time(0), tz).astimezone(UTC)


def _jsonable(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")  # 500.0000 and 500 compare (and print) alike
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def content_hash(resolved: ResolvedPlan) -> str:
    data = asdict(resolved)
    data["new_units"] = [u.spec.model_dump(mode="json") for u in resolved.new_units]
    for task in data["tasks"]:
        task.pop("source_line", None)
    encoded = json.dumps(_jsonable(data), sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def _wanted_fields(task: ResolvedTask) -> dict[str, Any]:
    return {
        "parent": task.parent_code, "kind": task.kind, "title": task.title, "text": task.text,
        "schedule_text": task.schedule_text, "start_on": task.start_on, "due_on": task.due_on,
        "target_value": _jsonable(task.target_value), "target_unit": task.target_unit,
        "progress_plan": task.progress_plan, "recurrence": task.recurrence,
        "acceptance": task.acceptance, "units": sorted(task.units),
    }


def _current_fields(row: Task, parent_code: str | None,
                    units: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "parent": parent_code, "kind": row.kind, "title": row.title, "text": row.text,
        "schedule_text": row.schedule_text, "start_on": row.start_on,
        "due_on": row.planned_due_on, "target_value": _jsonable(row.target_value),
        "target_unit": row.target_unit,
        "progress_plan": row.progress_plan, "recurrence": row.recurrence,
        "acceptance": row.acceptance, "units": sorted(units),
    }


def import_plan(session: Session, *, resolved: ResolvedPlan, actor: str, now: datetime,
                source_file: str | None = None) -> ImportReport:
    """Create or update the plan; the caller's transaction makes it all-or-nothing."""
    report = ImportReport(resolved.code, year=resolved.year, year_shift=resolved.year_shift,
                          task_count=len(resolved.tasks))
    if resolved.new_units:
        units_report = import_units(session, resolved.new_units, actor=actor, now=now)
        report.units_added = units_report.added
    unit_ids = {code: uid for code, uid in session.exec(select(Unit.code, Unit.id)).all()}
    tz = ZoneInfo(resolved.timezone)
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
                before={k: _jsonable(getattr(plan, k)) for k in report.plan_changed},
                after={k: _jsonable(plan_values[k]) for k in report.plan_changed}))
            for key, value in plan_values.items():
                setattr(plan, key, value)

    _sync_tasks(session, plan, resolved, unit_ids, tz, report, actor=actor, now=now)
    _sync_children(session, plan, resolved, report)
    from taskflow.services.funds import sync_stated_disbursements

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


def _sync_tasks(session: Session, plan: Plan, resolved: ResolvedPlan, unit_ids: dict[str, int],
                tz: ZoneInfo, report: ImportReport, *, actor: str, now: datetime) -> None:
    rows = {t.code: t for t in session.exec(select(Task).where(Task.plan_id == plan.id)).all()}
    year_start = day_start(date(resolved.year, 1, 1), tz)
    code_by_id = {t.id: c for c, t in rows.items()}
    links: dict[int, list[TaskUnit]] = {}
    if rows:
        for link in session.exec(select(TaskUnit).where(
                col(TaskUnit.task_id).in_([t.id for t in rows.values()]))).all():
            links.setdefault(link.task_id, []).append(link)
    unit_codes = {uid: code for code, uid in unit_ids.items()}

    for spec in resolved.tasks:
        row = rows.get(spec.code)
        values = {
            "kind": spec.kind, "title": spec.title, "text": spec.text,
            "schedule_text": spec.schedule_text, "position": spec.position,
            "start_on": spec.start_on, "due_on": spec.due_on, "planned_due_on": spec.due_on,
            "start_at": day_start(spec.start_on, tz) if spec.start_on else None,
            "due_at": day_end(spec.due_on, tz) if spec.due_on else None,
            "target_value": spec.target_value, "target_unit": spec.target_unit,
            "progress_plan": spec.progress_plan, "recurrence": spec.recurrence,
            "acceptance": spec.acceptance, "source_line": spec.source_line,
        }
        if row is None:
            row = Task(plan_id=plan.id, code=spec.code, created_at=now, updated_at=now,
                       # The engine activates the task at its start; a task without one runs
                       # from the start of the plan year (a sweep after that activates it).
                       next_action_at=values["start_at"] or year_start, **values)
            session.add(row)
            rows[spec.code] = row
            report.added.append(spec.code)
            continue
        if row.due_on != row.planned_due_on:
            # A coordinator extended the deadline: the file moves the planned date only.
            values["due_on"], values["due_at"] = row.due_on, row.due_at
        current = _current_fields(
            row, code_by_id.get(row.parent_id),
            [(unit_codes[link.unit_id], link.role) for link in links.get(row.id, [])])
        wanted = _wanted_fields(spec)
        changed = [f for f in TASK_FIELDS if current[f] != wanted[f]]
        if row.archived_at is not None:
            row.archived_at = None
            row.next_action_at = now
            report.restored.append(spec.code)
            session.add(AuditEvent(at=now, actor=actor, action="task.restore", entity="task",
                                   entity_id=row.id, plan_id=plan.id))
        if changed:
            report.changed[spec.code] = changed
            session.add(AuditEvent(
                at=now, actor=actor, action="task.update", entity="task", entity_id=row.id,
                plan_id=plan.id, before={f: _jsonable(current[f]) for f in changed},
                after={f: _jsonable(wanted[f]) for f in changed}))
            if DATE_FIELDS.intersection(changed):
                # The schedule moved: let the engine look at the task again now.
                row.next_action_at = min(row.next_action_at or now, now)
            row.updated_at = now
        for key, value in values.items():
            if getattr(row, key) != value:
                setattr(row, key, value)

    session.flush()
    ids = {code: row.id for code, row in rows.items()}
    for spec in resolved.tasks:
        row = rows[spec.code]
        parent_id = ids[spec.parent_code] if spec.parent_code else None
        if row.parent_id != parent_id:
            row.parent_id = parent_id
        _sync_links(session, row, spec, unit_ids, links.get(row.id, []))

    wanted_codes = {t.code for t in resolved.tasks}
    for code, row in rows.items():
        if code not in wanted_codes and row.archived_at is None and \
                row.kind not in GENERATED_KINDS:
            row.archived_at = now
            row.next_action_at = None
            row.updated_at = now
            report.removed.append(code)
            session.add(AuditEvent(at=now, actor=actor, action="task.archive", entity="task",
                                   entity_id=row.id, plan_id=plan.id,
                                   note="已从方案文件中删除"))


def _sync_links(session: Session, row: Task, spec: ResolvedTask, unit_ids: dict[str, int],
                current: list[TaskUnit]) -> None:
    wanted = {(unit_ids[code], role): position for position, (code, role)
              in enumerate(spec.units)}
    have = {(link.unit_id, link.role): link for link in current}
    for key, link in have.items():
        if key not in wanted:
            session.delete(link)
        elif link.position != wanted[key]:
            link.position = wanted[key]
    for (unit_id, role), position in wanted.items():
        if (unit_id, role) not in have:
            session.add(TaskUnit(task_id=row.id, unit_id=unit_id, role=role, position=position))


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
                       if _jsonable(getattr(row, k)) != _jsonable(v)]
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
