"""The .ics export: one all-day event per deadline and per inspection round."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar
from sqlmodel import Session, select
from typer.testing import CliRunner

from taskflow.cli import app
from taskflow.db import make_engine
from taskflow.models import InspectionRound, Plan, Task
from tests.conftest import REPO


def _events(data: bytes) -> tuple[dict, Calendar]:
    calendar = Calendar.from_ical(data)
    return {str(e["UID"]): e for e in calendar.walk("VEVENT")}, calendar


def test_plan_calendar_holds_every_deadline_and_round(cli, engine, tmp_path):
    cli("inspections", "plan", "--plan", "demo", "--year", "2025")
    cli("sweep", "--now", "2025-01-02T09:30")  # the duty's occurrences get deadlines too
    path = tmp_path / "demo.ics"
    cli("export", "ics", "--plan", "demo", "-o", str(path), "--now", "2025-01-02")
    events, calendar = _events(path.read_bytes())
    assert "测试县扶贫专项实施方案" in str(calendar["X-WR-CALNAME"])
    with Session(engine) as session:
        tasks = session.exec(select(Task).where(Task.due_on.is_not(None),
                                                Task.archived_at.is_(None))).all()
        rounds = session.exec(select(InspectionRound)).all()
    assert rounds and tasks
    assert len(events) == len(tasks) + len(rounds)
    for task in tasks:
        event = events[f"task-demo-{task.code}-{task.due_on:%Y%m%d}@taskflow"]
        assert event.decoded("DTSTART") == task.due_on
        assert event.decoded("DTEND") == date.fromordinal(task.due_on.toordinal() + 1)
        assert str(event["SUMMARY"]).startswith(("【期限】", "【节点】"))
        assert task.code in str(event["SUMMARY"]) and task.title in str(event["SUMMARY"])
        assert "测试县扶贫专项实施方案" in str(event["DESCRIPTION"])
    milestone = events["task-demo-1.m1-20250610@taskflow"]
    assert "县扶贫开发局" in str(milestone["DESCRIPTION"])
    for row in rounds:
        assert any(e.decoded("DTSTART") == row.scheduled_on and "【检查】" in str(e["SUMMARY"])
                   for e in events.values())
    # UIDs are stable: a second export gives the same events
    again, _ = _events(cli("export", "ics", "--plan", "demo", "--now", "2025-03-01")
                       .encode("utf-8"))
    assert set(again) == set(events)


def test_unit_calendar_holds_only_that_units_deadlines(cli):
    events, calendar = _events(cli("export", "ics", "--unit", "县林业局").encode("utf-8"))
    assert "县林业局" in str(calendar["X-WR-CALNAME"])
    codes = {uid.split("-")[2] for uid in events if uid.startswith("task-")}
    assert "2" in codes and "1" not in codes and "1.m1" not in codes


def test_calendar_needs_a_plan_or_a_unit(cli):
    assert "请指定 --plan 或 --unit" in cli("export", "ics", code=2)
    assert "方案 'nope' 不存在" in cli("export", "ics", "--plan", "nope", code=2)


def test_seed_plan_p2_deadlines_fall_on_their_shanghai_days(tmp_path, monkeypatch):
    data = tmp_path / "seed"
    monkeypatch.setenv("TASKFLOW_DATA_DIR", str(data))
    from taskflow.settings import get_settings

    get_settings.cache_clear()
    runner = CliRunner()
    seed = REPO / "seed_plans"
    for args in (["db", "upgrade"], ["units", "import", str(seed / "org")],
                 ["plan", "import", str(seed / "p2-social.yaml"), "--year", "2025"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["export", "ics", "--plan", "p2-social"])
    assert result.exit_code == 0, result.output
    events, calendar = _events(result.stdout_bytes)
    assert "任务期限" in str(calendar["X-WR-CALNAME"])
    engine = make_engine(f"sqlite:///{data / 'taskflow.db'}")
    with Session(engine) as session:
        plan = session.exec(select(Plan).where(Plan.code == "p2-social")).one()
        assert plan.timezone == "Asia/Shanghai"
        tasks = session.exec(select(Task).where(Task.plan_id == plan.id,
                                                Task.due_on.is_not(None))).all()
    engine.dispose()
    assert tasks and len(events) == len(tasks)
    shanghai = ZoneInfo("Asia/Shanghai")
    for task in tasks:
        event = events[f"task-p2-social-{task.code}-{task.due_on:%Y%m%d}@taskflow"]
        assert event.decoded("DTSTART") == task.due_on
        # the deadline instant (the end of the day) closes that day in Shanghai
        last_second = task.due_at - timedelta(seconds=1)
        assert last_second.astimezone(shanghai).date() == task.due_on
        assert task.due_on.year == 2025
