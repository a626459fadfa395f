"""Writing the outbox: every message the core makes is a row built and inserted here.

A row names its message, its recipient and its channel. ``message`` says what the message is
and what it is about ("t12:2025-06-10:overdue3:overdue:L0": task 12, the third overdue slot of
its 10 June deadline); it is the same for every recipient and every channel, so a message's
rows on other channels (its siblings) and a contact's rows of a day are found by query. The
idempotency key (unique) is the message, the contact and the channel: writing the same
message twice, from a second sweep or a retried request, inserts nothing.

The notifications package sends the rows; nothing here does I/O beyond the caller's
transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, insert
from sqlalchemy.dialects import postgresql, sqlite

from taskflow.domain.messages import OutboxStatus
from taskflow.models import Notification
from taskflow.services.recipients import Recipient

_N = Notification.__table__


def outbox_key(message: str, contact_id: int | None, channel: str) -> str:
    """The idempotency key of one message to one contact on one channel."""
    return f"{message}:c{contact_id}:{channel}"


def outbox_row(*, message: str, kind: str, recipient: Recipient, payload: dict[str, Any],
               now: datetime, plan_id: int | None, task_id: int | None = None,
               level: int = 0, not_before: datetime | None = None,
               digest: bool = False) -> dict[str, Any]:
    """One outbox row: ``message`` to ``recipient`` on the recipient's channel.

    ``payload`` is what the templates word the message from (the recipient's name is added);
    ``not_before`` defaults to now (the dispatcher decides quiet hours).
    """
    return {
        "key": outbox_key(message, recipient.contact_id, recipient.channel),
        "message": message, "plan_id": plan_id, "task_id": task_id,
        "contact_id": recipient.contact_id, "kind": kind, "level": level,
        "channel": recipient.channel, "address": recipient.address,
        "payload": {**payload, "recipient": recipient.name}, "digest": digest,
        "status": OutboxStatus.pending.value, "created_at": now,
        "not_before": not_before or now, "attempts": 0,
    }


@cache
def _insert_skipping_known(dialect_name: str):
    """INSERT ... ON CONFLICT (key) DO NOTHING RETURNING message: a known key inserts
    nothing, and what comes back is exactly the rows written (drivers disagree on the row
    count of an executemany, PostgreSQL's says -1)."""
    statement = (postgresql.insert(_N) if dialect_name == "postgresql" else
                 sqlite.insert(_N) if dialect_name == "sqlite" else insert(_N))
    return statement.on_conflict_do_nothing(index_elements=["key"]).returning(_N.c.message)


def insert_outbox(connection: Connection, rows: Sequence[dict[str, Any]]) -> list[str]:
    """Insert the rows whose key is new; the message of each row written."""
    if not rows:
        return []
    statement = _insert_skipping_known(connection.dialect.name)
    return list(connection.execute(statement, list(rows)).scalars())
