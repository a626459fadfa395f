"""The sweep: find what is due, decide with the pure rules, write state and outbox rows.

Cost follows the number of due actions, not the size of the database: each batch selects only
tasks whose ``next_action_at`` has come, through the partial index. A batch is one write
transaction: state changes are compare-and-set on (id, state, next_action_at), and every
message is an outbox row with a unique idempotency key inserted in the same transaction, so
two sweeps at once, or the same sweep twice, write each message once.

On PostgreSQL the batch's rows are claimed FOR UPDATE SKIP LOCKED, so concurrent sweeps
split the work; on SQLite the write transaction starts with BEGIN IMMEDIATE, so they queue.

The work is set-based (see bench/sweep.py for what it costs): due rows are read as plain Core
rows, not ORM objects; the compare-and-set UPDATEs of a batch go out as one executemany per
shape of change, checked by their summed row count (a short count rolls the savepoint back and
redoes the batch row by row, so each task's outcome is known); outbox and audit rows are one
executemany each.
"""

from __future__ import annotations

import gc
import logging
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta
from functools import cache, lru_cache
from operator import attrgetter, itemgetter
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr
from sqlalchemy import Connection, Engine, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from taskflow.db import write_session
from taskflow.domain.messages import MessageKind
from taskflow.domain.reminders import Decision, TaskFacts, decide, digest_day, goes_alone
from taskflow.domain.states import TaskState
from taskflow.domain.workdays import Clock, Days
from taskflow.models import AuditEvent, Plan, Task, TaskUnit
from taskflow.plans.schema import PolicySpec
from taskflow.services.outbox import assertion, digests_gone, insert_outbox, outbox_row
from taskflow.services.recipients import Directory, Recipient
from taskflow.services.weekly import sweep_weekly

log = logging.getLogger(__name__)

PUSH_BACK = timedelta(hours=1)  # a task whose rule raised is looked at again after this
BATCH_SIZE = 1000  # tasks per write transaction
DECISION_MEMO = 50_000  # distinct decisions kept per plan and sweep
ACTOR = "engine"
UNREACHABLE_EXAMPLES = 10  # the sweep names this many of the actions nobody could receive


@dataclass
class SweepReport:
    batches: int = 0
    tasks: int = 0
    activated: int = 0
    messages: Counter = field(default_factory=Counter)  # by kind
    escalations: Counter = field(default_factory=Counter)  # by level
    occurrences: int = 0
    lost_races: int = 0  # another sweep had already handled the task
    unreachable: int = 0  # actions whose selectors found nobody with an address
    # the first few of them: (plan code, task code, kind, the selectors that found nobody)
    unreachable_examples: list[tuple[str, str, str, str]] = field(default_factory=list)
    errors: list[tuple[int, str, str]] = field(default_factory=list)  # (task id, code, error)
    # wall-clock seconds by stage: directory, select, decide, write, commit
    seconds: Counter = field(default_factory=Counter)

    def merge(self, other: SweepReport) -> None:
        for name in ("batches", "tasks", "activated", "occurrences", "lost_races",
                     "unreachable"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.messages.update(other.messages)
        self.escalations.update(other.escalations)
        self.unreachable_examples.extend(
            other.unreachable_examples[:max(0, UNREACHABLE_EXAMPLES
                                            - len(self.unreachable_examples))])
        self.errors.extend(other.errors)
        self.seconds.update(other.seconds)


_TASK = Task.__table__
_PLAN = Plan.__table__
# What the sweep reads of a due task (plain Core rows: no ORM objects, no JSON columns).
_TASK_COLUMN_NAMES = (
    "id", "plan_id", "parent_id", "code", "title", "kind", "state", "position", "start_on",
    "due_on", "start_at", "due_at", "activated_at", "acknowledged_at", "escalation_level",
    "recurrence", "materialized_until", "next_action_at")
_TASK_COLUMNS = tuple(_TASK.c[name] for name in _TASK_COLUMN_NAMES)
# TaskFacts from a row: its fields but is_leaf and has_units (which the sweep works out),
# by position; has_units is the last field.
_FACT_FIELDS = [f.name for f in fields(TaskFacts)]
_LEAF_AT = _FACT_FIELDS.index("is_leaf")
_row_facts = itemgetter(*(_TASK_COLUMN_NAMES.index(name) for name in _FACT_FIELDS
                          if name not in ("is_leaf", "has_units")))
# Every fact decide() looks at: all of TaskFacts but the id, which it never reads.
_facts_but_id = attrgetter(*(name for name in _FACT_FIELDS if name != "id"))


@dataclass
class _PlanContext:
    plan: Any  # a row of plan: id, code, title, year, timezone, jurisdiction_id, issuer_id
    policy: PolicySpec
    tz: ZoneInfo
    clock: Clock
    days: Days
    digests: dict[datetime, tuple[date, datetime]] = field(default_factory=dict)  # by now
    # Decisions by (now, facts but the id): decide() does not look at the id, and the tasks
    # of a plan come in cohorts (the same deadline, state and start), so most are repeats.
    decisions: dict[tuple, Decision] = field(default_factory=dict)

    def decide(self, facts: TaskFacts, now: datetime) -> Decision:
        key = (now, _facts_but_id(facts))
        found = self.decisions.get(key)
        if found is None:
            if len(self.decisions) >= DECISION_MEMO:
                self.decisions.clear()
            found = self.decisions[key] = decide(facts, now, self.policy, self.days,
                                                 self.clock)
        return found

    def digest_day(self, now: datetime) -> tuple[date, datetime]:
        if now not in self.digests:
            self.digests[now] = digest_day(now, self.days, self.clock)
        return self.digests[now]


class _Contexts:
    """Plans' policies, clocks and day arithmetic, read once per sweep (their caches too)."""

    def __init__(self, calendar):
        self.calendar = calendar
        self.cache: dict[int, _PlanContext] = {}

    def get(self, connection: Connection, plan_id: int) -> _PlanContext:
        if plan_id not in self.cache:
            plan = connection.execute(select(
                _PLAN.c.id, _PLAN.c.code, _PLAN.c.title, _PLAN.c.year, _PLAN.c.timezone,
                _PLAN.c.jurisdiction_id, _PLAN.c.issuer_id, _PLAN.c.policy)
                .where(_PLAN.c.id == plan_id)).one()
            policy = PolicySpec.model_validate(plan.policy or {})
            tz = ZoneInfo(plan.timezone)
            self.cache[plan_id] = _PlanContext(
                plan, policy, tz, Clock(tz, policy),
                Days(self.calendar, calendar_days=policy.calendar_days))
        return self.cache[plan_id]


def _executemany(connection: Connection, statement, rows: list[dict[str, Any]]) -> int:
    """``connection.execute(statement, rows)``, faster on SQLite; returns the summed rowcount.

    On SQLite, SQLAlchemy's executemany runs every column's type processor on every value of
    every row, and in the sweep's writes that costs more than the database does (instants are
    converted to text, the same ``now`` 20,000 times). Here the statement is compiled once, the
    same processors are used, each runs once per distinct hashable value of its column, and
    the rows go to the DB-API executemany as they would. Anything unusual (a bind the rows do
    not fill, such as a column default) takes SQLAlchemy's own path.
    """
    dialect = connection.dialect
    if dialect.name != "sqlite" or not rows:
        return connection.execute(statement, rows).rowcount
    sql, binds = _compiled(statement, dialect, tuple(rows[0]))
    if sql is None:
        return connection.execute(statement, rows).rowcount
    columns = []
    for name, process in binds:
        values = [row[name] for row in rows]
        columns.append(values if process is None else _processed(values, process))
    params = list(zip(*columns, strict=True))
    return connection.exec_driver_sql(sql, params).rowcount


@lru_cache(maxsize=256)
def _compiled(statement, dialect, keys: tuple[str, ...]):
    """(SQL, [(bind name, processor)]) of a statement for rows with ``keys``, or (None, None)."""
    compiled = statement.compile(dialect=dialect, column_keys=list(keys))
    names = compiled.positiontup or ()
    if not compiled.positional or any(name not in keys for name in names):
        return None, None
    return compiled.string, [
        (name, compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect))
        for name in names]


def _processed(values: list[Any], process) -> list[Any]:
    """``[process(v) for v in values]``, calling process once per distinct hashable value."""
    memo: dict[tuple[type, Any, int], Any] = {}
    out = []
    for value in values:
        # equal is not enough: 1 == True, and two wall times that differ only by fold are
        # equal but are different instants
        key = (value.__class__, value, getattr(value, "fold", 0))
        try:
            found = memo.get(key, memo)
        except TypeError:  # unhashable (a JSON document): once per object
            return _processed_by_identity(values, process)
        if found is memo:
            found = memo[key] = process(value)
        out.append(found)
    return out


def _processed_by_identity(values: list[Any], process) -> list[Any]:
    """Once per object: ``values`` keeps them all alive, so their ids are distinct."""
    memo: dict[int, Any] = {}
    out = []
    for value in values:
        found = memo.get(id(value), memo)
        if found is memo:
            found = memo[id(value)] = process(value)
        out.append(found)
    return out


def _insert(dialect_name: str, table):
    """An INSERT that knows ON CONFLICT on the backends that have it."""
    return (postgresql.insert(table) if dialect_name == "postgresql" else
            sqlite.insert(table) if dialect_name == "sqlite" else insert(table))


def sweep(engine: Engine, *, now: datetime, calendar, batch_size: int = BATCH_SIZE,
          plan_ids: list[int] | None = None, max_batches: int | None = None) -> SweepReport:
    """Run batches until nothing is due at ``now``; each batch is its own transaction."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    report = SweepReport()
    directory: Directory | None = None
    contexts = _Contexts(calendar)
    while max_batches is None or report.batches < max_batches:
        with _collector_paused(), write_session(engine) as session:
            if directory is None:
                started = time.perf_counter()
                directory = Directory.load(session)
                report.seconds["directory"] += time.perf_counter() - started
            batch = _sweep_batch(session, now=now, batch_size=batch_size, plan_ids=plan_ids,
                                 directory=directory, contexts=contexts)
            committing = time.perf_counter()
        batch.seconds["commit"] += time.perf_counter() - committing
        if batch.tasks == 0:
            report.seconds.update(batch.seconds)
            _fund_lags(engine, now=now, calendar=calendar, plan_ids=plan_ids,
                       directory=directory, report=report)
            _weekly(engine, now=now, calendar=calendar, plan_ids=plan_ids,
                    directory=directory, report=report)
            break
        report.merge(batch)
    return report


def _fund_lags(engine: Engine, *, now: datetime, calendar, plan_ids: list[int] | None,
               directory: Directory | None, report: SweepReport) -> None:
    """Once the due tasks are done: fund lines behind their disbursement schedule
    (taskflow.services.fund_lags; their own transaction, keyed outbox rows like the tasks')."""
    from taskflow.services.fund_lags import sweep_fund_lags

    started = time.perf_counter()
    with write_session(engine) as session:
        lags = sweep_fund_lags(session, now=now, calendar=calendar, plan_ids=plan_ids,
                               directory=directory or Directory.load(session))
    report.messages.update(lags.messages)
    report.unreachable += lags.unreachable
    report.seconds["funds"] += time.perf_counter() - started


def _weekly(engine: Engine, *, now: datetime, calendar, plan_ids: list[int] | None,
            directory: Directory | None, report: SweepReport) -> None:
    """On a week's first working day: the summaries of tasks past the top of the ladder
    (taskflow.services.weekly)."""
    started = time.perf_counter()
    with write_session(engine) as session:
        weekly = sweep_weekly(session, now=now, calendar=calendar, plan_ids=plan_ids,
                              directory=directory or Directory.load(session))
    if weekly.contacts:
        report.messages[MessageKind.weekly] += weekly.contacts
    report.unreachable += weekly.unreachable
    report.seconds["weekly"] += time.perf_counter() - started


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection during a batch (as timeit does while it measures).

    A batch makes tens of thousands of short-lived containers (rows, outbox documents) and
    creates almost no reference cycles; the collector's full passes over them cost about a
    tenth of the sweep (bench/sweep.py). It is switched back on when the batch ends, whatever
    happens, unless it was off before.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _facts(task, is_leaf: bool, has_units: bool) -> TaskFacts:
    values = _row_facts(task)
    return TaskFacts(*values[:_LEAF_AT], is_leaf, *values[_LEAF_AT:], has_units)


def _sweep_batch(session: Session, *, now: datetime, batch_size: int,
                 plan_ids: list[int] | None, directory: Directory,
                 contexts: _Contexts) -> SweepReport:
    report = SweepReport(batches=1)
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        report.seconds[stage] += time.perf_counter() - clock
        clock = time.perf_counter()

    connection = session.connection()
    query = (select(*_TASK_COLUMNS)
             .where(_TASK.c.next_action_at <= now, _TASK.c.archived_at.is_(None))
             .order_by(_TASK.c.next_action_at, _TASK.c.id).limit(batch_size))
    if plan_ids:
        query = query.where(_TASK.c.plan_id.in_(plan_ids))
    if connection.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=_TASK)
    tasks = _readable_rows(connection, query, now, report)
    report.tasks = len(tasks) + len(report.errors)
    if not tasks:
        return report
    ids = [t.id for t in tasks]
    parents = set(connection.scalars(select(_TASK.c.parent_id).where(
        _TASK.c.parent_id.in_(ids), _TASK.c.archived_at.is_(None))).all())
    units_by_task: dict[int, dict[str, tuple[int, ...]]] = {}
    link = TaskUnit.__table__.c
    for task_id, unit_id, role in connection.execute(
            select(link.task_id, link.unit_id, link.role)
            .where(link.task_id.in_(ids)).order_by(link.position)).all():
        units = units_by_task.setdefault(task_id, {})
        units[role] = (*units.get(role, ()), unit_id)
    lap("select")

    decided: list[tuple[Any, Decision, list[dict[str, Any]], list[dict[str, Any]]]] = []
    for task in tasks:
        ctx = contexts.get(connection, task.plan_id)
        units = units_by_task.get(task.id, {})
        # Everything that can fail on a task's data is computed before anything is written,
        # so a bad row is pushed back whole instead of half-applied or stopping the sweep.
        try:
            decision = ctx.decide(_facts(task, task.id not in parents, bool(units)), now)
            occurrences = (_occurrence_rows(task, ctx, decision.materialize_until, now)
                           if decision.materialize_until is not None else [])
            messages = _messages(task, ctx, decision, directory, units, now, report)
        except Exception as exc:
            log.exception("rule failed for task %s", task.id)
            _push_back(connection, task, now, f"{type(exc).__name__}: {exc}", report)
            continue
        decided.append((task, decision, occurrences, messages))
    lap("decide")

    won = _compare_and_set(connection,
                           [(task, decision) for task, decision, _, _ in decided], now)
    outbox: list[dict[str, Any]] = []
    audits: list[dict[str, Any]] = []
    for task, decision, occurrences, messages in decided:
        if task.id not in won:
            report.lost_races += 1
            continue
        if decision.state == TaskState.active:
            report.activated += 1
            audits.append(_audit(task, now, "task.activate", *_ACTIVATED))
        if decision.escalation_level is not None:
            report.escalations[decision.escalation_level] += 1
            audits.append(_audit(task, now, "task.escalate", _level(task.escalation_level),
                                 _level(decision.escalation_level)))
        if occurrences:
            report.occurrences += _insert_occurrences(
                connection, occurrences, units_by_task.get(task.id, {}))
        outbox.extend(messages)
    _after_sent_digests(connection, outbox, contexts)
    kinds = {row["message"]: row["kind"] for row in outbox}
    for message in {message for message, _ in insert_outbox(connection, outbox)}:
        report.messages[kinds[message]] += 1
    if audits:
        _executemany(connection, _AUDIT_INSERT, audits)
    lap("write")
    return report


def _messages(task, ctx: _PlanContext, decision: Decision, directory: Directory,
              units: Mapping[str, Sequence[int]], now: datetime, report: SweepReport
              ) -> list[dict[str, Any]]:
    """Outbox rows for the decision's actions: one per recipient and channel."""
    rows: list[dict[str, Any]] = []
    if not decision.actions:
        return rows
    about: tuple[dict[str, Any], dict[str, Any]] | None = None
    asserted: dict[str, Any] | None = None
    for action in decision.actions:
        recipients: tuple[Recipient, ...] = directory.resolve(
            action.recipients, units_by_role=units, jurisdiction_id=ctx.plan.jurisdiction_id,
            issuer_id=ctx.plan.issuer_id)
        if not recipients:
            report.unreachable += 1
            if len(report.unreachable_examples) < UNREACHABLE_EXAMPLES:
                report.unreachable_examples.append(
                    (ctx.plan.code, task.code, action.kind, "、".join(action.recipients)))
            continue
        if about is None:
            about = _about(task, ctx, directory, units)
            level = decision.escalation_level
            asserted = assertion(
                state=decision.state or task.state, due_on=task.due_on,
                level=task.escalation_level if level is None else level,
                unit_ids=[u for ids in units.values() for u in ids])
        if goes_alone(ctx.policy, action.kind, action.level):
            digest_on, not_before = None, now
        else:
            digest_on, not_before = ctx.digest_day(now)
        rows.extend(outbox_row(
            message=f"t{task.id}:{action.occurrence}:{action.kind}:L{action.level}",
            kind=action.kind, recipient=r, payload=_payload(about, action), now=now,
            plan_id=task.plan_id, task_id=task.id, level=action.level,
            not_before=not_before, digest_on=digest_on, asserted=asserted)
            for r in recipients)
    return rows


def _after_sent_digests(connection: Connection, rows: list[dict[str, Any]],
                        contexts: _Contexts) -> None:
    """Digest rows for a contact whose digest of that day has gone out already join the
    next working day's digest (one digest per contact, channel and day)."""
    digest_rows = [row for row in rows if row["digest_on"] is not None]
    if not digest_rows:
        return
    gone = digests_gone(connection, {row["contact_id"] for row in digest_rows},
                        {row["digest_on"] for row in digest_rows})
    for row in digest_rows:
        if (row["contact_id"], row["channel"], row["digest_on"]) in gone:
            ctx = contexts.cache[row["plan_id"]]
            day = ctx.days.add(row["digest_on"], 1)
            row["digest_on"], row["not_before"] = day, ctx.clock.at(day)


def _change(decision: Decision, now: datetime) -> dict[str, Any]:
    """The columns the decision sets."""
    next_at = decision.next_action_at
    if next_at is not None and next_at <= now:
        next_at = now + timedelta(minutes=1)  # never select the same row again in this sweep
    values: dict[str, Any] = {"next_action_at": next_at, "sweep_error": None}
    if decision.state is not None:
        values.update(state=decision.state, activated_at=decision.activated_at, updated_at=now)
    if decision.escalation_level is not None:
        values["escalation_level"] = decision.escalation_level
    if decision.materialize_until is not None:
        values["materialized_until"] = decision.materialize_until
    return values


def _compare_and_set(connection: Connection, items: list[tuple[Any, Decision]],
                     now: datetime) -> set[int]:
    """Write each decision only if nobody changed its task since we read it.

    Returns the ids of the tasks written. The UPDATEs go out as one executemany per shape
    of change (which columns it sets); when a group's summed row count is short, some task
    changed under us: the group's savepoint is rolled back and its rows are redone one by
    one, so exactly the unchanged tasks are written.
    """
    groups: dict[tuple[tuple[str, ...], bool], list[dict[str, Any]]] = {}
    for task, decision in items:
        values = _change(decision, now)
        params = {f"v_{name}": value for name, value in values.items()}
        params.update(b_id=task.id, b_state=task.state, b_next=task.next_action_at)
        groups.setdefault((tuple(values), task.next_action_at is None), []).append(params)
    won: set[int] = set()
    for (columns, next_is_null), rows in groups.items():
        statement = _cas_statement(columns, next_is_null)
        if len(rows) > 1:
            savepoint = connection.begin_nested()  # SAVEPOINT, on this very connection
            if _executemany(connection, statement, rows) == len(rows):
                savepoint.commit()
                won.update(row["b_id"] for row in rows)
                continue
            savepoint.rollback()
        for row in rows:
            if connection.execute(statement, row).rowcount == 1:
                won.add(row["b_id"])
    return won


@cache
def _cas_statement(columns: tuple[str, ...], next_is_null: bool):
    same_instant = (_TASK.c.next_action_at.is_(None) if next_is_null
                    else _TASK.c.next_action_at == bindparam("b_next"))
    return (update(_TASK)
            .where(_TASK.c.id == bindparam("b_id"), _TASK.c.state == bindparam("b_state"),
                   same_instant)
            .values({name: bindparam(f"v_{name}", type_=_TASK.c[name].type)
                     for name in columns}))


def _readable_rows(connection: Connection, query, now: datetime, report: SweepReport) -> list:
    """The due rows. A row that cannot be read (a date edited by hand in the SQLite file:
    the driver's converter raises while the batch is fetched, before any per-task guard) is
    read alone, and each unreadable one is pushed back with its error; the others go on."""
    try:
        return connection.execute(query).all()
    except (ValueError, TypeError, OverflowError):
        pass
    rows = []
    for task_id, code in connection.execute(query.with_only_columns(
            _TASK.c.id, _TASK.c.code)).all():
        try:
            rows.append(connection.execute(query.where(_TASK.c.id == task_id)).one())
        except (ValueError, TypeError, OverflowError) as exc:
            log.error("unreadable row for task %s: %s", task_id, exc)
            _push_back(connection, _Unreadable(task_id, code), now,
                       f"{type(exc).__name__}: 无法读取任务记录：{exc}", report)
    return rows


@dataclass
class _Unreadable:
    id: int
    code: str


def _push_back(connection: Connection, task, now: datetime, error: str,
               report: SweepReport) -> None:
    connection.execute(update(_TASK).where(_TASK.c.id == task.id).values(
        next_action_at=now + PUSH_BACK, sweep_error=error[:2000]))
    report.errors.append((task.id, task.code, error))


# Audit documents: shared (read-only) so that each is serialised once per batch.
_ACTIVATED = ({"state": "pending"}, {"state": "active"})


@cache
def _level(level: int) -> dict[str, int]:
    return {"escalation_level": level}


_AUDIT_INSERT = insert(AuditEvent.__table__)


def _audit(task, now: datetime, action: str, before: dict, after: dict) -> dict:
    return {"at": now, "actor": ACTOR, "action": action, "entity": "task",
            "entity_id": task.id, "plan_id": task.plan_id, "before": before, "after": after,
            "note": None}


def _about(task, ctx: _PlanContext, directory: Directory, units: Mapping[str, Sequence[int]]
           ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The parts of a message's payload that are the same for all of a task's actions."""
    head = {"plan_code": ctx.plan.code, "plan_title": ctx.plan.title, "task_code": task.code,
            "task_title": task.title,
            "due_on": task.due_on.isoformat() if task.due_on else None}
    tail = {"lead_units": directory.names(units.get("lead", ())),
            "responsible_units": directory.names(units.get("responsible", ()))}
    return head, tail


def _payload(about: tuple[dict[str, Any], dict[str, Any]], action) -> dict[str, Any]:
    """What a template needs to word the message (the notifications package renders it)."""
    head, tail = about
    return {**head, "days": action.days, "level": action.level,
            "consequence": action.consequence, **tail}


def _occurrence_rows(duty, ctx: _PlanContext, until: date, now: datetime
                     ) -> list[dict[str, Any]]:
    """The duty's occurrences (one task per period) whose period starts by ``until``.

    Each occurrence spans from one recurrence instant to the day before the next; its
    deadline is the last day of that span. Codes are "<duty>@<start>", so materialising the
    same period twice inserts nothing.
    """
    start = duty.start_on or date(ctx.plan.year, 1, 1)
    end = duty.due_on or date(ctx.plan.year, 12, 31)
    midnight = datetime.min.time()
    rule = rrulestr(duty.recurrence, dtstart=datetime.combine(start, midnight))
    starts = [d.date() for d in rule.between(datetime.combine(start, midnight),
                                             datetime.combine(end, midnight), inc=True)]
    rows = []
    for i, period_start in enumerate(starts):
        if period_start > until:
            break
        if duty.materialized_until and period_start <= duty.materialized_until:
            continue
        period_end = starts[i + 1] - timedelta(days=1) if i + 1 < len(starts) else end
        start_at = datetime.combine(period_start, midnight, ctx.tz)
        due_at = datetime.combine(period_end + timedelta(days=1), midnight, ctx.tz)
        rows.append({
            "plan_id": duty.plan_id, "parent_id": duty.id,
            "code": f"{duty.code}@{period_start.isoformat()}", "kind": "occurrence",
            "title": f"{duty.title}（{period_start.isoformat()}至{period_end.isoformat()}）",
            "position": duty.position, "start_on": period_start, "due_on": period_end,
            "planned_due_on": period_end, "start_at": start_at, "due_at": due_at,
            "state": "pending", "progress_plan": [], "acceptance": [], "escalation_level": 0,
            "next_action_at": start_at, "created_at": now, "updated_at": now,
        })
    return rows


def _insert_occurrences(connection: Connection, rows: list[dict[str, Any]],
                        units: Mapping[str, Sequence[int]]) -> int:
    inserted = 0
    for row in rows:
        new_id = connection.scalar(_insert(connection.dialect.name, _TASK).values(**row)
                                   .on_conflict_do_nothing(index_elements=["plan_id", "code"])
                                   .returning(_TASK.c.id))
        if new_id is None:
            continue  # another sweep made it first
        inserted += 1
        links = [{"task_id": new_id, "unit_id": unit_id, "role": role, "position": i}
                 for role, unit_ids in units.items() for i, unit_id in enumerate(unit_ids)]
        if links:
            connection.execute(insert(TaskUnit.__table__), links)
    return inserted
