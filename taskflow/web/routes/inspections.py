"""Inspections on the web: the rounds of a year, a round's checklist where inspectors record
findings (合格 / 不合格 / 记录, with a photo), and a plan's programme that coordinators edit.

Who may do what: every viewer who sees a plan sees its rounds; coordinators of the plan,
admins and inspectors (role ``inspector``) who see the plan record findings, but nobody
records a finding on their own unit; coordinators edit the programme and make the rounds.
"""

from __future__ import annotations

import secrets
from datetime import date
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, RedirectResponse, Response
from sqlalchemy import select

from taskflow.db import read_session, write_session
from taskflow.domain.labels import (
    FINDING_RESULT_LABELS,
    ROUND_KIND_LABELS,
    ROUND_STATE_LABELS,
)
from taskflow.errors import UserError
from taskflow.models import (
    InspectionAssignment,
    InspectionCycle,
    InspectionFinding,
    InspectionRound,
    Plan,
    Task,
    Unit,
)
from taskflow.services.inspection_findings import RESULTS, record_finding
from taskflow.services.inspection_programme import (
    add_cycle,
    remove_cycle,
    split_units,
)
from taskflow.services.inspection_rounds import generate_rounds, round_checklist
from taskflow.web import uploads
from taskflow.web.access import Viewer
from taskflow.web.deps import CurrentViewer, ReadDB, deny, get_engine, now_utc, verify_csrf
from taskflow.web.taskpages import flash, render, work_calendar

router = APIRouter(dependencies=[Depends(verify_csrf)])

PHOTO_TYPES = {"jpg", "jpeg", "png"}
PHOTO_DIR = "inspection-photos"


def _records(viewer: Viewer, plan_id: int) -> bool:
    return viewer.coordinates(plan_id) or ("inspector" in viewer.roles
                                           and viewer.sees_plan(plan_id))


def _plan(request: Request, session, viewer: Viewer, plan_id: int) -> Plan:
    plan = session.get(Plan, plan_id)
    if plan is None or not viewer.sees_plan(plan_id):
        raise deny(request, viewer, entity="plan", entity_id=plan_id, what="实施方案")
    return plan


def _round(request: Request, session, viewer: Viewer, round_id: int
           ) -> tuple[Plan, InspectionRound]:
    row = session.get(InspectionRound, round_id)
    if row is None or not viewer.sees_plan(row.plan_id):
        raise deny(request, viewer, entity="inspection_round", entity_id=round_id,
                   what="检查轮次")
    return session.get(Plan, row.plan_id), row


@router.get("/inspections", include_in_schema=False)
def rounds_page(request: Request, session: ReadDB, viewer: CurrentViewer,
                year: Annotated[int | None, Query(ge=2000, le=2100)] = None) -> Response:
    tz = request.app.state.settings.tz
    the_year = year or now_utc().astimezone(tz).year
    query = select(InspectionRound, Plan).join(Plan, Plan.id == InspectionRound.plan_id).where(
        InspectionRound.scheduled_on >= date(the_year, 1, 1),
        InspectionRound.scheduled_on <= date(the_year, 12, 31))
    if viewer.plan_ids is not None:
        query = query.where(Plan.id.in_(sorted(viewer.plan_ids)))
    rows = session.execute(query.order_by(InspectionRound.scheduled_on, Plan.code)).all()
    plans = session.scalars(select(Plan).where(viewer.plan_clause()).order_by(Plan.code)) \
        if viewer.plan_ids is None or viewer.plan_ids else []
    return render(request, "inspections.html", {
        "viewer": viewer, "title": "检查考核", "year": the_year, "rows": rows,
        "kinds": ROUND_KIND_LABELS, "states": ROUND_STATE_LABELS,
        "plans": [p for p in plans if viewer.coordinates(p.id)]})


def _round_context(session, viewer: Viewer, plan: Plan,
                   row: InspectionRound) -> dict:
    assignments = list(session.scalars(select(InspectionAssignment).where(
        InspectionAssignment.round_id == row.id).order_by(InspectionAssignment.id)))
    unit_ids = list(dict.fromkeys(a.unit_id for a in assignments))
    if not assignments:
        codes = row.scope.get("units", [])
        unit_ids = list(session.scalars(select(Unit.id).where(Unit.code.in_(codes)))) \
            if codes else []
    units = {u.id: u for u in session.scalars(select(Unit).where(Unit.id.in_(
        unit_ids + [a.inspector_unit_id for a in assignments if a.inspector_unit_id])))}
    findings: dict[int, dict[str, InspectionFinding]] = {}
    for f in session.scalars(select(InspectionFinding).where(
            InspectionFinding.round_id == row.id)):
        findings.setdefault(f.unit_id, {})[f.item] = f
    checklists = {}
    for unit_id in unit_ids:
        task_id = next((a.task_id for a in assignments if a.unit_id == unit_id
                        and a.task_id is not None), None)
        checklists[unit_id] = round_checklist(session, plan, row, unit_id, task_id)
    projects = {t.id: t for t in session.scalars(select(Task).where(Task.id.in_(
        [a.task_id for a in assignments if a.task_id])))}
    records = _records(viewer, plan.id)
    return {"viewer": viewer, "title": row.title, "plan": plan, "round": row,
            "assignments": assignments, "units": units, "unit_ids": unit_ids,
            "findings": findings, "checklists": checklists, "projects": projects,
            "may_record": {u: records and not viewer.acts_for(u) for u in unit_ids},
            "results": FINDING_RESULT_LABELS, "kinds": ROUND_KIND_LABELS,
            "states": ROUND_STATE_LABELS}


@router.get("/inspections/rounds/{round_id}", include_in_schema=False)
def round_page(request: Request, round_id: int, session: ReadDB, viewer: CurrentViewer
               ) -> Response:
    plan, row = _round(request, session, viewer, round_id)
    return render(request, "inspection_round.html",
                  _round_context(session, viewer, plan, row))


def _store_photo(request: Request, photo: UploadFile | None) -> tuple[str | None, Path | None]:
    """Check and keep an uploaded photo; returns (stored name, path) or (None, None)."""
    if photo is None or not photo.filename:
        return None, None
    settings = request.app.state.settings
    data = photo.file.read(settings.upload_max_bytes + 1)
    checked = uploads.check_file(photo.filename, data, max_bytes=settings.upload_max_bytes)
    extension = checked.filename.rsplit(".", 1)[-1].lower()
    if extension not in PHOTO_TYPES:
        raise UserError.single("照片只能是 JPG 或 PNG 图片", field="photo")
    folder = settings.data_dir / PHOTO_DIR
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{secrets.token_hex(16)}.{extension}"
    path = folder / name
    path.write_bytes(data)
    return name, path


@router.post("/inspections/rounds/{round_id}/findings", include_in_schema=False)
def record(request: Request, round_id: int, viewer: CurrentViewer,
           unit_id: Annotated[int, Form()], item: Annotated[str, Form(max_length=200)],
           result: Annotated[str, Form()], note: Annotated[str, Form(max_length=4000)] = "",
           photo: Annotated[UploadFile | None, File()] = None) -> Response:
    engine = get_engine(request)
    with read_session(engine) as session:
        plan, row = _round(request, session, viewer, round_id)
        if not _records(viewer, plan.id):
            raise deny(request, viewer, entity="inspection_round", entity_id=round_id,
                       what="检查轮次")
        unit = session.get(Unit, unit_id)
    back = f"/inspections/rounds/{round_id}#unit-{unit_id}"
    stored: Path | None = None
    try:
        if unit is None:
            raise UserError.single("没有这个被检查单位", field="unit_id")
        if viewer.acts_for(unit_id):
            raise UserError.single("不能检查本单位", field="unit_id")
        if result not in RESULTS:
            raise UserError.single("请选择检查结果", field="result")
        name, stored = _store_photo(request, photo)
        with write_session(engine) as session:
            outcome = record_finding(
                session, plan_code=plan.code, round_ref=row.code, unit=unit.code,
                item=item, result=result, note=note.strip() or None,
                photo=f"{PHOTO_DIR}/{name}" if name else None,
                calendar=work_calendar(request), now=now_utc(), actor=viewer.actor)
    except UserError as exc:
        if stored is not None:
            stored.unlink(missing_ok=True)  # nothing half-written: no orphan photo
        with read_session(engine) as session:
            plan, row = _round(request, session, viewer, round_id)
            context = _round_context(session, viewer, plan, row)
        return render(request, "inspection_round.html",
                      {**context, "error": f"{unit.name if unit else ''}：{exc}"},
                      status_code=422)
    except BaseException:  # the commit failed, say: the photo goes with the finding
        if stored is not None:
            stored.unlink(missing_ok=True)
        raise
    message = f"已记录：{unit.name} {item} {FINDING_RESULT_LABELS[result]}"
    if outcome.rectification is not None and outcome.created and result == "fail":
        message += f"；已生成整改任务（{outcome.rectification.due_on:%Y-%m-%d} 前完成）"
    flash(request, message)
    return RedirectResponse(back, status_code=303)


@router.get("/inspections/findings/{finding_id}/photo", include_in_schema=False)
def finding_photo(request: Request, finding_id: int, session: ReadDB, viewer: CurrentViewer
                  ) -> Response:
    finding = session.get(InspectionFinding, finding_id)
    row = session.get(InspectionRound, finding.round_id) if finding else None
    if finding is None or row is None or not finding.photo or \
            not finding.photo.startswith(f"{PHOTO_DIR}/") or not viewer.sees_plan(row.plan_id):
        raise deny(request, viewer, entity="finding", entity_id=finding_id, what="照片")
    name = Path(finding.photo).name  # stored names are ours: hex + extension
    path = request.app.state.settings.data_dir / PHOTO_DIR / name
    if not path.is_file():
        raise deny(request, viewer, entity="finding", entity_id=finding_id, what="照片")
    media = "image/png" if name.endswith(".png") else "image/jpeg"
    return FileResponse(path, media_type=media,
                        headers={"X-Content-Type-Options": "nosniff",
                                 "Cache-Control": "private, max-age=3600"})


# -- the programme --------------------------------------------------------------------------


def _programme(request: Request, session, viewer: Viewer, plan: Plan, *,
               error: str | None = None, form: dict | None = None, status_code: int = 200
               ) -> Response:
    cycles = list(session.scalars(select(InspectionCycle).where(
        InspectionCycle.plan_id == plan.id).order_by(InspectionCycle.id)))
    units = {u.code: u.name for u in session.scalars(select(Unit).where(Unit.code.in_(
        [c for cycle in cycles for c in cycle.unit_codes])))}
    return render(request, "inspection_programme.html", {
        "viewer": viewer, "title": f"{plan.title} · 检查安排", "plan": plan, "cycles": cycles,
        "unit_names": units, "kinds": ROUND_KIND_LABELS, "error": error, "form": form or {},
        "coordinates": viewer.coordinates(plan.id)}, status_code=status_code)


@router.get("/plans/{plan_id}/inspections", include_in_schema=False)
def programme_page(request: Request, plan_id: int, session: ReadDB, viewer: CurrentViewer
                   ) -> Response:
    return _programme(request, session, viewer, _plan(request, session, viewer, plan_id))


def _coordinated_plan(request: Request, viewer: Viewer, plan_id: int) -> Plan:
    with read_session(get_engine(request)) as session:
        plan = _plan(request, session, viewer, plan_id)
    if not viewer.coordinates(plan_id):
        raise deny(request, viewer, entity="plan", entity_id=plan_id, what="实施方案")
    return plan


@router.post("/plans/{plan_id}/inspections", include_in_schema=False)
def programme_add(request: Request, plan_id: int, viewer: CurrentViewer,
                  title: Annotated[str, Form(max_length=300)] = "",
                  kind: Annotated[str, Form()] = "inspection",
                  when: Annotated[str, Form(max_length=100)] = "",
                  recurrence: Annotated[str, Form(max_length=100)] = "",
                  units: Annotated[str, Form(max_length=4000)] = "",
                  notice_days: Annotated[str, Form(max_length=3)] = "",
                  rectify_within: Annotated[str, Form(max_length=3)] = "",
                  note: Annotated[str, Form(max_length=2000)] = "") -> Response:
    plan = _coordinated_plan(request, viewer, plan_id)
    form = {"title": title, "kind": kind, "when": when, "recurrence": recurrence,
            "units": units, "notice_days": notice_days, "rectify_within": rectify_within,
            "note": note}
    engine = get_engine(request)
    try:
        numbers = {}
        for name, text in (("notice_days", notice_days), ("rectify_within", rectify_within)):
            text = text.strip()
            if text and not text.isdigit():
                raise UserError.single("请填写工作日天数（整数）", field=name)
            numbers[name] = int(text) if text else None
        with write_session(engine) as session:
            cycle = add_cycle(session, plan=session.get(Plan, plan_id), title=title, kind=kind,
                              when=when, recurrence=recurrence, units=split_units(units),
                              note=note, actor=viewer.actor, now=now_utc(), **numbers)
            label = f"{cycle.code} {cycle.title}"
    except UserError as exc:
        with read_session(engine) as session:
            return _programme(request, session, viewer, plan, error=str(exc), form=form,
                              status_code=422)
    flash(request, f"已添加检查安排 {label}；点击“生成本年检查轮次”排定日期")
    return RedirectResponse(f"/plans/{plan_id}/inspections", status_code=303)


@router.post("/plans/{plan_id}/inspections/{cycle_id}/delete", include_in_schema=False)
def programme_remove(request: Request, plan_id: int, cycle_id: int, viewer: CurrentViewer
                     ) -> Response:
    plan = _coordinated_plan(request, viewer, plan_id)
    engine = get_engine(request)
    try:
        with write_session(engine) as session:
            remove_cycle(session, plan=session.get(Plan, plan_id), cycle_id=cycle_id,
                         actor=viewer.actor, now=now_utc())
    except UserError as exc:
        with read_session(engine) as session:
            return _programme(request, session, viewer, plan, error=str(exc), status_code=422)
    flash(request, "已删除该检查安排（已生成的检查轮次和检查记录保留）")
    return RedirectResponse(f"/plans/{plan_id}/inspections", status_code=303)


@router.post("/plans/{plan_id}/inspections/rounds", include_in_schema=False)
def programme_rounds(request: Request, plan_id: int, viewer: CurrentViewer) -> Response:
    plan = _coordinated_plan(request, viewer, plan_id)
    tz = request.app.state.settings.tz
    year = now_utc().astimezone(tz).year
    with write_session(get_engine(request)) as session:
        views = generate_rounds(session, year=year, calendar=work_calendar(request),
                                now=now_utc(), plan_code=plan.code, actor=viewer.actor)
    made = sum(v.created for v in views)
    flash(request, f"{year} 年共 {len(views)} 轮检查，新排定 {made} 轮，"
                   f"通知 {sum(v.notices for v in views)} 条已写入发件箱")
    return RedirectResponse(f"/inspections?year={year}", status_code=303)
