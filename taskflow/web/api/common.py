"""Shared pieces of the API endpoints: lookups within the viewer's scope, user errors as
JSON, and turning rows into the public models."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any

from fastapi import HTTPException, Path, Query, Request
from sqlalchemy import func, select
from sqlmodel import Session

from taskflow.domain.labels import LIGHT_SHORT_LABELS, STATE_LABELS, label
from taskflow.domain.states import IllegalTransition
from taskflow.errors import UserError
from taskflow.models import Attachment, Plan, ProgressReport, Task, TaskUnit, Unit
from taskflow.services.lights import latest_progress, lights
from taskflow.services.org import load_org
from taskflow.web.access import Viewer
from taskflow.web.api.schemas import (
    MAX_ID,
    AttachmentPublic,
    ErrorPublic,
    LightCounts,
    MilestonePublic,
    PlanDetailPublic,
    PlanPublic,
    ReportPublic,
    TaskDetailPublic,
    TaskPublic,
    TaskUnitPublic,
    UnitPublic,
    UnitRef,
)
from taskflow.web.deps import deny

Id = Annotated[int, Path(ge=1, le=MAX_ID, description="ID（正整数）")]
Limit = Annotated[int, Query(ge=1, le=200, description="每页条数（1–200）")]
Offset = Annotated[int, Query(ge=0, le=MAX_ID, description="跳过的条数")]


def error_response(description: str) -> dict[str, Any]:
    return {"model": ErrorPublic, "description": description}


# Responses every authenticated endpoint may give, for the OpenAPI document.
ERRORS: dict[int | str, dict[str, Any]] = {
    401: error_response("缺少 API 令牌，或令牌无效、已吊销"),
    404: error_response("不存在，或不在当前用户的可见范围内（越权访问会被记入审计日志）"),
    429: error_response("请求过于频繁（每个令牌每分钟的次数有上限）；Retry-After 给出应等待的秒数"),
}
ACTION_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    400: error_response("请求体无法解析（不是 UTF-8 编码的 JSON）"),
    403: error_response("可以查看但无权代表承办单位操作（如领导、检查人员）"),
    409: error_response("任务当前状态不允许此操作（如未启动的任务不能报送）"),
}


def calendar_of(request: Request):
    """The working-day calendar (holiday files read once per app, not per request)."""
    state = request.app.state
    calendar = getattr(state, "api_calendar", None)
    if calendar is None:
        from taskflow.calendar import WorkCalendar

        calendar = WorkCalendar.load(state.settings.holidays_dir)
        state.api_calendar = calendar
    return calendar


def user_error(exc: UserError, *, field: str | None = None,
               rename: Mapping[str, str | None] | None = None) -> HTTPException:
    """A service's UserError as the API's error list: 409 for a state that does not allow
    the action (an IllegalTransition), 422 for bad input;
    ``field`` locates problems that name no field, ``rename`` maps the services' field
    labels (Chinese, for the pages) to the body's field names (None: the whole body)."""
    conflict = isinstance(exc, IllegalTransition)
    items = []
    for problem in exc.problems:
        if problem.field and rename and problem.field in rename:
            name = rename[problem.field]
        else:
            name = problem.field.lstrip("-").replace("-", "_") if problem.field else field
        items.append({"loc": ["body", name] if name else ["body"], "msg": problem.message,
                      "type": "state_conflict" if conflict else "user_error"})
    return HTTPException(status_code=409 if conflict else 422, detail=items)


def visible_task(session: Session, request: Request, viewer: Viewer, task_id: int) -> Task:
    task = session.get(Task, task_id)
    if task is None or task.archived_at is not None:
        raise HTTPException(status_code=404, detail="任务不存在")
    if not viewer.sees_task(session, task):
        raise deny(request, viewer, entity="task", entity_id=task_id, what="任务")
    return task


def visible_plan(session: Session, request: Request, viewer: Viewer, plan_id: int) -> Plan:
    plan = session.get(Plan, plan_id)
    if plan is None:
        raise HTTPException(status_code=404, detail="方案不存在")
    if not session.scalar(select(func.count()).select_from(Plan).where(
            Plan.id == plan_id, viewer.plan_clause())):
        raise deny(request, viewer, entity="plan", entity_id=plan_id, what="方案")
    return plan


def units_seen(viewer: Viewer):
    """SQL condition on ``Unit``: every unit for those who see plans, else the user's own."""
    if viewer.plan_ids is None or viewer.plan_ids:
        return Unit.id.is_not(None)
    return Unit.id.in_(sorted(viewer.unit_ids))


def unit_and_collectives(session: Session, unit: Unit) -> list[int]:
    """The unit and the collective units it belongs to (各乡(镇)人民政府 for a township): the
    tasks naming any of them are the unit's to do."""
    return [unit.id, *load_org(session).collectives_of(unit.id)]


def unit_ref(unit: Unit | None) -> UnitRef | None:
    return UnitRef(id=unit.id, code=unit.code, name=unit.name) if unit else None


def unit_public(unit: Unit) -> UnitPublic:
    return UnitPublic(id=unit.id, code=unit.code, name=unit.name, kind=unit.kind,
                      parent_id=unit.parent_id, member_kind=unit.member_kind)


def plan_public(plan: Plan, units: dict[int, Unit]) -> PlanPublic:
    return PlanPublic(**_plan_fields(plan, units))


def _plan_fields(plan: Plan, units: dict[int, Unit]) -> dict[str, Any]:
    return dict(id=plan.id, code=plan.code, title=plan.title, year=plan.year,
                timezone=plan.timezone, issuer=unit_ref(units.get(plan.issuer_id)),
                jurisdiction=unit_ref(units[plan.jurisdiction_id]), summary=plan.summary,
                imported_at=plan.imported_at, updated_at=plan.updated_at)


def plan_detail(session: Session, plan: Plan, viewer: Viewer, *, now: datetime,
                calendar) -> PlanDetailPublic:
    tasks = list(session.scalars(select(Task).where(
        Task.plan_id == plan.id, Task.archived_at.is_(None), viewer.task_clause())))
    colours = Counter(lights(session, tasks, now=now, calendar=calendar).values())
    units = _units(session, [plan.issuer_id, plan.jurisdiction_id])
    return PlanDetailPublic(**_plan_fields(plan, units), task_count=len(tasks),
                            lights=LightCounts(**colours),
                            states=dict(Counter(t.state for t in tasks)))


def _units(session: Session, ids: Sequence[int | None]) -> dict[int, Unit]:
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    return {u.id: u for u in session.scalars(select(Unit).where(Unit.id.in_(wanted)))}


def report_public(report: ProgressReport, units: dict[int, Unit]) -> ReportPublic:
    return ReportPublic(id=report.id, task_id=report.task_id,
                        unit=unit_ref(units.get(report.unit_id)),
                        reported_at=report.reported_at, percent=report.percent,
                        quantity=report.quantity, amount=report.amount, note=report.note,
                        reporter=report.reporter)


def reports_public(session: Session, reports: Sequence[ProgressReport]) -> list[ReportPublic]:
    units = _units(session, [r.unit_id for r in reports])
    return [report_public(r, units) for r in reports]


def attachments_public(session: Session, rows: Sequence[Attachment]) -> list[AttachmentPublic]:
    units = _units(session, [a.unit_id for a in rows])
    return [AttachmentPublic(id=a.id, task_id=a.task_id, report_id=a.report_id,
                             unit=unit_ref(units.get(a.unit_id)), filename=a.filename,
                             content_type=a.content_type, size=a.size, sha256=a.sha256,
                             uploaded_at=a.uploaded_at) for a in rows]


def tasks_public(session: Session, tasks: Sequence[Task], *, now: datetime, calendar,
                 colours: dict[int, str] | None = None) -> list[TaskPublic]:
    """One query each for the units, plans and latest reports of all ``tasks``."""
    if not tasks:
        return []
    ids = [t.id for t in tasks]
    colours = colours if colours is not None else lights(session, tasks, now=now,
                                                         calendar=calendar)
    progress = latest_progress(session, ids)
    links = session.execute(
        select(TaskUnit.task_id, TaskUnit.role, TaskUnit.position, Unit)
        .join(Unit, Unit.id == TaskUnit.unit_id).where(TaskUnit.task_id.in_(ids))).all()
    rank = {"lead": 0, "responsible": 1, "cooperating": 2}
    by_task: dict[int, list[TaskUnitPublic]] = {}
    for task_id, role, _, unit in sorted(links, key=lambda r: (rank.get(r[1], 9), r[2])):
        by_task.setdefault(task_id, []).append(
            TaskUnitPublic(id=unit.id, code=unit.code, name=unit.name, role=role))
    plan_codes = dict(session.execute(select(Plan.id, Plan.code).where(
        Plan.id.in_(sorted({t.plan_id for t in tasks})))).all())
    out = []
    for task in tasks:
        colour = colours[task.id]
        report = progress.get(task.id)
        out.append(TaskPublic(
            id=task.id, plan_id=task.plan_id, plan_code=plan_codes[task.plan_id],
            parent_id=task.parent_id, code=task.code, kind=task.kind, title=task.title,
            state=task.state, state_label=label(STATE_LABELS, task.state),
            light=colour, light_label=label(LIGHT_SHORT_LABELS, colour),
            start_on=task.start_on, due_on=task.due_on, planned_due_on=task.planned_due_on,
            due_at=task.due_at, target_value=task.target_value, target_unit=task.target_unit,
            percent=report.percent if report else None,
            acknowledged_at=task.acknowledged_at, submitted_at=task.submitted_at,
            completed_at=task.completed_at, escalation_level=task.escalation_level,
            units=by_task.get(task.id, [])))
    return out


def task_detail(session: Session, task: Task, viewer: Viewer, *, now: datetime,
                calendar) -> TaskDetailPublic:
    children = list(session.scalars(select(Task).where(
        Task.parent_id == task.id, Task.archived_at.is_(None), viewer.task_clause())
        .order_by(Task.position, Task.id)))
    milestones = [c for c in children if c.kind == "milestone"]
    colours = lights(session, [task, *milestones], now=now, calendar=calendar)
    summary = tasks_public(session, [task], now=now, calendar=calendar, colours=colours)[0]
    latest = latest_progress(session, [task.id]).get(task.id)
    return TaskDetailPublic(
        **summary.model_dump(), text=task.text, schedule_text=task.schedule_text,
        acceptance=list(task.acceptance or []),
        milestones=[MilestonePublic(id=m.id, code=m.code, title=m.title, state=m.state,
                                    light=colours[m.id], due_on=m.due_on, due_at=m.due_at)
                    for m in milestones],
        children=[c.id for c in children if c.kind != "milestone"],
        latest_report=reports_public(session, [latest])[0] if latest else None)
