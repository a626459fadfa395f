"""Plans: the list with counts by light, a plan's page (filterable task tree and timeline),
and uploading a plan file (parse review first, import on confirm)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from starlette.datastructures import UploadFile

from taskflow.db import write_session
from taskflow.domain.states import TaskState
from taskflow.errors import UserError
from taskflow.models import Plan, Task, User
from taskflow.services import overview
from taskflow.services.users import grant
from taskflow.web.access import Viewer, viewer_for
from taskflow.web.charts import timeline
from taskflow.web.deps import (
    CurrentViewer,
    ReadDB,
    WriteDB,
    deny,
    get_engine,
    now_for,
    verify_csrf,
)
from taskflow.web.views import plan_upload, work_calendar
from taskflow.web.views.plan_tree import LIGHTS, Filters, plan_tree

router = APIRouter(dependencies=[Depends(verify_csrf)])


def _page(request: Request, name: str, context: dict, status: int = 200) -> HTMLResponse:
    return request.app.state.templates.TemplateResponse(request, name, context,
                                                        status_code=status)


def _may_upload(viewer: Viewer) -> bool:
    # Any coordinator: an office's coordinator imports its first plan before it has any.
    return viewer.admin or viewer.coordinates_any or "coordinator" in viewer.roles


# -- the list --------------------------------------------------------------------------------


@router.get("/plans", response_class=HTMLResponse, include_in_schema=False)
def plans(request: Request, viewer: CurrentViewer, session: ReadDB) -> HTMLResponse:
    return _plans_page(request, viewer, session)


def _plans_page(request: Request, viewer: Viewer, session, *, error: str | None = None,
                status: int = 200) -> HTMLResponse:
    now = now_for(request)
    rows = list(session.scalars(select(Plan).where(viewer.plan_clause())
                                .order_by(Plan.year.desc(), Plan.code)))
    counts = overview.light_counts(session, scope=viewer.task_clause(), now=now,
                                   calendar=work_calendar(request),
                                   plan_ids=[p.id for p in rows])
    choices = plan_upload.jurisdiction_choices(session) if _may_upload(viewer) else []
    return _page(request, "plans.html", {
        "viewer": viewer, "title": "实施方案", "plans": rows, "counts": counts,
        "may_upload": _may_upload(viewer), "jurisdictions": choices, "error": error,
        "max_mb": plan_upload.MAX_BYTES // (1024 * 1024),
        "allowed": " ".join(plan_upload.ALLOWED), "year": now.astimezone(
            request.app.state.settings.tz).year}, status)


# -- a plan's page ---------------------------------------------------------------------------


def _visible_plan(request: Request, viewer: Viewer, session, plan_id: int) -> Plan:
    plan = session.get(Plan, plan_id)
    if plan is None:
        raise HTTPException(status_code=404, detail="实施方案不存在")
    if not viewer.sees_plan(plan_id):
        # a member sees a plan that has one of the unit's tasks, and only those tasks
        own = session.scalar(select(Task.id).where(Task.plan_id == plan_id,
                                                   viewer.task_clause()).limit(1))
        if own is None:
            raise deny(request, viewer, entity="plan", entity_id=plan_id, what="实施方案")
    return plan


def _filters(light: str, state: str, unit: str, q: str) -> Filters:
    if light and light not in LIGHTS:
        raise HTTPException(status_code=400, detail=f"筛选条件「灯」的取值 {light!r} 无效"
                                                    "（red、yellow、green、none）")
    if state and state not in {s.value for s in TaskState}:
        raise HTTPException(status_code=400, detail=f"筛选条件「状态」的取值 {state!r} 无效")
    unit_id = None
    if unit:
        if not unit.isdigit():
            raise HTTPException(status_code=400, detail="筛选条件「单位」须为单位编号")
        unit_id = int(unit)
    return Filters(light=light, state=state, unit=unit_id, q=q.strip()[:100])


@router.get("/plans/{plan_id:int}", response_class=HTMLResponse, include_in_schema=False)
def plan_page(request: Request, plan_id: int, viewer: CurrentViewer, session: ReadDB,
              light: str = "", state: str = "", unit: str = "", q: str = "",
              page: int = 1) -> HTMLResponse:
    plan = _visible_plan(request, viewer, session, plan_id)
    filters = _filters(light, state, unit, q)
    now = now_for(request)
    tree = plan_tree(session, plan, scope=viewer.task_clause(), now=now,
                     calendar=work_calendar(request), filters=filters, page=page)
    today = now.astimezone(request.app.state.settings.tz).date()
    chart = timeline(tree.bars, year=plan.year, today=today,
                     title=f"{plan.title} {plan.year}年任务时间轴", label="timeline")
    query = {"light": filters.light, "state": filters.state,
             "unit": filters.unit or "", "q": filters.q}
    return _page(request, "plan.html", {
        "viewer": viewer, "title": plan.title, "plan": plan, "tree": tree, "chart": chart,
        "filters": filters, "query": {k: v for k, v in query.items() if v},
        "coordinates": viewer.coordinates(plan.id)})


# -- upload ----------------------------------------------------------------------------------


def _optional_int(value, field: str, low: int, high: int) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = str(value).strip()
    if not text.isdigit() or not low <= int(text) <= high:
        raise UserError.single(f"「{field}」须为 {low}–{high} 之间的整数")
    return int(text)


def _options(form) -> tuple[int | None, str | None, int | None]:
    year = _optional_int(form.get("year"), "年度", 2000, 2100)
    part = _optional_int(form.get("part"), "篇", 1, 99)
    jurisdiction = (form.get("jurisdiction") or "").strip() or None
    return year, jurisdiction, part


@router.post("/plans/upload", include_in_schema=False)
async def upload(request: Request, viewer: CurrentViewer, session: ReadDB) -> Response:
    if not _may_upload(viewer):
        raise deny(request, viewer, entity="plan", entity_id=None, what="页面")
    form = await request.form()
    file = form.get("file")
    try:
        if not isinstance(file, UploadFile) or not file.filename:
            raise plan_upload.UploadRefused(400, "请选择要上传的方案文件（「文件」）")
        filename = plan_upload.clean_name(file.filename)
        data = await file.read(plan_upload.MAX_BYTES + 1)
        plan_upload.check_upload(filename, data)
        year, jurisdiction, part = _options(form)
    except plan_upload.UploadRefused as exc:
        return _plans_page(request, viewer, session, error=exc.message, status=exc.status)
    except UserError as exc:
        return _plans_page(request, viewer, session, error=str(exc), status=422)
    staged = plan_upload.stage(request.app.state.settings.data_dir, user_id=viewer.user_id,
                               filename=filename, data=data, year=year,
                               jurisdiction=jurisdiction, part=part)
    return RedirectResponse(f"/plans/upload/{staged.id}", status_code=303)


def _staged(request: Request, viewer: Viewer, staging_id: str) -> plan_upload.Staged:
    staged = plan_upload.load(request.app.state.settings.data_dir, staging_id)
    if staged is None or staged.user_id != viewer.user_id or not _may_upload(viewer):
        raise deny(request, viewer, entity="upload", entity_id=None, what="上传的文件")
    return staged


def _refusals(viewer: Viewer, outcome: plan_upload.Outcome) -> list[str]:
    """Plans in the file that exist already, that this user does not coordinate and that the
    import would change (an unchanged re-import is harmless, whoever confirms it)."""
    return [f"方案 {p.code} 已存在，您不是它的协调人，不能更新它" for p in outcome.previews
            if p.existing_plan_id is not None and not viewer.coordinates(p.existing_plan_id)
            and not (p.report and p.report.noop)]


@router.get("/plans/upload/{staging_id}", response_class=HTMLResponse, include_in_schema=False)
def review(request: Request, staging_id: str, viewer: CurrentViewer,
           session: ReadDB) -> HTMLResponse:
    staged = _staged(request, viewer, staging_id)
    outcome, errors = plan_upload.Outcome([]), []
    try:  # a dry run: everything import would do, rolled back
        with write_session(get_engine(request), dry_run=True) as dry:
            outcome = plan_upload.run_import(dry, staged, actor=viewer.actor,
                                             now=now_for(request))
    except UserError as exc:
        errors = [str(p) for p in exc.problems]
    errors += _refusals(viewer, outcome)
    return _page(request, "plan_upload.html", {
        "viewer": viewer, "title": "导入方案：解析结果", "staged": staged, "outcome": outcome,
        "errors": errors, "jurisdictions": plan_upload.jurisdiction_choices(session)},
        422 if errors else 200)


@router.post("/plans/upload/{staging_id}/options", include_in_schema=False)
async def change_options(request: Request, staging_id: str, viewer: CurrentViewer) -> Response:
    staged = _staged(request, viewer, staging_id)
    try:
        staged.year, staged.jurisdiction, staged.part = _options(await request.form())
    except UserError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None
    staged.save_options()
    return RedirectResponse(f"/plans/upload/{staged.id}", status_code=303)


@router.post("/plans/upload/{staging_id}/confirm", response_class=HTMLResponse,
             include_in_schema=False)
def confirm(request: Request, staging_id: str, viewer: CurrentViewer,
            session: WriteDB) -> HTMLResponse:
    staged = _staged(request, viewer, staging_id)
    try:
        outcome = plan_upload.run_import(session, staged, actor=viewer.actor,
                                         now=now_for(request))
    except UserError as exc:
        # nothing was written: the error leaves WriteDB's transaction to roll back
        raise HTTPException(status_code=422, detail=str(exc)) from None
    refused = _refusals(viewer, outcome)
    if refused:
        raise HTTPException(status_code=403, detail="；".join(refused))
    session.flush()
    ids = {code: pid for code, pid in session.execute(select(Plan.code, Plan.id).where(
        Plan.code.in_([p.code for p in outcome.previews])))}
    granted = _coordinate_new_plans(session, viewer, outcome, ids, now=now_for(request))
    return _page(request, "plan_imported.html", {
        "viewer": viewer, "title": "导入完成", "outcome": outcome, "ids": ids,
        "staged": staged, "granted": granted})


def _coordinate_new_plans(session, viewer: Viewer, outcome: plan_upload.Outcome,
                          ids: dict[str, int], *, now) -> set[str]:
    """The importer of a new plan that none of their roles covers (a coordinator of another
    plan) becomes its coordinator: otherwise the plan they just imported would be out of
    their sight. The grant is audited like one made with `taskflow user grant`."""
    created = [p.code for p in outcome.previews if p.report and p.report.created]
    if not created:
        return set()
    user = session.get(User, viewer.user_id)
    scope = viewer_for(session, user)  # after the import: an office's new plan is covered
    granted = set()
    for code in created:
        if not scope.coordinates(ids[code]):
            grant(session, user=user, role="coordinator", plan=code, actor=viewer.actor,
                  now=now)
            granted.add(code)
    return granted
