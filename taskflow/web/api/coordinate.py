"""Coordinators' actions on a task: POST /api/tasks/{id}/accept, .../return, .../extend,
.../cancel, .../units (assign), .../supervise (督办).

The same service calls as the task page's forms (taskflow.web.routes.tasks): the services
check the state, change it with compare-and-set and write the AuditEvents. Only a coordinator
of the task's plan (or an administrator) may act; others who see the task get 403, anyone
else 404 with an ``access_denied`` audit. As in tasks.py, the scope check reads in its own
transaction before the write one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from sqlmodel import Session

from taskflow.db import read_session, write_session
from taskflow.errors import UserError
from taskflow.models import Task
from taskflow.services import tasks as task_service
from taskflow.services.supervision import send_supervision
from taskflow.web.access import Viewer
from taskflow.web.api.auth import ApiViewer
from taskflow.web.api.common import (
    ACTION_ERRORS,
    ERRORS,
    Id,
    calendar_of,
    error_response,
    task_detail,
    user_error,
    visible_task,
)
from taskflow.web.api.schemas import (
    AcceptCreate,
    AssignCreate,
    CancelCreate,
    ExtendCreate,
    ReturnCreate,
    SuperviseCreate,
    TaskDetailPublic,
)
from taskflow.web.deps import get_engine, now_for

NOT_COORDINATOR = "只有该任务所属方案的协调员（或管理员）可以执行此操作"
COORDINATOR_ERRORS: dict[int | str, dict[str, Any]] = {
    **ACTION_ERRORS,
    403: error_response("可以查看该任务，但不是其所属方案的协调员（如承办单位成员、领导）"),
    409: error_response("任务当前状态不允许此操作（如验收未提交办结的任务、"
                        "调整已办结任务的承办单位）"),
}

router = APIRouter(tags=["协调操作"], responses=ERRORS)

Change = Callable[[Session, Task, str, datetime], object]


def _coordinate(request: Request, viewer: Viewer, task_id: int, change: Change, *,
                field: str | None = None, rename: Mapping[str, str | None] | None = None
                ) -> TaskDetailPublic:
    """Run ``change(session, task, actor, now)`` in one write transaction (nothing written
    when it fails) and answer the task as it is after; the services' IllegalTransition (a
    state that does not allow the action) is 409, their other refusals 422."""
    engine = get_engine(request)
    with read_session(engine) as session:
        task = visible_task(session, request, viewer, task_id)
        if not viewer.coordinates(task.plan_id):
            raise HTTPException(status_code=403, detail=NOT_COORDINATOR)
    now = now_for(request)
    try:
        with write_session(engine) as session:
            task = session.get(Task, task_id)
            change(session, task, viewer.actor, now)
            session.refresh(task)
            return task_detail(session, task, viewer, now=now, calendar=calendar_of(request))
    except UserError as exc:
        raise user_error(exc, field=field, rename=rename) from None


@router.post("/tasks/{task_id}/accept", summary="验收通过", response_model=TaskDetailPublic,
             responses=COORDINATOR_ERRORS)
def accept(task_id: Id, request: Request, viewer: ApiViewer,
           body: AcceptCreate | None = None) -> TaskDetailPublic:
    """协调员验收承办单位提交办结的任务（状态须为「待审核」），任务办结。"""
    note = ((body.note if body else None) or "").strip() or None

    def change(session: Session, task: Task, actor: str, now: datetime) -> None:
        task_service.accept(session, task, note=note, actor=actor, now=now)

    return _coordinate(request, viewer, task_id, change, field="note")


@router.post("/tasks/{task_id}/return", summary="退回", response_model=TaskDetailPublic,
             responses=COORDINATOR_ERRORS)
def return_(task_id: Id, body: ReturnCreate, request: Request,
            viewer: ApiViewer) -> TaskDetailPublic:
    """协调员退回提交办结的任务（状态须为「待审核」），承办单位需继续办理；须说明理由。"""

    def change(session: Session, task: Task, actor: str, now: datetime) -> None:
        task_service.return_(session, task, reason=body.reason, actor=actor, now=now)

    return _coordinate(request, viewer, task_id, change, field="reason")


@router.post("/tasks/{task_id}/extend", summary="延期", response_model=TaskDetailPublic,
             responses=COORDINATOR_ERRORS)
def extend(task_id: Id, body: ExtendCreate, request: Request,
           viewer: ApiViewer) -> TaskDetailPublic:
    """协调员延长任务期限：新期限须晚于原期限，须说明理由；督办级别清零，按新期限重新计算。"""

    def change(session: Session, task: Task, actor: str, now: datetime) -> None:
        task_service.extend(session, task, due_on=body.due_on, reason=body.reason,
                            actor=actor, now=now)

    return _coordinate(request, viewer, task_id, change, field="due_on")


@router.post("/tasks/{task_id}/cancel", summary="撤销任务", response_model=TaskDetailPublic,
             responses=COORDINATOR_ERRORS)
def cancel(task_id: Id, body: CancelCreate, request: Request,
           viewer: ApiViewer) -> TaskDetailPublic:
    """协调员撤销任务（已办结或已撤销的任务不能撤销）；须说明理由。"""

    def change(session: Session, task: Task, actor: str, now: datetime) -> None:
        task_service.cancel(session, task, reason=body.reason, actor=actor, now=now)

    return _coordinate(request, viewer, task_id, change, field="reason")


@router.post("/tasks/{task_id}/units", summary="调整承办单位",
             response_model=TaskDetailPublic, responses=COORDINATOR_ERRORS)
def assign(task_id: Id, body: AssignCreate, request: Request,
           viewer: ApiViewer) -> TaskDetailPublic:
    """协调员以列出的单位替换任务的牵头单位和责任单位（配合单位不变）；已办结或撤销的任务
    不能调整。此后的提醒和督办发给新的承办单位。"""

    def change(session: Session, task: Task, actor: str, now: datetime) -> None:
        task_service.assign_units(session, task, lead=list(body.lead),
                                  responsible=list(body.responsible), actor=actor, now=now)

    return _coordinate(request, viewer, task_id, change, rename={"牵头单位": "lead", "单位": None})


@router.post("/tasks/{task_id}/supervise", summary="发送督办通知",
             response_model=TaskDetailPublic, responses={
                 **COORDINATOR_ERRORS,
                 200: {"description": "督办通知已加入发送队列（同一分钟内重复发送的不再发送）",
                       "headers": {"X-Supervision-Messages": {
                           "description": "新加入发送队列的通知条数；0 表示同一分钟内已发送过，"
                                          "未重复发送",
                           "schema": {"type": "integer", "minimum": 0}}}}})
def supervise(task_id: Id, request: Request, response: Response, viewer: ApiViewer,
              body: SuperviseCreate | None = None) -> TaskDetailPublic:
    """协调员向牵头单位负责人和联络员发送督办通知（附报送链接），与任务页的「督办」相同。
    已办结或撤销的任务无需督办（409）；牵头单位没有登记联系人时为 422。"""
    note = body.note if body else None
    sent: list[int] = []

    def change(session: Session, task: Task, actor: str, now: datetime) -> None:
        sent.append(send_supervision(session, task, note=note, actor=actor, now=now))

    detail = _coordinate(request, viewer, task_id, change, rename={"督办意见": "note",
                                                                   "牵头单位": None})
    response.headers["X-Supervision-Messages"] = str(sent[0] if sent else 0)
    return detail
