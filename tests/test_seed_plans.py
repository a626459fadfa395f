"""The eight seed plans: all import through `taskflow init`, and 篇2 matches its text."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

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


# -- transcription slips of issue 16, item 7: each pinned against the seed text ---------------
# These read the plan files as the importer does (no database): the resolved plan of one year.


def _resolved(name: str, year: int | None = 2025):
    from taskflow.plans.expand import expand
    from taskflow.plans.loader import index_from_units_files, read_plan_file

    plan, located = read_plan_file(SEED / f"{name}.yaml")
    return expand(plan, located, index_from_units_files([SEED / "org"]), year=year)


def _tasks(name: str, year: int | None = 2025):
    return {t.code: t for t in _resolved(name, year).tasks}


def _inspections(name: str, year: int | None = 2025):
    return {i.code: i for i in _resolved(name, year).inspections}


def _leads(task) -> list[str]:
    return [unit for unit, role in task.units if role == "lead"]


def test_p5_three_and_one_goal_is_due_at_the_end_of_2019_not_the_plan_year():
    # "至2019年底,全市实现“三有一能”目标": two years after the (masked, read as 2017) plan year
    assert _tasks("p5-ecommerce", 2017)["1.4"].due_on == date(2019, 12, 31)
    assert _tasks("p5-ecommerce", 2025)["1.4"].due_on == date(2027, 12, 31)


def test_p5_half_year_bulletin_has_two_rounds_a_year():
    from taskflow.calendar import WorkCalendar
    from taskflow.domain.inspections import round_dates

    bulletin = _inspections("p5-ecommerce")["half-year-bulletin"]
    assert bulletin.kind == "bulletin" and bulletin.due_on is None
    rounds = round_dates(year=2025, calendar=WorkCalendar(), recurrence=bulletin.recurrence)
    assert [(r.period_start, r.period_end) for r in rounds] == [
        (date(2025, 1, 1), date(2025, 6, 30)), (date(2025, 7, 1), date(2025, 12, 31))]


def test_p6_film_screenings_are_a_yearly_target_of_19500():
    tasks = _tasks("p6-culture", None)  # the plan's own years, 2016-2019
    yearly = {code: t for code, t in tasks.items() if code.startswith("3.20")}
    assert sorted(yearly) == ["3.2016", "3.2017", "3.2018", "3.2019"]
    for code, task in yearly.items():
        assert (task.target_value, task.target_unit) == (19500, "场(次)"), code
        assert task.due_on == date(int(code[2:]), 12, 31), code
    assert tasks["3"].target_value is None  # not one figure for the whole period
    assert tasks["3.1"].recurrence == "FREQ=MONTHLY"  # 保证每个贫困村每月放映一场


def test_p6_civilised_towns_are_named_every_three_years_in_an_assessment():
    naming = _inspections("p6-culture", None)["civilised-towns-naming"]
    assert naming.kind == "assessment" and naming.due_on == date(2019, 6, 30)
    assert "每三年命名表彰" in naming.title and naming.inspectors == ["qh.wmb"]
    assert naming.units == ["qh.cities", "qh.counties"]


def test_p3_hundred_day_campaign_assesses_each_project_year():
    found = _inspections("p3-lottery", None)
    for year in (2012, 2013):
        campaign = found[f"hundred-days-{year}"]
        assert campaign.kind == "assessment" and campaign.due_on == date(year, 10, 31)
        assert "项目建设百日大会战" in campaign.title


def test_p3_site_checks_issue_supervision_notices_as_rectifications():
    found = _inspections("p3-lottery", None)
    for year in (2012, 2013):
        check = found[f"site-check-{year}"]
        assert check.kind == "inspection" and check.due_on == date(year, 8, 31)
        assert "不定期" in check.title and "督办单" in check.title
        assert check.rectify_within == 10  # a failed item is a 督办单: a 整改 task


def test_p3_built_outputs_are_targets():
    tasks = _tasks("p3-lottery", None)
    built = {t.title: (t.target_value, t.target_unit) for t in tasks.values()
             if t.parent_code == "outputs"}
    assert built == {"建设机耕道路": (Decimal("16.02"), "公里"), "修建桥梁": (3, "座"),
                     "修建提灌站": (2, "座"), "修建陂坝": (20, "座"),
                     "修建护磅": (2190, "米"), "修建水渠": (Decimal("2510.5"), "米")}
    assert tasks["outputs"].due_on == date(2013, 12, 31)


def test_p8_township_checks_and_county_special_check():
    tasks, found = _tasks("p8-funds"), _inspections("p8-funds")
    township = tasks["1.4.1"]
    assert "乡镇根据项目实施进度进行检查督办" in township.title
    assert _leads(township) == ["hb.enshi.badong.townships"] and township.kind == "duty"
    special = found["county-special-check"]
    assert special.kind == "inspection" and special.due_on == date(2025, 11, 30)
    assert special.inspectors == ["hb.enshi.badong.fpb", "hb.enshi.badong.czj"]
    assert special.units == ["hb.enshi.badong.townships"]


def test_p8_monthly_bulletin_is_one_bulletin_cycle_not_also_a_task():
    tasks, found = _tasks("p8-funds"), _inspections("p8-funds")
    bulletins = [i for i in found.values() if i.kind == "bulletin"]
    assert [(b.code, b.recurrence) for b in bulletins] == [("monthly-bulletin", "FREQ=MONTHLY")]
    assert not [t.code for t in tasks.values() if "一月一通报" in t.title]
    supervision = {"hb.enshi.badong.xwdcs", "hb.enshi.badong.zfdcs"}
    assert not [t.code for t in tasks.values() if set(_leads(t)) & supervision]


def test_p2_second_quantities_are_targets_of_their_own():
    tasks = _tasks("p2-social")
    by_title = {t.title: t for t in tasks.values()}
    health = by_title["招募服务基层卫生人员 10 人"]
    assert (health.parent_code, health.target_value, health.target_unit) == ("4.1", 10, "人")
    migrants = by_title["帮扶 5—10 位农民工创新创业"]  # a range: its lower bound
    assert (migrants.parent_code, migrants.target_value) == ("4.2", 5)
    industries = by_title["结对帮扶贫困村有 1-2个特色增收产业"]
    assert (industries.parent_code, industries.target_value) == ("4.10", 1)
    # the tasks' own targets are unchanged
    assert (tasks["4.1"].target_value, tasks["4.2"].target_value) == (10, 500)
