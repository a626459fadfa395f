from __future__ import annotations

import pytest
from typer.testing import CliRunner

from taskflow.cli import app
from tests.conftest import FIXTURES


@pytest.fixture
def cli(db_url, monkeypatch):
    monkeypatch.setenv("TASKFLOW_DATABASE_URL", db_url)
    monkeypatch.setenv("COLUMNS", "200")
    from taskflow.settings import get_settings

    get_settings.cache_clear()
    runner = CliRunner()

    def run(*args: str, code: int = 0):
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, result.output
        return result.output

    run("db", "upgrade")
    run("units", "import", str(FIXTURES / "org.yaml"))
    run("plan", "import", str(FIXTURES / "plan.yaml"), "--year", "2025")
    return run


def test_commands_refuse_an_unmigrated_database(tmp_path, monkeypatch):
    monkeypatch.setenv("TASKFLOW_DATABASE_URL", f"sqlite:///{tmp_path / 'new.db'}")
    from taskflow.settings import get_settings

    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["plan", "list"])
    assert result.exit_code == 2 and "taskflow db upgrade" in result.output


def test_db_upgrade_twice_says_already_current(cli):
    from taskflow.migrate import head_revision

    head = head_revision()
    assert f"数据库已是最新版本 {head}" in cli("db", "upgrade")
    assert f"{head}（最新版本：{head}）" in cli("db", "current")


def test_plan_list_and_show(cli):
    out = cli("plan", "list", "--now", "2025-07-01")
    # the plan-level line is the budget; task lines are parts of it
    assert "demo" in out and "测试县扶贫专项实施方案" in out and "2260.96万元" in out
    out = cli("plan", "show", "demo")
    for text in ("1.m1", "春季学期完成核定", "限 2025-06-10", "牵头:县林业局", "配合:县财政局",
                 "目标 500 人次", "省级 9万元", "季度检查"):
        assert text in out, text


def test_plan_show_unknown_plan_is_a_user_error(cli):
    out = cli("plan", "show", "nope", code=2)
    assert "方案 'nope' 不存在" in out and "demo" in out


def test_tasks_filters(cli):
    out = cli("tasks", "--overdue", "--now", "2025-07-01")
    assert "共 4 项任务" in out and "1.m1" in out and "2.1" in out
    assert "开展就业援助行动" not in out  # task 2 is due at the end of the year
    out = cli("tasks", "--unit", "林业局")  # alias-free short name resolves by level prefix
    assert "开展就业援助行动" in out and "雨露" not in out
    out = cli("tasks", "--due-before", "2025-06-11")
    assert "1.m1" in out and "共 2 项任务" in out
    out = cli("tasks", "--plan", "demo", "--state", "pending")
    assert "共 6 项任务" in out
    assert "未知状态" in cli("tasks", "--state", "late", code=2)
    assert "不是有效日期" in cli("tasks", "--due-before", "tomorrow", code=2)


def test_dry_run_writes_nothing(cli, tmp_path):
    edited = tmp_path / "p.yaml"
    edited.write_text((FIXTURES / "plan.yaml").read_text(encoding="utf-8")
                      .replace("due: 4月", "due: 5月"), encoding="utf-8")
    out = cli("plan", "import", str(edited), "--year", "2025", "--dry-run")
    assert "（试运行）" in out and "~ 2.1" in out
    assert "无变化" in cli("plan", "import", str(FIXTURES / "plan.yaml"), "--year", "2025")


def test_units_tree_shows_contacts(cli):
    out = cli("units")
    assert "县扶贫开发局" in out and "示例·王局长" in out and "wang@t.example.org" in out
