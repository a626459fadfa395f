"""Messages: their kinds, the outbox statuses a message goes through, the channels."""

from __future__ import annotations

from enum import StrEnum


class MessageKind(StrEnum):
    # the engine's reminders (taskflow.domain.reminders) and fund-lag notices
    assigned = "assigned"  # 交办: the task has started
    ack_chase = "ack_chase"  # 催签收
    due_soon = "due_soon"
    due_today = "due_today"
    overdue = "overdue"
    escalation = "escalation"  # 督办 up the ladder
    fund_lag = "fund_lag"
    weekly = "weekly"  # tasks past the top of the ladder, once a week
    # made by people or by other services
    supervision = "supervision"  # a coordinator's 督办 by hand
    inspection_notice = "inspection_notice"
    inspector_list = "inspector_list"
    bulletin = "bulletin"
    test = "test"  # taskflow notify test
    # made by the dispatcher from several rows
    digest = "digest"


class OutboxStatus(StrEnum):
    pending = "pending"  # waiting to be sent (not before not_before)
    sending = "sending"  # claimed by a dispatcher until lease_until
    sent = "sent"
    failed = "failed"  # transient failure, retried at not_before
    dead = "dead"  # permanent failure, with last_error
    ambiguous = "ambiguous"  # the server may have accepted it; a resend reuses message_id
    skipped = "skipped"  # not sent by policy (its kind does not use this channel)
    withdrawn = "withdrawn"  # no longer true when it was to go (the task changed meanwhile)


class Channel(StrEnum):
    email = "email"
    sms = "sms"
    wecom = "wecom"
    dingtalk = "dingtalk"


# The channels of contacts and outbox rows (file and console are only for tests and
# `taskflow notify test`).
CHANNELS = tuple(Channel)
