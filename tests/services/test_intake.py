"""The intake pipeline: a file → found plans with their positions → resolved → the plan it
updates → imported; documents and YAML alike."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import docx
import pytest
from sqlalchemy import select
from sqlmodel import Session

from taskflow.db import write_session
from taskflow.domain.labels import TASK_FIELD_LABELS
from taskflow.errors import Problem, UserError
from taskflow.models import Plan, Task
from taskflow.plans.schema import PlanFile
from taskflow.plans.units import read_units_files
from taskflow.plans.yamlio import validate
from taskflow.services import intake
from taskflow.services.plan_tasks import TASK_FIELDS
from taskflow.services.units import import_units, unit_index
from tests.conftest import FIXTURES

NOW = datetime(2025, 1, 2, 1, 0, tzinfo=UTC)
LATER = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)
GOOD = (FIXTURES / "plan.yaml").read_text(encoding="utf-8")
DOCUMENT = ("培训方案\n\n1.开展培训(牵头单位:县林业局)\n进度安排:6月底前完成。\n\n"
            "2.开展调查(牵头单位:县扶贫开发局)\n进度安排:9月底前完成。\n")


@pytest.fixture
def org(engine):
    with write_session(engine) as session:
        import_units(session, read_units_files([FIXTURES / "org.yaml"]), actor="test", now=NOW)
    return engine


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def take(engine, path: Path, *, now: datetime = NOW, jurisdiction: str | None = None,
         name: str | None = None) -> list[intake.Intake]:
    with write_session(engine) as session:
        source = intake.Source(path, name=name)
        reading = intake.read(source, units=unit_index(session), year=2025,
                              jurisdiction=jurisdiction)
        return intake.take_in(session, reading=reading, year=2025, actor="test", now=now)


def plans(engine) -> dict[str, str]:
    with Session(engine) as session:
        return dict(session.execute(select(Plan.code, Plan.title)).all())


# -- positions as data -----------------------------------------------------------------------


def test_a_documents_tasks_keep_their_lines_in_the_document(org, tmp_path):
    (taken,) = take(org, write(tmp_path, "培训.txt", DOCUMENT), jurisdiction="t")
    assert taken.report.created and taken.found.review is not None
    with Session(org) as session:
        rows = dict(session.execute(select(Task.code, Task.source_line).where(
            Task.plan_id == select(Plan.id).where(Plan.code == taken.resolved.code)
            .scalar_subquery())).all())
        created = set(session.scalars(select(Task.created_at)))
    # the lines of the text (the review's), not of a YAML dump of it; a milestone is at
    # its task's line
    assert rows == {"1": 3, "1.m1": 3, "2": 6, "2.m1": 6}
    assert created == {NOW}  # the moment the system learned of them: the `now` given


def refused(engine, path: Path) -> Problem:
    """The one problem of a document whose lead unit the directory does not hold. The parser
    proposes an unknown name as a new unit of the plan; without that proposal the name is
    unknown, and the problem must say where the task is in the document."""
    with write_session(engine) as session:
        units = unit_index(session)
        (found,) = intake.read(intake.Source(path), units=units, year=2025,
                               jurisdiction="t").found
        plan = {k: v for k, v in found.located.data.items() if k != "units"}
        located = intake.document_positions(plan, found.review, found.label)
        bare = intake.Found(found.label, validate(PlanFile, located), located, found.review)
        with pytest.raises(UserError) as caught:
            intake.resolve(bare, units=units, year=2025)
    (problem,) = caught.value.problems
    assert "未知单位 '县某某局'" in problem.message and problem.field == "tasks[0].lead[0]"
    return problem


def test_a_problem_in_a_document_names_its_line_or_its_place(org, tmp_path):
    bad = DOCUMENT.replace("牵头单位:县林业局", "牵头单位:县某某局")
    problem = refused(org, write(tmp_path, "培训.txt", bad))
    assert (problem.file, problem.line) == (str(tmp_path / "培训.txt"), 3)
    # a .docx has paragraphs, not lines: the problem names the paragraph
    document = docx.Document()
    for line in bad.splitlines():
        if line:
            document.add_paragraph(line)
    document.save(tmp_path / "培训.docx")
    problem = refused(org, tmp_path / "培训.docx")
    assert problem.file == f"{tmp_path / '培训.docx'}（第2段）" and problem.line is None


def test_an_uploads_own_name_names_it_and_its_record(org, tmp_path):
    staged = write(tmp_path, "upload.yaml", GOOD)
    (taken,) = take(org, staged, name="县方案.yaml")
    assert taken.found.label == "县方案.yaml"
    with Session(org) as session:
        assert session.scalar(select(Plan.source_file)) == "县方案.yaml"
    with pytest.raises(UserError) as caught:
        take(org, write(tmp_path, "upload.yaml", "code: x\n"), name="县方案.yaml")
    assert all(p.file == "县方案.yaml" for p in caught.value.problems)


def test_a_units_file_is_not_taken_for_a_plan(org, tmp_path):
    with pytest.raises(UserError, match="这是单位名录文件，不是实施方案"):
        take(org, FIXTURES / "org.yaml")


def test_a_yaml_file_with_a_byte_order_mark_reads(org, tmp_path):
    path = tmp_path / "bom.yaml"
    path.write_bytes("\ufeff".encode() + GOOD.encode("utf-8"))
    (taken,) = take(org, path)
    assert taken.report.created


# -- the plan it updates ----------------------------------------------------------------------


def test_the_same_title_and_issuer_under_another_code_updates_that_plan(org, tmp_path):
    take(org, write(tmp_path, "plan.yaml", GOOD))
    edited = GOOD.replace("code: demo", "code: demo-copy").replace("due: 4月", "due: 5月")
    (taken,) = take(org, write(tmp_path, "copy.yaml", edited), now=LATER)
    assert taken.match is not None and (taken.match.code, taken.match.by) == ("demo", "title")
    assert taken.resolved.code == "demo" and not taken.report.created
    assert taken.report.changed == {"2.1": ["due_on"]}
    assert plans(org) == {"demo": "测试县扶贫专项实施方案"}


def test_a_document_taken_in_again_under_another_name_updates_its_plan(org, tmp_path):
    (first,) = take(org, write(tmp_path, "培训.txt", DOCUMENT), jurisdiction="t")
    assert first.match is None and first.report.created
    again = write(tmp_path, "training-2.txt", DOCUMENT)
    (second,) = take(org, again, now=LATER, jurisdiction="t")
    # another file name gives another code; the same title in the same jurisdiction (a
    # parsed document has no issuer) is the same plan
    assert second.found.located.data["code"] != first.resolved.code
    assert (second.match.code, second.match.by) == (first.resolved.code, "title")
    report = second.report
    assert not (report.created or report.added or report.changed or report.removed)
    assert report.plan_changed == ["source"]  # only the document's name is new
    assert list(plans(org)) == [first.resolved.code]
    (third,) = take(org, again, now=LATER, jurisdiction="t")
    assert third.report.noop


def test_a_new_plan_with_a_taken_title_gets_its_own_and_keeps_it(org, tmp_path):
    take(org, write(tmp_path, "plan.yaml", GOOD))
    other = (GOOD.replace("code: demo", "code: other").replace("issuer: 扶贫开发局",
                                                               "issuer: 县林业局"))
    (taken,) = take(org, write(tmp_path, "other.yaml", other))
    assert taken.match is None and taken.report.created
    assert taken.retitled_from == "测试县扶贫专项实施方案" and taken.renamed
    # 测试县 is in the title already: the issuer tells it apart
    assert plans(org) == {"demo": "测试县扶贫专项实施方案",
                          "other": "测试县扶贫专项实施方案（县林业局）"}
    (again,) = take(org, tmp_path / "other.yaml", now=LATER)
    assert again.report.noop and not again.renamed
    assert again.match.by == "code" and again.resolved.title == "测试县扶贫专项实施方案（县林业局）"
    # the same file under another code still finds the plan by its told-apart title
    moved = write(tmp_path, "moved.yaml", other.replace("code: other", "code: moved"))
    (found,) = take(org, moved, now=LATER)
    assert (found.match.code, found.match.by, found.report.noop) == ("other", "title", True)
    # another issuer's plan of that title is another plan, told apart by its issuer
    third = GOOD.replace("code: demo", "code: third").replace("issuer: 扶贫开发局",
                                                              "issuer: 县财政局")
    (taken,) = take(org, write(tmp_path, "third.yaml", third))
    assert taken.match is None and taken.resolved.title == "测试县扶贫专项实施方案（县财政局）"
    assert len(plans(org)) == 3


def test_two_plans_of_that_title_and_issuer_are_not_guessed_between(org, tmp_path):
    take(org, write(tmp_path, "plan.yaml", GOOD))
    with write_session(org) as session:  # a second plan came to share it (renamed by hand)
        session.add(Plan(**{**session.scalars(select(Plan)).one().model_dump(
            exclude={"id"}), "code": "demo-twin", "content_hash": "x"}))
    with pytest.raises(UserError, match="demo、demo-twin"):
        take(org, write(tmp_path, "copy.yaml", GOOD.replace("code: demo", "code: demo-3")))
    assert set(plans(org)) == {"demo", "demo-twin"}


def test_every_field_an_import_reports_has_a_chinese_label():
    assert [f for f in TASK_FIELDS if not TASK_FIELD_LABELS.get(f)] == []
