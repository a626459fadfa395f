"""A task that names units but no lead is refused (located, exit 2) unless the plan names a
lead for the whole plan or the task says 各自负责 (each_responsible)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from taskflow.cli import app
from taskflow.errors import UserError
from taskflow.plans.expand import expand
from taskflow.plans.loader import index_from_units_files, read_plan_file
from tests.conftest import FIXTURES, REPO

GOOD = (FIXTURES / "plan.yaml").read_text(encoding="utf-8")
LEADLESS = GOOD.replace("    lead: 县林业局\n    cooperating: [县财政局]\n",
                        "    cooperating: [县财政局]\n")


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def _resolve(tmp_path: Path, text: str):
    path = tmp_path / "plan.yaml"
    path.write_text(text, encoding="utf-8")
    plan, located = read_plan_file(path)
    return expand(plan, located, index_from_units_files([FIXTURES / "org.yaml"]), year=2025)


def test_plan_check_refuses_a_task_with_units_but_no_lead_and_names_it(tmp_path):
    assert LEADLESS != GOOD
    path = tmp_path / "plan.yaml"
    path.write_text(LEADLESS, encoding="utf-8")
    result = CliRunner().invoke(app, ["plan", "check", str(path), "--units",
                                      str(FIXTURES / "org.yaml"), "--year", "2025"])
    assert result.exit_code == 2, result.output
    line = _line_of(LEADLESS, "cooperating: [县财政局]")
    assert f"{path}:{line}:" in result.output
    assert "任务 2 写明了责任单位但没有牵头单位" in result.output
    assert "Traceback" not in result.output


def test_a_plan_level_lead_leads_every_task_without_one(tmp_path):
    text = LEADLESS.replace("issuer: 扶贫开发局\n", "issuer: 扶贫开发局\nlead: 县扶贫开发局\n")
    tasks = {t.code: t for t in _resolve(tmp_path, text).tasks}
    assert ("t.fpb", "lead") in tasks["2"].units
    assert ("t.czj", "cooperating") in tasks["2"].units
    # a task with a lead of its own keeps it
    assert [u for u, role in tasks["1"].units if role == "lead"] == ["t.fpb"]


def test_each_responsible_needs_no_lead_and_gets_none(tmp_path):
    text = LEADLESS.replace("    cooperating: [县财政局]\n",
                            "    cooperating: [县财政局]\n    each_responsible: true\n")
    tasks = {t.code: t for t in _resolve(tmp_path, text).tasks}
    assert tasks["2"].units == [("t.czj", "cooperating")]


def test_a_lead_and_each_responsible_together_are_refused(tmp_path):
    text = GOOD.replace("    lead: 县林业局\n", "    lead: 县林业局\n    each_responsible: true\n")
    with pytest.raises(UserError) as caught:
        _resolve(tmp_path, text)
    assert "任务 2 既写了牵头单位又标明各自负责" in str(caught.value)


@pytest.mark.parametrize("name", sorted(p.name for p in (REPO / "seed_plans").glob("*.yaml")))
def test_every_seed_task_with_units_has_a_lead(name):
    plan, located = read_plan_file(REPO / "seed_plans" / name)
    resolved = expand(plan, located, index_from_units_files([REPO / "seed_plans" / "org"]),
                      year=2025)
    for task in resolved.tasks:
        if task.units:
            assert any(role == "lead" for _, role in task.units), task.code


def test_a_repeated_entry_without_a_lead_is_refused_once(tmp_path):
    repeated = '  - code: "r{n}"\n    title: 项目{n}\n    repeat: 5\n    responsible: 县财政局\n'
    text = GOOD.replace('  - code: "2"\n', repeated + '  - code: "2"\n')
    with pytest.raises(UserError) as caught:
        _resolve(tmp_path, text)
    leadless = [p.message for p in caught.value.problems if "没有牵头单位" in p.message]
    assert len(leadless) == 1 and leadless[0].startswith("任务 r1 写明了责任单位")
