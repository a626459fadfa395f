"""A plan's task tree for its page: lights, filters, a page of rows, the timeline's bars.

Only columns are read (no ORM objects for thousands of tasks); lights come from
``rules.light`` through ``services.overview.light_of``; units and progress are fetched for
the rows of the page only.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import ColumnElement, select
from sqlmodel import Session

from taskflow.models import Plan, Task, TaskUnit, Unit
from taskflow.services.lights import latest_progress
from taskflow.services.overview import (
    LIGHT_COLUMNS,
    LIVE,
    PLANNED,
    WORKING,
    PlanRulesCache,
    actual_percent,
    candidate_lights,
    settled_light,
)
from taskflow.web.charts import Bar

PAGE_SIZE = 200
TIMELINE_ROWS = 60
LIGHTS = ("red", "yellow", "green", "none")

# Read for every task of the plan: only what the tree, the filters and the settled lights
# need; the rest is read for the candidates (lights) and the page's rows (details).
COLUMNS = (Task.id, Task.parent_id, Task.code, Task.kind, Task.title, Task.state,
           Task.start_on, Task.due_on, Task.due_at, Task.submitted_at, PLANNED)


@dataclass
class Filters:
    light: str = ""
    state: str = ""
    unit: int | None = None
    q: str = ""

    @property
    def active(self) -> bool:
        return bool(self.light or self.state or self.unit or self.q)


@dataclass
class Row:
    id: int
    code: str
    title: str
    kind: str
    state: str
    light: str
    depth: int
    due_on: date | None
    start_on: date | None
    recurrence: str | None
    target_value: Decimal | None
    target_unit: str | None
    context: bool = False  # shown only as the parent of a match
    lead: list[str] = field(default_factory=list)
    responsible: list[str] = field(default_factory=list)
    percent: Decimal | None = None

    @property
    def target(self) -> str:
        """The target as written (500 人次, not 5E+2)."""
        if self.target_value is None:
            return ""
        return f"{format(self.target_value.normalize(), 'f')}{self.target_unit or ''}"


@dataclass
class Tree:
    rows: list[Row]  # this page
    shown: int  # rows across all pages (matches and their parents)
    matches: int
    total: int  # tasks of the plan the viewer sees
    counts: Counter  # lights of all those tasks
    page: int
    pages: int
    bars: list[Bar]
    bars_more: int  # top-level tasks left out of the timeline
    units: list[tuple[int, str]]  # filter options


def plan_tree(session: Session, plan: Plan, *, scope: ColumnElement[bool], now: datetime,
              calendar, filters: Filters, page: int = 1) -> Tree:
    records = session.execute(select(*COLUMNS).where(Task.plan_id == plan.id, LIVE, scope)
                              .order_by(Task.position, Task.id)).all()
    lights = _lights(session, plan, records, now, calendar)
    by_id = {r.id: r for r in records}
    children: dict[int | None, list] = {}
    for r in records:  # a parent the viewer cannot see: the task is shown at the top level
        children.setdefault(r.parent_id if r.parent_id in by_id else None, []).append(r)

    order: list[tuple[object, int]] = []  # depth-first, siblings by position
    stack = [(r, 0) for r in reversed(children.get(None, []))]
    while stack:
        record, depth = stack.pop()
        order.append((record, depth))
        stack.extend((c, depth + 1) for c in reversed(children.get(record.id, [])))

    matched = _matches(session, plan, records, lights, filters)
    keep: set[int] = set()
    for task_id in matched:  # a match shows with its parents for context
        current = task_id
        while current is not None and current not in keep:
            keep.add(current)
            current = by_id[current].parent_id if by_id[current].parent_id in by_id else None
    shown = [(r, d) for r, d in order if r.id in keep]
    pages = max(1, -(-len(shown) // PAGE_SIZE))
    page = min(max(1, page), pages)
    window = shown[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
    rows = [Row(r.id, r.code, r.title, r.kind, r.state, lights[r.id], d, r.due_on, r.start_on,
                None, None, None, context=r.id not in matched)
            for r, d in window]
    _add_details(session, rows)

    roots = children.get(None, [])
    bars = []
    for r in roots[:TIMELINE_ROWS]:
        steps = [(c.due_on, c.title) for c in children.get(r.id, [])
                 if c.kind == "milestone" and c.due_on is not None]
        starts = [c.start_on for c in children.get(r.id, []) if c.start_on]
        start = r.start_on or (min(starts) if starts else None)
        end = r.due_on or max((d for d, _ in steps), default=None)
        bars.append(Bar(f"{r.code} {r.title}", start, end, lights[r.id], steps,
                        href=f"/tasks/{r.id}"))
    unit_rows = session.execute(
        select(Unit.id, Unit.name).where(Unit.id.in_(
            select(TaskUnit.unit_id).join(Task, Task.id == TaskUnit.task_id)
            .where(Task.plan_id == plan.id, LIVE, scope))).order_by(Unit.name)).all()
    return Tree(rows=rows, shown=len(shown), matches=len(matched), total=len(records),
                counts=Counter(lights.values()), page=page, pages=pages, bars=bars,
                bars_more=max(0, len(roots) - TIMELINE_ROWS),
                units=[(uid, name) for uid, name in unit_rows])


def _lights(session: Session, plan: Plan, records, now: datetime, calendar) -> dict[int, str]:
    """rules.light for every task; evaluated in full only where the state and deadline leave
    it open (working tasks near their deadline, tasks with a progress plan)."""
    plans = PlanRulesCache(session, calendar)
    until = plans.get(plan.id).window_end(now)
    lights: dict[int, str] = {}
    candidates = []
    for r in records:
        settled = settled_light(r.state, r.due_at, r.submitted_at, now)
        if settled is not None:
            lights[r.id] = settled
        elif r.planned or (r.state in WORKING and r.due_at is not None and r.due_at < until):
            candidates.append(r.id)
        else:
            lights[r.id] = "green"
    for chunk in range(0, len(candidates), 500):
        rows = session.execute(select(*LIGHT_COLUMNS).where(
            Task.id.in_(candidates[chunk:chunk + 500]))).all()
        lights.update(candidate_lights(session, rows, plans, now))
    return lights


def _matches(session: Session, plan: Plan, records, lights: dict[int, str],
             filters: Filters) -> set[int]:
    if not filters.active:
        return {r.id for r in records}
    unit_tasks: set[int] | None = None
    if filters.unit:
        unit_tasks = set(session.scalars(
            select(TaskUnit.task_id).join(Task, Task.id == TaskUnit.task_id)
            .where(Task.plan_id == plan.id, TaskUnit.unit_id == filters.unit)))
    needle = filters.q.strip().casefold()
    out = set()
    for r in records:
        if filters.light and lights[r.id] != filters.light:
            continue
        if filters.state and r.state != filters.state:
            continue
        if unit_tasks is not None and r.id not in unit_tasks:
            continue
        if needle and needle not in f"{r.code} {r.title}".casefold():
            continue
        out.add(r.id)
    return out


def _add_details(session: Session, rows: list[Row]) -> None:
    """Units, target, recurrence and the latest reported progress of the page's rows."""
    ids = [r.id for r in rows]
    if not ids:
        return
    details = {i: (rec, value, unit) for i, rec, value, unit in session.execute(
        select(Task.id, Task.recurrence, Task.target_value, Task.target_unit)
        .where(Task.id.in_(ids)))}
    names: dict[int, tuple[list[str], list[str]]] = {i: ([], []) for i in ids}
    for task_id, role, name in session.execute(
            select(TaskUnit.task_id, TaskUnit.role, Unit.name)
            .join(Unit, Unit.id == TaskUnit.unit_id).where(TaskUnit.task_id.in_(ids))
            .order_by(TaskUnit.task_id, TaskUnit.role, TaskUnit.position)):
        names[task_id][0 if role == "lead" else 1].append(name)
    reports = latest_progress(session, ids)
    for row in rows:
        row.lead, row.responsible = names[row.id]
        row.recurrence, row.target_value, row.target_unit = details[row.id]
        row.percent = actual_percent(reports.get(row.id), row.target_value)
