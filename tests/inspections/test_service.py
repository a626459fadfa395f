"""Rounds, notices, findings, rectification tasks and the assessment, on a database."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar
import openpyxl
import pytest
from sqlmodel import Session, select

from taskflow.db import write_session
from taskflow.errors import UserError
from taskflow.models import (
    Contact,
    InspectionAssignment,
    InspectionRound,
    Notification,
    Task,
    TaskUnit,
    Unit,
)
from taskflow.plans.units import read_units_files
from taskflow.services import intake
from taskflow.services import tasks as actions
from taskflow.services.assessment import assess, write_score_sheet
from taskflow.services.inspection_findings import record_finding
from taskflow.services.inspection_rounds import generate_rounds
from taskflow.services.sweep import sweep
from taskflow.services.units import import_units
from tests.conftest import REPO
from tests.inspections.conftest import NOW, import_file

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(day: str, hour: int = 10) -> datetime:
    return datetime.combine(date.fromisoformat(day), time(hour), SHANGHAI).astimezone(UTC)


def workdays_after(start: date, end: date) -> int:
    return len([d for d in chinese_calendar.get_dates(start, end)
                if d > start and chinese_calendar.is_workday(d)])


def test_p5_programme_in_2025_has_its_rounds_on_working_days_with_notices(engine, calendar):
    with write_session(engine) as session:
        import_units(session, read_units_files(sorted((REPO / "seed_plans/org").glob("*.yaml"))),
                     actor="test", now=NOW)
        intake.import_file(session, path=REPO / "seed_plans/p5-ecommerce.yaml", year=2025,
                           actor="test", now=NOW)
    with write_session(engine) as session:
        views = generate_rounds(session, year=2025, calendar=calendar, now=NOW)
        rounds = [(v.round.kind, v.round.scheduled_on) for v in views]
    kinds = [k for k, _ in rounds]
    # 季度检查、半年通报、年底考核: four checks, two bulletins (issue 16.7), one assessment
    assert kinds.count("inspection") == 4 and kinds.count("bulletin") == 2 \
        and kinds.count("assessment") == 1
    assert sorted(d for k, d in rounds if k == "bulletin") == [
        date(2025, 6, 30), date(2025, 12, 31)]
    assert sorted(d for k, d in rounds if k == "inspection") == [
        date(2025, 3, 31), date(2025, 6, 30), date(2025, 9, 30), date(2025, 12, 31)]
    with Session(engine) as session:
        for row in session.exec(select(InspectionRound)).all():
            assert chinese_calendar.is_workday(row.scheduled_on), row.code
            assert workdays_after(row.notice_on, row.scheduled_on) == 3  # the default notice
        notices = session.exec(select(Notification).where(
            Notification.kind == "inspection_notice")).all()
        assert notices
        for notice in notices:
            day = date.fromisoformat(notice.payload["notice_on"])
            assert notice.not_before == datetime.combine(day, time(9), SHANGHAI)
            assert workdays_after(day, date.fromisoformat(notice.payload["scheduled_on"])) == 3
        lists = session.exec(select(Notification).where(
            Notification.kind == "inspector_list")).all()
        assert lists and all(n.payload["targets"] for n in lists)
        # nobody inspects their own unit
        contacts = {c.id: c for c in session.exec(select(Contact)).all()}
        for a in session.exec(select(InspectionAssignment)).all():
            assert a.inspector_contact_id is not None
            assert contacts[a.inspector_contact_id].unit_id != a.unit_id
        count = len(session.exec(select(Notification)).all())
    with write_session(engine) as session:  # idempotent: nothing new
        again = generate_rounds(session, year=2025, calendar=calendar, now=NOW)
        assert not any(v.created for v in again) and sum(v.notices for v in again) == 0
    with Session(engine) as session:
        assert len(session.exec(select(Notification)).all()) == count


def test_rounds_have_scope_sample_and_inspectors(plan_db, calendar):
    with write_session(plan_db) as session:
        views = {v.round.code: v for v in generate_rounds(session, year=2025,
                                                          calendar=calendar, now=NOW)}
    assert sorted(views) == ["half@2025-06-30", "q@2025-03-31", "q@2025-06-30", "q@2025-09-30",
                             "q@2025-12-31", "year-end@2025-12-31"]
    q1 = views["q@2025-03-31"]
    assert q1.round.notice_on == date(2025, 3, 24)  # 5 working days before
    assert q1.round.scope["units"] == ["t.fpb", "t.lyj", "t.a", "t.b"]
    drawn = q1.round.sample["drawn"]
    assert {k: len(v) for k, v in drawn.items()} == {"t.a": 2, "t.b": 1}  # 50% of 3 and 2
    assert set(drawn["t.a"]) <= {"t.a.v1", "t.a.v2", "t.a.v3"}
    assert q1.round.scope["villages"] == sorted(drawn["t.a"] + drawn["t.b"])
    with Session(plan_db) as session:
        names = {c.id: (c.name, c.unit_id) for c in session.exec(select(Contact)).all()}
        units = {u.id: u.code for u in session.exec(select(Unit)).all()}
    loads: dict[str, int] = {}
    for a in q1.assignments:
        name, _ = names[a.inspector_contact_id]
        loads[name] = loads.get(name, 0) + 1
        if units[a.unit_id] == "t.fpb":
            assert name != "扶贫局检查员"  # the 扶贫开发局's inspector does not inspect it
    assert sorted(loads.values()) == [2, 2, 3]  # 7 targets, 3 inspectors
    # the same seed gives the same sample in a fresh database (and a new seed differs)
    assert q1.round.sample["seed"] == "7|insp|q@2025-03-31"


def test_failed_item_creates_a_rectification_task_that_escalates(plan_db, calendar):
    with write_session(plan_db) as session:
        generate_rounds(session, year=2025, calendar=calendar, now=NOW)
    found = at("2025-03-31")
    with write_session(plan_db) as session, pytest.raises(UserError, match="不合格项需要说明"):
        record_finding(session, plan_code="insp", round_ref="q#1", unit="县扶贫开发局",
                       item="1#1", result="fail", calendar=calendar, now=found, actor="x")
    with write_session(plan_db) as session:
        out = record_finding(session, plan_code="insp", round_ref="q#1", unit="县扶贫开发局",
                             item="1#1", result="fail", note="仅15平方米", photo="a.jpg",
                             calendar=calendar, now=found, actor="督查员甲")
        task = out.rectification
        assert task is not None and task.kind == "rectification" and task.state == "pending"
        assert out.finding.criterion == "实际使用面积不少于20平方米"
        rect_id, due = task.id, task.due_on
        assert task.next_action_at == found
        assert [u for u in session.exec(select(TaskUnit.role).where(
            TaskUnit.task_id == rect_id)).all()] == ["lead"]
    # 5 working days after 31 March: 1, 2, 3, 7, 8 April (4 April is 清明)
    assert due == date(2025, 4, 8) and workdays_after(date(2025, 3, 31), due) == 5
    with write_session(plan_db) as session:  # recording it again corrects, no second task
        again = record_finding(session, plan_code="insp", round_ref="q@2025-03-31",
                               unit="t.fpb", item="1#1", result="fail", note="仍不足",
                               calendar=calendar, now=found, actor="督查员甲")
        assert not again.created and again.rectification.id == rect_id
    sweep(plan_db, now=at("2025-04-01"), calendar=calendar)
    sweep(plan_db, now=at("2025-04-10"), calendar=calendar)  # 2 working days overdue
    with Session(plan_db) as session:
        task = session.get(Task, rect_id)
        assert task.state == "active" and task.escalation_level == 1
        kinds = {n.kind for n in session.exec(select(Notification).where(
            Notification.task_id == rect_id)).all()}
        assert {"assigned", "escalation"} <= kinds
    # closing it needs evidence
    with write_session(plan_db) as session:
        task = session.get(Task, rect_id)
        with pytest.raises(UserError, match="整改"):
            actions.submit(session, task, unit=None, actor="x", now=at("2025-04-11"))
    with write_session(plan_db) as session:
        task = session.get(Task, rect_id)
        actions.submit(session, task, unit="t.fpb", actor="x", now=at("2025-04-11"),
                       note="已扩建至25平方米，附照片")
        actions.accept(session, task, actor="y", now=at("2025-04-11", 15))
        assert task.state == "done"


def test_reimporting_the_plan_keeps_rectification_tasks(plan_db, calendar, tmp_path):
    with write_session(plan_db) as session:
        generate_rounds(session, year=2025, calendar=calendar, now=NOW)
        record_finding(session, plan_code="insp", round_ref="q#1", unit="t.lyj", item="整改台账",
                       result="fail", note="台账缺失", calendar=calendar, now=at("2025-03-31"),
                       actor="x")
    report = import_file(plan_db, Path(tmp_path / "plan.yaml"))
    assert report.removed == []


def test_unknown_items_and_units_are_user_errors(plan_db, calendar):
    with write_session(plan_db) as session:
        generate_rounds(session, year=2025, calendar=calendar, now=NOW)
        with pytest.raises(UserError, match="检查清单中没有"):
            record_finding(session, plan_code="insp", round_ref="q#1", unit="t.fpb",
                           item="9#9", result="pass", calendar=calendar, now=NOW, actor="x")
        with pytest.raises(UserError, match="不在检查轮次"):
            record_finding(session, plan_code="insp", round_ref="q#1", unit="t.dcs",
                           item="1#1", result="pass", calendar=calendar, now=NOW, actor="x")
        with pytest.raises(UserError, match="没有检查轮次"):
            record_finding(session, plan_code="insp", round_ref="q#9", unit="t.fpb",
                           item="1#1", result="pass", calendar=calendar, now=NOW, actor="x")


def _task(session, code):
    return session.exec(select(Task).where(Task.code == code)).one()


def test_assessment_scores_match_a_hand_computation(plan_db, calendar, tmp_path):
    with write_session(plan_db) as session:
        generate_rounds(session, year=2025, calendar=calendar, now=NOW)
    sweep(plan_db, now=at("2025-01-03"), calendar=calendar)
    with write_session(plan_db) as session:
        one = _task(session, "1")
        actions.report_progress(session, one, unit="t.fpb", actor="x", now=at("2025-03-20"),
                                quantity=Decimal(80), amount=Decimal(60000))
        actions.submit(session, one, unit="t.fpb", actor="x", now=at("2025-03-25"))
        actions.accept(session, one, actor="y", now=at("2025-03-26"))
        two = _task(session, "2")
        actions.report_progress(session, two, unit="t.lyj", actor="x", now=at("2025-07-05"),
                                quantity=Decimal(50))
        actions.submit(session, two, unit="t.lyj", actor="x", now=at("2025-07-05"))
        actions.accept(session, two, actor="y", now=at("2025-07-06"))
    with write_session(plan_db) as session:
        for unit, item, result in (("t.fpb", "1#1", "pass"), ("t.fpb", "1#2", "fail"),
                                   ("t.lyj", "2#1", "pass")):
            record_finding(session, plan_code="insp", round_ref="q#1", unit=unit, item=item,
                           result=result, note="抽查", calendar=calendar,
                           now=at("2025-03-31"), actor="督查员甲")
    with Session(plan_db) as session:
        plan, weights, scores = assess(session, plan_code="insp", now=at("2025-12-31", 23))
    by_unit = {s.unit: s for s in scores}
    # 扶贫开发局: tasks 1, 3 and its 整改 due, only 1 on time; target 80/100; funds 6/10万;
    # items 1 of 2 passed: 40/3 + 30*0.8 + 15*0.6 + 15*0.5
    fpb = by_unit["t.fpb"]
    assert fpb.facts.tasks_due == 3 and fpb.facts.tasks_on_time == 1
    assert fpb.points == {"on_time": Decimal("13.33"), "targets": Decimal("24.00"),
                          "funds": Decimal("9.00"), "inspections": Decimal("7.50")}
    assert fpb.total == Decimal("53.83")
    # 林业局: tasks 2 (late) and 3, none on time; target 50/50; no funds; 1 of 1 passed:
    # weights 40+30+15 scaled to 100: 0 + 100*30/85 + 100*15/85
    lyj = by_unit["t.lyj"]
    assert lyj.total == Decimal("52.94") and "funds" not in lyj.points
    assert [(s.rank, s.unit) for s in scores] == [(1, "t.fpb"), (2, "t.lyj")]

    path = write_score_sheet(tmp_path / "scores.xlsx", plan=plan, year=2025, weights=weights,
                             scores=scores)
    sheet = openpyxl.load_workbook(path).active
    assert sheet.freeze_panes == "A2"
    header = [c.value for c in sheet[1]]
    assert header[:8] == ["排名", "单位", "单位编码", "按时完成(40)", "目标完成(30)",
                          "资金拨付(15)", "检查发现(15)", "总分"]
    assert [c.value for c in sheet[2]][:3] == [1, "县扶贫开发局", "t.fpb"]
    assert sheet.cell(2, 8).value == pytest.approx(53.83)
    assert sheet.column_dimensions["B"].width >= 14  # 县扶贫开发局: 6 wide characters


def test_score_sheet_neutralises_formula_text(tmp_path):
    from taskflow.domain.inspections import UnitFacts, score_units
    from taskflow.models import Plan

    scores = score_units([UnitFacts("=cmd", "=HYPERLINK(\"http://x\")", tasks_due=1)])
    path = write_score_sheet(tmp_path / "s.xlsx", plan=Plan(code="p", title="@方案", year=2025,
                                                            jurisdiction_id=1, content_hash=""),
                             year=2025, weights={"on_time": Decimal(100)}, scores=scores)
    sheet = openpyxl.load_workbook(path).active
    assert sheet.cell(2, 2).value == "'=HYPERLINK(\"http://x\")"
    assert sheet.cell(2, 2).data_type == "s" and sheet.cell(2, 3).value == "'=cmd"


def test_assessment_funds_use_recorded_disbursements(plan_db, calendar):
    """A task with disbursements recorded (taskflow funds disburse) is scored on them, not on
    the amount its unit last reported; payments after ``now`` do not count yet."""
    from taskflow.models import Disbursement, FundLine

    sweep(plan_db, now=at("2025-01-03"), calendar=calendar)
    with write_session(plan_db) as session:
        one = _task(session, "1")
        actions.report_progress(session, one, unit="t.fpb", actor="x", now=at("2025-03-20"),
                                quantity=Decimal(80), amount=Decimal(60000))
        line = session.exec(select(FundLine).where(FundLine.task_id == one.id)).first()
        for day, amount in (("2025-04-01", "50000"), ("2025-05-01", "30000"),
                            ("2026-01-05", "20000")):
            session.add(Disbursement(plan_id=one.plan_id, fund_line_id=line.id,
                                     line_code=line.code, task_id=one.id,
                                     paid_on=date.fromisoformat(day), amount=Decimal(amount)))
    with Session(plan_db) as session:
        _, _, scores = assess(session, plan_code="insp", now=at("2025-12-31", 23))
    fpb = {s.unit: s for s in scores}["t.fpb"]
    assert fpb.facts.funds_disbursed == Decimal(80000)  # not the reported 60000, not 2026's
    # no inspection findings: the funds weight 15 of 85 is scaled to 100, × 8/10万
    assert fpb.points["funds"] == Decimal("14.12")
