"""The eight seed plans: all import through `taskflow init`, and 篇2 matches its text."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from taskflow.cli import app
from taskflow.db import make_engine
from taskflow.models import FundLine, Plan, Task, TaskUnit, Unit
from tests.conftest import REPO

SEED = REPO / "seed_plans"
INIT_AT = datetime(2025, 1, 2, 9, 0, tzinfo=UTC)
PLANS = sorted(p.stem for p in SEED.glob("p*.yaml"))


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """A fresh data directory brought up exactly as the README's quick start does."""
    data = tmp_path_factory.mktemp("data")
    mp = pytest.MonkeyPatch()
    mp.setenv("TASKFLOW_DATA_DIR", str(data))
    mp.delenv("TASKFLOW_DATABASE_URL", raising=False)
    from taskflow.settings import get_settings

    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["init", "--year", "2025", "--now", INIT_AT.isoformat()])
    mp.undo()
    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    engine = make_engine(f"sqlite:///{data / 'taskflow.db'}")
    yield engine, result.output, data
    engine.dispose()


def test_there_are_eight_seed_plans():
    assert len(PLANS) == 8, PLANS


def test_init_imports_every_seed_plan(seeded):
    engine, _output, data = seeded
    with Session(engine) as session:
        codes = set(session.exec(select(Plan.code)).all())
        assert codes == set(PLANS)  # each seed file's stem is its plan code
        for plan in session.exec(select(Plan)).all():
            assert plan.year == 2025, plan.code
            tasks = session.exec(select(Task).where(Task.plan_id == plan.id)).all()
            assert tasks, plan.code
            assert all(t.title for t in tasks)
    assert (data / "secret_key").exists()


def test_init_records_its_now_as_when_the_tasks_were_learned_of(seeded):
    engine, _, _ = seeded
    with Session(engine) as session:
        assert set(session.exec(select(Task.created_at)).all()) == {INIT_AT}
        assert set(session.exec(select(Unit.created_at)).all()) == {INIT_AT}
        assert set(session.exec(select(Plan.imported_at)).all()) == {INIT_AT}


def test_init_again_changes_nothing(seeded, monkeypatch):
    _engine, _, data = seeded
    monkeypatch.setenv("TASKFLOW_DATA_DIR", str(data))
    from taskflow.settings import get_settings

    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["init", "--year", "2025"])
    assert result.exit_code == 0, result.output
    assert result.output.count("无变化，无需导入") == 8, result.output
    assert "单位：共" in result.output and "个，无变化" in result.output


def test_p3_projects_come_from_one_lifecycle_template(seeded):
    engine, _, _ = seeded
    with Session(engine) as session:
        plan = session.exec(select(Plan).where(Plan.code == "p3-lottery")).one()
        projects = session.exec(select(Task).where(Task.plan_id == plan.id,
                                                   Task.kind == "project")).all()
        assert len(projects) == 73
        text = (SEED / "p3-lottery.yaml").read_text(encoding="utf-8")
        assert text.count("repeat:") == 2  # generated, not written out 73 times
        for project in projects:
            stages = session.exec(select(Task.title).where(Task.parent_id == project.id)).all()
            assert len(stages) == 6, project.code
            for word in ("规划", "设计", "招标", "施工", "验收", "后续管理"):
                assert any(word in s for s in stages), (project.code, word)


# -- 篇2 against its text ----------------------------------------------------------------------
COLLECTIVES = ["区级相关部门(单位)", "各乡(镇)人民政府", "街道办事处"]
ALL_DEPTS = ["区级各部门(单位)", "各乡(镇)人民政府", "街道办事处"]
P2 = {  # code: (lead, responsible, dates the text gives for the task and its steps)
    "1.1": (["区扶贫开发局"], COLLECTIVES, []),
    "1.2": (["区脱贫攻坚办"], ["区委组织部", "区委统战部"], []),
    "2": (["区委组织部"], ["区直工委", "区农业农村局", "区司法局", "区扶贫开发局",
                          "达州农商银行xx分行"], []),
    "3": (["区扶贫开发局"], [], ["06-10", "06-30", "12-10", "12-31"]),
    "4.1": (["区人力资源社会保障局"], [], ["03-31", "07-31", "08-31", "09-01"]),
    "4.2": (["区总工会"], [], ["04-30", "06-30", "12-31"]),
    "4.3": (["区总工会"], [], ["03-31", "06-30", "09-30"]),
    "4.4": (["团区委"], [], ["06-30", "09-30", "12-31"]),
    "4.5": (["团区委"], [], ["06-30", "08-31"]),
    "4.6": (["区科协"], [], ["03-31", "06-30", "09-30", "12-31"]),
    "4.7": (["区科协"], [], ["03-31", "06-30", "09-30", "12-31"]),
    "4.8": (["区侨联"], [], ["03-31", "06-30", "09-30", "12-31"]),
    "4.9": (["区工商联"], [], ["03-31", "09-30", "12-31"]),
    "4.10": (["区农业农村局"], [], ["06-30", "09-30", "12-31"]),
    "4.11": (["区扶贫开发局"], [], ["05-31", "08-31", "12-31"]),
    "4.12": (["区教科局"], [], ["03-31", "06-30", "09-30", "12-31"]),
    "4.13": (["区扶贫开发局"], ALL_DEPTS, ["09-30", "12-31"]),
    "4.14": (["区脱贫攻坚办"], ALL_DEPTS, ["06-30", "09-30", "12-31"]),
}


def _p2(session: Session) -> tuple[Plan, dict[str, Task]]:
    plan = session.exec(select(Plan).where(Plan.code == "p2-social")).one()
    tasks = {t.code: t for t in session.exec(select(Task).where(Task.plan_id == plan.id))}
    return plan, tasks


def _names(session: Session, task: Task, role: str) -> list[str]:
    rows = session.exec(select(Unit.name).join(TaskUnit).where(
        TaskUnit.task_id == task.id, TaskUnit.role == role).order_by(TaskUnit.position)).all()
    return [n.replace(" ", "") for n in rows]


def _subtree(tasks: dict[str, Task], root: Task) -> list[Task]:
    out, frontier = [root], [root.id]
    while frontier:
        kids = [t for t in tasks.values() if t.parent_id in frontier]
        out.extend(kids)
        frontier = [t.id for t in kids]
    return out


def test_p2_has_the_fourteen_key_tasks_of_part_four_and_the_rest(seeded):
    engine, _, _ = seeded
    with Session(engine) as session:
        _, tasks = _p2(session)
        top = sorted(t.code for t in tasks.values() if t.parent_id is None)
        assert top == ["1", "2", "3", "4"]
        four = [c for c, t in tasks.items() if t.parent_id == tasks["4"].id
                and t.kind != "milestone"]
        assert sorted(four, key=lambda c: int(c.split(".")[1])) == [f"4.{i}" for i in
                                                                    range(1, 15)]
        assert {c for c, t in tasks.items() if t.parent_id == tasks["1"].id} >= {"1.1", "1.2"}


@pytest.mark.parametrize("code", list(P2))
def test_p2_units_and_deadlines_match_the_text(seeded, code):
    engine, _, _ = seeded
    lead, responsible, dates = P2[code]
    with Session(engine) as session:
        _, tasks = _p2(session)
        task = tasks[code]
        assert _names(session, task, "lead") == lead
        assert _names(session, task, "responsible") == responsible
        dues = {t.due_on for t in _subtree(tasks, task) if t.due_on}
        for md in dates:
            assert date.fromisoformat(f"2025-{md}") in dues, (code, md, sorted(dues))
        if dates:
            assert task.due_on == max(date.fromisoformat(f"2025-{md}") for md in dates)


def test_p2_targets_progress_plan_and_funds(seeded):
    engine, _, _ = seeded
    with Session(engine) as session:
        plan, tasks = _p2(session)
        assert (tasks["4.2"].target_value, tasks["4.2"].target_unit) == (500, "人次")
        assert (tasks["4.12"].target_value, tasks["4.12"].target_unit) == (800, "人次")
        assert [(p["by"], float(p["cumulative"])) for p in tasks["4.12"].progress_plan] == [
            ("2025-03-31", 10), ("2025-06-30", 40), ("2025-09-30", 70), ("2025-12-31", 100)]
        funds = session.exec(select(FundLine).where(FundLine.plan_id == plan.id)).all()
        plan_level = sorted((f.source, f.amount) for f in funds if f.task_id is None)
        assert plan_level == [("government", 2_300_000), ("social", 22_609_600)]
        by_task = {}
        for f in funds:
            if f.task_id is not None:
                by_task.setdefault(f.task_id, set()).add((f.source, int(f.amount)))
        assert by_task[tasks["4.2"].id] == {("provincial", 90_000), ("county", 110_000)}
        assert by_task[tasks["4.3"].id] == {("municipal", 50_000), ("county", 100_000)}


def test_p2_recurring_duties_of_1_2(seeded):
    engine, _, _ = seeded
    with Session(engine) as session:
        _, tasks = _p2(session)
        rules = {t.recurrence for t in _subtree(tasks, tasks["1.2"]) if t.recurrence}
        assert rules == {"FREQ=MONTHLY;INTERVAL=3", "FREQ=MONTHLY;INTERVAL=2", "FREQ=MONTHLY"}


def test_seed_units_have_reachable_example_contacts():
    text = "".join(p.read_text(encoding="utf-8") for p in (SEED / "org").glob("*.yaml"))
    assert "example.org" in text
    import re

    for mobile in re.findall(r'mobile:\s*"?(\+?[0-9]+)', text):
        assert mobile.startswith("100"), mobile  # obviously fake numbers only
