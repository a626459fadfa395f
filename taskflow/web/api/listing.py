"""Task lists with filters and limit/offset pagination (a plan's tasks, a unit's tasks)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated

from fastapi import Query
from sqlalchemy import ColumnElement, func, select
from sqlmodel import Session

from taskflow.domain.states import TaskState
from taskflow.models import Task, TaskUnit, Unit
from taskflow.services.lights import lights
from taskflow.web.access import Viewer
from taskflow.web.api.common import tasks_public, unit_and_collectives
from taskflow.web.api.schemas import MAX_ID, IsoDate, Light, TasksPublic


@dataclass(frozen=True)
class TaskFilters:
    state: TaskState | None
    light: Light | None
    unit: int | None
    due_before: date | None


def task_filters(
    state: Annotated[TaskState | None, Query(description="只列出此状态的任务")] = None,
    light: Annotated[Light | None, Query(description="只列出此灯色的任务")] = None,
    unit: Annotated[int | None, Query(ge=1, le=MAX_ID, description=(
        "只列出此单位承办的任务（单位 ID；含点名其所属集合单位的任务，"
        "如乡镇的「各乡(镇)人民政府」）"))] = None,
    due_before: Annotated[IsoDate | None, Query(description=(
        "只列出期限早于此日期的任务（YYYY-MM-DD，方案时区）"))] = None,
) -> TaskFilters:
    return TaskFilters(state=state, light=light, unit=unit, due_before=due_before)


def unit_clause(session: Session, unit_id: int) -> ColumnElement[bool]:
    unit = session.get(Unit, unit_id)
    ids = unit_and_collectives(session, unit) if unit is not None else [unit_id]
    return Task.id.in_(select(TaskUnit.task_id).where(TaskUnit.unit_id.in_(ids)))


def list_tasks(session: Session, viewer: Viewer, *, where: list[ColumnElement[bool]],
               filters: TaskFilters, limit: int, offset: int, now: datetime,
               calendar) -> TasksPublic:
    conditions = [Task.archived_at.is_(None), viewer.task_clause(), *where]
    if filters.state is not None:
        conditions.append(Task.state == filters.state.value)
    if filters.unit is not None:
        conditions.append(unit_clause(session, filters.unit))
    if filters.due_before is not None:
        conditions.append(Task.due_on < filters.due_before)
    order = (Task.plan_id, Task.position, Task.id)
    if filters.light is None:
        count = session.scalar(select(func.count()).select_from(Task).where(*conditions))
        page = list(session.scalars(select(Task).where(*conditions).order_by(*order)
                                    .limit(limit).offset(offset)))
        colours = None
    else:
        # A light depends on the calendar, the policy and the latest report, not on a
        # column: every candidate's light is computed, then the page is cut.
        candidates = list(session.scalars(select(Task).where(*conditions).order_by(*order)))
        colours = lights(session, candidates, now=now, calendar=calendar)
        matching = [t for t in candidates if colours[t.id] == filters.light.value]
        count = len(matching)
        page = matching[offset:offset + limit]
    return TasksPublic(data=tasks_public(session, page, now=now, calendar=calendar,
                                         colours=colours),
                       count=count or 0, limit=limit, offset=offset)
