"""The pure engine rules, on real Chinese holidays, without a database."""

from __future__ import annotations

import time as time_module
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from taskflow.calendar import WorkCalendar
from taskflow.domain.lights import light
from taskflow.domain.reminders import TaskFacts, decide, out_of_quiet_hours
from taskflow.domain.states import IllegalTransition, transition
from taskflow.domain.workdays import Clock, Days
from taskflow.plans.schema import PolicySpec

SH = ZoneInfo("Asia/Shanghai")
POLICY = PolicySpec()
CAL = WorkCalendar()
DAYS = Days(CAL, calendar_days=False)
CLOCK = Clock(SH, POLICY)


def local(y, m, d, hh=9, mm=0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SH).astimezone(UTC)


def due_task(due: date, **kw) -> TaskFacts:
    """An acknowledged leaf task due at the end of ``due`` (Shanghai)."""
    values = dict(id=1, state="acknowledged", due_on=due,
                  due_at=datetime.combine(due + timedelta(days=1), datetime.min.time(), SH),
                  activated_at=local(2025, 1, 2))
    values.update(kw)
    return TaskFacts(**values)


def kinds(decision) -> list[tuple[str, str]]:
    return [(a.kind, a.occurrence) for a in decision.actions]


# -- state machine -----------------------------------------------------------------------------

def test_legal_transitions():
    assert transition("active", "acknowledge") == "acknowledged"
    assert transition("acknowledged", "report") == "in_progress"
    assert transition("in_progress", "submit") == "submitted"
    assert transition("submitted", "accept") == "done"
    assert transition("submitted", "return") == "in_progress"
    assert transition("in_progress", "extend") == "in_progress"
    assert transition("pending", "cancel") == "cancelled"


@pytest.mark.parametrize(("state", "action"), [
    ("done", "report"), ("cancelled", "acknowledge"), ("active", "accept"),
    ("in_progress", "return"), ("done", "extend"), ("pending", "submit"),
])
def test_illegal_transitions_say_what_is_allowed(state, action):
    with pytest.raises(IllegalTransition, match="不能") as info:
        transition(state, action)
    assert "可执行" in str(info.value)


# -- activation and 签收 ------------------------------------------------------------------------

def test_pending_task_waits_for_its_start():
    start = local(2025, 3, 1, 0, 0)
    task = TaskFacts(id=1, state="pending", start_at=start)
    decision = decide(task, local(2025, 2, 1), POLICY, DAYS, CLOCK)
    assert decision.actions == () and decision.state is None
    assert decision.next_action_at == start


def test_task_activates_at_its_start_and_is_assigned():
    task = TaskFacts(id=1, state="pending", start_at=local(2025, 3, 3, 0, 0))
    now = local(2025, 3, 3, 9, 5)
    decision = decide(task, now, POLICY, DAYS, CLOCK)
    assert decision.state == "active" and decision.activated_at == now
    assert kinds(decision) == [("assigned", "assigned")]


def test_a_milestone_activates_silently():
    task = TaskFacts(id=1, state="pending", kind="milestone")
    decision = decide(task, local(2025, 3, 3), POLICY, DAYS, CLOCK)
    assert decision.state == "active" and decision.actions == ()


def test_acknowledgement_is_chased_after_two_working_days_across_national_day():
    # Activated Friday 26 Sep 2025; Sunday 28 Sep is a make-up working day (调休), so two
    # working days later is Monday 29 Sep; then daily, skipping 1-8 October.
    task = TaskFacts(id=1, state="active", activated_at=local(2025, 9, 26, 10))
    assert decide(task, local(2025, 9, 29, 8, 59), POLICY, DAYS, CLOCK).actions == ()
    first = decide(task, local(2025, 9, 29, 9, 0), POLICY, DAYS, CLOCK)
    assert kinds(first) == [("ack_chase", "ack:2025-09-29")]
    assert first.next_action_at == local(2025, 9, 30)
    after_holiday = decide(task, local(2025, 10, 5), POLICY, DAYS, CLOCK)
    assert kinds(after_holiday) == [("ack_chase", "ack:2025-09-30")]
    assert after_holiday.next_action_at == local(2025, 10, 9)


def test_acknowledgement_chases_stop_at_the_limit():
    task = TaskFacts(id=1, state="active", activated_at=local(2025, 3, 3, 10))
    # chases on 5, 6 and 7 March (limit 3), then nothing more before the deadline
    third = decide(task, local(2025, 3, 7), POLICY, DAYS, CLOCK)
    assert kinds(third) == [("ack_chase", "ack:2025-03-07")]
    assert third.next_action_at is None
    assert decide(task, local(2025, 3, 20), POLICY, DAYS, CLOCK).actions == (
        decide(task, local(2025, 3, 7), POLICY, DAYS, CLOCK).actions)


def test_acknowledged_task_is_not_chased():
    task = due_task(date(2025, 12, 31), state="acknowledged")
    assert [a.kind for a in decide(task, local(2025, 3, 3), POLICY, DAYS, CLOCK).actions] == []


# -- reminders ---------------------------------------------------------------------------------

def test_reminders_count_working_days_around_dragon_boat_festival():
    # Due Tue 10 June 2025; 31 May-2 June is the Dragon Boat holiday, so 5 working days
    # before is Tue 3 June, 2 before is Fri 6 June.
    task = due_task(date(2025, 6, 10))
    assert decide(task, local(2025, 6, 3, 8, 59), POLICY, DAYS, CLOCK).next_action_at == \
        local(2025, 6, 3)
    assert kinds(decide(task, local(2025, 6, 3), POLICY, DAYS, CLOCK)) == [
        ("due_soon", "2025-06-10:before5")]
    assert kinds(decide(task, local(2025, 6, 6, 15), POLICY, DAYS, CLOCK)) == [
        ("due_soon", "2025-06-10:before2")]
    today = decide(task, local(2025, 6, 10, 9, 30), POLICY, DAYS, CLOCK)
    assert kinds(today) == [("due_today", "2025-06-10:before0")]
    assert today.next_action_at == task.due_at


def test_after_downtime_only_the_latest_reminder_is_due():
    task = due_task(date(2025, 6, 10))
    decision = decide(task, local(2025, 6, 9, 11), POLICY, DAYS, CLOCK)
    assert kinds(decision) == [("due_soon", "2025-06-10:before2")]


def test_deadline_on_a_holiday_is_reminded_on_the_working_day_before():
    task = due_task(date(2025, 10, 5))  # inside the National Day holiday
    decision = decide(task, local(2025, 9, 30, 10), POLICY, DAYS, CLOCK)
    assert kinds(decision) == [("due_today", "2025-10-05:before0")]


def test_a_0900_reminder_fires_at_0100_utc_on_a_utc_host(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time_module.tzset()
    try:
        decision = decide(due_task(date(2025, 6, 10)), local(2025, 6, 3, 8), POLICY, DAYS,
                          CLOCK)
        assert decision.next_action_at == datetime(2025, 6, 3, 1, 0, tzinfo=UTC)
    finally:
        monkeypatch.delenv("TZ")
        time_module.tzset()


# -- overdue and escalation ----------------------------------------------------------------------

def test_overdue_escalates_to_level_1_then_2_after_3_workdays_then_3_after_5():
    task = due_task(date(2025, 6, 10))
    at_deadline = decide(task, local(2025, 6, 11, 0, 30), POLICY, DAYS, CLOCK)
    assert at_deadline.actions == () and at_deadline.next_action_at == local(2025, 6, 11)
    day1 = decide(task, local(2025, 6, 11), POLICY, DAYS, CLOCK)
    assert kinds(day1) == [("overdue", "2025-06-10:overdue0"), ("escalation", "2025-06-10:esc1")]
    assert day1.escalation_level == 1
    task = due_task(date(2025, 6, 10), escalation_level=1)
    day3 = decide(task, local(2025, 6, 13), POLICY, DAYS, CLOCK)
    assert ("escalation", "2025-06-10:esc2") in kinds(day3) and day3.escalation_level == 2
    escalation = next(a for a in day3.actions if a.kind == "escalation")
    assert escalation.recipients == ("office.coordinator",) and escalation.consequence == "通报"
    task = due_task(date(2025, 6, 10), escalation_level=2)
    # 14-15 June is a weekend: the fifth working day overdue is Tuesday 17 June.
    assert decide(task, local(2025, 6, 16), POLICY, DAYS, CLOCK).escalation_level is None
    assert decide(task, local(2025, 6, 17), POLICY, DAYS, CLOCK).escalation_level == 3


def test_clock_jump_catches_up_with_one_message_per_kind_at_the_right_level():
    task = due_task(date(2025, 6, 10))
    decision = decide(task, local(2025, 6, 16, 10), POLICY, DAYS, CLOCK)
    assert [a.kind for a in decision.actions].count("escalation") == 1
    assert [a.kind for a in decision.actions].count("overdue") == 1
    assert decision.escalation_level == 2
    assert next(a for a in decision.actions if a.kind == "escalation").level == 2
    assert decision.next_action_at == local(2025, 6, 17)


def test_repeated_overdue_reminders_every_two_working_days():
    task = due_task(date(2025, 6, 10), escalation_level=3)
    occurrences = [a.occurrence for day in (11, 12, 13, 16, 17)
                   for a in decide(task, local(2025, 6, day, 10), POLICY, DAYS, CLOCK).actions]
    assert occurrences == ["2025-06-10:overdue0", "2025-06-10:overdue0", "2025-06-10:overdue1",
                           "2025-06-10:overdue1", "2025-06-10:overdue2"]


def test_task_overdue_for_years_is_still_cheap_and_right():
    task = due_task(date(2016, 12, 30), escalation_level=3)
    decision = decide(task, local(2025, 6, 11, 10), POLICY, DAYS, CLOCK)
    assert [a.kind for a in decision.actions] == ["overdue"]
    assert decision.next_action_at > local(2025, 6, 11, 10)


@pytest.mark.parametrize("state", ["submitted", "done", "cancelled"])
def test_nothing_is_owed_by_units_once_submitted_or_closed(state):
    decision = decide(due_task(date(2025, 6, 10), state=state), local(2025, 6, 20), POLICY,
                      DAYS, CLOCK)
    assert decision.actions == () and decision.next_action_at is None


def test_calendar_days_policy():
    policy = PolicySpec(calendar_days=True, remind_before=[3])
    days = Days(CAL, calendar_days=True)
    task = due_task(date(2025, 10, 5))
    assert kinds(decide(task, local(2025, 10, 2), policy, days, Clock(SH, policy))) == [
        ("due_soon", "2025-10-05:before3")]


def test_duty_asks_for_occurrences_over_the_horizon():
    task = TaskFacts(id=1, state="active", kind="duty", is_leaf=False,
                     recurrence="FREQ=MONTHLY;INTERVAL=3", activated_at=local(2025, 1, 2))
    decision = decide(task, local(2025, 3, 1), POLICY, DAYS, CLOCK)
    assert decision.materialize_until == date(2025, 3, 1) + timedelta(days=31)


# -- lights and quiet hours ----------------------------------------------------------------------

def test_lights():
    task = due_task(date(2025, 6, 10), state="in_progress")
    assert light(task, local(2025, 5, 20), POLICY, DAYS, CLOCK) == "green"
    assert light(task, local(2025, 6, 5), POLICY, DAYS, CLOCK) == "yellow"  # 3 working days
    assert light(task, local(2025, 6, 11), POLICY, DAYS, CLOCK) == "red"
    submitted = due_task(date(2025, 6, 10), state="submitted")
    assert light(submitted, local(2025, 6, 11), POLICY, DAYS, CLOCK,
                 submitted_at=local(2025, 6, 9)) == "green"
    assert light(due_task(date(2025, 6, 10), state="done"), local(2025, 7, 1), POLICY, DAYS,
                 CLOCK) == "green"


def test_behind_the_planned_schedule_is_yellow():
    plan = [{"by": "2025-03-31", "cumulative": "10", "share": True},
            {"by": "2025-06-30", "cumulative": "40", "share": True}]
    task = due_task(date(2025, 12, 31), state="in_progress")
    now = local(2025, 7, 2)
    assert light(task, now, POLICY, DAYS, CLOCK, progress_plan=plan,
                 actual_percent=Decimal(25)) == "yellow"  # 15 points behind
    assert light(task, now, POLICY, DAYS, CLOCK, progress_plan=plan,
                 actual_percent=Decimal(35)) == "green"  # within 10 points
    quantity_plan = [{"by": "2025-06-30", "cumulative": "400", "share": False}]
    assert light(task, now, POLICY, DAYS, CLOCK, progress_plan=quantity_plan,
                 target=Decimal(1622), actual_percent=Decimal(10)) == "yellow"


def test_quiet_hours_hold_messages_until_morning():
    assert out_of_quiet_hours(local(2025, 6, 3, 22), POLICY, SH) == local(2025, 6, 4, 8)
    assert out_of_quiet_hours(local(2025, 6, 4, 7), POLICY, SH) == local(2025, 6, 4, 8)
    assert out_of_quiet_hours(local(2025, 6, 4, 12), POLICY, SH) == local(2025, 6, 4, 12)
    assert out_of_quiet_hours(local(2025, 6, 4, 23), PolicySpec(quiet_hours=None), SH) == \
        local(2025, 6, 4, 23)
