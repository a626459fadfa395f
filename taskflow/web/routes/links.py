"""Acting from a message's link, without a password.

- ``/r/{token}``: one task for one unit (the link of each reminder and of each item of a
  digest). It serves every step, 签收, 报送进度 (as often as needed) and 提交办结, until the
  task is done or cancelled or the link expires.
- ``/u/{token}``: the unit's pending tasks (the link of a digest and of its SMS); each task
  opens at ``/u/{token}/t/{task_id}`` with the same form.

GET only shows (mail scanners and link previews fetch links); a POST acts and records the
link's last use in the same transaction as what it records. Forms are CSRF-protected like
every other: showing a form gives the anonymous visitor a session cookie holding the token.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from taskflow.db import read_session, write_session
from taskflow.domain.labels import ACTION_DONE_LABELS
from taskflow.domain.states import OPEN
from taskflow.errors import NotFound, UserError
from taskflow.models import LinkToken, Plan, Task, TaskUnit, Unit
from taskflow.services import links
from taskflow.services.org import load_org
from taskflow.web import uploads
from taskflow.web.deps import get_engine, now_utc, verify_csrf
from taskflow.web.links import link_secret, refused
from taskflow.web.taskpages import record, render, report_input

router = APIRouter(dependencies=[Depends(verify_csrf)])

NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
UNIT_LIST_LIMIT = 200


def _form_page(request: Request, session, row: LinkToken, task: Task, *, action_url: str,
               back_url: str | None = None, error: str | None = None,
               form: dict | None = None, status_code: int = 200) -> Response:
    response = render(request, "link_form.html", {
        "viewer": None, "task": task, "plan": session.get(Plan, task.plan_id),
        "unit": session.get(Unit, row.unit_id), "action_url": action_url,
        "back_url": back_url, "error": error, "form": form or {},
        "expires_at": row.expires_at, "allowed_types": uploads.ALLOWED},
        status_code=status_code)
    response.headers.update(NO_STORE)
    return response


def _checked(session, request: Request, token: str, purpose: str) -> LinkToken:
    return links.check(session, token, secret=link_secret(request), purpose=purpose,
                       now=now_utc())


# -- one task: /r/{token} ----------------------------------------------------------------------


@router.get("/r/{token}", include_in_schema=False)
def link_form(request: Request, token: str) -> Response:
    with read_session(get_engine(request)) as session:
        try:
            row = _checked(session, request, token, links.REPORT)
        except links.LinkRefused as exc:
            return refused(request, exc)
        return _form_page(request, session, row, session.get(Task, row.task_id),
                          action_url=f"/r/{token}")


@router.post("/r/{token}", include_in_schema=False)
async def link_submit(request: Request, token: str) -> Response:
    return await _act(request, token, links.REPORT, lambda session, row: row.task_id,
                      action_url=f"/r/{token}")


# -- a unit's pending tasks: /u/{token} ----------------------------------------------------


@router.get("/u/{token}", include_in_schema=False)
def unit_list(request: Request, token: str) -> Response:
    with read_session(get_engine(request)) as session:
        try:
            row = _checked(session, request, token, links.UNIT)
        except links.LinkRefused as exc:
            return refused(request, exc)
        unit = session.get(Unit, row.unit_id)
        tasks = _pending(session, unit.id)
        plans = {p.id: p.title for p in session.scalars(select(Plan).where(
            Plan.id.in_({t.plan_id for t in tasks})))} if tasks else {}
        response = render(request, "link_unit.html", {
            "viewer": None, "unit": unit, "tasks": tasks, "plans": plans, "token": token,
            "now": now_utc(), "expires_at": row.expires_at,
            "limit": UNIT_LIST_LIMIT})
        response.headers.update(NO_STORE)
        return response


@router.get("/u/{token}/t/{task_id}", include_in_schema=False)
def unit_task_form(request: Request, token: str, task_id: int) -> Response:
    with read_session(get_engine(request)) as session:
        try:
            row = _checked(session, request, token, links.UNIT)
            task = links.unit_task(session, row, task_id)
        except links.LinkRefused as exc:
            return refused(request, exc)
        except NotFound as exc:
            return refused(request, links.LinkRefused(404, str(exc)))
        return _form_page(request, session, row, task, action_url=f"/u/{token}/t/{task_id}",
                          back_url=f"/u/{token}")


@router.post("/u/{token}/t/{task_id}", include_in_schema=False)
async def unit_task_submit(request: Request, token: str, task_id: int) -> Response:
    return await _act(request, token, links.UNIT,
                      lambda session, row: links.unit_task(session, row, task_id).id,
                      action_url=f"/u/{token}/t/{task_id}", back_url=f"/u/{token}")


def _pending(session, unit_id: int) -> list[Task]:
    """The open tasks a unit acts on (named, or through a collective it belongs to), the
    soonest deadline first."""
    org = load_org(session)
    named = [unit_id, *org.collectives_of(unit_id)]
    return list(session.scalars(
        select(Task).where(Task.id.in_(select(TaskUnit.task_id).where(
            TaskUnit.unit_id.in_(named))), Task.archived_at.is_(None), Task.state.in_(OPEN))
        .order_by(Task.due_at.is_(None), Task.due_at, Task.plan_id, Task.position)
        .limit(UNIT_LIST_LIMIT)))


# -- acting --------------------------------------------------------------------------------


async def _act(request: Request, token: str, purpose: str,
               task_of: Callable[..., int], *, action_url: str,
               back_url: str | None = None) -> Response:
    form = await request.form()
    action = str(form.get("action") or "")
    values = {k: str(form.get(k) or "") for k in ("percent", "quantity", "amount", "note")}
    engine = get_engine(request)
    settings = request.app.state.settings

    def show(error: str) -> Response:
        with read_session(engine) as session:
            try:
                row = _checked(session, request, token, purpose)
                task = session.get(Task, task_of(session, row))
            except links.LinkRefused as exc:
                return refused(request, exc)
            except NotFound as exc:
                return refused(request, links.LinkRefused(404, str(exc)))
            return _form_page(request, session, row, task, action_url=action_url,
                              back_url=back_url, error=error, form=values,
                              status_code=422)

    try:
        if action not in ACTION_DONE_LABELS:
            raise UserError.single("请选择签收、报送进度或提交办结", field="操作")
        data = report_input(form) if action != "acknowledge" else None
        files = await uploads.read_uploads(form.getlist("files"),
                                           max_bytes=settings.upload_max_bytes) \
            if action != "acknowledge" else []
    except UserError as exc:
        return await run_in_threadpool(show, str(exc))

    def write() -> Response:
        paths = []
        now = now_utc()
        try:
            with write_session(engine) as session:
                row = links.check(session, token, secret=link_secret(request),
                                  purpose=purpose, now=now)
                task = session.get(Task, task_of(session, row))
                unit = session.get(Unit, row.unit_id)
                actor = f"link:{unit.code}" + (f":c{row.contact_id}" if row.contact_id else "")
                paths = record(session, task, unit, action, actor=actor, now=now, data=data,
                               files=files, data_dir=settings.data_dir)
                links.touch(session, row, now=now)
        except links.LinkRefused as exc:
            return refused(request, exc)
        except NotFound as exc:
            return refused(request, links.LinkRefused(404, str(exc)))
        except UserError as exc:
            uploads.remove(paths)
            return show(str(exc))
        except BaseException:
            uploads.remove(paths)
            raise
        response = render(request, "link_done.html", {
            "viewer": None, "message": ACTION_DONE_LABELS[action], "task": task, "unit": unit,
            "again_url": action_url if task.state in OPEN else None, "back_url": back_url})
        response.headers.update(NO_STORE)
        return response

    return await run_in_threadpool(write)
