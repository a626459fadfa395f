from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from taskflow.db import write_session
from taskflow.models import AuditEvent, FundLine, Plan, ProgressReport, Task, TaskUnit, Unit
from taskflow.plans.units import read_units_files
from taskflow.services import intake
from taskflow.services.units import import_units
from tests.conftest import FIXTURES

NOW = datetime(2025, 1, 2, 1, 0, tzinfo=UTC)
GOOD = (FIXTURES / "plan.yaml").read_text(encoding="utf-8")


@pytest.fixture
def org(engine):
    with write_session(engine) as session:
        import_units(session, read_units_files([FIXTURES / "org.yaml"]), actor="test", now=NOW)
    return engine


def do_import(engine, path: Path, *, year: int | None = 2025, now: datetime = NOW):
    with write_session(engine) as session:
        (taken,) = intake.import_file(session, path=path, year=year, actor="test", now=now)
        return taken.report


def write(tmp_path: Path, text: str, name: str = "plan.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_first_import_creates_tasks_units_funds(org, tmp_path):
    report = do_import(org, write(tmp_path, GOOD))
    assert report.created and report.added == ["1", "1.m1", "1.m2", "2", "2.1", "2.2"]
    with Session(org) as session:
        tasks = {t.code: t for t in session.exec(select(Task)).all()}
        assert tasks["1.m1"].due_on == date(2025, 6, 10)
        # The end of 10 June in Asia/Shanghai is 16:00 UTC that day.
        assert tasks["1.m1"].due_at == datetime(2025, 6, 10, 16, 0, tzinfo=UTC)
        assert tasks["1.m1"].parent_id == tasks["1"].id
        assert tasks["2"].target_value == Decimal(500) and tasks["2"].target_unit == "人次"
        assert tasks["2.2"].kind == "duty" and tasks["2.2"].recurrence == "FREQ=MONTHLY;INTERVAL=3"
        assert tasks["2.1"].next_action_at == datetime(2025, 1, 31, 16, 0, tzinfo=UTC)
        links = session.exec(select(TaskUnit.role, Unit.code).join(Unit)
                             .where(TaskUnit.task_id == tasks["2"].id)).all()
        assert sorted(links) == [("cooperating", "t.czj"), ("lead", "t.lyj")]
        # Milestones without units of their own belong to their parent's units.
        inherited = session.exec(select(TaskUnit.role, Unit.code).join(Unit)
                                 .where(TaskUnit.task_id == tasks["1.m1"].id)).all()
        assert sorted(inherited) == [("lead", "t.fpb"), ("responsible", "t.townships")]
        funds = {f.code: f for f in session.exec(select(FundLine)).all()}
        assert funds["2.F1"].amount == Decimal("90000.00")
        assert funds["F1"].amount == Decimal("22609600.00") and funds["F1"].task_id == tasks["1"].id


def test_reimporting_the_same_file_changes_nothing(org, tmp_path):
    path = write(tmp_path, GOOD)
    do_import(org, path)
    with Session(org) as session:
        audit_before = len(session.exec(select(AuditEvent)).all())
        stamps = {t.code: t.updated_at for t in session.exec(select(Task)).all()}
    report = do_import(org, path, now=datetime(2025, 3, 1, tzinfo=UTC))
    assert report.noop
    with Session(org) as session:
        assert len(session.exec(select(AuditEvent)).all()) == audit_before
        assert {t.code: t.updated_at for t in session.exec(select(Task)).all()} == stamps


def test_edited_plan_reports_changes_and_keeps_recorded_progress(org, tmp_path):
    do_import(org, write(tmp_path, GOOD))
    with write_session(org) as session:
        task = session.exec(select(Task).where(Task.code == "2.1")).one()
        session.add(ProgressReport(task_id=task.id, percent=Decimal(60), note="已摸底 3 个乡镇",
                                   reported_at=NOW))
        kept = session.exec(select(Task).where(Task.code == "1.m2")).one()
        session.add(ProgressReport(task_id=kept.id, percent=Decimal(20), reported_at=NOW))
        task.state = "in_progress"
        task_id, removed_id = task.id, kept.id

    edited = (GOOD.replace("        due: 4月\n", "        due: 5月\n")  # 2.1 moves
              .replace("      - {title: 春季学期补助到位, due: 6 月底前}\n", "")  # 1.m2 goes
              .replace("lead: 县林业局", "lead: 县财政局")  # 2 changes lead
              + "")
    edited = edited.replace('      - code: "2.2"', '      - code: "2.3"\n        title: 总结\n'
                            '        due: 12月底\n      - code: "2.2"')
    report = do_import(org, write(tmp_path, edited), now=datetime(2025, 3, 1, tzinfo=UTC))
    assert report.added == ["2.3"]
    assert report.removed == ["1.m2"]
    # 2.1 moved, and its units follow its parent's new lead unit.
    assert report.changed["2.1"] == ["due_on", "units"]
    assert "units" in report.changed["2"]
    with Session(org) as session:
        task = session.get(Task, task_id)
        assert task.due_on == date(2025, 5, 31) and task.state == "in_progress"
        reports = session.exec(select(ProgressReport).where(ProgressReport.task_id == task_id))
        assert [r.note for r in reports] == ["已摸底 3 个乡镇"]
        removed = session.get(Task, removed_id)
        assert removed.archived_at is not None and removed.next_action_at is None
        assert session.exec(select(ProgressReport).where(
            ProgressReport.task_id == removed_id)).one().percent == Decimal(20)
        audit = session.exec(select(AuditEvent).where(AuditEvent.entity_id == task_id,
                                                      AuditEvent.action == "task.update")).one()
        assert audit.before["due_on"] == "2025-04-30" and audit.after["due_on"] == "2025-05-31"
        assert ["t.lyj", "lead"] in audit.before["units"]
        assert ["t.czj", "lead"] in audit.after["units"]

    # Putting the milestone back restores the same row with its report.
    report = do_import(org, write(tmp_path, GOOD), now=datetime(2025, 3, 2, tzinfo=UTC))
    assert report.restored == ["1.m2"] and report.removed == ["2.3"]
    with Session(org) as session:
        assert session.get(Task, removed_id).archived_at is None


def test_dated_plan_moves_with_the_import_year(org, tmp_path):
    text = GOOD.replace("year: 20xx", "year: 2016").replace("due: 12 月底前", "due: 2017年6月底")
    report = do_import(org, write(tmp_path, text), year=2025)
    assert report.year == 2025 and report.year_shift == 9
    with Session(org) as session:
        plan = session.exec(select(Plan)).one()
        assert (plan.year, plan.source_year) == (2025, 2016)
        due = {t.code: t.due_on for t in session.exec(select(Task)).all()}
        assert due["1.m1"] == date(2025, 6, 10)  # no year in the phrase: the plan year
        assert due["2"] == date(2026, 6, 30)  # 2017 in a 2016 plan is the plan's next year


def test_dated_plan_without_year_keeps_its_dates(org, tmp_path):
    text = GOOD.replace("year: 20xx", "year: 2016")
    report = do_import(org, write(tmp_path, text), year=None)
    assert report.year == 2016 and report.year_shift == 0


def test_json_written_another_way_is_no_change(org, tmp_path):
    path = write(tmp_path, GOOD)
    do_import(org, path)
    with write_session(org) as session:  # as an older writer spelled it: spaces, escapes
        session.execute(text("UPDATE task SET progress_plan = :value WHERE code = '2'"),
                        {"value": '[ {"by": "2025-06-30", "cumulative": "40", "share": true},'
                                  ' {"by": "2025-12-31", "cumulative": "100", "share": true} ]'})
        session.execute(text("UPDATE task SET acceptance = '[ ]' WHERE code = '2.1'"))
    assert do_import(org, path, now=datetime(2025, 3, 1, tzinfo=UTC)).noop
