"""GET /api/units, /api/units/{id}/tasks."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from sqlalchemy import func, select

from taskflow.models import Unit
from taskflow.web.api.auth import ApiViewer
from taskflow.web.api.common import (
    ERRORS,
    Id,
    Limit,
    Offset,
    calendar_of,
    unit_public,
    units_seen,
)
from taskflow.web.api.listing import TaskFilters, list_tasks, task_filters, unit_clause
from taskflow.web.api.schemas import TasksPublic, UnitsPublic
from taskflow.web.deps import ReadDB, deny, now_for

router = APIRouter(tags=["单位"], responses=ERRORS)


@router.get("/units", summary="可见的单位", response_model=UnitsPublic)
def read_units(viewer: ApiViewer, session: ReadDB) -> UnitsPublic:
    """单位成员只看到本单位；协调员、领导看到全部单位（用于指派、筛选）。"""
    units = list(session.scalars(select(Unit).where(units_seen(viewer))
                                 .order_by(Unit.code)))
    return UnitsPublic(data=[unit_public(u) for u in units], count=len(units))


@router.get("/units/{unit_id}/tasks", summary="单位承办的任务（分页）",
            response_model=TasksPublic)
def read_unit_tasks(unit_id: Id, request: Request, viewer: ApiViewer, session: ReadDB,
                    filters: Annotated[TaskFilters, Depends(task_filters)],
                    limit: Limit = 50, offset: Offset = 0) -> TasksPublic:
    """点名该单位（或其所属集合单位）的任务中当前用户可见的部分。"""
    if session.get(Unit, unit_id) is None:
        raise HTTPException(status_code=404, detail="单位不存在")
    if not session.scalar(select(func.count()).select_from(Unit).where(
            Unit.id == unit_id, units_seen(viewer))):
        raise deny(request, viewer, entity="unit", entity_id=unit_id, what="单位")
    return list_tasks(session, viewer, where=[unit_clause(session, unit_id)],
                      filters=filters, limit=limit, offset=offset, now=now_for(request),
                      calendar=calendar_of(request))
