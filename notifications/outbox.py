"""The outbox table as the dispatcher sees it: claim due rows, record outcomes (plain SQL).

Every method here is one short write transaction (``taskflow.db.write_session``) and does no
network I/O. ``exchange`` records what the workers just sent and claims what they send next,
in the same transaction:

- **claim** (compare-and-set): due rows of a channel (``pending``/``failed``/``ambiguous``
  whose ``not_before`` has come, or ``sending`` whose lease expired: a dispatcher died
  holding it) are selected (PostgreSQL: ``FOR UPDATE SKIP LOCKED``; SQLite: the transaction
  began with ``BEGIN IMMEDIATE``), then each is updated ``WHERE id = ? AND status = ? AND
  attempts = ?`` to ``sending`` with a lease, ``attempts + 1`` (the attempt is recorded before
  any I/O) and its Message-ID (kept for every resend). Rows whose update finds them changed
  belong to someone else. A reclaimed ``sending`` row is flagged ``ambiguous``: whether the
  server got it is unknown.
- on the way, the policy: a row whose kind does not go out on its channel is ``skipped``
  when the contact has a row for the same message on a listed channel; SMS/IM in quiet hours
  get a later ``not_before`` (held); digest rows of one contact, channel and digest day are
  claimed together as one message, and a digest day that already had its message moves to
  the next working day (one digest per contact, channel and day, whatever raced);
- nothing stale: just before a row is claimed, ``recheck`` (the core's
  taskflow.services.outbox.recheck) compares what it asserts with its task now; a row that is
  no longer true is ``withdrawn`` with the reason, and the others get the task's current
  figures (days overdue, deadline, title) for their text.
- **record**: each outcome is written ``WHERE id = ? AND status = 'sending' AND attempts = ?``
  (the claim's own attempt number is the fence: a dispatcher whose lease expired and whose
  row was claimed again cannot overwrite the newer attempt). Transient failures get
  ``failed`` (or ``ambiguous``) with an exponential backoff, permanent ones ``dead`` with the
  reason; transient failures past ``give_up_at`` are dead too.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, func, or_, select, update

from notifications.policy import Policy
from taskflow.db import read_session, write_session
from taskflow.domain.messages import OutboxStatus
from taskflow.models import Notification
from taskflow.services.outbox import digests_gone

_N = Notification.__table__
DUE = (OutboxStatus.pending, OutboxStatus.failed, OutboxStatus.ambiguous)
CLAIMABLE = (*DUE, OutboxStatus.sending)
RETRYABLE = (OutboxStatus.failed, OutboxStatus.dead, OutboxStatus.ambiguous,
             OutboxStatus.skipped)
_COLUMNS = ("id", "key", "message", "plan_id", "task_id", "contact_id", "kind", "level",
            "channel", "address", "payload", "digest_on", "status", "attempts", "message_id",
            "not_before", "created_at", "ambiguous", "give_up_at", "lease_until", "asserted")


@dataclass
class Row:
    id: int
    key: str
    message: str
    plan_id: int | None
    task_id: int | None
    contact_id: int | None
    kind: str
    level: int
    channel: str
    address: str
    payload: dict[str, Any]
    digest_on: date | None
    status: str
    attempts: int
    message_id: str | None
    not_before: datetime
    created_at: datetime
    ambiguous: bool
    give_up_at: datetime | None
    lease_until: datetime | None
    asserted: dict[str, Any] | None = None

    @property
    def digest(self) -> bool:
        return self.digest_on is not None


@dataclass
class Unit:
    """One message to send: one row, or a contact's digest rows of a day."""

    channel: str
    rows: list[Row]
    message_id: str
    ambiguous: bool = False  # an earlier attempt's outcome is unknown

    @property
    def digest(self) -> bool:
        return len(self.rows) > 1 or self.rows[0].digest

    @property
    def kind(self) -> str:
        return "digest" if self.digest else self.rows[0].kind

    @property
    def ids(self) -> tuple[int, ...]:
        return tuple(row.id for row in self.rows)


@dataclass
class Result:
    unit: Unit
    outcome: str  # sent | failed | ambiguous | dead
    detail: str = ""
    retry_after: float | None = None


@dataclass
class Counts:
    claimed: int = 0  # messages (a digest counts once)
    rows: int = 0  # outbox rows claimed
    reclaimed: int = 0  # rows whose lease had expired (a dispatcher died)
    held: int = 0  # quiet hours
    skipped: int = 0  # channel not used for the kind
    withdrawn: int = 0  # no longer true (task changed since the row was written)
    redated: int = 0  # digest rows moved to the next working day's digest
    lost: int = 0  # outcomes not written: another dispatcher took the row meanwhile
    outcomes: Counter = field(default_factory=Counter)  # rows by sent/failed/ambiguous/dead
    gave_up: int = 0

    def add(self, other: Counts) -> None:
        for name in ("claimed", "rows", "reclaimed", "held", "skipped", "withdrawn",
                     "redated", "lost", "gave_up"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.outcomes.update(other.outcomes)


def _claimable(now_param: str = "now"):
    now = bindparam(now_param)
    return and_(_N.c.status.in_(CLAIMABLE), _N.c.not_before <= now,
                or_(_N.c.status != "sending", _N.c.lease_until.is_(None),
                    _N.c.lease_until <= now))


_CLAIM = (update(_N)
          .where(_N.c.id == bindparam("b_id"), _N.c.status == bindparam("b_status"),
                 _N.c.attempts == bindparam("b_attempts"))
          .values(status="sending", lease_until=bindparam("v_lease"),
                  attempts=bindparam("v_attempts"), message_id=bindparam("v_message_id"),
                  ambiguous=bindparam("v_ambiguous"), give_up_at=bindparam("v_give_up")))
_HOLD = (update(_N)
         .where(_N.c.id == bindparam("b_id"), _N.c.status == bindparam("b_status"),
                _N.c.attempts == bindparam("b_attempts"))
         .values(status=bindparam("v_status"), not_before=bindparam("v_not_before"),
                 ambiguous=bindparam("v_ambiguous"), lease_until=None))
_SKIP = (update(_N)
         .where(_N.c.id == bindparam("b_id"), _N.c.status == bindparam("b_status"),
                _N.c.attempts == bindparam("b_attempts"))
         .values(status="skipped", last_error=bindparam("v_reason"), lease_until=None))
_WITHDRAW = (update(_N)
             .where(_N.c.id == bindparam("b_id"), _N.c.status == bindparam("b_status"),
                    _N.c.attempts == bindparam("b_attempts"))
             .values(status=OutboxStatus.withdrawn, last_error=bindparam("v_reason"),
                     lease_until=None))
_REDATE = (update(_N)
           .where(_N.c.id == bindparam("b_id"), _N.c.status == bindparam("b_status"),
                  _N.c.attempts == bindparam("b_attempts"))
           .values(digest_on=bindparam("v_day"), not_before=bindparam("v_not_before"),
                   lease_until=None))
_SENT = (update(_N)
         .where(_N.c.id == bindparam("b_id"), _N.c.status == "sending",
                _N.c.attempts == bindparam("b_attempts"))
         .values(status="sent", sent_at=bindparam("v_at"), lease_until=None,
                 receipt=bindparam("v_receipt")))
_FAILED = (update(_N)
           .where(_N.c.id == bindparam("b_id"), _N.c.status == "sending",
                  _N.c.attempts == bindparam("b_attempts"))
           .values(status=bindparam("v_status"), not_before=bindparam("v_not_before"),
                   lease_until=None, last_error=bindparam("v_error"),
                   ambiguous=bindparam("v_ambiguous")))


# recheck(connection, rows, now) -> {row id: reason to withdraw it, or fresh payload values}
Recheck = Callable[[Connection, Sequence["Row"], datetime], dict[int, "str | dict[str, Any]"]]


class Outbox:
    def __init__(self, engine: Engine, policy: Policy, *, domain: str = "taskflow.local",
                 recheck: Recheck | None = None):
        self.engine = engine
        self.policy = policy
        self.domain = domain
        self.recheck = recheck
        self._postgres = engine.dialect.name == "postgresql"

    # -- the dispatcher's one transaction per turn ---------------------------------------------

    def exchange(self, results: Sequence[Result], wants: dict[str, int], now: datetime
                 ) -> tuple[dict[str, list[Unit]], Counts]:
        counts = Counts()
        with write_session(self.engine) as session:
            connection = session.connection()
            if results:
                self._record(connection, results, now, counts)
            claimed = {channel: self._claim(connection, channel, n, now, counts)
                       for channel, n in wants.items() if n > 0}
        return claimed, counts

    # -- claiming ---------------------------------------------------------------------------

    def _select(self, connection: Connection, where, params: dict[str, Any], limit: int
                ) -> list[Row]:
        query = (select(*(_N.c[name] for name in _COLUMNS)).where(where)
                 .order_by(_N.c.not_before, _N.c.id).limit(limit))
        if self._postgres:
            query = query.with_for_update(skip_locked=True)
        return [Row(*values) for values in connection.execute(query, params).all()]

    def _claim(self, connection: Connection, channel: str, n: int, now: datetime,
               counts: Counts) -> list[Unit]:
        units: list[Unit] = []
        while len(units) < n:
            # Exactly as many rows as messages wanted: on PostgreSQL every row selected here
            # is locked (SKIP LOCKED hides it from other dispatchers), so each one is claimed,
            # held or skipped in this transaction, never locked and left behind. Held and
            # skipped rows are no longer due, so the next round selects new ones.
            wanted = n - len(units)
            rows = self._select(connection, and_(_N.c.channel == channel, _claimable()),
                                {"now": now}, wanted)
            if not rows:
                break
            units.extend(self._take(connection, channel, rows, wanted, now, counts))
            if len(rows) < wanted:
                break
        return units

    def _take(self, connection: Connection, channel: str, rows: list[Row], n: int,
              now: datetime, counts: Counts) -> list[Unit]:
        """Apply the policy to candidate rows; claim up to ``n`` messages of them."""
        skipped = self._skippable(connection, channel, rows)
        holds, skips, units = [], [], []
        grouped: set[int] = set()
        for row in rows:
            if row.id in grouped:
                continue
            if row.id in skipped:
                skips.append(_fence(row) | {"v_reason": skipped[row.id]})
                continue
            until = self.policy.hold_until(channel, row.kind, row.level, now)
            if until is not None:
                holds.append(_fence(row) | {
                    "v_status": "ambiguous" if row.status == "sending" else row.status,
                    "v_not_before": until,
                    "v_ambiguous": row.ambiguous or row.status == "sending"})
                continue
            if len(units) >= n:
                continue  # leave it for the next turn
            members = [row]
            if row.digest and row.contact_id is not None:
                members = self._digest_group(connection, row, now)
                grouped.update(r.id for r in members)
            units.append(members)
        if skips:
            counts.skipped += _rowcount(connection.execute(_SKIP, skips))
        if holds:
            counts.held += _rowcount(connection.execute(_HOLD, holds))
        units = self._one_digest_a_day(connection, units, counts)
        units = self._still_true(connection, units, now, counts)
        return self._claim_units(connection, [self._unit(channel, members)
                                              for members in units], now, counts)

    def _one_digest_a_day(self, connection: Connection, units: list[list[Row]],
                          counts: Counts) -> list[list[Row]]:
        """Digest rows whose day already had its digest move to the next working day's."""
        digests = [members for members in units if members[0].digest]
        if not digests:
            return units
        gone = digests_gone(connection, {m[0].contact_id for m in digests},
                            {m[0].digest_on for m in digests},
                            but={r.id for members in digests for r in members})
        if not gone:
            return units
        keep, moves = [], []
        for members in units:
            first = members[0]
            if not first.digest or (first.contact_id, first.channel, first.digest_on) \
                    not in gone:
                keep.append(members)
                continue
            day = self.policy.next_workday(first.digest_on)
            for row in members:
                moves.append(_fence(row) | {
                    "v_day": day, "v_not_before": self.policy.same_time_on(row.not_before,
                                                                           day)})
        if moves:
            counts.redated += _rowcount(connection.execute(_REDATE, moves))
        return keep

    def _still_true(self, connection: Connection, units: list[list[Row]], now: datetime,
                    counts: Counts) -> list[list[Row]]:
        """Withdraw the rows that no longer hold; give the others their task's figures now."""
        if self.recheck is None:
            return units
        about = [r for members in units for r in members if r.task_id is not None]
        if not about:
            return units
        verdicts = self.recheck(connection, about, now)
        withdrawals = []
        keep = []
        for members in units:
            alive = []
            for row in members:
                verdict = verdicts.get(row.id)
                if isinstance(verdict, str):
                    withdrawals.append(_fence(row) | {"v_reason": verdict})
                    continue
                if verdict:
                    row.payload = {**(row.payload or {}), **verdict}
                alive.append(row)
            if alive:
                keep.append(alive)
        if withdrawals:
            counts.withdrawn += _rowcount(connection.execute(_WITHDRAW, withdrawals))
        return keep

    def _skippable(self, connection: Connection, channel: str, rows: list[Row]
                   ) -> dict[int, str]:
        """Rows on a channel their kind does not use, whose contact has a listed one: the
        same message (its siblings) to the same contact on a channel the kind does use."""
        wanted = {row.id: row for row in rows
                  if not self.policy.allowed(row.kind, row.digest, channel)}
        if not wanted:
            return {}
        siblings: dict[tuple[str, int | None], set[str]] = {}
        for message, contact_id, sibling_channel in connection.execute(
                select(_N.c.message, _N.c.contact_id, _N.c.channel).where(
                    _N.c.message.in_({row.message for row in wanted.values()}),
                    _N.c.contact_id.in_({row.contact_id for row in wanted.values()}),
                    _N.c.channel != channel,
                    _N.c.status.notin_((OutboxStatus.dead, OutboxStatus.skipped)))).all():
            siblings.setdefault((message, contact_id), set()).add(sibling_channel)
        out = {}
        for row_id, row in wanted.items():
            alive = siblings.get((row.message, row.contact_id), set())
            found = [c for c in self.policy.listed(row.kind, row.digest) if c in alive]
            if found:
                out[row_id] = f"改由 {'、'.join(found)} 发送（设置 notify_channels）"
        return out

    def _digest_group(self, connection: Connection, row: Row, now: datetime) -> list[Row]:
        """The contact's due rows of the same digest day on this channel."""
        rows = self._select(connection, and_(
            _N.c.channel == row.channel, _N.c.contact_id == row.contact_id,
            _N.c.address == row.address, _N.c.digest_on == row.digest_on, _claimable()),
            {"now": now}, 500)
        members = [r for r in rows
                   if self.policy.hold_until(r.channel, r.kind, r.level, now) is None]
        if row.id not in {r.id for r in members}:
            members.insert(0, row)
        return members

    def _unit(self, channel: str, rows: list[Row]) -> Unit:
        existing = next((r.message_id for r in rows if r.message_id), None)
        if existing is None:
            first = min(r.id for r in rows)
            label = "digest." if len(rows) > 1 or rows[0].digest else ""
            existing = f"<taskflow.{label}{first}.{secrets.token_hex(6)}@{self.domain}>"
        ambiguous = any(r.ambiguous or r.status == "sending" for r in rows)
        return Unit(channel, rows, existing, ambiguous)

    def _claim_units(self, connection: Connection, units: list[Unit], now: datetime,
                     counts: Counts) -> list[Unit]:
        if not units:
            return []
        lease = now + self.policy.lease
        params = []
        for unit in units:
            for row in unit.rows:
                params.append(_fence(row) | {
                    "v_lease": lease, "v_attempts": row.attempts + 1,
                    "v_message_id": unit.message_id,
                    "v_ambiguous": row.ambiguous or row.status == "sending",
                    "v_give_up": row.give_up_at or now + self.policy.give_up})
        won = _compare_and_set(connection, _CLAIM, params)
        claimed = []
        for unit in units:
            rows = [r for r in unit.rows if r.id in won]
            if not rows:
                continue
            for row in rows:
                if row.status == "sending":
                    counts.reclaimed += 1
                row.attempts += 1
                row.status = "sending"
                row.message_id = unit.message_id
                row.ambiguous = row.ambiguous or unit.ambiguous
                row.give_up_at = row.give_up_at or now + self.policy.give_up
            unit.rows = rows
            claimed.append(unit)
            counts.claimed += 1
            counts.rows += len(rows)
        return claimed

    # -- recording --------------------------------------------------------------------------

    def _record(self, connection: Connection, results: Sequence[Result], now: datetime,
                counts: Counts) -> None:
        sent, failed = [], []
        for result in results:
            for row in result.unit.rows:
                if result.outcome == "sent":
                    sent.append({"b_id": row.id, "b_attempts": row.attempts, "v_at": now,
                                 "v_receipt": (result.detail or "")[:300]})
                    counts.outcomes["sent"] += 1
                    continue
                status, error = result.outcome, result.detail or result.outcome
                ambiguous = row.ambiguous or status == "ambiguous"
                not_before = row.not_before
                if status in ("failed", "ambiguous"):
                    if row.give_up_at is not None and now >= row.give_up_at:
                        status = "dead"
                        error = f"尝试 {row.attempts} 次后放弃：{error}"
                        counts.gave_up += 1
                    else:
                        not_before = now + self.policy.backoff(row.attempts,
                                                               result.retry_after)
                failed.append({"b_id": row.id, "b_attempts": row.attempts, "v_status": status,
                               "v_not_before": not_before, "v_error": error[:2000],
                               "v_ambiguous": ambiguous})
                counts.outcomes[status] += 1
        written = 0
        if sent:
            written += _rowcount(connection.execute(_SENT, sent))
        if failed:
            written += _rowcount(connection.execute(_FAILED, failed))
        counts.lost += len(sent) + len(failed) - written

    # -- the CLI's views ---------------------------------------------------------------------

    def retry(self, ids: Iterable[int], now: datetime) -> dict[int, str]:
        """Make failed/dead/ambiguous/skipped rows due now, with a new give-up period.

        Returns each id's previous status ("missing" for an unknown id); rows that are
        pending, being sent or sent are left alone. With an unknown id nothing is changed.
        """
        ids = list(dict.fromkeys(ids))
        with write_session(self.engine) as session:
            connection = session.connection()
            found = dict(connection.execute(select(_N.c.id, _N.c.status)
                                            .where(_N.c.id.in_(ids))).all())
            if any(i not in found for i in ids):
                return {i: found.get(i, "missing") for i in ids}
            retry = [i for i in ids if found.get(i) in RETRYABLE]
            if retry:
                connection.execute(update(_N).where(_N.c.id.in_(retry),
                                                    _N.c.status.in_(RETRYABLE))
                                   .values(status="pending", not_before=now, lease_until=None,
                                           give_up_at=None))
        return {i: found.get(i, "missing") for i in ids}



def status_counts(engine: Engine) -> dict[str, int]:
    with read_session(engine) as session:
        return dict(session.execute(select(_N.c.status, func.count())
                                    .group_by(_N.c.status)).all())


def due_count(engine: Engine, now: datetime) -> int:
    """How many rows a dispatch at ``now`` would look at (one indexed count)."""
    with read_session(engine) as session:
        return session.scalar(select(func.count()).select_from(_N).where(_claimable()),
                              {"now": now}) or 0


def list_rows(engine: Engine, *, statuses: Sequence[str] | None = None,
              channel: str | None = None, limit: int = 50) -> list[Any]:
    """Outbox rows, newest first; status "ambiguous" also lists rows flagged ambiguous."""
    query = select(_N).order_by(_N.c.id.desc()).limit(limit)
    if statuses:
        condition = _N.c.status.in_(list(statuses))
        if "ambiguous" in statuses:
            condition = or_(condition, _N.c.ambiguous.is_(True))
        query = query.where(condition)
    if channel:
        query = query.where(_N.c.channel == channel)
    with read_session(engine) as session:
        return list(session.execute(query).all())


def _fence(row: Row) -> dict[str, Any]:
    return {"b_id": row.id, "b_status": row.status, "b_attempts": row.attempts}


def _rowcount(result) -> int:
    count = result.rowcount
    return count if count is not None and count >= 0 else 0


def _compare_and_set(connection: Connection, statement, params: list[dict[str, Any]]
                     ) -> set[int]:
    """Run the fenced UPDATE for every row; the ids it applied to.

    One executemany when nothing changed under us (the usual case: the rows were selected
    in this transaction, locked on PostgreSQL); when the summed row count is short, the
    savepoint is rolled back and the rows are redone one by one, so each row's fate is known.
    """
    if len(params) == 1:
        return {params[0]["b_id"]} if _rowcount(connection.execute(statement, params[0])) \
            else set()
    savepoint = connection.begin_nested()
    if _rowcount(connection.execute(statement, params)) == len(params):
        savepoint.commit()
        return {p["b_id"] for p in params}
    savepoint.rollback()
    return {p["b_id"] for p in params if _rowcount(connection.execute(statement, p)) == 1}
