"""A plan's tasks made what its file says: compared as compact tuples, written in bulk.

One SELECT of the plan's task rows and one of their unit links give tuples; the resolved plan
gives the tuples it wants. New tasks are inserted in bulk, level by level (a parent's id is
known before its children are inserted); changed rows are updated with one executemany; tasks
no longer in the file are archived (never deleted: reports may hang on them). Each change,
restoration and archiving gets its audit row, as a coordinator's edit does. No ORM object per
task: a plan of 100,000 tasks is a few statements, not 100,000 objects to track and flush.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Text, bindparam, cast, func, insert, select, update
from sqlmodel import Session

from taskflow.db import json_text
from taskflow.domain.states import GENERATED_KINDS, TaskState
from taskflow.models import AuditEvent, Task, TaskUnit
from taskflow.plans.expand import ResolvedPlan, ResolvedTask

# Fields whose change a coordinator cares about; position and source_line follow silently.
TASK_FIELDS = ("parent", "kind", "title", "text", "schedule_text", "start_on", "due_on",
               "target_value", "target_unit", "progress_plan", "recurrence", "acceptance",
               "units")
DATE_FIELDS = {"start_on", "due_on", "recurrence"}
# The columns a plan file sets, in the order of a row's values tuple.
COLUMNS = ("kind", "title", "text", "schedule_text", "position", "start_on", "due_on",
           "planned_due_on", "start_at", "due_at", "target_value", "target_unit",
           "progress_plan", "recurrence", "acceptance", "source_line")
CHUNK = 5000  # rows per executemany: bounded memory, few round trips

_TASK = Task.__table__
_LINK = TaskUnit.__table__
_AUDIT = AuditEvent.__table__


@dataclass
class TaskChanges:
    """What the sync did, by task code (the import report copies them)."""

    added: list[str] = field(default_factory=list)
    changed: dict[str, list[str]] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)


# A plan has a few hundred distinct days and 100,000 tasks: each day's instants once.
@lru_cache(maxsize=4096)
def day_start(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tz).astimezone(UTC)


@lru_cache(maxsize=4096)
def day_end(day: date, tz: ZoneInfo) -> datetime:
    """The end of ``day`` in ``tz``: the first instant of the next day, as UTC."""
    return datetime.combine(day + timedelta(days=1), time(0), tz).astimezone(UTC)


def jsonable(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")  # 500.0000 and 500 compare (and print) alike
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    return value


def _number(value: Decimal | None) -> Decimal | None:
    # Numeric(18, 4) gives 500.0000 back for 500: compare the numbers, not their scales
    return value.normalize() if value is not None else None


_JSON = {"progress_plan", "acceptance"}
_PROGRESS = 5 + COLUMNS.index("progress_plan")  # positions in a selected row
_ACCEPTANCE = 5 + COLUMNS.index("acceptance")


def _decoded(text: str, wanted: Any) -> Any:
    """A JSON column's value: ``wanted`` itself when the text is what it encodes to."""
    if text == ("[]" if wanted == [] else json_text(wanted)):
        return wanted
    return json.loads(text)


def _sorted(units: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return units if len(units) < 2 else sorted(units)


def _values(spec: ResolvedTask, tz: ZoneInfo) -> tuple:
    """The row a task's spec asks for, in COLUMNS order."""
    return (spec.kind, spec.title, spec.text, spec.schedule_text, spec.position, spec.start_on,
            spec.due_on, spec.due_on, day_start(spec.start_on, tz) if spec.start_on else None,
            day_end(spec.due_on, tz) if spec.due_on else None,
            spec.target_value, spec.target_unit, spec.progress_plan, spec.recurrence,
            spec.acceptance, spec.source_line)


def _wanted(spec: ResolvedTask, units: list[tuple[str, str]]) -> tuple:
    """What a coordinator's view of the task compares: TASK_FIELDS order."""
    return (spec.parent_code, spec.kind, spec.title, spec.text, spec.schedule_text,
            spec.start_on, spec.due_on, _number(spec.target_value), spec.target_unit,
            spec.progress_plan, spec.recurrence, spec.acceptance, units)


def sync_tasks(session: Session, *, plan_id: int, resolved: ResolvedPlan,
               unit_ids: dict[str, int], actor: str, now: datetime) -> TaskChanges:
    """Make the plan's task rows and unit links what ``resolved`` says, in the session's
    transaction; the caller flushed its own pending changes first."""
    changes = TaskChanges()
    tz = ZoneInfo(resolved.timezone)
    year_start = day_start(date(resolved.year, 1, 1), tz)
    # JSON columns come as their text: most are "[]", compared without decoding
    columns = [cast(_TASK.c[name], Text) if name in _JSON else _TASK.c[name]
               for name in COLUMNS]
    rows = {row.code: row for row in session.execute(select(
        _TASK.c.id, _TASK.c.code, _TASK.c.parent_id, _TASK.c.archived_at,
        _TASK.c.next_action_at, *columns).where(_TASK.c.plan_id == plan_id)).all()}
    code_by_id = {row.id: code for code, row in rows.items()}
    unit_codes = {uid: code for code, uid in unit_ids.items()}
    links: dict[int, dict[tuple[int, str], tuple[int, int]]] = {}
    for link_id, task_id, unit_id, role, position in session.execute(
            select(_LINK.c.id, _LINK.c.task_id, _LINK.c.unit_id, _LINK.c.role,
                   _LINK.c.position).join(_TASK, _TASK.c.id == _LINK.c.task_id)
            .where(_TASK.c.plan_id == plan_id)).all():
        links.setdefault(task_id, {})[(unit_id, role)] = (link_id, position)

    audits: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    ids = {code: row.id for code, row in rows.items()}
    new = [spec for spec in resolved.tasks if spec.code not in rows]
    changes.added = [spec.code for spec in new]
    _insert_new(session, new, plan_id, ids, tz, year_start, now)

    for spec in resolved.tasks:
        row = rows.get(spec.code)
        if row is None:
            continue
        values = _values(spec, tz)
        if row.due_on != row.planned_due_on:
            # A coordinator extended the deadline: the file moves the planned date only.
            values = (*values[:6], row.due_on, values[7], values[8], row.due_at, *values[10:])
        progress_plan = _decoded(row[_PROGRESS], spec.progress_plan)
        acceptance = _decoded(row[_ACCEPTANCE], spec.acceptance)
        current = (code_by_id.get(row.parent_id), row.kind, row.title, row.text,
                   row.schedule_text, row.start_on, row.planned_due_on,
                   _number(row.target_value), row.target_unit, progress_plan,
                   row.recurrence, acceptance,
                   _sorted([(unit_codes[unit_id], role)
                            for unit_id, role in links.get(row.id, ())]))
        wanted = _wanted(spec, _sorted(spec.units))
        changed = [name for name, have, want in zip(TASK_FIELDS, current, wanted, strict=True)
                   if have != want]
        extra: dict[str, Any] = {}
        parent_id = ids[spec.parent_code] if spec.parent_code else None
        if row.parent_id != parent_id:
            extra["parent_id"] = parent_id
        if row.archived_at is not None:
            extra.update(archived_at=None, next_action_at=now)
            changes.restored.append(spec.code)
            audits.append(_audit(now, actor, "task.restore", row.id, plan_id))
        if changed:
            changes.changed[spec.code] = changed
            audits.append(_audit(now, actor, "task.update", row.id, plan_id,
                                 before={f: jsonable(current[TASK_FIELDS.index(f)])
                                         for f in changed},
                                 after={f: jsonable(wanted[TASK_FIELDS.index(f)])
                                        for f in changed}))
            if DATE_FIELDS.intersection(changed):
                # The schedule moved: let the engine look at the task again now.
                extra["next_action_at"] = min(extra.get("next_action_at", row.next_action_at)
                                              or now, now)
            extra["updated_at"] = now
        have_values = (*row[5:_PROGRESS], progress_plan, *row[_PROGRESS + 1:_ACCEPTANCE],
                       acceptance, *row[_ACCEPTANCE + 1:])
        if extra or have_values != values:
            updates.append({"_id": row.id, **dict(zip(COLUMNS, values, strict=True)),
                            "parent_id": extra.pop("parent_id", row.parent_id),
                            "archived_at": extra.pop("archived_at", row.archived_at),
                            "next_action_at": extra.pop("next_action_at",
                                                        row.next_action_at),
                            "updated_at": extra.pop("updated_at", None)})
    _update_rows(session, updates)
    _sync_links(session, resolved.tasks, ids, links, unit_ids)

    wanted_codes = {spec.code for spec in resolved.tasks}
    gone = [(code, row.id) for code, row in rows.items() if code not in wanted_codes
            and row.archived_at is None and row.kind not in GENERATED_KINDS]
    if gone:
        _execute(session, update(_TASK).where(_TASK.c.id == bindparam("_id")).values(
            archived_at=now, next_action_at=None, updated_at=now),
            ({"_id": task_id} for _, task_id in gone))
        changes.removed = [code for code, _ in gone]
        audits.extend(_audit(now, actor, "task.archive", task_id, plan_id,
                             note="已从方案文件中删除") for _, task_id in gone)
    _execute(session, insert(_AUDIT), audits)
    _expire_tasks(session)
    return changes


def _insert_new(session: Session, new: list[ResolvedTask], plan_id: int, ids: dict[str, int],
                tz: ZoneInfo, year_start: datetime, now: datetime) -> None:
    """Insert new tasks level by level, each level's rows knowing their parent's id."""
    depth: dict[str, int] = {}
    levels: dict[int, list[ResolvedTask]] = {}
    for spec in new:  # tree order: a parent comes before its children
        level = depth[spec.parent_code] + 1 if spec.parent_code in depth else 0
        depth[spec.code] = level
        levels.setdefault(level, []).append(spec)
    for level in sorted(levels):
        # rows inserted now get ids above any this plan has (ids only grow)
        floor = session.scalar(select(func.max(_TASK.c.id))) or 0
        for chunk in _chunks(levels[level], CHUNK):
            params = []
            for spec in chunk:
                row = dict(zip(COLUMNS, _values(spec, tz), strict=True))
                # The engine activates the task at its start; a task without one runs from
                # the start of the plan year (a sweep after that activates it).
                row.update(plan_id=plan_id, code=spec.code,
                           parent_id=ids[spec.parent_code] if spec.parent_code else None,
                           state=TaskState.pending.value, escalation_level=0,
                           next_action_at=row["start_at"] or year_start, created_at=now,
                           updated_at=now)
                params.append(row)
            session.execute(insert(_TASK), params)
        ids.update(session.execute(select(_TASK.c.code, _TASK.c.id).where(
            _TASK.c.plan_id == plan_id, _TASK.c.id > floor)).all())


def _update_rows(session: Session, updates: list[dict[str, Any]]) -> None:
    if not updates:
        return
    # rows whose updated_at stays as it was keep it: only a reported change moves it
    touched = [u for u in updates if u["updated_at"] is not None]
    quiet = [{k: v for k, v in u.items() if k != "updated_at"} for u in updates
             if u["updated_at"] is None]
    names = [*COLUMNS, "parent_id", "archived_at", "next_action_at"]
    statement = update(_TASK).where(_TASK.c.id == bindparam("_id"))
    _execute(session, statement.values({n: bindparam(n) for n in names}), quiet)
    _execute(session, statement.values({n: bindparam(n) for n in [*names, "updated_at"]}),
             touched)


def _sync_links(session: Session, specs: list[ResolvedTask], ids: dict[str, int],
                links: dict[int, dict[tuple[int, str], tuple[int, int]]],
                unit_ids: dict[str, int]) -> None:
    """Each task's unit links as its spec lists them (role and order)."""
    added, moved, dropped = [], [], []
    for spec in specs:
        task_id = ids[spec.code]
        have = links.get(task_id, {})
        wanted = {(unit_ids[code], role): position
                  for position, (code, role) in enumerate(spec.units)}
        for key, (link_id, position) in have.items():
            if key not in wanted:
                dropped.append(link_id)
            elif position != wanted[key]:
                moved.append({"_id": link_id, "position": wanted[key]})
        added.extend({"task_id": task_id, "unit_id": unit_id, "role": role,
                      "position": position}
                     for (unit_id, role), position in wanted.items() if (unit_id, role)
                     not in have)
    for chunk in _chunks(dropped, CHUNK):
        session.execute(_LINK.delete().where(_LINK.c.id.in_(chunk)))
    _execute(session, update(_LINK).where(_LINK.c.id == bindparam("_id")).values(
        position=bindparam("position")), moved)
    _execute(session, insert(_LINK), added)


def _audit(now: datetime, actor: str, action: str, task_id: int, plan_id: int, *,
           before: dict | None = None, after: dict | None = None,
           note: str | None = None) -> dict[str, Any]:
    return {"at": now, "actor": actor, "action": action, "entity": "task",
            "entity_id": task_id, "plan_id": plan_id, "before": before, "after": after,
            "note": note}


def _execute(session: Session, statement, params: Iterable[dict[str, Any]]) -> None:
    """``statement`` once per parameter set, as executemany in bounded chunks."""
    for chunk in _chunks(params, CHUNK):
        session.execute(statement, chunk)


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _expire_tasks(session: Session) -> None:
    """Task and link objects the session may hold were written around it: reload them."""
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Task | TaskUnit):
            session.expire(obj)
