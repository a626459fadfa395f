"""What the task, unit and report-link pages share: loading a task within the viewer's scope,
gathering a task page's facts, reading numbers from forms, recording a report with files."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from sqlalchemy import select
from sqlmodel import Session

from taskflow.domain.labels import (
    AUDIT_LABELS,
    CHANNEL_LABELS,
    MESSAGE_KIND_LABELS,
    OUTBOX_STATUS_PAGE_LABELS,
)
from taskflow.domain.lights import planned_share
from taskflow.errors import UserError
from taskflow.models import (
    Attachment,
    AuditEvent,
    Notification,
    Plan,
    ProgressReport,
    Task,
    TaskUnit,
    Unit,
)
from taskflow.services import tasks as actions
from taskflow.services.lights import latest_progress, lights
from taskflow.services.links import acting_unit_ids
from taskflow.web import uploads
from taskflow.web.access import Viewer
from taskflow.web.deps import deny

HISTORY_LIMIT = 200
MESSAGES_LIMIT = 200
SESSION_FLASH = "flash"


def work_calendar(request: Request):
    """The working-day calendar (chinese-calendar plus the data directory's holiday files),
    loaded once per app."""
    calendar = getattr(request.app.state, "work_calendar", None)
    if calendar is None:
        from taskflow.calendar import WorkCalendar

        calendar = WorkCalendar.load(request.app.state.settings.data_dir / "holidays")
        request.app.state.work_calendar = calendar
    return calendar


def flash(request: Request, message: str) -> None:
    request.session.setdefault(SESSION_FLASH, [])
    request.session[SESSION_FLASH] = [*request.session[SESSION_FLASH], message]


def render(request: Request, name: str, context: dict[str, Any], status_code: int = 200):
    flashes = request.session.pop(SESSION_FLASH, []) if "session" in request.scope else []
    max_mb = max(1, request.app.state.settings.upload_max_bytes // (1024 * 1024))
    return request.app.state.templates.TemplateResponse(
        request, name, {"flashes": flashes, "max_mb": max_mb, **context},
        status_code=status_code)


def parse_decimal(value: str | None, label: str, *, low: Decimal | None = None,
                  high: Decimal | None = None) -> Decimal | None:
    text = (value or "").strip().replace(",", "").replace("，", "")
    if not text:
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise UserError.single(f"{label}应为数字，收到「{text[:20]}」", field=label) from None
    if not number.is_finite():
        raise UserError.single(f"{label}应为数字，收到「{text[:20]}」", field=label)
    if (low is not None and number < low) or (high is not None and number > high):
        span = f"{low if low is not None else ''}–{high if high is not None else ''}"
        raise UserError.single(f"{label}应在 {span} 之间，收到 {number}", field=label)
    return number


def parse_day(value: str | None, label: str) -> date:
    try:
        return date.fromisoformat((value or "").strip())
    except ValueError:
        raise UserError.single(f"{label}应为日期（如 2025-06-30），收到「{(value or '')[:20]}」",
                               field=label) from None


def visible_task(request: Request, session: Session, viewer: Viewer, task_id: int) -> Task:
    """The task, or deny() (404 + audit) when it is missing, archived or out of scope."""
    task = session.get(Task, task_id)
    if task is None or task.archived_at is not None or not viewer.sees_task(session, task):
        raise deny(request, viewer, entity="task", entity_id=task_id, what="任务")
    return task


def acting_units(session: Session, task: Task, viewer: Viewer) -> list[Unit]:
    """The units the viewer may acknowledge, report and submit for on this task."""
    ids = sorted(u for u in acting_unit_ids(session, task.id) if viewer.acts_for(u))
    return list(session.scalars(select(Unit).where(Unit.id.in_(ids)).order_by(Unit.code))) \
        if ids else []


@dataclass
class Schedule:
    """Progress against the planned schedule (计划进度 vs 实际进度)."""

    points: list[dict[str, Any]] = field(default_factory=list)  # by, planned %, label
    planned_now: Decimal | None = None
    actual: Decimal | None = None
    latest: ProgressReport | None = None


def actual_percent(task: Task, report: ProgressReport | None) -> Decimal | None:
    if report is None:
        return None
    if report.percent is not None:
        return Decimal(report.percent)
    if report.quantity is not None and task.target_value:
        return (Decimal(report.quantity) * 100 / Decimal(task.target_value)).quantize(
            Decimal("0.1"))
    return None


def schedule(session: Session, task: Task, today: date) -> Schedule:
    latest = latest_progress(session, [task.id]).get(task.id)
    points = []
    for point in task.progress_plan or []:
        value = Decimal(point["cumulative"])
        share = value if point.get("share", True) else (
            value * 100 / Decimal(task.target_value) if task.target_value else None)
        label = f"{value}%" if point.get("share", True) else \
            f"{value} {task.target_unit or ''}".strip()
        points.append({"by": date.fromisoformat(point["by"]), "share": share, "label": label,
                       "reached": date.fromisoformat(point["by"]) <= today})
    planned = planned_share(task.progress_plan or [], today, task.target_value) \
        if task.progress_plan else None
    return Schedule(points=points, planned_now=planned, actual=actual_percent(task, latest),
                    latest=latest)


def task_context(session: Session, task: Task, viewer: Viewer, *, now: datetime,
                 calendar) -> dict[str, Any]:
    plan = session.get(Plan, task.plan_id)
    tz = ZoneInfo(plan.timezone)
    links = list(session.scalars(select(TaskUnit).where(TaskUnit.task_id == task.id)
                                 .order_by(TaskUnit.role, TaskUnit.position)))
    unit_rows = {u.id: u for u in session.scalars(select(Unit).where(
        Unit.id.in_([link.unit_id for link in links])))} if links else {}
    rank = {"lead": 0, "responsible": 1, "cooperating": 2}
    units = [(link.role, unit_rows[link.unit_id])
             for link in sorted(links, key=lambda x: (rank.get(x.role, 9), x.position))]
    children = list(session.scalars(select(Task).where(
        Task.parent_id == task.id, Task.archived_at.is_(None)).order_by(Task.position)))
    parent = session.get(Task, task.parent_id) if task.parent_id else None
    if parent is not None and not viewer.sees_task(session, parent):
        parent = None
    light_of = lights(session, [task, *children], now=now, calendar=calendar)
    reports = list(session.scalars(select(ProgressReport).where(
        ProgressReport.task_id == task.id).order_by(ProgressReport.reported_at.desc(),
                                                    ProgressReport.id.desc())))
    files: dict[int | None, list[Attachment]] = {}
    for attachment in session.scalars(select(Attachment).where(
            Attachment.task_id == task.id).order_by(Attachment.id)):
        files.setdefault(attachment.report_id, []).append(attachment)
    report_units = {u.id: u.name for u in session.scalars(select(Unit).where(Unit.id.in_(
        sorted({r.unit_id for r in reports if r.unit_id}))))} if reports else {}
    history = list(session.scalars(select(AuditEvent).where(
        AuditEvent.entity == "task", AuditEvent.entity_id == task.id)
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(HISTORY_LIMIT)))
    messages = list(session.execute(select(Notification.kind, Notification.channel,
                                           Notification.status, Notification.created_at,
                                           Notification.sent_at, Notification.payload,
                                           Notification.level, Notification.last_error)
                                    .where(Notification.task_id == task.id)
                                    .order_by(Notification.created_at.desc(),
                                              Notification.id.desc())
                                    .limit(MESSAGES_LIMIT)))
    coordinator = viewer.coordinates(task.plan_id)
    all_units = list(session.scalars(select(Unit).where(Unit.kind != "county")
                                     .order_by(Unit.code))) if coordinator else []
    return {
        "task": task, "plan": plan, "units": units, "children": children, "parent": parent,
        "light": light_of.get(task.id), "lights": light_of, "reports": reports, "files": files,
        "report_units": report_units, "history": history, "messages": messages,
        "schedule": schedule(session, task, now.astimezone(tz).date()),
        "coordinator": coordinator, "acting": acting_units(session, task, viewer),
        "all_units": all_units,
        "lead_ids": {u.id for role, u in units if role == "lead"},
        "responsible_ids": {u.id for role, u in units if role == "responsible"},
        "audit_labels": AUDIT_LABELS, "notify_status": OUTBOX_STATUS_PAGE_LABELS,
        "channel_labels": CHANNEL_LABELS, "allowed_types": uploads.ALLOWED,
        "kind_labels": MESSAGE_KIND_LABELS,
    }


@dataclass
class ReportInput:
    percent: Decimal | None
    quantity: Decimal | None
    amount: Decimal | None
    note: str | None
    below_target_confirmed: bool = False  # "提交办结" although the target is not reached


def report_input(form) -> ReportInput:
    note = (form.get("note") or "").strip() or None
    if note and len(note) > 4000:
        raise UserError.single("进展说明最多 4000 字", field="进展说明")
    return ReportInput(
        percent=parse_decimal(form.get("percent"), "完成比例", low=Decimal(0),
                              high=Decimal(100)),
        quantity=parse_decimal(form.get("quantity"), "完成数量", low=Decimal(0)),
        amount=parse_decimal(form.get("amount"), "资金拨付（元）", low=Decimal(0)),
        note=note, below_target_confirmed=form.get("confirm_below_target") == "1")


def _figure(value: Decimal) -> str:
    return format(Decimal(value).normalize(), "f")


def target_shortfall(session: Session, task: Task) -> str | None:
    """What is missing from a task's quantitative target by its latest report, in words
    ("目标 2 次，已报送 1 次，尚差 1 次"); None when it has no target or has reached it."""
    if not task.target_value:
        return None
    target, measure = Decimal(task.target_value), task.target_unit or ""
    report = latest_progress(session, [task.id]).get(task.id)
    done = actual_percent(task, report)
    if done is not None and done >= 100:
        return None
    goal = f"目标 {_figure(target)} {measure}".rstrip()
    if report is not None and report.quantity is not None:
        quantity = Decimal(report.quantity)
        return (f"{goal}，已报送 {_figure(quantity)} {measure}，"
                f"尚差 {_figure(target - quantity)} {measure}").rstrip()
    if done is not None:
        return f"{goal}，已报送完成比例 {_figure(done)}%"
    return f"{goal}，尚未报送完成数量"


def record(session: Session, task: Task, unit: Unit, action: str, *, actor: str,
           now: datetime, data: ReportInput | None, files: list[uploads.CheckedFile],
           data_dir: Path) -> list[Path]:
    """acknowledge / report / submit for ``unit``; the files go with the report (or the
    submission). Returns the stored paths, for the caller to remove if its commit fails."""
    if action == "acknowledge":
        actions.acknowledge(session, task, unit=unit.code, actor=actor, now=now)
        return []
    report_id = None
    if action == "report":
        data = data or ReportInput(None, None, None, None)
        report = actions.report_progress(session, task, unit=unit.code, actor=actor, now=now,
                                         percent=data.percent, quantity=data.quantity,
                                         amount=data.amount, note=data.note)
        report_id = report.id
    elif action == "submit":
        shortfall = target_shortfall(session, task)
        if shortfall and not (data and data.below_target_confirmed):
            raise UserError.single(f"尚未达到目标：{shortfall}。如确需提交办结，请勾选"
                                   "“未达到目标仍提交办结”并说明原因后再提交。")
        actions.submit(session, task, unit=unit.code, actor=actor, now=now,
                       note=data.note if data else None)
    else:
        raise UserError.single(f"未知的操作「{action}」", field="操作")
    if not files:
        return []
    rows, paths = uploads.store(files, data_dir=data_dir, task_id=task.id, unit_id=unit.id,
                                report_id=report_id, uploader=actor, now=now)
    try:
        session.add_all(rows)
        session.flush()
    except BaseException:
        uploads.remove(paths)
        raise
    return paths
