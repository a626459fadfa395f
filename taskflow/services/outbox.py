"""Writing the outbox: every message the core makes is a row built and inserted here.

A row names its message, its recipient and its channel. ``message`` says what the message is
and what it is about ("t12:2025-06-10:overdue3:overdue:L0": task 12, the third overdue slot of
its 10 June deadline); it is the same for every recipient and every channel, so a message's
rows on other channels (its siblings) and a contact's rows of a day are found by query. The
idempotency key (unique) is the message, the contact and the channel: writing the same
message twice, from a second sweep or a retried request, inserts nothing.

A row also says what it asserts about its task (``asserted``: the task's state, deadline,
escalation level and units when it was written). Just before sending, the dispatcher asks
``recheck`` whether that still holds: a message about a task that has been cancelled,
accepted, submitted, extended or given to another unit since is withdrawn, and the others are
worded with the task's figures at that moment (days overdue, deadline, title).

The notifications package sends the rows; nothing here does I/O beyond the caller's
transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from taskflow.domain.messages import MessageKind, OutboxStatus
from taskflow.domain.states import TaskState
from taskflow.domain.workdays import Days
from taskflow.models import Contact, Notification, Plan, Task, TaskUnit
from taskflow.plans.schema import PolicySpec
from taskflow.services.recipients import Recipient

_N = Notification.__table__
# A contact's digest of a day has had its message once any of its rows went out (or is going).
DIGEST_GONE = (OutboxStatus.sent, OutboxStatus.sending, OutboxStatus.ambiguous)


def outbox_key(message: str, contact_id: int | None, channel: str) -> str:
    """The idempotency key of one message to one contact on one channel."""
    return f"{message}:c{contact_id}:{channel}"


def outbox_row(*, message: str, kind: str, recipient: Recipient, payload: dict[str, Any],
               now: datetime, plan_id: int | None, task_id: int | None = None,
               level: int = 0, not_before: datetime | None = None,
               digest_on: date | None = None, asserted: dict[str, Any] | None = None
               ) -> dict[str, Any]:
    """One outbox row: ``message`` to ``recipient`` on the recipient's channel.

    ``payload`` is what the templates word the message from (the recipient's name is added);
    ``not_before`` defaults to now (the dispatcher decides quiet hours); ``digest_on`` puts
    it in that day's digest for the contact instead of sending it alone.
    """
    return {
        "key": outbox_key(message, recipient.contact_id, recipient.channel),
        "message": message, "plan_id": plan_id, "task_id": task_id,
        "contact_id": recipient.contact_id, "kind": kind, "level": level,
        "channel": recipient.channel, "address": recipient.address,
        "payload": {**payload, "recipient": recipient.name}, "digest_on": digest_on,
        "asserted": asserted,
        "status": OutboxStatus.pending.value, "created_at": now,
        "not_before": not_before or now, "attempts": 0,
    }


@cache
def _insert_skipping_known(dialect_name: str):
    """INSERT ... ON CONFLICT (key) DO NOTHING RETURNING message, contact: a known key
    inserts nothing, and what comes back is exactly the rows written (drivers disagree on the
    row count of an executemany, PostgreSQL's says -1)."""
    statement = (postgresql.insert(_N) if dialect_name == "postgresql" else
                 sqlite.insert(_N) if dialect_name == "sqlite" else insert(_N))
    return statement.on_conflict_do_nothing(index_elements=["key"]).returning(
        _N.c.message, _N.c.contact_id)


def insert_outbox(connection: Connection, rows: Sequence[dict[str, Any]]
                  ) -> list[tuple[str, int | None]]:
    """Insert the rows whose key is new; (message, contact) of each row written."""
    if not rows:
        return []
    statement = _insert_skipping_known(connection.dialect.name)
    return [tuple(found) for found in connection.execute(statement, list(rows)).all()]


def digests_gone(connection: Connection, contact_ids: set[int | None], days: set[date], *,
                 but: set[int] = frozenset()) -> set[tuple[int | None, str, date]]:
    """(contact, channel, day) of the digests among ``contact_ids`` and ``days`` that have
    gone out or are going out (rows ``but`` aside). Read through the digest index: the
    status is checked here, since a condition on it lets SQLite pick the status index and
    walk every sent row."""
    return {(contact, channel, day) for contact, channel, day, status, row_id in
            connection.execute(select(_N.c.contact_id, _N.c.channel, _N.c.digest_on,
                                      _N.c.status, _N.c.id).where(
                _N.c.contact_id.in_(contact_ids), _N.c.digest_on.in_(days))).all()
            if status in DIGEST_GONE and row_id not in but}


def assertion(*, state: str, due_on: date | None, level: int, unit_ids: Sequence[int]
              ) -> dict[str, Any]:
    """What a message about a task asserts (Notification.asserted)."""
    return {"state": str(state), "due_on": due_on.isoformat() if due_on else None,
            "level": level, "units": sorted(set(unit_ids))}


# Kinds whose text states the deadline and that the unit still owes the work.
DEADLINE_KINDS = frozenset({MessageKind.assigned, MessageKind.due_soon, MessageKind.due_today,
                            MessageKind.overdue, MessageKind.escalation,
                            MessageKind.supervision})
OVERDUE_KINDS = frozenset({MessageKind.overdue, MessageKind.escalation, MessageKind.assigned})
_T = Task.__table__
_TU = TaskUnit.__table__
_C = Contact.__table__
_P = Plan.__table__


def recheck(connection: Connection, rows: Sequence[Any], now: datetime, *, calendar
            ) -> dict[int, str | dict[str, Any]]:
    """For each outbox row about a task: why it no longer holds (a reason, in Chinese), or
    the task's current figures for its text.

    ``rows`` need ``id``, ``task_id``, ``contact_id``, ``kind`` and ``asserted``.
    """
    task_ids = {r.task_id for r in rows if r.task_id is not None}
    if not task_ids:
        return {}
    tasks = {t.id: t for t in connection.execute(select(
        _T.c.id, _T.c.plan_id, _T.c.title, _T.c.state, _T.c.due_on, _T.c.escalation_level,
        _T.c.archived_at).where(_T.c.id.in_(task_ids))).all()}
    units: dict[int, set[int]] = {}
    for task_id, unit_id in connection.execute(select(_TU.c.task_id, _TU.c.unit_id).where(
            _TU.c.task_id.in_(task_ids))).all():
        units.setdefault(task_id, set()).add(unit_id)
    contact_units = dict(connection.execute(select(_C.c.id, _C.c.unit_id).where(
        _C.c.id.in_({r.contact_id for r in rows if r.contact_id is not None}))).all())
    clocks = _PlanClocks(connection, calendar)
    out: dict[int, str | dict[str, Any]] = {}
    for row in rows:
        task = tasks.get(row.task_id)
        reason = _no_longer(row, task, units.get(row.task_id, set()),
                            contact_units.get(row.contact_id))
        if reason is not None:
            out[row.id] = reason
            continue
        fresh: dict[str, Any] = {"task_title": task.title,
                                 "due_on": task.due_on.isoformat() if task.due_on else None}
        if row.kind in OVERDUE_KINDS and task.due_on is not None:
            days, today = clocks.days(task.plan_id)
            late = days.between(task.due_on, today(now))
            if late > 0 or row.kind != MessageKind.assigned:
                fresh["days"] = max(late, 0)
        out[row.id] = fresh
    return out


def _no_longer(row, task, unit_ids: set[int], contact_unit: int | None) -> str | None:
    if task is None:
        return "任务已删除"
    if task.archived_at is not None:
        return "任务已从方案中移除"
    if task.state == TaskState.cancelled:
        return "任务已撤销"
    if task.state == TaskState.done:
        return "任务已办结"
    asserted = row.asserted or {}
    kind = row.kind
    if kind == MessageKind.ack_chase and task.state != TaskState.active:
        return "承办单位已签收"
    if kind in DEADLINE_KINDS and task.state == TaskState.submitted:
        return "承办单位已提交办结"
    said_due = asserted.get("due_on")
    due = task.due_on.isoformat() if task.due_on else None
    if kind in DEADLINE_KINDS and said_due is not None and said_due != due:
        return f"完成时限已调整为{due or '无'}"
    said_units = asserted.get("units")
    if said_units is not None and contact_unit in said_units and contact_unit not in unit_ids:
        return "承办单位已调整"
    return None


class _PlanClocks:
    """Each plan's day arithmetic and local day, read once per recheck."""

    def __init__(self, connection: Connection, calendar):
        self.connection = connection
        self.calendar = calendar
        self.found: dict[int, tuple[Days, Any]] = {}

    def days(self, plan_id: int) -> tuple[Days, Any]:
        if plan_id not in self.found:
            plan = self.connection.execute(select(_P.c.timezone, _P.c.policy).where(
                _P.c.id == plan_id)).one()
            policy = PolicySpec.model_validate(plan.policy or {})
            tz = ZoneInfo(plan.timezone)
            self.found[plan_id] = (Days(self.calendar, calendar_days=policy.calendar_days),
                                   lambda at, tz=tz: at.astimezone(tz).date())
        return self.found[plan_id]
