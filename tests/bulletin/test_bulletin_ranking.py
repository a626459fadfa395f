"""The bulletin's ranking and its "as of" (issue 16.2): only units with something due, no 0%
unit among the best, never praised and named at once, collectives by member, lead-less tasks
under the plan's coordinating office; counted as things stood at the period's end."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlmodel import Session, select

from taskflow.calendar import WorkCalendar
from taskflow.db import write_session
from taskflow.models import Plan, Task
from taskflow.services import tasks as actions
from taskflow.services.bulletin import build_bulletin
from taskflow.services.sweep import sweep

PLAN = """\
code: rank
title: 排名测试方案
year: 2025
issuer: 扶贫开发局
jurisdiction: t
units:
  - code: t.dcs
    name: 县督查室
    kind: office
    contacts: [{name: 示例·督查员, role: coordinator, email: dcs@t.example.org}]
tasks:
  - {code: x1, title: 按期办结, lead: 县扶贫开发局, due: 2025-04-30}
  - {code: x2, title: 林业未办, lead: 县林业局, due: 2025-05-31}
  - {code: x3, title: 财政未办, lead: 县财政局, due: 2025-06-10}
  - {code: x4, title: 乡镇办结, lead: 各乡(镇)人民政府, due: 2025-05-20}
  - {code: x5, title: 各自负责, responsible: 县财政局, each_responsible: true, due: 2025-06-15}
  - {code: x6, title: 三季度工作, lead: 测试县人民政府, due: 2025-08-31}
  - {code: x7, title: 期后才交, lead: 县扶贫开发局, due: 2025-06-20}
funds:
  - {code: F1, source: county, amount: 20万元, task: x1}
"""
NOW = datetime.fromisoformat("2025-08-10T10:00+08:00").astimezone(UTC)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text + "T15:00+08:00").astimezone(UTC)


@pytest.fixture
def ranked(cli, engine, tmp_path: Path):
    path = tmp_path / "rank.yaml"
    path.write_text(PLAN, encoding="utf-8")
    cli("plan", "import", str(path), "--now", "2025-01-01")
    sweep(engine, now=_at("2025-01-02"), calendar=WorkCalendar())
    with write_session(engine) as session:
        plan = session.exec(select(Plan).where(Plan.code == "rank")).one()
        tasks = {t.code: t for t in session.exec(select(Task).where(Task.plan_id == plan.id))}
        for code, day in (("x1", "2025-04-28"), ("x4", "2025-05-18"), ("x7", "2025-07-02")):
            actions.submit(session, tasks[code], unit=None, actor="test", now=_at(day),
                           note="已完成")
    # paid after the second quarter ended
    cli("funds", "disburse", "--plan", "rank", "--line", "F1", "--amount", "5万", "--on",
        "2025-08-01", "--now", "2025-08-02")
    return NOW


def _bulletin(engine, period: str, now: datetime = NOW):
    with Session(engine) as session:
        return build_bulletin(session, plan="rank", period=period, now=now,
                              calendar=WorkCalendar())


def test_ranking_counts_members_and_the_coordinator_and_only_units_with_something_due(
        engine, ranked):
    b = _bulletin(engine, "2025-Q2")
    ranking = [(u.unit, u.due, u.on_time, u.rate) for u in b.units]
    assert ranking[:2] == [("示例镇", 1, 1, Decimal("100.0")),
                           ("县扶贫开发局", 2, 1, Decimal("50.0"))]
    assert {u.unit for u in b.units[2:]} == {"县林业局", "县财政局", "县督查室"}
    names = {u.unit for u in b.units} | {u.unit for u in b.named}
    assert "各乡(镇)人民政府" not in names  # a collective is reported by its members
    assert not any("未明确" in n for n in names)  # x5 has no lead: its coordinator answers
    assert "测试县人民政府" not in names  # nothing due in the quarter
    overdue = {o.task_code: o.lead_units for o in b.overdue}
    assert overdue["x5"] == ("县督查室",)


def test_the_best_are_never_at_zero_and_never_named(engine, ranked):
    b = _bulletin(engine, "2025-Q2")
    named = {u.unit for u in b.named}
    assert [u.unit for u in b.leading] == ["示例镇"]
    assert [u.unit for u in b.praised] == ["示例镇"]
    assert named == {"县扶贫开发局", "县林业局", "县财政局", "县督查室"}
    assert not named & {u.unit for u in b.praised + b.leading}
    assert "按期办结率前列：示例镇100.0%。" in b.summary_lines()
    june = _bulletin(engine, "2025-06")  # x3, x5, x7 all open at the end of June: all 0%
    assert june.units and all(u.rate == 0 for u in june.units)
    assert june.leading == [] and june.praised == []
    assert not any("前列" in line for line in june.summary_lines())


def test_counts_stand_as_at_the_periods_end(engine, ranked):
    b = _bulletin(engine, "2025-Q2")
    assert b.as_of.isoformat() == "2025-06-30"
    x7 = next(o for o in b.overdue if o.task_code == "x7")  # submitted only on 2 July
    assert (x7.days_overdue, b.late_done) == (10, 0)
    assert next(o for o in b.overdue if o.task_code == "x2").days_overdue == 30
    assert b.fund_disbursed == 0  # the 5万 was paid on 1 August
    year = _bulletin(engine, "2025")
    assert year.fund_disbursed == Decimal(50_000)
    assert year.late_done == 1 and "x7" not in {o.task_code for o in year.overdue}


def test_a_period_outside_the_plans_year_is_said(engine, ranked):
    b = _bulletin(engine, "2024-Q2")
    assert b.total_due == 0 and b.units == []
    assert b.notes == ["所选期间2024年第二季度不在《排名测试方案》的实施年度（2025年）内，"
                       "本期没有该方案的到期任务。"]
    assert b.notes[0] in b.summary_lines()
    assert _bulletin(engine, "2025-Q2").notes == []
