"""iCalendar (.ics) feeds of deadlines and inspection rounds, for a plan or a unit.

One all-day VEVENT per live task or milestone with a deadline, on its due day in the plan's
timezone, and one per inspection round on its scheduled day. UIDs are stable per task and due
day, so a calendar that subscribes sees an extended deadline as a new event, not a duplicate.
The CLI (`taskflow export ics`) and, later, the web feed call :func:`build_calendar`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import Session, select

from taskflow.domain.labels import STATE_LABELS, UNIT_ROLE_LABELS
from taskflow.domain.states import TaskState
from taskflow.errors import UserError
from taskflow.models import InspectionAssignment, InspectionRound, Plan, Task
from taskflow.services import queries

DOMAIN = "taskflow"


def task_uid(plan: Plan, task: Task) -> str:
    return f"task-{plan.code}-{task.code}-{task.due_on:%Y%m%d}@{DOMAIN}"


def round_uid(plan: Plan, row: InspectionRound) -> str:
    return f"round-{plan.code}-{row.cycle_code}-{row.scheduled_on:%Y%m%d}@{DOMAIN}"


def build_calendar(session: Session, *, plan: str | None = None, unit: str | None = None,
                   now: datetime | None = None) -> bytes:
    """The .ics bytes of a plan's (or a unit's, or a unit's in a plan) deadlines and rounds."""
    from icalendar import Calendar, Event

    if plan is None and unit is None:
        raise UserError.single("请指定 --plan 或 --unit")
    stamp = (now or datetime.now(UTC)).astimezone(UTC)
    plan_row = queries.get_plan(session, plan) if plan else None
    unit_row = queries.find_unit(session, unit) if unit else None
    rows = [(t, p) for t, p in queries.search_tasks(session, now=stamp, plan=plan, unit=unit)
            if t.due_on is not None and t.state != TaskState.cancelled]
    links = queries.task_units(session, [t.id for t, _ in rows])
    units = queries.units_by_id(session)

    cal = Calendar()
    cal.add("prodid", "-//taskflow//扶贫专项任务期限//ZH")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    names = [x for x in (plan_row.title if plan_row else None,
                         unit_row.name if unit_row else None) if x]
    cal.add("x-wr-calname", f"{' · '.join(names)} 任务期限与检查")
    cal.add("x-wr-timezone", plan_row.timezone if plan_row else "Asia/Shanghai")

    for task, task_plan in sorted(rows, key=lambda r: (r[0].due_on, r[1].code, r[0].position)):
        event = Event()
        event.add("uid", task_uid(task_plan, task))
        event.add("dtstamp", stamp)
        event.add("dtstart", task.due_on)
        event.add("dtend", task.due_on + timedelta(days=1))
        kind = "节点" if task.kind == "milestone" else "期限"
        event.add("summary", f"【{kind}】{task.code} {task.title}")
        lines = [f"方案：{task_plan.title}（{task_plan.code}）"]
        for role in ("lead", "responsible", "cooperating"):
            named = "、".join(units[link.unit_id].name for link in links.get(task.id, [])
                             if link.role == role)
            if named:
                lines.append(f"{UNIT_ROLE_LABELS[role]}：{named}")
        lines.append(f"状态：{STATE_LABELS.get(task.state, task.state)}")
        event.add("description", "\n".join(lines))
        event.add("categories", [kind])
        cal.add_component(event)

    for row, round_plan in _rounds(session, plan_row, unit_row):
        event = Event()
        event.add("uid", round_uid(round_plan, row))
        event.add("dtstamp", stamp)
        event.add("dtstart", row.scheduled_on)
        event.add("dtend", row.scheduled_on + timedelta(days=1))
        event.add("summary", f"【检查】{row.title}")
        scope = "、".join(units[u.id].name for u in _scope_units(session, row, units))
        lines = [f"方案：{round_plan.title}（{round_plan.code}）"]
        if scope:
            lines.append(f"检查对象：{scope}")
        if row.notice_on:
            lines.append(f"通知日：{row.notice_on.isoformat()}")
        event.add("description", "\n".join(lines))
        event.add("categories", ["检查"])
        cal.add_component(event)
    return cal.to_ical()


def _rounds(session: Session, plan: Plan | None, unit) -> list[tuple[InspectionRound, Plan]]:
    query = select(InspectionRound, Plan).join(Plan, Plan.id == InspectionRound.plan_id)
    if plan is not None:
        query = query.where(InspectionRound.plan_id == plan.id)
    rows = list(session.exec(query.order_by(InspectionRound.scheduled_on, Plan.code)).all())
    if unit is None:
        return rows
    assigned = set(session.exec(select(InspectionAssignment.round_id).where(
        InspectionAssignment.unit_id == unit.id)).all())
    return [(r, p) for r, p in rows
            if r.id in assigned or unit.code in (r.scope or {}).get("units", [])]


def _scope_units(session: Session, row: InspectionRound, units: dict) -> list:
    codes = set((row.scope or {}).get("units", []))
    ids = set(session.exec(select(InspectionAssignment.unit_id).where(
        InspectionAssignment.round_id == row.id)).all())
    chosen = [u for u in units.values() if u.code in codes or u.id in ids]
    return sorted(chosen, key=lambda u: u.code)

