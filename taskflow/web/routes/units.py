"""A unit's page: the tasks that name the unit (within what the viewer may see), grouped by
state with their lights; members acknowledge from here and manage the unit's calendar feed.
Members of other units get 404 (audited)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from taskflow.db import read_session, write_session
from taskflow.domain.states import CLOSED, WORKING, TaskState
from taskflow.errors import UserError
from taskflow.models import Plan, Task, TaskUnit, Unit
from taskflow.services import links
from taskflow.services import tasks as actions
from taskflow.services.lights import lights
from taskflow.web.access import Viewer
from taskflow.web.deps import CurrentViewer, ReadDB, deny, get_engine, now_utc, verify_csrf
from taskflow.web.links import link_secret
from taskflow.web.taskpages import flash, render, visible_task, work_calendar

router = APIRouter(dependencies=[Depends(verify_csrf)])

STATE_ORDER = (*WORKING, TaskState.submitted, TaskState.pending, *CLOSED)


def _unit(request: Request, session, viewer: Viewer, unit_id: int) -> Unit:
    unit = session.get(Unit, unit_id)
    if unit is None or not viewer.sees_unit(unit_id):
        raise deny(request, viewer, entity="unit", entity_id=unit_id, what="单位")
    return unit


def _page(request: Request, session, viewer: Viewer, unit: Unit, *, error: str | None = None,
          feed_url: str | None = None, status_code: int = 200) -> Response:
    rows = list(session.execute(
        select(Task, Plan.title).join(Plan, Plan.id == Task.plan_id)
        .where(Task.id.in_(select(TaskUnit.task_id).where(TaskUnit.unit_id == unit.id)),
               Task.archived_at.is_(None), viewer.task_clause())
        .order_by(Task.due_at.is_(None), Task.due_at, Task.plan_id, Task.position)))
    tasks = [task for task, _ in rows]
    plan_titles = {task.id: title for task, title in rows}
    roles: dict[int, list[str]] = {}
    if tasks:
        for task_id, role in session.execute(select(TaskUnit.task_id, TaskUnit.role).where(
                TaskUnit.unit_id == unit.id, TaskUnit.task_id.in_([t.id for t in tasks]))):
            roles.setdefault(task_id, []).append(role)
    light_of = lights(session, tasks, now=now_utc(), calendar=work_calendar(request))
    groups = [(state, [t for t in tasks if t.state == state]) for state in STATE_ORDER]
    counts = {colour: sum(1 for t in tasks if light_of.get(t.id) == colour)
              for colour in ("red", "yellow", "green")}
    member = viewer.acts_for(unit.id)
    return render(request, "unit.html", {
        "viewer": viewer, "title": unit.name, "unit": unit,
        "groups": [(s, ts) for s, ts in groups if ts], "lights": light_of, "roles": roles,
        "plan_titles": plan_titles, "counts": counts, "total": len(tasks), "member": member,
        "feed_created": links.feed_created_at(session, unit.id) if member else None,
        "feed_url": feed_url, "error": error}, status_code=status_code)


@router.get("/units/{unit_id}", include_in_schema=False)
def unit_page(request: Request, unit_id: int, session: ReadDB, viewer: CurrentViewer
              ) -> Response:
    return _page(request, session, viewer, _unit(request, session, viewer, unit_id))


@router.post("/units/{unit_id}/acknowledge", include_in_schema=False)
def quick_acknowledge(request: Request, unit_id: int, viewer: CurrentViewer,
                      task_id: Annotated[int, Form()]) -> Response:
    engine = get_engine(request)
    with read_session(engine) as session:
        unit = _unit(request, session, viewer, unit_id)
        task = visible_task(request, session, viewer, task_id)
        if not viewer.acts_for(unit.id) or \
                unit.id not in links.acting_unit_ids(session, task.id):
            raise deny(request, viewer, entity="task", entity_id=task_id, what="任务")
    try:
        with write_session(engine) as session:
            actions.acknowledge(session, session.get(Task, task_id), unit=unit.code,
                                actor=viewer.actor, now=now_utc())
    except UserError as exc:
        with read_session(engine) as session:
            return _page(request, session, viewer, session.get(Unit, unit_id),
                         error=f"{task.code} {task.title}：{exc}", status_code=422)
    flash(request, f"已签收：{task.code} {task.title}")
    return RedirectResponse(f"/units/{unit_id}", status_code=303)


@router.post("/units/{unit_id}/feed", include_in_schema=False)
def rotate_feed(request: Request, unit_id: int, viewer: CurrentViewer) -> Response:
    """A new calendar subscription address (the old one stops working); shown once."""
    engine = get_engine(request)
    with read_session(engine) as session:
        unit = _unit(request, session, viewer, unit_id)
        if not viewer.acts_for(unit.id):
            raise deny(request, viewer, entity="unit", entity_id=unit_id, what="单位")
    with write_session(engine) as session:
        token = links.rotate_feed(session, secret=link_secret(request), unit_id=unit_id,
                                  now=now_utc())
    base = request.app.state.settings.base_url.rstrip("/")
    with read_session(engine) as session:
        response = _page(request, session, viewer, session.get(Unit, unit_id),
                         feed_url=f"{base}/ics/unit/{token}.ics")
    response.headers["Cache-Control"] = "no-store"
    return response
