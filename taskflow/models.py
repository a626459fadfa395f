"""Database tables (SQLModel on SQLAlchemy 2).

All instants are timezone-aware UTC (``UTCDateTime`` refuses naive values and gives back
aware ones on SQLite too). Calendar days that belong to a plan's timezone (a deadline's day)
are stored as dates next to the instant they imply.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
)
from sqlalchemy import DateTime as SADateTime
from sqlalchemy import false as sa_false
from sqlalchemy import text as sa_text
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from taskflow.domain.messages import OutboxStatus
from taskflow.domain.states import TaskState


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """An instant: stored as UTC, refused when naive, returned aware on every backend."""

    impl = SADateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: taskflow stores aware instants only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def instant(*, index: bool = False, nullable: bool = True, default=None) -> Any:
    kwargs: dict[str, Any] = {"sa_type": UTCDateTime, "nullable": nullable, "index": index}
    if default is not None:
        kwargs["default_factory"] = default
    return Field(**kwargs)


Money = Numeric(16, 2)
Quantity = Numeric(18, 4)


class Unit(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(sa_column=Column(String(120), unique=True, nullable=False))
    name: str = Field(sa_column=Column(String(200), nullable=False, index=True))
    kind: str = Field(sa_column=Column(String(20), nullable=False))
    parent_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("unit.id", ondelete="RESTRICT"),
                                       index=True))
    aliases: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    member_kind: str | None = Field(default=None, sa_column=Column(String(20)))
    created_at: datetime = instant(nullable=False, default=utcnow)
    updated_at: datetime = instant(nullable=False, default=utcnow)


class Contact(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(sa_column=Column(Integer, ForeignKey("unit.id", ondelete="CASCADE"),
                                          nullable=False, index=True))
    name: str = Field(sa_column=Column(String(100), nullable=False))
    role: str = Field(sa_column=Column(String(30), nullable=False))
    title: str | None = Field(default=None, sa_column=Column(String(100)))
    email: str | None = Field(default=None, sa_column=Column(String(200)))
    mobile: str | None = Field(default=None, sa_column=Column(String(30)))
    wecom_id: str | None = Field(default=None, sa_column=Column(String(100)))
    dingtalk_id: str | None = Field(default=None, sa_column=Column(String(100)))
    channels: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    active: bool = True

    __table_args__ = (Index("ix_contact_unit_role", "unit_id", "role"),)


class Plan(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(sa_column=Column(String(120), unique=True, nullable=False))
    title: str = Field(sa_column=Column(String(300), nullable=False))
    year: int
    source_year: int | None = None  # the year the file names; None for "20xx"
    timezone: str = Field(default="Asia/Shanghai", sa_column=Column(String(64), nullable=False))
    issuer_id: int | None = Field(default=None, sa_column=Column(
        Integer, ForeignKey("unit.id", ondelete="SET NULL")))
    jurisdiction_id: int = Field(sa_column=Column(
        Integer, ForeignKey("unit.id", ondelete="RESTRICT"), nullable=False))
    source: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    source_file: str | None = Field(default=None, sa_column=Column(Text))
    summary: str | None = Field(default=None, sa_column=Column(Text))
    content_hash: str = Field(sa_column=Column(String(64), nullable=False))
    # The reminder and escalation policy (taskflow.plans.schema.PolicySpec as JSON).
    policy: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # The year-end assessment's weights (taskflow.plans.schema.AssessmentSpec as JSON), if any.
    assessment: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    imported_at: datetime = instant(nullable=False, default=utcnow)
    updated_at: datetime = instant(nullable=False, default=utcnow)


class Task(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(sa_column=Column(Integer, ForeignKey("plan.id", ondelete="CASCADE"),
                                          nullable=False))
    parent_id: int | None = Field(default=None, sa_column=Column(
        Integer, ForeignKey("task.id", ondelete="CASCADE"), index=True))
    code: str = Field(sa_column=Column(String(120), nullable=False))
    kind: str = Field(default="task", sa_column=Column(String(20), nullable=False))
    title: str = Field(sa_column=Column(String(500), nullable=False))
    text: str | None = Field(default=None, sa_column=Column(Text))
    schedule_text: str | None = Field(default=None, sa_column=Column(Text))
    position: int = 0
    start_on: date | None = None
    due_on: date | None = None  # the deadline's day in the plan's timezone (as extended)
    planned_due_on: date | None = None  # the deadline the plan file gives
    start_at: datetime | None = instant()
    due_at: datetime | None = instant(index=True)  # end of due_on in the plan's timezone
    state: str = Field(default=TaskState.pending.value,
                       sa_column=Column(String(20), nullable=False, index=True))
    target_value: Decimal | None = Field(default=None, sa_column=Column(Quantity))
    target_unit: str | None = Field(default=None, sa_column=Column(String(40)))
    progress_plan: list[dict[str, Any]] = Field(default_factory=list,
                                                sa_column=Column(JSON, nullable=False))
    recurrence: str | None = Field(default=None, sa_column=Column(String(200)))
    acceptance: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    source_line: int | None = None
    # Engine state: when each step of the task's life happened, and the escalation so far.
    activated_at: datetime | None = instant()
    acknowledged_at: datetime | None = instant()
    submitted_at: datetime | None = instant()
    completed_at: datetime | None = instant()
    escalation_level: int = 0
    materialized_until: date | None = None  # duties: occurrences exist up to this day
    sweep_error: str | None = Field(default=None, sa_column=Column(Text))  # why pushed back
    # The earliest instant at which the engine must look at this task again; the sweep
    # selects only rows with next_action_at <= now through the partial index below.
    next_action_at: datetime | None = instant()
    archived_at: datetime | None = instant()  # removed from the plan file; kept for history
    created_at: datetime = instant(nullable=False, default=utcnow)
    updated_at: datetime = instant(nullable=False, default=utcnow)

    __table_args__ = (
        Index("uq_task_plan_code", "plan_id", "code", unique=True),
        Index("ix_task_next_action", "next_action_at",
              sqlite_where=sa_text("next_action_at IS NOT NULL"),
              postgresql_where=sa_text("next_action_at IS NOT NULL")),
        Index("ix_task_plan_state_due", "plan_id", "state", "due_at"),
    )


class TaskUnit(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(sa_column=Column(Integer, ForeignKey("task.id", ondelete="CASCADE"),
                                          nullable=False))
    unit_id: int = Field(sa_column=Column(Integer, ForeignKey("unit.id", ondelete="RESTRICT"),
                                          nullable=False))
    role: str = Field(sa_column=Column(String(20), nullable=False))
    position: int = 0

    __table_args__ = (
        Index("uq_task_unit_role", "task_id", "unit_id", "role", unique=True),
        Index("ix_task_unit_unit", "unit_id", "role"),
    )


class ProgressReport(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(sa_column=Column(Integer, ForeignKey("task.id", ondelete="CASCADE"),
                                          nullable=False))
    unit_id: int | None = Field(default=None, sa_column=Column(
        Integer, ForeignKey("unit.id", ondelete="SET NULL")))
    reported_at: datetime = instant(nullable=False, default=utcnow)
    percent: Decimal | None = Field(default=None, sa_column=Column(Numeric(5, 2)))
    quantity: Decimal | None = Field(default=None, sa_column=Column(Quantity))
    amount: Decimal | None = Field(default=None, sa_column=Column(Money))  # funds disbursed
    note: str | None = Field(default=None, sa_column=Column(Text))
    reporter: str | None = Field(default=None, sa_column=Column(String(100)))

    __table_args__ = (Index("ix_report_task_time", "task_id", "reported_at"),)


class FundLine(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(sa_column=Column(Integer, ForeignKey("plan.id", ondelete="CASCADE"),
                                          nullable=False))
    task_id: int | None = Field(default=None, sa_column=Column(
        Integer, ForeignKey("task.id", ondelete="SET NULL"), index=True))
    code: str = Field(sa_column=Column(String(120), nullable=False))
    # "plan": a budget line of the whole plan (may name the task it funds); "task": money a
    # task's own text states, usually a part of a plan line, so never added to the plan total.
    scope: str = Field(default="plan", sa_column=Column(String(10), nullable=False,
                                                         server_default="plan"))
    source: str = Field(sa_column=Column(String(20), nullable=False))
    amount: Decimal = Field(sa_column=Column(Money, nullable=False))  # yuan
    note: str | None = Field(default=None, sa_column=Column(Text))
    # When all of it must be disbursed ("6月底前补助到位"), and the planned cumulative shares
    # before that ([{"by": ISO day, "share": "50"}]); see taskflow.domain.funds.
    disburse_by: date | None = None
    disburse_schedule: list[dict[str, Any]] | None = Field(default=None,
                                                           sa_column=Column(JSON))

    __table_args__ = (Index("uq_fund_plan_code", "plan_id", "code", unique=True),)


class InspectionCycle(SQLModel, table=True):
    """An inspection programme entry of a plan: one round (due_on) or a cycle (recurrence)."""

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(sa_column=Column(Integer, ForeignKey("plan.id", ondelete="CASCADE"),
                                          nullable=False))
    code: str = Field(sa_column=Column(String(120), nullable=False))
    title: str = Field(sa_column=Column(String(300), nullable=False))
    kind: str = Field(sa_column=Column(String(20), nullable=False))
    due_on: date | None = None
    recurrence: str | None = Field(default=None, sa_column=Column(String(200)))
    unit_codes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    inspector_codes: list[str] = Field(default_factory=list,
                                       sa_column=Column(JSON, nullable=False))
    note: str | None = Field(default=None, sa_column=Column(Text))
    notice_days: int | None = None  # notice to the inspected units, working days before
    rectify_within: int | None = None  # 整改 deadline after a failed item, working days
    sample: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))  # 抽查 spec
    # "file": from the plan file (a re-import updates or removes it); "web": declared by a
    # coordinator in the web app (a re-import keeps it unless the file names its code).
    origin: str = Field(default="file", sa_column=Column(String(10), nullable=False,
                                                         server_default="file"))

    __table_args__ = (Index("uq_inspection_plan_code", "plan_id", "code", unique=True),)


class PlanRule(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(sa_column=Column(Integer, ForeignKey("plan.id", ondelete="CASCADE"),
                                          nullable=False))
    code: str = Field(sa_column=Column(String(120), nullable=False))
    kind: str = Field(sa_column=Column(String(20), nullable=False))
    subject: str = Field(sa_column=Column(String(300), nullable=False))
    threshold: Decimal = Field(sa_column=Column(Quantity, nullable=False))
    text: str = Field(sa_column=Column(Text, nullable=False))
    # {"tag": "到户", "of": null}: measured on disbursements with that tag (None: not measured)
    measure: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))

    __table_args__ = (Index("uq_rule_plan_code", "plan_id", "code", unique=True),)


class AuditEvent(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = instant(nullable=False, default=utcnow)
    actor: str = Field(sa_column=Column(String(100), nullable=False))
    action: str = Field(sa_column=Column(String(50), nullable=False))
    entity: str = Field(sa_column=Column(String(30), nullable=False))  # plan, task, unit...
    entity_id: int | None = None
    plan_id: int | None = Field(default=None, sa_column=Column(
        Integer, ForeignKey("plan.id", ondelete="SET NULL")))
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    note: str | None = Field(default=None, sa_column=Column(Text))

    __table_args__ = (Index("ix_audit_entity", "entity", "entity_id", "at"),)


class Notification(SQLModel, table=True):
    """The outbox: one row per message to one recipient on one channel.

    The engine inserts rows in the same transaction as the state change that causes them; the
    unique ``key`` (task, occurrence, rule, level, recipient, channel) makes a second sweep's
    insert a no-op. The dispatcher delivers them in a separate step.
    """

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(sa_column=Column(String(300), unique=True, nullable=False))
    # What the message is and what it is about, the same for every recipient and channel
    # (taskflow.services.outbox): its rows on other channels share it.
    message: str = Field(sa_column=Column(String(300), nullable=False))
    plan_id: int | None = Field(default=None, sa_column=Column(
        Integer, ForeignKey("plan.id", ondelete="CASCADE"), index=True))
    task_id: int | None = Field(default=None, sa_column=Column(
        Integer, ForeignKey("task.id", ondelete="CASCADE"), index=True))
    contact_id: int | None = Field(default=None, sa_column=Column(
        Integer, ForeignKey("contact.id", ondelete="SET NULL")))
    kind: str = Field(sa_column=Column(String(40), nullable=False))
    level: int = 0
    channel: str = Field(sa_column=Column(String(20), nullable=False))
    address: str = Field(sa_column=Column(String(200), nullable=False))
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # The working day whose digest carries this row (one message per contact, channel and
    # day); None: the message goes alone (an urgent escalation, a bulletin, a notice).
    digest_on: date | None = None
    # What the message asserts about its task when it was written (state, deadline, level,
    # the task's units): the dispatcher withdraws it when that is no longer true.
    asserted: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    status: str = Field(default=OutboxStatus.pending.value,
                        sa_column=Column(String(20), nullable=False))
    created_at: datetime = instant(nullable=False, default=utcnow)
    not_before: datetime = instant(nullable=False, default=utcnow)  # quiet hours, backoff
    attempts: int = 0
    lease_until: datetime | None = instant()
    sent_at: datetime | None = instant()
    message_id: str | None = Field(default=None, sa_column=Column(String(300)))
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    # Set once an attempt's outcome was unknown (a disconnect after DATA, a dispatcher that
    # died holding the lease): the recipient may have the message twice, with one Message-ID.
    ambiguous: bool = Field(default=False, sa_column=Column(
        Boolean, nullable=False, server_default=sa_false()))
    receipt: str | None = Field(default=None, sa_column=Column(String(300)))  # provider's id
    # Transient failures stop being retried after this (set at the first attempt; cleared by
    # `taskflow outbox retry`, which gives the message a new period).
    give_up_at: datetime | None = instant()

    __table_args__ = (Index("ix_notification_status_due", "status", "not_before"),
                      Index("ix_notification_message", "message", "contact_id"),
                      Index("ix_notification_digest", "contact_id", "digest_on", "channel"))


# -- inspections (季度检查、半年通报、年底考核) ----------------------------------------------------


class InspectionRound(SQLModel, table=True):
    """One dated round of an inspection cycle (a quarterly check, a bulletin, the assessment).

    Generated idempotently by (plan, cycle code, scheduled day); the scope, the 抽查 sample and
    its seed are stored when the round is made, so a round never changes behind its notices.
    """

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(sa_column=Column(Integer, ForeignKey("plan.id", ondelete="CASCADE"),
                                          nullable=False))
    cycle_id: int | None = Field(default=None, sa_column=Column(
        Integer, ForeignKey("inspectioncycle.id", ondelete="SET NULL"), index=True))
    cycle_code: str = Field(sa_column=Column(String(120), nullable=False))
    code: str = Field(sa_column=Column(String(200), nullable=False))  # <cycle>@<day>
    kind: str = Field(sa_column=Column(String(20), nullable=False))
    title: str = Field(sa_column=Column(String(300), nullable=False))
    seq: int = 1  # the round's number within the year (Q1 = 1)
    period_start: date | None = None
    period_end: date | None = None
    scheduled_on: date  # a working day
    notice_on: date | None = None  # the inspected units are told on this working day
    # {"units": [...], "townships": [...], "villages": [...], "projects": [...]} (codes)
    scope: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # {"strata", "share", "seed", "drawn": {stratum: [codes]}}
    sample: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    state: str = Field(default="planned", sa_column=Column(String(20), nullable=False))
    created_at: datetime = instant(nullable=False, default=utcnow)
    updated_at: datetime = instant(nullable=False, default=utcnow)

    __table_args__ = (
        Index("uq_round_plan_cycle_day", "plan_id", "cycle_code", "scheduled_on", unique=True),
        Index("ix_round_day", "scheduled_on"),
    )


class InspectionAssignment(SQLModel, table=True):
    """Who inspects what in a round: a unit, a sampled village or township, or a project."""

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(sa_column=Column(
        Integer, ForeignKey("inspectionround.id", ondelete="CASCADE"), nullable=False))
    target: str = Field(sa_column=Column(String(200), nullable=False))  # unit code / task:<code>
    target_kind: str = Field(sa_column=Column(String(20), nullable=False))
    unit_id: int = Field(sa_column=Column(Integer, ForeignKey("unit.id", ondelete="RESTRICT"),
                                          nullable=False))  # the inspected unit
    task_id: int | None = Field(default=None, sa_column=Column(
        Integer, ForeignKey("task.id", ondelete="SET NULL")))  # a sampled project
    inspector_contact_id: int | None = Field(default=None, sa_column=Column(
        Integer, ForeignKey("contact.id", ondelete="SET NULL"), index=True))
    inspector_unit_id: int | None = Field(default=None, sa_column=Column(
        Integer, ForeignKey("unit.id", ondelete="SET NULL")))

    __table_args__ = (Index("uq_assignment_round_target", "round_id", "target", unique=True),)


class InspectionFinding(SQLModel, table=True):
    """An inspector's result for one checklist item of one inspected unit in a round."""

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(sa_column=Column(
        Integer, ForeignKey("inspectionround.id", ondelete="CASCADE"), nullable=False))
    unit_id: int = Field(sa_column=Column(Integer, ForeignKey("unit.id", ondelete="RESTRICT"),
                                          nullable=False, index=True))
    task_id: int | None = Field(default=None, sa_column=Column(
        Integer, ForeignKey("task.id", ondelete="SET NULL")))  # whose 验收标准 the item is
    item: str = Field(sa_column=Column(String(200), nullable=False))  # "1.1#2" or free text
    criterion: str | None = Field(default=None, sa_column=Column(Text))  # the item's text
    result: str = Field(sa_column=Column(String(10), nullable=False))  # pass / fail / note
    note: str | None = Field(default=None, sa_column=Column(Text))
    photo: str | None = Field(default=None, sa_column=Column(String(500)))  # path or URL
    inspector: str | None = Field(default=None, sa_column=Column(String(100)))
    recorded_on: date  # the finding's day in the plan's timezone
    recorded_at: datetime = instant(nullable=False, default=utcnow)
    rectification_task_id: int | None = Field(default=None, sa_column=Column(
        Integer, ForeignKey("task.id", ondelete="SET NULL")))

    __table_args__ = (
        Index("uq_finding_round_unit_item", "round_id", "unit_id", "item", unique=True),
    )


# -- web app: users, roles, tokens, attachments --------------------------------------------


class UserRole(StrEnum):
    admin = "admin"  # everything, including users
    coordinator = "coordinator"  # a plan (plan_id) or an office's plans (unit_id = issuer)
    member = "member"  # a unit's member: that unit's tasks only
    leader = "leader"  # reads everything under unit_id (or everything), acts on nothing
    inspector = "inspector"  # reads and records inspections under unit_id


class User(SQLModel, table=True):
    __tablename__ = "appuser"  # "user" is reserved on PostgreSQL

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(sa_column=Column(String(100), unique=True, nullable=False))
    display_name: str = Field(sa_column=Column(String(100), nullable=False))
    password_hash: str = Field(sa_column=Column(String(300), nullable=False))
    active: bool = True
    created_at: datetime = instant(nullable=False, default=utcnow)
    last_login_at: datetime | None = instant()
    # Carried in the session cookie; raising it ends every session of the user
    # (sign-out, a new password, deactivation, an administrator's "sign out everywhere").
    session_version: int = Field(default=0, sa_column=Column(
        Integer, nullable=False, server_default="0"))


class Membership(SQLModel, table=True):
    """A user's role, scoped to a unit (and what is under it) or a plan, or everything."""

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(sa_column=Column(Integer, ForeignKey("appuser.id", ondelete="CASCADE"),
                                          nullable=False, index=True))
    role: str = Field(sa_column=Column(String(20), nullable=False))
    unit_id: int | None = Field(default=None, sa_column=Column(
        Integer, ForeignKey("unit.id", ondelete="CASCADE")))
    plan_id: int | None = Field(default=None, sa_column=Column(
        Integer, ForeignKey("plan.id", ondelete="CASCADE")))

    __table_args__ = (
        Index("uq_membership", "user_id", "role", "unit_id", "plan_id", unique=True),
    )


class LoginAttempt(SQLModel, table=True):
    """Failed sign-ins, counted per user name and per address for the rate limit."""

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(sa_column=Column(String(100), nullable=False))
    address: str = Field(sa_column=Column(String(64), nullable=False))
    at: datetime = instant(nullable=False, default=utcnow)

    __table_args__ = (Index("ix_login_attempt_user_at", "username", "at"),
                      Index("ix_login_attempt_address_at", "address", "at"))


class ApiToken(SQLModel, table=True):
    """A bearer token for the JSON API; only its SHA-256 is stored."""

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(sa_column=Column(Integer, ForeignKey("appuser.id", ondelete="CASCADE"),
                                          nullable=False, index=True))
    name: str = Field(sa_column=Column(String(100), nullable=False))
    token_hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    created_at: datetime = instant(nullable=False, default=utcnow)
    last_used_at: datetime | None = instant()
    revoked_at: datetime | None = instant()


class LinkToken(SQLModel, table=True):
    """A password-less link in a message: bound to (unit, task, purpose), used up by one POST.

    Only the SHA-256 of the token is stored; the token itself is signed (itsdangerous) so a
    tampered one is refused before the database is asked.
    """

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    purpose: str = Field(sa_column=Column(String(20), nullable=False))  # report, ack, ics
    unit_id: int = Field(sa_column=Column(Integer, ForeignKey("unit.id", ondelete="CASCADE"),
                                          nullable=False))
    task_id: int | None = Field(default=None, sa_column=Column(
        Integer, ForeignKey("task.id", ondelete="CASCADE"), index=True))
    contact_id: int | None = Field(default=None, sa_column=Column(
        Integer, ForeignKey("contact.id", ondelete="SET NULL")))
    created_at: datetime = instant(nullable=False, default=utcnow)
    expires_at: datetime | None = instant()  # None: no expiry (calendar feeds)
    used_at: datetime | None = instant()  # the last time the link acted (签收, 报送, 办结)


class Attachment(SQLModel, table=True):
    """A file sent with a progress report, stored under <data dir>/attachments."""

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(sa_column=Column(Integer, ForeignKey("task.id", ondelete="CASCADE"),
                                          nullable=False, index=True))
    unit_id: int | None = Field(default=None, sa_column=Column(
        Integer, ForeignKey("unit.id", ondelete="SET NULL")))
    report_id: int | None = Field(default=None, sa_column=Column(
        Integer, ForeignKey("progressreport.id", ondelete="SET NULL"), index=True))
    filename: str = Field(sa_column=Column(String(255), nullable=False))  # as uploaded, cleaned
    stored_name: str = Field(sa_column=Column(String(100), unique=True, nullable=False))
    content_type: str = Field(sa_column=Column(String(100), nullable=False))
    size: int
    sha256: str = Field(sa_column=Column(String(64), nullable=False))
    uploaded_at: datetime = instant(nullable=False, default=utcnow)
    uploader: str | None = Field(default=None, sa_column=Column(String(100)))


# -- funds: disbursements (资金拨付) --------------------------------------------------------


class Disbursement(SQLModel, table=True):
    """Money paid out of a fund line: recorded by a coordinator, or stated by the plan text.

    ``line_code`` keeps the line's code, so a record outlives a line dropped from the plan
    file (``fund_line_id`` is then NULL). Rows with ``origin`` "plan" mirror the plan file's
    ``disbursed`` entries and are replaced by a re-import; "manual" rows never are.
    """

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(sa_column=Column(Integer, ForeignKey("plan.id", ondelete="CASCADE"),
                                          nullable=False))
    fund_line_id: int | None = Field(default=None, sa_column=Column(
        Integer, ForeignKey("fundline.id", ondelete="SET NULL"), index=True))
    line_code: str = Field(sa_column=Column(String(120), nullable=False))
    task_id: int | None = Field(default=None, sa_column=Column(
        Integer, ForeignKey("task.id", ondelete="SET NULL"), index=True))
    unit_id: int | None = Field(default=None, sa_column=Column(
        Integer, ForeignKey("unit.id", ondelete="SET NULL")))
    paid_on: date  # the payment's day in the plan's timezone
    amount: Decimal = Field(sa_column=Column(Money, nullable=False))  # yuan, > 0
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    note: str | None = Field(default=None, sa_column=Column(Text))
    origin: str = Field(default="manual", sa_column=Column(String(10), nullable=False,
                                                           server_default="manual"))
    recorded_at: datetime = instant(nullable=False, default=utcnow)
    recorder: str | None = Field(default=None, sa_column=Column(String(100)))

    __table_args__ = (Index("ix_disbursement_plan_paid", "plan_id", "paid_on"),)


# -- web dashboard: indexes for counting lights over many tasks ------------------------------

# Counts by plan and state, red tasks (open, due_at <= now) and late submissions are read from
# this index alone; the partial one finds the few tasks with a progress plan (the only
# tasks besides those due within the warning window that can be yellow). See
# taskflow.services.overview.
PROGRESS_PLAN_SET = "CAST(progress_plan AS TEXT) != '[]'"
Index("ix_task_light", Task.plan_id, Task.state, Task.due_at, Task.submitted_at,
      Task.archived_at, Task.due_on)
Index("ix_task_progress_plan", Task.state, Task.plan_id,
      sqlite_where=sa_text(PROGRESS_PLAN_SET), postgresql_where=sa_text(PROGRESS_PLAN_SET))


class AppState(SQLModel, table=True):
    """A named value of the installation, e.g. the secret key's fingerprint
    (taskflow.services.secret_key): what every process must agree on lives here."""

    __tablename__ = "app_state"

    name: str = Field(sa_column=Column(String(64), primary_key=True))
    value: str = Field(sa_column=Column(Text, nullable=False))
    updated_at: datetime = instant(nullable=False, default=utcnow)
