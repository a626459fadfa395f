"""GET /api/tasks/{id}, GET/POST /api/tasks/{id}/reports, POST .../acknowledge, .../submit.

Actions go through taskflow.services.tasks (state checks, compare-and-set, AuditEvents). The
scope check runs in its own read transaction before the write one, because an out-of-scope
attempt is audited in a transaction of its own (``deny``) and SQLite has one writer at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from fastapi import APIRouter, HTTPException, Request
from sqlalchemy import func, select
from sqlmodel import Session

from taskflow.db import read_session, write_session
from taskflow.errors import UserError
from taskflow.models import ProgressReport, Task, Unit
from taskflow.services import tasks as task_service
from taskflow.services.links import acting_unit_ids
from taskflow.web.access import Viewer
from taskflow.web.api.auth import ApiViewer
from taskflow.web.api.common import (
    ACTION_ERRORS,
    ERRORS,
    Id,
    Limit,
    Offset,
    calendar_of,
    reports_public,
    task_detail,
    user_error,
    visible_task,
)
from taskflow.web.api.schemas import (
    AcknowledgeCreate,
    ReportCreate,
    ReportPublic,
    ReportsPublic,
    SubmitCreate,
    TaskDetailPublic,
)
from taskflow.web.deps import ReadDB, get_engine, now_for

router = APIRouter(tags=["任务"], responses=ERRORS)
T = TypeVar("T")


@router.get("/tasks/{task_id}", summary="任务详情", response_model=TaskDetailPublic)
def read_task(task_id: Id, request: Request, viewer: ApiViewer,
              session: ReadDB) -> TaskDetailPublic:
    """任务的承办单位、时间节点、最近一次进度报送和红黄绿灯。"""
    task = visible_task(session, request, viewer, task_id)
    return task_detail(session, task, viewer, now=now_for(request),
                       calendar=calendar_of(request))


@router.get("/tasks/{task_id}/reports", summary="任务的进度报送（分页，新的在前）",
            response_model=ReportsPublic, tags=["进度报送"])
def read_reports(task_id: Id, request: Request, viewer: ApiViewer, session: ReadDB,
                 limit: Limit = 50, offset: Offset = 0) -> ReportsPublic:
    visible_task(session, request, viewer, task_id)
    count = session.scalar(select(func.count()).select_from(ProgressReport).where(
        ProgressReport.task_id == task_id))
    rows = list(session.scalars(select(ProgressReport).where(ProgressReport.task_id == task_id)
                                .order_by(ProgressReport.reported_at.desc(),
                                          ProgressReport.id.desc())
                                .limit(limit).offset(offset)))
    return ReportsPublic(data=reports_public(session, rows), count=count or 0, limit=limit,
                         offset=offset)


def _task_unit_ids(session: Session, task: Task) -> frozenset[int]:
    """The units that may act on the task: those named, and the members of a named
    collective unit (each township of 各乡(镇)人民政府)."""
    return acting_unit_ids(session, task.id)


def _acting_unit(session: Session, viewer: Viewer, task: Task, unit_id: int | None
                 ) -> str | None:
    """The code of the unit the user acts for, or None for a coordinator acting on the
    plan's behalf; refuses users who only read (leaders, inspectors)."""
    allowed = _task_unit_ids(session, task)
    if unit_id is not None:
        unit = session.get(Unit, unit_id)
        if unit is None:
            raise HTTPException(status_code=422, detail=[{
                "loc": ["body", "unit_id"], "msg": f"单位 {unit_id} 不存在",
                "type": "user_error"}])
        if not (viewer.acts_for(unit_id) or viewer.coordinates(task.plan_id)):
            raise HTTPException(status_code=403, detail=f"你不是{unit.name}的成员，不能代表其操作")
        if unit_id not in allowed:
            raise HTTPException(status_code=422, detail=[{
                "loc": ["body", "unit_id"], "msg": f"{unit.name} 不是任务 {task.code} 的承办单位",
                "type": "user_error"}])
        return unit.code
    mine = sorted(viewer.unit_ids & allowed)
    if len(mine) > 1:
        raise HTTPException(status_code=422, detail=[{
            "loc": ["body", "unit_id"], "msg": "你代表该任务的多个承办单位，请用 unit_id 指明",
            "type": "user_error"}])
    if mine:
        return session.get(Unit, mine[0]).code
    if viewer.coordinates(task.plan_id):
        return None
    raise HTTPException(status_code=403, detail="你不代表该任务的承办单位，无权操作")


def _act(request: Request, viewer: Viewer, task_id: int, unit_id: int | None,
         action: Callable[[Session, Task, str | None], T]) -> T:
    engine = get_engine(request)
    with read_session(engine) as session:
        task = visible_task(session, request, viewer, task_id)
        unit = _acting_unit(session, viewer, task, unit_id)
    try:
        with write_session(engine) as session:  # rolled back on any error: nothing half-done
            return action(session, session.get(Task, task_id), unit)
    except UserError as exc:
        raise user_error(exc) from None


@router.post("/tasks/{task_id}/reports", summary="报送进度", status_code=201,
             response_model=ReportPublic, tags=["进度报送"], responses=ACTION_ERRORS)
def create_report(task_id: Id, body: ReportCreate, request: Request,
                  viewer: ApiViewer) -> ReportPublic:
    """以承办单位身份报送累计进度（完成比例、数量、资金、说明）；首次报送同时视为签收。
    错误时不写入任何内容。"""
    now = now_for(request)

    def report(session: Session, task: Task, unit: str | None) -> ReportPublic:
        row = task_service.report_progress(
            session, task, unit=unit, actor=viewer.actor, now=now, percent=body.percent,
            quantity=body.quantity, amount=body.amount, note=body.note)
        session.refresh(row)  # the decimals as stored (40 -> 40.00), as a later GET shows
        return reports_public(session, [row])[0]

    return _act(request, viewer, task_id, body.unit_id, report)


@router.post("/tasks/{task_id}/acknowledge", summary="签收任务",
             response_model=TaskDetailPublic, responses=ACTION_ERRORS)
def acknowledge(task_id: Id, request: Request, viewer: ApiViewer,
                body: AcknowledgeCreate | None = None) -> TaskDetailPublic:
    """承办单位签收待签收的任务。"""
    now = now_for(request)

    def ack(session: Session, task: Task, unit: str | None) -> TaskDetailPublic:
        task = task_service.acknowledge(session, task, unit=unit, actor=viewer.actor, now=now)
        return task_detail(session, task, viewer, now=now, calendar=calendar_of(request))

    return _act(request, viewer, task_id, body.unit_id if body else None, ack)


@router.post("/tasks/{task_id}/submit", summary="提交办结", response_model=TaskDetailPublic,
             responses=ACTION_ERRORS)
def submit(task_id: Id, request: Request, viewer: ApiViewer,
           body: SubmitCreate | None = None) -> TaskDetailPublic:
    """承办单位报告任务已完成，等待协调员验收。"""
    now = now_for(request)

    def done(session: Session, task: Task, unit: str | None) -> TaskDetailPublic:
        task = task_service.submit(session, task, unit=unit, actor=viewer.actor, now=now,
                                   note=body.note if body else None)
        return task_detail(session, task, viewer, now=now, calendar=calendar_of(request))

    return _act(request, viewer, task_id, body.unit_id if body else None, done)
