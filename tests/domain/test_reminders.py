"""The pure engine rules, on real Chinese holidays, without a database."""

from __future__ import annotations

import time as time_module
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from taskflow.calendar import WorkCalendar
from taskflow.domain.lights import light
from taskflow.domain.reminders import TaskFacts, decide
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
    assert kinds(day1) == [("overdue", "2025-06-10:overdue1"), ("escalation", "2025-06-10:esc1")]
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


def test_overdue_reminders_back_off_and_end_after_the_top_escalation_level():
    """1, 3 and 5 working days overdue; the top step (约谈) comes on day 5, and from then on
    the task is in the weekly summaries, not in daily reminders."""
    task = due_task(date(2025, 6, 10), escalation_level=3)
    days = (11, 12, 13, 16, 17, 18, 24, 30)
    decisions = [decide(task, local(2025, 6, day, 10), POLICY, DAYS, CLOCK) for day in days]
    assert [[a.occurrence for a in d.actions] for d in decisions] == [
        ["2025-06-10:overdue1"], ["2025-06-10:overdue1"], ["2025-06-10:overdue3"],
        ["2025-06-10:overdue3"], ["2025-06-10:overdue5"], ["2025-06-10:overdue5"],
        ["2025-06-10:overdue5"], ["2025-06-10:overdue5"]]
    assert decisions[0].next_action_at == local(2025, 6, 13)  # the third working day
    assert decisions[4].next_action_at is None  # nothing more will ever be due


def test_overdue_reminders_go_on_weekly_when_the_policy_says_so():
    policy = PolicySpec(repeat_after_top=True)
    task = due_task(date(2025, 6, 10), escalation_level=3)
    # 10 working days overdue: 24 June; then every 5: 1 July, 8 July
    assert [a.occurrence for a in decide(task, local(2025, 6, 24, 10), policy, DAYS,
                                          CLOCK).actions] == ["2025-06-10:overdue10"]
    later = decide(task, local(2025, 7, 2, 10), policy, DAYS, CLOCK)
    assert [a.occurrence for a in later.actions] == ["2025-06-10:overdue15"]
    assert later.next_action_at == local(2025, 7, 8)


def test_task_overdue_for_years_is_still_cheap_and_right():
    task = due_task(date(2016, 12, 30), escalation_level=3)
    decision = decide(task, local(2025, 6, 11, 10), POLICY, DAYS, CLOCK)
    # its last reminder (5 working days overdue) was long ago: the same key, nothing new
    assert [a.occurrence for a in decision.actions] == ["2016-12-30:overdue5"]
    assert decision.next_action_at is None
    weekly = decide(task, local(2025, 6, 11, 10), PolicySpec(repeat_after_top=True), DAYS,
                    CLOCK)
    assert [a.kind for a in weekly.actions] == ["overdue"]
    assert weekly.next_action_at > local(2025, 6, 11, 10)


def test_a_task_learned_of_after_its_deadline_is_assigned_as_overdue_and_chased_from_then():
    """Imported on 4 December with a deadline of 10 June: one 交办 saying how late it is;
    the ladder counts from the import (督办 the next working day), nothing reaches the leader
    on the first day, and the reminders it missed before it was known are not sent."""
    task = TaskFacts(id=1, state="pending", due_on=date(2025, 6, 10),
                     due_at=datetime.combine(date(2025, 6, 11), datetime.min.time(), SH))
    first = decide(task, local(2025, 12, 4, 9), POLICY, DAYS, CLOCK)
    assert first.state == "active" and first.escalation_level is None
    [assigned] = first.actions
    assert assigned.kind == "assigned" and assigned.days == DAYS.between(date(2025, 6, 10),
                                                                         date(2025, 12, 4))
    assert first.next_action_at == local(2025, 12, 5)
    started = TaskFacts(**{**task.__dict__, "state": "active",
                           "activated_at": local(2025, 12, 4, 9)})
    again = decide(started, local(2025, 12, 4, 15), POLICY, DAYS, CLOCK)
    assert again.actions == ()
    day1 = decide(started, local(2025, 12, 5, 9), POLICY, DAYS, CLOCK)
    assert kinds(day1) == [("overdue", "2025-06-10:overdue1"),
                           ("escalation", "2025-06-10:esc1")]
    assert day1.escalation_level == 1
    escalation = day1.actions[1]
    assert escalation.days == DAYS.between(date(2025, 6, 10), date(2025, 12, 5))
    # the top level comes 5 working days after the import, not at once
    assert decide(TaskFacts(**{**started.__dict__, "escalation_level": 2}),
                  local(2025, 12, 10, 9), POLICY, DAYS, CLOCK).escalation_level is None
    assert decide(TaskFacts(**{**started.__dict__, "escalation_level": 2}),
                  local(2025, 12, 11, 9), POLICY, DAYS, CLOCK).escalation_level == 3


def test_reminders_due_before_a_task_started_are_not_sent():
    """A task that starts three working days before its deadline gets its 交办, then the
    two-day reminder; the five-day one (before it started) is owed to nobody."""
    task = TaskFacts(id=1, state="acknowledged", due_on=date(2025, 6, 13),
                     due_at=datetime.combine(date(2025, 6, 14), datetime.min.time(), SH),
                     activated_at=local(2025, 6, 9, 9), acknowledged_at=local(2025, 6, 9, 9))
    assert decide(task, local(2025, 6, 9, 10), POLICY, DAYS, CLOCK).actions == ()
    assert kinds(decide(task, local(2025, 6, 11, 10), POLICY, DAYS, CLOCK)) == [
        ("due_soon", "2025-06-13:before2")]


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


def test_a_milestone_started_during_its_reminder_day_still_gets_that_days_reminder():
    """A step starts silently (no 交办 of its own): the reminder of the day it starts is
    still owed, the ones of the days before are not."""
    milestone = TaskFacts(id=1, state="active", kind="milestone", due_on=date(2025, 6, 10),
                          due_at=datetime.combine(date(2025, 6, 11), datetime.min.time(), SH),
                          activated_at=local(2025, 6, 6, 10))
    assert kinds(decide(milestone, local(2025, 6, 6, 10, 5), POLICY, DAYS, CLOCK)) == [
        ("due_soon", "2025-06-10:before2")]


def test_a_heading_that_names_no_unit_gets_no_assignment_nor_chase():
    """篇2's "(一)定点扶贫工作" groups tasks and names no unit: nobody to 交办 it to; a
    leaf that names no unit is still decided (and reported as unreachable by the sweep)."""
    heading = TaskFacts(id=1, state="pending", is_leaf=False, has_units=False)
    first = decide(heading, local(2025, 1, 2), POLICY, DAYS, CLOCK)
    assert first.state == "active" and first.actions == ()
    started = TaskFacts(id=1, state="active", is_leaf=False, has_units=False,
                        activated_at=local(2025, 1, 2))
    assert decide(started, local(2025, 1, 10), POLICY, DAYS, CLOCK).actions == ()
    orphan = TaskFacts(id=2, state="pending", has_units=False)
    assert [a.kind for a in decide(orphan, local(2025, 1, 2), POLICY, DAYS, CLOCK).actions] \
        == ["assigned"]
