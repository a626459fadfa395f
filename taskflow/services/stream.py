"""Figures of the message stream people received: how many messages, to whom, how often, and
whether each reminder the rules decided reached someone who can act on it.

Read from the outbox and the audit trail after the fact (taskflow simulate prints them and
writes them with --report-json; bench/reminders.py checks its own run with them):

- a *message* is what a person receives: one Message-ID (a digest of many rows is one);
- ``per_contact``: messages per contact over the period (median, 95th percentile, max);
- ``per_contact_week_max``: the most messages one contact got in one ISO week;
- ``per_contact_channel_day_max``: the most non-urgent messages one contact got on one
  channel in one day (urgent escalations go alone and are not counted here);
- ``due_actions``: the reminders, chases, escalations and fund-lag notices the rules decided
  (one per task or fund line and slot: an outbox ``message``) that were still true when it
  was time to send them; the ones no longer true are ``withdrawn``;
  (plus, when the caller knows them from the sweeps, the ``unreachable`` ones that found
  nobody with an address and were never written);
- ``due_actions_delivered``: of those, the ones sent (alone or in a digest) to at least one
  contact who can act on the task: a contact of a unit that acts on it (named, or a member of
  a named collective), or for an escalation one of the people the ladder names;
- ``stale_sent``: messages sent about a task after something they assert had stopped being
  true (the task was cancelled, accepted, submitted, extended or reassigned between the
  message's writing and its sending, per the audit trail).
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from taskflow.domain.messages import MessageKind, OutboxStatus
from taskflow.models import AuditEvent, Contact, Notification
from taskflow.services.org import acting_units, load_org

# Kinds that are about a task and must reach someone who can act on it.
ACTION_KINDS = (MessageKind.assigned, MessageKind.ack_chase, MessageKind.due_soon,
                MessageKind.due_today, MessageKind.overdue, MessageKind.escalation,
                MessageKind.fund_lag)
# Audit actions that make a message about the task stale, and the kinds they make stale.
_STALES = {"task.cancel": ACTION_KINDS, "task.accept": ACTION_KINDS,
           "task.submit": ACTION_KINDS, "task.extend": ACTION_KINDS,
           "task.assign": ACTION_KINDS, "task.acknowledge": (MessageKind.ack_chase,)}


@dataclass
class StreamFigures:
    messages: int = 0
    by_channel: dict[str, int] = field(default_factory=dict)
    by_kind: dict[str, int] = field(default_factory=dict)
    contacts: int = 0
    per_contact: dict[str, float] = field(default_factory=dict)  # median, p95, max
    per_contact_week_max: int = 0
    per_contact_channel_day_max: int = 0
    due_actions: int = 0
    due_actions_delivered: int = 0
    undelivered: list[str] = field(default_factory=list)  # the first few, for reading
    unreachable: int = 0  # decided, but nobody with an address (counted in due_actions)
    withdrawn: int = 0
    stale_sent: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def stream_figures(session: Session, *, since: datetime, until: datetime, tz: tzinfo,
                   urgent_level: int = 2) -> StreamFigures:
    """The figures of what was written from ``since`` (inclusive) to ``until`` (exclusive)."""
    n = Notification.__table__.c
    rows = session.execute(select(
        n.id, n.message, n.message_id, n.task_id, n.contact_id, n.kind, n.level, n.channel,
        n.status, n.digest_on, n.created_at, n.sent_at, n.not_before, n.asserted)
        .where(n.created_at >= since, n.created_at < until)).all()
    figures = StreamFigures()
    sent = [r for r in rows if r.status == OutboxStatus.sent]
    messages = {r.message_id for r in sent}
    figures.messages = len(messages)
    first_row: dict[str, Any] = {}
    for r in sorted(sent, key=lambda r: r.id):
        first_row.setdefault(r.message_id, r)
    digests = {r.message_id for r in sent if r.digest_on is not None}
    figures.by_channel = dict(Counter(r.channel for r in first_row.values()))
    figures.by_kind = dict(Counter(
        "digest" if mid in digests else r.kind for mid, r in first_row.items()))
    _per_contact(figures, sent, tz, urgent_level)
    _actions(session, figures, rows, until)
    figures.stale_sent = _stale(session, sent)
    return figures


def _per_contact(figures: StreamFigures, sent, tz: tzinfo, urgent_level: int) -> None:
    by_contact: dict[int | None, set[str]] = defaultdict(set)
    by_week: dict[tuple, set[str]] = defaultdict(set)
    by_day: dict[tuple, set[str]] = defaultdict(set)
    for r in sent:
        by_contact[r.contact_id].add(r.message_id)
        local = r.sent_at.astimezone(tz)
        by_week[(r.contact_id, *local.isocalendar()[:2])].add(r.message_id)
        urgent = r.digest_on is None and r.kind == MessageKind.escalation and \
            r.level >= urgent_level
        if not urgent:
            by_day[(r.contact_id, r.channel, local.date())].add(r.message_id)
    counts = sorted(len(v) for v in by_contact.values())
    figures.contacts = len(counts)
    if counts:
        figures.per_contact = {
            "median": statistics.median(counts),
            "p95": counts[min(len(counts) - 1, round(0.95 * (len(counts) - 1)))],
            "max": counts[-1]}
    figures.per_contact_week_max = max((len(v) for v in by_week.values()), default=0)
    figures.per_contact_channel_day_max = max((len(v) for v in by_day.values()), default=0)


def _actions(session: Session, figures: StreamFigures, rows, until: datetime) -> None:
    """due_actions, delivered and withdrawn, by the outbox ``message`` of task reminders."""
    by_action: dict[str, list] = defaultdict(list)
    for r in rows:
        if r.kind in ACTION_KINDS and r.task_id is not None:
            by_action[r.message].append(r)
    task_ids = sorted({r.task_id for group in by_action.values() for r in group})
    acting = acting_units(session, task_ids, load_org(session)) if task_ids else {}
    units = dict(session.execute(select(Contact.id, Contact.unit_id)).all())
    for message, group in by_action.items():
        if all(r.status == OutboxStatus.skipped or (
                r.status == OutboxStatus.pending and r.not_before >= until) for r in group):
            continue  # due after the period (the next digest); copies on unused channels
        if all(r.status == OutboxStatus.withdrawn for r in group):
            figures.withdrawn += 1
            continue
        figures.due_actions += 1
        reached = [r for r in group if r.status == OutboxStatus.sent]
        escalation = group[0].kind == MessageKind.escalation or group[0].level > 0
        if any(escalation or units.get(r.contact_id) in acting.get(r.task_id, ())
               for r in reached):
            figures.due_actions_delivered += 1
        elif len(figures.undelivered) < 20:
            statuses = sorted({str(r.status) for r in group})
            figures.undelivered.append(f"{message}（{'、'.join(statuses)}）")


def _stale(session: Session, sent) -> int:
    """Sent messages about a task that changed (per the audit trail) between the message's
    writing and its sending in a way that makes what it says untrue."""
    about = [r for r in sent if r.task_id is not None and r.kind in ACTION_KINDS]
    if not about:
        return 0
    changes: dict[int, list[tuple[datetime, str]]] = defaultdict(list)
    a = AuditEvent.__table__.c
    for task_id, at, action in session.execute(select(a.entity_id, a.at, a.action).where(
            a.entity == "task", a.action.in_(list(_STALES)),
            a.entity_id.in_(sorted({r.task_id for r in about})))).all():
        changes[task_id].append((at, action))
    stale = 0
    for r in about:
        for at, action in changes.get(r.task_id, ()):
            if r.created_at < at <= r.sent_at and r.kind in _STALES[action]:
                stale += 1
                break
    return stale
