"""`taskflow inspections plan|record|assess` (the sub-app, mounted as the lead will mount it)."""

from __future__ import annotations

import openpyxl
import pytest
import typer
from typer.testing import CliRunner

from taskflow.cli import app as main_app
from taskflow.cli_inspections import inspections_app


@pytest.fixture
def cli(db_url, monkeypatch, tmp_path):
    from tests.inspections.conftest import ORG, PLAN

    monkeypatch.setenv("TASKFLOW_DATABASE_URL", db_url)
    monkeypatch.setenv("COLUMNS", "250")
    from taskflow.settings import get_settings

    get_settings.cache_clear()
    app = typer.Typer()
    app.add_typer(inspections_app, name="inspections")
    runner = CliRunner()

    def run(*args: str, code: int = 0, main: bool = False):
        result = runner.invoke(main_app if main else app, list(args))
        assert result.exit_code == code, result.output
        return result.output

    (tmp_path / "org.yaml").write_text(ORG, encoding="utf-8")
    (tmp_path / "plan.yaml").write_text(PLAN, encoding="utf-8")
    run("db", "upgrade", main=True)
    run("units", "import", str(tmp_path / "org.yaml"), main=True)
    run("plan", "import", str(tmp_path / "plan.yaml"), "--year", "2025", main=True)
    return run


def test_plan_record_assess(cli, tmp_path):
    out = cli("inspections", "plan", "--year", "2025", "--now", "2025-01-02", "--dry-run")
    assert "q@2025-03-31" in out and "预览" in out
    out = cli("inspections", "plan", "--plan", "insp", "--year", "2025", "--now", "2025-01-02")
    for text in ("q@2025-03-31", "2025-03-24", "half@2025-06-30", "year-end@2025-12-31",
                 "督查员甲"):
        assert text in out, text
    out = cli("inspections", "record", "insp", "q#1", "--unit", "县扶贫开发局")
    assert "1#2" in out and "至少配备1名以上专职人员" in out
    out = cli("inspections", "record", "insp", "q#1", "--unit", "县扶贫开发局", "--item", "1#2",
              "--result", "fail", "--note", "无专职人员", "--now", "2025-03-31T10:00")
    assert "整改任务 rect-" in out and "2025-04-08" in out
    out = cli("inspections", "record", "insp", "q#1", "--unit", "县扶贫开发局", "--item", "1#1",
              "--result", "maybe", code=2)
    assert "pass/fail/note" in out
    sheet = tmp_path / "scores.xlsx"
    out = cli("inspections", "assess", "insp", "--now", "2025-12-31T23:00", "-o", str(sheet))
    assert "县扶贫开发局" in out and "考核表" in out
    assert openpyxl.load_workbook(sheet).active["A1"].value == "排名"
    cli("inspections", "assess", "nope", code=2)
