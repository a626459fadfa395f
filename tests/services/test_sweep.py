"""The sweep against a real database (SQLite and PostgreSQL): idempotence, races, catch-up."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update
from sqlmodel import Session

from taskflow.calendar import WorkCalendar
from taskflow.db import write_session
from taskflow.models import AuditEvent, Notification, Task
from taskflow.plans.units import read_units_files
from taskflow.services import intake
from taskflow.services import tasks as actions
from taskflow.services.sweep import sweep
from taskflow.services.units import import_units

SH = ZoneInfo("Asia/Shanghai")
CAL = WorkCalendar()
ORG = """
units:
  - code: c
    name: 示例县人民政府
    kind: county
    contacts:
      - {name: 示例·分管县长, role: leader_in_charge, email: leader@c.example.org}
    children:
      - code: c.dcs
        name: 县委县政府督查室
        kind: office
        contacts:
          - {name: 示例·督查员, role: coordinator, email: dcs@c.example.org}
      - code: c.fpb
        name: 县扶贫开发局
        kind: department
        contacts:
          - {name: 示例·局长, role: head, email: head@fpb.c.example.org}
          - {name: 示例·联络员, role: liaison, email: liaison@fpb.c.example.org,
             mobile: "10000000009", channels: [email, sms]}
"""


def plan_text(count: int = 3, due: str = "2025-06-10", duty: bool = True) -> str:
    duty_text = """\
  - code: duty
    title: 每季度至少研究一次
    lead: 县扶贫开发局
    recurrence: 每季度
""" if duty else ""
    return textwrap.dedent(f"""\
        code: s
        title: 测试方案
        year: 2025
        jurisdiction: c
        tasks:
          - code: "T{{n:03d}}"
            title: 任务{{n}}
            repeat: {count}
            lead: 县扶贫开发局
            due: {due}
        """) + duty_text


def local(y, m, d, hh=9, mm=30) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SH).astimezone(UTC)


def seed(engine, tmp_path: Path, text: str) -> None:
    (tmp_path / "org.yaml").write_text(ORG, encoding="utf-8")
    (tmp_path / "plan.yaml").write_text(text, encoding="utf-8")
    now = local(2025, 1, 1, 0, 0)
    with write_session(engine) as session:
        import_units(session, read_units_files([tmp_path / "org.yaml"]), actor="t", now=now)
        intake.import_file(session, path=tmp_path / "plan.yaml", year=None, actor="t", now=now)


def outbox(engine) -> list[Notification]:
    with Session(engine) as session:
        return list(session.scalars(select(Notification).order_by(Notification.id)))


def count(engine, model) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def seeded(engine, tmp_path):
    seed(engine, tmp_path, plan_text())
    return engine


def test_first_sweep_activates_assigns_and_materialises_the_duty(seeded):
    report = sweep(seeded, now=local(2025, 1, 2), calendar=CAL)
    # 3 tasks, the duty, and the duty's Q1 occurrence (made and started in the same sweep)
    assert report.activated == 5 and report.messages["assigned"] == 4
    assert report.occurrences == 1  # Q1 (the horizon is 31 days)
    rows = outbox(seeded)
    # lead.liaison on two channels, for each of 4 tasks
    assert Counter(r.channel for r in rows) == {"email": 4, "sms": 4}
    assert {r.address for r in rows} == {"liaison@fpb.c.example.org", "10000000009"}
    with Session(seeded) as session:
        occurrence = session.scalar(select(Task).where(Task.kind == "occurrence"))
        assert occurrence.code == "duty@2025-01-01"
        assert (occurrence.start_on, occurrence.due_on) == (date(2025, 1, 1), date(2025, 3, 31))


def test_the_same_sweep_twice_writes_nothing_the_second_time(seeded):
    now = local(2025, 6, 12)
    first = sweep(seeded, now=now, calendar=CAL)
    assert sum(first.messages.values()) > 0
    rows, audits = count(seeded, Notification), count(seeded, AuditEvent)
    second = sweep(seeded, now=now, calendar=CAL)
    assert second.tasks == 0 and sum(second.messages.values()) == 0
    assert (count(seeded, Notification), count(seeded, AuditEvent)) == (rows, audits)


def test_a_sweep_counts_only_the_messages_it_wrote(seeded):
    """A task looked at again for a slot whose messages exist writes nothing, and the
    summary says 0, not the messages it would have written."""
    now = local(2025, 6, 12)
    first = sweep(seeded, now=now, calendar=CAL)
    rows = count(seeded, Notification)
    with write_session(seeded) as session:  # every task due again, as after a lost commit
        session.execute(update(Task).values(next_action_at=now - timedelta(minutes=5)))
    again = sweep(seeded, now=now, calendar=CAL)
    assert again.tasks >= first.tasks > 0
    assert sum(again.messages.values()) == 0
    assert count(seeded, Notification) == rows


def test_clock_jumps_three_days_then_back_an_hour(seeded):
    sweep(seeded, now=local(2025, 6, 9), calendar=CAL)  # before2 reminder
    before = {r.key for r in outbox(seeded)}
    sweep(seeded, now=local(2025, 6, 13), calendar=CAL)  # 3 working days overdue
    new = [r for r in outbox(seeded) if r.key not in before]
    per_task = Counter((r.task_id, r.kind, r.level) for r in new if r.channel == "email")
    tasks = {r.task_id for r in new if r.kind == "escalation"}
    # the three tasks, and the duty's first-quarter occurrence: made (and so learned of) by
    # the first sweep on 9 June, long after its deadline, it is chased from that day
    assert tasks == _ids(seeded) | {_occurrence(seeded, "duty@2025-01-01")}
    for task_id in tasks:
        # one overdue reminder and one escalation, at level 2, per task: no flood
        assert per_task[(task_id, "overdue", 0)] == 1
        assert per_task[(task_id, "escalation", 2)] == 1
        assert per_task[(task_id, "escalation", 1)] == 0
    assert {r.address for r in new if r.kind == "escalation"} == {"dcs@c.example.org"}
    total = count(seeded, Notification)
    sweep(seeded, now=local(2025, 6, 13, 8, 30), calendar=CAL)  # an hour back
    assert count(seeded, Notification) == total


def test_extended_or_accepted_task_gets_no_stale_reminder(seeded):
    sweep(seeded, now=local(2025, 6, 6), calendar=CAL)
    with write_session(seeded) as session:
        t1 = session.scalar(select(Task).where(Task.code == "T001"))
        t2 = session.scalar(select(Task).where(Task.code == "T002"))
        actions.extend(session, t1, due_on=date(2025, 7, 31), reason="资金未到位", actor="t",
                       now=local(2025, 6, 6, 10))
        actions.submit(session, t2, unit=None, actor="t", now=local(2025, 6, 6, 10))
        actions.accept(session, t2, actor="t", now=local(2025, 6, 6, 11))
        ids = (t1.id, t2.id)
    sweep(seeded, now=local(2025, 6, 11), calendar=CAL)
    late = [r for r in outbox(seeded) if r.created_at >= local(2025, 6, 6, 10)]
    assert not [r for r in late if r.task_id in ids and "2025-06-10" in r.key]
    assert {r.task_id for r in late if r.kind == "escalation"} == {
        t for t in _ids(seeded) if t not in ids and t is not None} | {
        _occurrence(seeded, "duty@2025-01-01")}  # learned of on 6 June, chased from then


def _ids(engine) -> set[int]:
    with Session(engine) as session:
        return set(session.scalars(select(Task.id).where(Task.code.like("T%"))))


def _occurrence(engine, code: str) -> int:
    with Session(engine) as session:
        return session.scalar(select(Task.id).where(Task.code == code))


def test_a_task_whose_rule_raises_is_pushed_back_and_reported(seeded):
    with write_session(seeded) as session:
        session.execute(update(Task).where(Task.code == "duty").values(recurrence="FREQ=BOGUS"))
    report = sweep(seeded, now=local(2025, 1, 2), calendar=CAL)
    assert [code for _, code, _ in report.errors] == ["duty"]
    assert report.activated == 3  # the others went on
    with Session(seeded) as session:
        duty = session.scalar(select(Task).where(Task.code == "duty"))
        assert duty.state == "pending" and "BOGUS" in duty.sweep_error
        assert duty.next_action_at == local(2025, 1, 2, 10, 30)
        assert session.scalar(select(func.count()).select_from(Notification)
                              .where(Notification.task_id == duty.id)) == 0


def test_a_row_with_a_corrupted_date_is_set_aside_and_the_sweep_goes_on(seeded):
    """A date edited by hand in the SQLite file ("2025-13-45"): reading the row raises (the
    driver's date converter) before any rule runs; that task alone is set aside."""
    if seeded.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's typed columns cannot hold a corrupted date")
    from sqlalchemy import text

    from workflows.status import database_status

    with seeded.begin() as connection:
        connection.execute(text("UPDATE task SET due_on = '2025-13-45', "
                                "due_at = 'not a date' WHERE code = 'T002'"))
    now = local(2025, 1, 2)
    report = sweep(seeded, now=now, calendar=CAL)
    assert [code for _, code, _ in report.errors] == ["T002"]
    with seeded.connect() as connection:
        bad_id = connection.execute(text("SELECT id FROM task WHERE code = 'T002'")).scalar()
    assert bad_id not in {n.task_id for n in outbox(seeded)}
    assert report.activated == 4  # the other tasks and the duty went on
    with seeded.connect() as connection:
        state, error, next_at = connection.execute(text(
            "SELECT state, sweep_error, next_action_at FROM task WHERE code = 'T002'")).one()
    assert state == "pending" and error.startswith("ValueError: 无法读取任务记录")
    assert next_at.startswith("2025-01-02 02:30")  # an hour later, UTC
    # a second sweep does not stop on it either, and `taskflow status` lists it
    assert sweep(seeded, now=now, calendar=CAL).errors == []
    status = database_status(seeded, now)
    assert [(t["plan"], t["code"], t["error"]) for t in status["set_aside"]] == [
        ("s", "T002", error)]
    from rich.console import Console

    from workflows.status import render

    console = Console(record=True, width=200)
    render({"now": now.isoformat(), "prefect": {"reachable": False, "url": None,
                                                "error": "down"}, "database": status}, console)
    shown = console.export_text()
    assert "清扫时被搁置的任务" in shown and "T002" in shown and "无法读取任务记录" in shown


SWEEPER = """
import json, sys
from datetime import datetime
from taskflow.calendar import WorkCalendar
from taskflow.db import make_engine
from taskflow.services.sweep import sweep
engine = make_engine(sys.argv[1])
report = sweep(engine, now=datetime.fromisoformat(sys.argv[2]), calendar=WorkCalendar(),
               batch_size=25)
print(json.dumps({"tasks": report.tasks, "lost": report.lost_races,
                  "escalations": sum(report.escalations.values())}))
"""


def test_two_sweeps_at_once_send_each_message_exactly_once(engine, db_url, tmp_path):
    seed(engine, tmp_path, plan_text(count=500, due="2025-03-31", duty=False))
    sweep(engine, now=local(2025, 1, 2), calendar=CAL)  # activate everything first
    now = local(2025, 4, 2).isoformat()  # two working days overdue: reminder + level 1
    procs = [subprocess.Popen([sys.executable, "-c", SWEEPER, db_url, now],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        assert "locked" not in err.lower()
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert sum(r["escalations"] for r in results) == 500
    rows = [r for r in outbox(engine) if r.created_at >= local(2025, 4, 2, 0, 0)]
    per_task = Counter((r.task_id, r.kind) for r in rows if r.channel == "email")
    overdue = [k for k in per_task if k[1] == "overdue"]
    escalations = [k for k in per_task if k[1] == "escalation"]
    assert len(overdue) == 500 and len(escalations) == 500
    assert set(per_task.values()) == {1}
    with Session(engine) as session:
        audits = session.scalar(select(func.count()).select_from(AuditEvent)
                                .where(AuditEvent.action == "task.escalate"))
        assert audits == 500
