"""The disbursement-lag alert: the rule, and the sweep's outbox rows (once per slot)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from sqlmodel import Session, select

from taskflow.calendar import WorkCalendar
from taskflow.domain.funds import disbursement_lag
from taskflow.models import Notification
from taskflow.services.sweep import sweep

SCHEDULE = [{"by": "2025-03-31", "share": "30"}]


def _lag(disbursed: str, today: date):
    return disbursement_lag(amount=Decimal(100_000), disbursed=Decimal(disbursed),
                            schedule=SCHEDULE, disburse_by=date(2025, 6, 30), today=today,
                            threshold=Decimal(10))


def test_lag_starts_the_day_after_a_missed_checkpoint():
    assert _lag("10000", date(2025, 3, 31)) is None  # the checkpoint's own day is still in time
    lag = _lag("10000", date(2025, 4, 1))
    assert (lag.since, lag.planned, lag.actual, lag.final) == (
        date(2025, 3, 31), Decimal(30), Decimal("10.00"), False)


def test_a_partial_checkpoint_tolerates_the_policy_threshold_the_deadline_does_not():
    assert _lag("21000", date(2025, 4, 15)) is None  # 9 points behind 30%: within 10
    lag = _lag("99000", date(2025, 7, 1))  # 99% after the deadline: late
    assert lag.final and lag.since == date(2025, 6, 30)
    assert _lag("100000", date(2025, 7, 1)) is None


def _fund_rows(engine) -> list[Notification]:
    with Session(engine) as session:
        return list(session.exec(select(Notification).where(
            Notification.kind == "fund_lag").order_by(Notification.key)).all())


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_sweep_writes_lag_reminder_and_escalation_once(funds_cli, engine):
    calendar = WorkCalendar()
    funds_cli("funds", "disburse", "--plan", "fundlag", "--line", "1.F1", "--amount", "1万",
              "--on", "2025-03-10", "--now", "2025-03-10")
    sweep(engine, now=_at("2025-03-31T10:00+08:00"), calendar=calendar)
    assert _fund_rows(engine) == []  # the checkpoint's day: nothing yet
    now = _at("2025-04-02T09:30+08:00")
    report = sweep(engine, now=now, calendar=calendar)
    rows = _fund_rows(engine)
    assert report.messages["fund_lag"] == 1 and report.messages["fund_escalation"] == 1
    by_level = {(r.level, r.address) for r in rows}
    # the reminder to the lead unit's liaison, escalation level 1 to its head (lead.head)
    assert by_level == {(0, "zhao@t.example.org"), (1, "wang@t.example.org")}
    reminder = next(r for r in rows if r.level == 0)
    assert reminder.key.startswith("f") and ":2025-03-31:lag1:fund_lag:L0:c" in reminder.key
    assert reminder.payload["share"] == "10.0%" and reminder.payload["planned_share"] == "30.0%"
    assert reminder.payload["task_code"] == "1" and reminder.task_id is not None
    # the same sweep again, and later the same day: nothing new
    sweep(engine, now=now, calendar=calendar)
    sweep(engine, now=_at("2025-04-02T16:00+08:00"), calendar=calendar)
    assert len(_fund_rows(engine)) == 2
    # caught up: 35% disbursed → no longer behind the 30% checkpoint, nothing more
    funds_cli("funds", "disburse", "--plan", "fundlag", "--line", "1.F1", "--amount", "2.5万",
              "--on", "2025-04-02", "--now", "2025-04-02T17:00")
    sweep(engine, now=_at("2025-04-10T09:30+08:00"), calendar=calendar)
    assert len(_fund_rows(engine)) == 2
    # past the 30 June deadline with 35%: a new lag, new keys
    sweep(engine, now=_at("2025-07-01T09:30+08:00"), calendar=calendar)
    rows = _fund_rows(engine)
    assert any(":2025-06-30:lag1:" in r.key for r in rows) and len(rows) > 2


def test_lag_message_renders_in_chinese(funds_cli, engine):
    from notifications.templates import Renderer

    funds_cli("funds", "disburse", "--plan", "fundlag", "--line", "1.F1", "--amount", "1万",
              "--on", "2025-03-10", "--now", "2025-03-10")
    sweep(engine, now=_at("2025-04-02T09:30+08:00"), calendar=WorkCalendar())
    row = next(r for r in _fund_rows(engine) if r.level == 1)
    out = Renderer().render("fund_lag", {**row.payload, "level": row.level})
    assert out.subject == "【资金拨付滞后·一级督办】雨露计划补助发放"
    assert "> 资金：1.F1，安排10万元，已拨付1万元\n" in out.markdown
    assert "应拨付30.0%" in out.text and "10.0%" in out.text and "1.F1" in out.html


def test_a_line_lagging_before_its_plan_was_imported_is_chased_from_the_import(
        funds_cli, engine):
    """The plan came in long after the checkpoint: no escalation on the first day; the
    ladder counts from the import, like a task learned of after its deadline."""
    from sqlalchemy import update

    from taskflow.db import write_session
    from taskflow.models import Plan

    calendar = WorkCalendar()
    with write_session(engine) as session:  # imported on 1 September, after 31 March
        session.execute(update(Plan).values(imported_at=_at("2025-09-01T08:00+08:00")))
    sweep(engine, now=_at("2025-09-01T09:30+08:00"), calendar=calendar)
    assert {r.level for r in _fund_rows(engine)} <= {0}
    sweep(engine, now=_at("2025-09-02T09:30+08:00"), calendar=calendar)
    assert max(r.level for r in _fund_rows(engine)) == 1  # the next working day: level 1
