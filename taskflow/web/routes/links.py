"""Reporting from a message's link, without a password: ``/r/{token}``.

GET shows the task's form for the link's unit and never uses the link up (mail scanners and
link previews fetch it); the first POST that acts (签收 / 报送 / 提交办结) uses it up in the
same transaction as the change it records, so a failed report leaves the link usable and a
second POST is refused. Forms are CSRF-protected like every other: showing the form gives the
anonymous visitor a session cookie holding the token.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from taskflow.db import read_session, write_session
from taskflow.domain.labels import ACTION_DONE_LABELS
from taskflow.errors import UserError
from taskflow.models import Plan, Task, Unit
from taskflow.services import links
from taskflow.web import uploads
from taskflow.web.deps import get_engine, now_utc, verify_csrf
from taskflow.web.links import link_secret, refused
from taskflow.web.taskpages import record, render, report_input

router = APIRouter(dependencies=[Depends(uploads.limit_upload_body), Depends(verify_csrf)])

NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _form_page(request: Request, session, row, token: str, *, error: str | None = None,
               form: dict | None = None, status_code: int = 200) -> Response:
    task = session.get(Task, row.task_id)
    response = render(request, "link_form.html", {
        "viewer": None, "task": task, "plan": session.get(Plan, task.plan_id),
        "unit": session.get(Unit, row.unit_id), "token": token, "error": error,
        "form": form or {}, "expires_at": row.expires_at,
        "allowed_types": uploads.ALLOWED}, status_code=status_code)
    response.headers.update(NO_STORE)
    return response


@router.get("/r/{token}", include_in_schema=False)
def link_form(request: Request, token: str) -> Response:
    with read_session(get_engine(request)) as session:
        try:
            row = links.check(session, token, secret=link_secret(request),
                              purpose=links.REPORT, now=now_utc())
        except links.LinkRefused as exc:
            return refused(request, exc)
        return _form_page(request, session, row, token)


@router.post("/r/{token}", include_in_schema=False)
async def link_submit(request: Request, token: str) -> Response:
    form = await request.form()
    action = str(form.get("action") or "")
    values = {k: str(form.get(k) or "") for k in ("percent", "quantity", "amount", "note")}
    engine = get_engine(request)
    secret = link_secret(request)
    settings = request.app.state.settings

    def show(error: str) -> Response:
        with read_session(engine) as session:
            try:
                row = links.check(session, token, secret=secret, purpose=links.REPORT,
                                  now=now_utc())
            except links.LinkRefused as exc:
                return refused(request, exc)
            return _form_page(request, session, row, token, error=error, form=values,
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
                row = links.check(session, token, secret=secret, purpose=links.REPORT,
                                  now=now)
                links.consume(session, row, now=now)
                task = session.get(Task, row.task_id)
                unit = session.get(Unit, row.unit_id)
                actor = f"link:{unit.code}" + (f":c{row.contact_id}" if row.contact_id else "")
                paths = record(session, task, unit, action, actor=actor, now=now, data=data,
                               files=files, data_dir=settings.data_dir)
        except links.LinkRefused as exc:
            return refused(request, exc)
        except UserError as exc:
            uploads.remove(paths)
            return show(str(exc))
        except BaseException:
            uploads.remove(paths)
            raise
        response = render(request, "link_done.html", {
            "viewer": None, "message": ACTION_DONE_LABELS[action], "task": task, "unit": unit})
        response.headers.update(NO_STORE)
        return response

    return await run_in_threadpool(write)
