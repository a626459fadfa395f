"""The task page: what the task is, who does it, how far it is against the plan, what
happened to it and which messages went out; coordinators act on it (assign, extend, accept,
return, cancel, 督办), and members of its units acknowledge, report and submit.

POST handlers open their own sessions: the visibility check reads first (a refusal is audited
in a write transaction of its own, which must not wait behind ours on SQLite), then one write
transaction does the change and is committed before the redirect is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from taskflow.db import read_session, write_session
from taskflow.domain.labels import ACTION_DONE_LABELS
from taskflow.errors import UserError
from taskflow.models import Task, Unit
from taskflow.services import tasks as actions
from taskflow.services.supervision import send_supervision
from taskflow.web import uploads
from taskflow.web.access import Viewer
from taskflow.web.deps import CurrentViewer, ReadDB, deny, get_engine, now_utc, verify_csrf
from taskflow.web.taskpages import (
    flash,
    parse_day,
    record,
    render,
    report_input,
    task_context,
    visible_task,
    work_calendar,
)

router = APIRouter(dependencies=[Depends(verify_csrf)])



def _page(request: Request, session, viewer: Viewer, task: Task, *, error: str | None = None,
          form: dict | None = None, status_code: int = 200) -> Response:
    context = task_context(session, task, viewer, now=now_utc(),
                           calendar=work_calendar(request))
    return render(request, "task.html", {**context, "viewer": viewer, "error": error,
                                         "form": form or {}, "title": task.title},
                  status_code=status_code)


@router.get("/tasks/{task_id}", include_in_schema=False)
def task_page(request: Request, task_id: int, session: ReadDB, viewer: CurrentViewer
              ) -> Response:
    task = visible_task(request, session, viewer, task_id)
    return _page(request, session, viewer, task)


@router.get("/t/{task_id}", include_in_schema=False)
def task_short_link(task_id: int, viewer: CurrentViewer) -> Response:
    """The plain link of a message (``notify_link``): signed in, the task page; otherwise
    CurrentViewer sends the visitor to /login first and back here after."""
    return RedirectResponse(f"/tasks/{task_id}", status_code=303)


def _coordinate(request: Request, viewer: Viewer, task_id: int,
                change: Callable[..., object], done: str, form: dict | None = None
                ) -> Response:
    """Run a coordinator's change in one write transaction; a UserError re-shows the page
    with the message (422) and nothing written."""
    engine = get_engine(request)
    with read_session(engine) as session:
        task = visible_task(request, session, viewer, task_id)
        if not viewer.coordinates(task.plan_id):
            raise deny(request, viewer, entity="task", entity_id=task_id, what="任务")
    try:
        with write_session(engine) as session:
            task = session.get(Task, task_id)
            change(session, task, actor=viewer.actor, now=now_utc())
    except UserError as exc:
        with read_session(engine) as session:
            return _page(request, session, viewer, session.get(Task, task_id),
                         error=str(exc), form=form, status_code=422)
    flash(request, done)
    return RedirectResponse(f"/tasks/{task_id}", status_code=303)


@router.post("/tasks/{task_id}/assign", include_in_schema=False)
def assign(request: Request, task_id: int, viewer: CurrentViewer,
           lead: Annotated[list[int], Form()] = (),
           responsible: Annotated[list[int], Form()] = ()) -> Response:
    return _coordinate(request, viewer, task_id, lambda s, t, **kw: actions.assign_units(
        s, t, lead=list(lead), responsible=list(responsible), **kw), "承办单位已调整")


@router.post("/tasks/{task_id}/extend", include_in_schema=False)
def extend(request: Request, task_id: int, viewer: CurrentViewer,
           due_on: Annotated[str, Form(max_length=20)] = "",
           reason: Annotated[str, Form(max_length=2000)] = "") -> Response:
    def change(session, task, **kw):
        actions.extend(session, task, due_on=parse_day(due_on, "新期限"), reason=reason, **kw)

    return _coordinate(request, viewer, task_id, change, "期限已延长",
                       {"due_on": due_on, "reason": reason})


@router.post("/tasks/{task_id}/accept", include_in_schema=False)
def accept(request: Request, task_id: int, viewer: CurrentViewer,
           note: Annotated[str, Form(max_length=2000)] = "") -> Response:
    return _coordinate(request, viewer, task_id, lambda s, t, **kw: actions.accept(
        s, t, note=note.strip() or None, **kw), "已验收通过，任务办结")


@router.post("/tasks/{task_id}/return", include_in_schema=False)
def return_(request: Request, task_id: int, viewer: CurrentViewer,
            reason: Annotated[str, Form(max_length=2000)] = "") -> Response:
    return _coordinate(request, viewer, task_id, lambda s, t, **kw: actions.return_(
        s, t, reason=reason, **kw), "已退回，承办单位需继续办理", {"return_reason": reason})


@router.post("/tasks/{task_id}/cancel", include_in_schema=False)
def cancel(request: Request, task_id: int, viewer: CurrentViewer,
           reason: Annotated[str, Form(max_length=2000)] = "") -> Response:
    return _coordinate(request, viewer, task_id, lambda s, t, **kw: actions.cancel(
        s, t, reason=reason, **kw), "任务已撤销", {"cancel_reason": reason})


@router.post("/tasks/{task_id}/supervise", include_in_schema=False)
def supervise(request: Request, task_id: int, viewer: CurrentViewer,
              note: Annotated[str, Form(max_length=2000)] = "") -> Response:
    sent: list[int] = []

    def change(session, task, **kw):
        sent.append(send_supervision(session, task, note=note, **kw))

    response = _coordinate(request, viewer, task_id, change, "督办通知已加入发送队列",
                           {"supervise_note": note})
    if sent and sent[0] == 0:  # the same minute's notice is already queued
        request.session["flash"] = ["督办通知刚刚已发送，未重复发送"]
    return response


@router.post("/tasks/{task_id}/act", include_in_schema=False)
async def act(request: Request, task_id: int, viewer: CurrentViewer) -> Response:
    """A unit member's 签收 / 进度报送 / 提交办结, with files for a report or submission."""
    form = await request.form()  # already parsed (and size-checked) for the CSRF check
    action = str(form.get("action") or "")
    values = {k: str(form.get(k) or "") for k in ("percent", "quantity", "amount", "note")}
    engine = get_engine(request)
    settings = request.app.state.settings

    def check() -> Unit:
        with read_session(engine) as session:
            task = visible_task(request, session, viewer, task_id)
            unit_id = str(form.get("unit_id") or "")
            unit = session.get(Unit, int(unit_id)) if unit_id.isdigit() else None
            if unit is None or not viewer.acts_for(unit.id):
                raise deny(request, viewer, entity="task", entity_id=task.id, what="任务")
            return unit

    unit = await run_in_threadpool(check)

    def failed(message: str) -> Response:
        with read_session(engine) as session:
            return _page(request, session, viewer, session.get(Task, task_id), error=message,
                         form=values, status_code=422)

    try:
        data = report_input(form) if action in ("report", "submit") else None
        files = await uploads.read_uploads(form.getlist("files"),
                                           max_bytes=settings.upload_max_bytes) \
            if action in ("report", "submit") else []
    except UserError as exc:
        return await run_in_threadpool(failed, str(exc))

    def write() -> Response:
        paths = []
        try:
            with write_session(engine) as session:
                task = session.get(Task, task_id)
                paths = record(session, task, unit, action, actor=viewer.actor,
                               now=now_utc(), data=data, files=files,
                               data_dir=settings.data_dir)
        except UserError as exc:
            uploads.remove(paths)
            return failed(str(exc))
        except BaseException:
            uploads.remove(paths)
            raise
        flash(request, ACTION_DONE_LABELS.get(action, "已完成"))
        return RedirectResponse(f"/tasks/{task_id}", status_code=303)

    return await run_in_threadpool(write)
