"""Weekly summaries: after the top escalation step a task leaves the daily reminders and is
listed once a week, to its units' liaisons and to the leader, in the day's digest."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select
from sqlmodel import Session

from taskflow.domain.workdays import Days
from taskflow.models import Notification
from taskflow.services.sweep import sweep
from taskflow.services.weekly import summary_day
from tests.services.test_sweep import CAL, local, plan_text, seed


def _sweep_days(engine, first: date, last: date) -> None:
    day = first
    while day <= last:
        sweep(engine, now=local(day.year, day.month, day.day), calendar=CAL)
        day += timedelta(days=1)


def _rows(engine, **where) -> list[Notification]:
    with Session(engine) as session:
        query = select(Notification).order_by(Notification.id)
        for name, value in where.items():
            query = query.where(getattr(Notification, name) == value)
        return list(session.scalars(query))


def test_tasks_past_the_top_level_get_weekly_summaries_not_daily_reminders(engine, tmp_path):
    seed(engine, tmp_path, plan_text(count=3, due="2025-06-10", duty=False))
    # 10 June (Tue) missed; the top step (三级, 约谈) comes 5 working days later, 17 June
    _sweep_days(engine, date(2025, 6, 3), date(2025, 6, 30))
    overdue_days = sorted({r.created_at.astimezone(local(2025, 1, 1).tzinfo).date()
                           for r in _rows(engine, kind="overdue")})
    late = {local(2025, 6, d).date() for d in (11, 13, 17)}
    assert {d for d in overdue_days} == late  # 1, 3, 5 working days; then no more
    weekly = _rows(engine, kind="weekly")
    # Mondays after the top step: 23 and 30 June; the liaison (email and SMS) and the leader
    assert sorted({r.digest_on for r in weekly}) == [date(2025, 6, 23), date(2025, 6, 30)]
    assert {r.address for r in weekly} == {"liaison@fpb.c.example.org", "10000000009",
                                           "leader@c.example.org"}
    summary = next(r for r in weekly if r.address == "leader@c.example.org")
    assert [t["task_code"] for t in summary.payload["tasks"]] == ["T001", "T002", "T003"]
    assert {t["days"] for t in summary.payload["tasks"]} == {
        Days(CAL, calendar_days=False).between(date(2025, 6, 10), summary.digest_on)}
    # the same Monday again writes nothing
    before = len(_rows(engine))
    sweep(engine, now=local(2025, 6, 30, 16), calendar=CAL)
    assert len(_rows(engine)) == before


def test_the_summary_day_is_the_first_working_day_of_the_week():
    days = Days(CAL, calendar_days=False)
    assert summary_day(date(2025, 6, 25), days) == date(2025, 6, 23)
    # National Day week 2025: 1–8 October off; the week's first working day is Thursday 9th
    assert summary_day(date(2025, 10, 10), days) == date(2025, 10, 9)
    # Spring Festival 2025: 28 January – 4 February off; Monday 27 January works
    assert summary_day(date(2025, 1, 29), days) == date(2025, 1, 27)
    # the week of 3 February: off until Tuesday 4th, Wednesday 5th works
    assert summary_day(date(2025, 2, 7), days) == date(2025, 2, 5)
