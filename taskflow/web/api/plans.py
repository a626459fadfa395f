"""GET /api/plans, /api/plans/{id}, /api/plans/{id}/tasks."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy import func, select

from taskflow.models import Plan, Task, Unit
from taskflow.web.api.auth import ApiViewer
from taskflow.web.api.common import (
    ERRORS,
    Id,
    Limit,
    Offset,
    calendar_of,
    plan_detail,
    plan_public,
    visible_plan,
)
from taskflow.web.api.listing import TaskFilters, list_tasks, task_filters
from taskflow.web.api.schemas import PlanDetailPublic, PlansPublic, TasksPublic
from taskflow.web.deps import ReadDB, now_for

router = APIRouter(tags=["方案"], responses=ERRORS)


@router.get("/plans", summary="可见的方案", response_model=PlansPublic)
def read_plans(viewer: ApiViewer, session: ReadDB, limit: Limit = 50,
               offset: Offset = 0) -> PlansPublic:
    """当前用户可见的方案：协调员、领导看到所负责的方案，单位成员看到点名本单位任务的方案。"""
    count = session.scalar(select(func.count()).select_from(Plan).where(viewer.plan_clause()))
    plans = list(session.scalars(select(Plan).where(viewer.plan_clause())
                                 .order_by(Plan.code).limit(limit).offset(offset)))
    ids = {p.issuer_id for p in plans} | {p.jurisdiction_id for p in plans}
    units = {u.id: u for u in session.scalars(select(Unit).where(
        Unit.id.in_(sorted(i for i in ids if i is not None))))} if plans else {}
    return PlansPublic(data=[plan_public(p, units) for p in plans], count=count or 0,
                       limit=limit, offset=offset)


@router.get("/plans/{plan_id}", summary="方案详情与红黄绿灯计数",
            response_model=PlanDetailPublic)
def read_plan(plan_id: Id, request: Request, viewer: ApiViewer,
              session: ReadDB) -> PlanDetailPublic:
    """方案信息，以及当前用户可见任务按灯色、按状态的计数。"""
    plan = visible_plan(session, request, viewer, plan_id)
    return plan_detail(session, plan, viewer, now=now_for(request),
                       calendar=calendar_of(request))


@router.get("/plans/{plan_id}/tasks", summary="方案的任务（分页）", response_model=TasksPublic)
def read_plan_tasks(plan_id: Id, request: Request, viewer: ApiViewer, session: ReadDB,
                    filters: Annotated[TaskFilters, Depends(task_filters)],
                    limit: Limit = 50, offset: Offset = 0) -> TasksPublic:
    """按方案中的顺序列出当前用户可见的任务（单位成员只看到本单位承办的任务），
    可按状态、灯色、承办单位、期限筛选。"""
    visible_plan(session, request, viewer, plan_id)
    return list_tasks(session, viewer, where=[Task.plan_id == plan_id], filters=filters,
                      limit=limit, offset=offset, now=now_for(request),
                      calendar=calendar_of(request))
