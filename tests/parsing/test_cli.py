"""`taskflow plan parse` and `taskflow plan import` of plan documents."""

from __future__ import annotations

import yaml
from typer.testing import CliRunner

from taskflow.cli import app
from tests.conftest import REPO

ORG = str(REPO / "seed_plans" / "org")


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_plan_parse_writes_one_yaml_per_part_into_a_directory(seed_document, tmp_path):
    result = run("plan", "parse", str(seed_document), "--year", "2025", "--units", ORG,
                 "-o", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in (tmp_path / "out").glob("*.yaml"))
    assert written == [f"000-cdc5908520cba364-p{n}.yaml" for n in (1, 2, 3, 5, 6, 7, 8)]
    assert "篇4" in result.output  # the review (stderr, mixed in by the runner)


def test_plan_parse_one_part_to_a_file_passes_plan_check(seed_document, tmp_path):
    out = tmp_path / "p2.yaml"
    result = run("plan", "parse", str(seed_document), "--year", "2025", "--units", ORG,
                 "--part", "2", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "第37行" in result.output and "1.1" in result.output
    plan = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert plan["jurisdiction"] == "sc.dazhou.xq"
    check = run("plan", "check", str(out), "--units", ORG, "--year", "2025")
    assert check.exit_code == 0, check.output


def test_plan_parse_several_plans_into_one_file_is_refused(seed_document, tmp_path):
    result = run("plan", "parse", str(seed_document), "--year", "2025",
                 "-o", str(tmp_path / "all.yaml"))
    assert result.exit_code == 2
    assert "--part N" in result.output


def test_plan_parse_to_stdout_and_bad_input(tmp_path):
    plan = tmp_path / "plan.txt"
    plan.write_text("一、重点工作\n1.开展培训(牵头单位:区总工会)\n进度安排:6月底前完成。\n",
                    encoding="utf-8")
    result = run("plan", "parse", str(plan), "--year", "2025")
    assert result.exit_code == 0, result.output
    assert "due: 2025-06-30" in result.output
    assert run("plan", "parse", str(tmp_path / "missing.txt")).exit_code == 2
    assert run("plan", "parse", str(plan), "--part", "3").exit_code == 2


def test_plan_import_parses_a_document(seed_document):
    assert run("init", "--no-seed").exit_code == 0
    assert run("units", "import", ORG).exit_code == 0
    dry = run("plan", "import", str(seed_document), "--part", "2", "--year", "2025",
              "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "（试运行）" in dry.output and "实施“三支一扶”计划" in dry.output
    real = run("plan", "import", str(seed_document), "--part", "2", "--year", "2025")
    assert real.exit_code == 0, real.output
    assert "方案 000-cdc5908520cba364-p2 已导入" in real.output
    listed = run("plan", "list")
    assert "2490.96万元" in listed.output  # the plan-level funds of 三、资金筹措


def test_plan_import_of_a_document_without_jurisdiction_fails_cleanly(tmp_path):
    assert run("init", "--no-seed").exit_code == 0
    plan = tmp_path / "plan.txt"
    plan.write_text("1.开展培训(牵头单位:某某局)\n进度安排:6月底前完成。\n", encoding="utf-8")
    result = run("plan", "import", str(plan), "--year", "2025")
    assert result.exit_code == 2
    assert "todo.jurisdiction" in result.output
