"""Every kind of bad plan file: a clear file:line message, exit code 2, nothing written."""

from __future__ import annotations

import pytest
from sqlmodel import Session, func, select
from typer.testing import CliRunner

from taskflow.cli import app
from taskflow.models import AuditEvent, Plan, Task, TaskUnit
from tests.conftest import FIXTURES

GOOD = (FIXTURES / "plan.yaml").read_text(encoding="utf-8")


@pytest.fixture
def cli(engine, db_url, monkeypatch):
    monkeypatch.setenv("TASKFLOW_DATABASE_URL", db_url)
    from taskflow.settings import get_settings

    get_settings.cache_clear()
    runner = CliRunner()
    result = runner.invoke(app, ["units", "import", str(FIXTURES / "org.yaml")])
    assert result.exit_code == 0, result.output

    def run(*args: str):
        return runner.invoke(app, list(args))

    return run


def _counts(engine) -> tuple[int, int, int, int]:
    with Session(engine) as session:
        return tuple(session.exec(select(func.count()).select_from(model)).one()
                     for model in (Plan, Task, TaskUnit, AuditEvent))


def _import_text(cli, tmp_path, text: str):
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    return cli("plan", "import", str(path), "--year", "2025"), path


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def _assert_refused(result, engine, before, *fragments):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.output, result.output
    assert _counts(engine) == before


def test_yaml_syntax_error_names_the_line(cli, engine, tmp_path):
    before = _counts(engine)
    text = GOOD.replace("    lead: 县林业局\n", "    lead: [县林业局\n")
    result, path = _import_text(cli, tmp_path, text)
    _assert_refused(result, engine, before, f"{path}:", "YAML 语法错误")


def test_unknown_field_is_named_with_a_suggestion(cli, engine, tmp_path):
    before = _counts(engine)
    text = GOOD.replace("    due: 12 月底前\n", "    deu: 12 月底前\n")
    result, path = _import_text(cli, tmp_path, text)
    line = _line_of(text, "deu:")
    _assert_refused(result, engine, before, f"{path}:{line}:", "tasks[1].deu",
                    "未知字段 'deu'", "是否应为 'due'")


def test_unknown_unit_suggests_the_close_name(cli, engine, tmp_path):
    before = _counts(engine)
    text = GOOD.replace("lead: 县林业局", "lead: 县林业厅")
    result, path = _import_text(cli, tmp_path, text)
    line = _line_of(text, "县林业厅")
    _assert_refused(result, engine, before, f"{path}:{line}:", "tasks[1].lead[0]",
                    "未知单位 '县林业厅'", "是否应为 县林业局")


def test_bad_date_is_refused_with_the_expected_forms(cli, engine, tmp_path):
    before = _counts(engine)
    text = GOOD.replace("due: 12 月底前", "due: 13 月底前")
    result, path = _import_text(cli, tmp_path, text)
    line = _line_of(text, "13 月底前")
    _assert_refused(result, engine, before, f"{path}:{line}:", "tasks[1].due", "月份 13")


def test_impossible_calendar_date_is_refused(cli, engine, tmp_path):
    before = _counts(engine)
    text = GOOD.replace("due: 6 月 10 日前", "due: 6 月 31 日前")
    result, _ = _import_text(cli, tmp_path, text)
    _assert_refused(result, engine, before, "不是有效日期")


def test_impossible_unquoted_iso_date_is_located(cli, engine, tmp_path):
    before = _counts(engine)
    text = GOOD.replace("due: 12 月底前", "due: 2025-02-30")
    result, path = _import_text(cli, tmp_path, text)
    line = _line_of(text, "2025-02-30")
    _assert_refused(result, engine, before, f"{path}:{line}:", "不是有效日期")


def test_deadlines_outside_2000_to_2100_are_refused_where_they_are(cli, engine, tmp_path):
    before = _counts(engine)
    text = GOOD.replace("due: 12 月底前", "due: 1900-01-01").replace("due: 4月", "due: 2101年3月")
    result, path = _import_text(cli, tmp_path, text)
    _assert_refused(result, engine, before,
                    f"{path}:{_line_of(text, '1900-01-01')}:", "tasks[1].due",
                    "日期 1900-01-01 超出允许范围（2000–2100 年）",
                    f"{path}:{_line_of(text, '2101年3月')}:", "日期 2101-03-31 超出允许范围")
    checked = cli("plan", "check", str(path), "--year", "2025")
    assert checked.exit_code == 2 and "1900-01-01 超出允许范围" in checked.output
    # the edges are accepted, and a date the year shift would carry past 9999 is refused
    edges = GOOD.replace("due: 12 月底前", "due: 2000-01-01").replace("due: 4月", "due: 2099-12-31")
    path.write_text(edges, encoding="utf-8")
    assert cli("plan", "check", str(path), "--year", "2025").exit_code == 0
    shifted = GOOD.replace("year: 20xx", "year: 2016").replace("due: 12 月底前", "due: 9999-12-31")
    path.write_text(shifted, encoding="utf-8")
    out = cli("plan", "check", str(path), "--year", "2025")
    assert out.exit_code == 2 and f"{path}:{_line_of(shifted, '9999-12-31')}:" in out.output
    assert "移动 9 年后超出允许范围" in out.output and "Traceback" not in out.output


def test_duplicate_task_code_points_at_both(cli, engine, tmp_path):
    before = _counts(engine)
    text = GOOD.replace('code: "2.2"', 'code: "2.1"')
    result, _path = _import_text(cli, tmp_path, text)
    first = _line_of(text, 'code: "2.1"')
    _assert_refused(result, engine, before, "任务编号 '2.1' 重复",
                    f"第一次出现在第 {first} 行")


def test_cycle_in_the_tree_is_refused(cli, engine, tmp_path):
    before = _counts(engine)
    text = GOOD.replace("funds:\n  - {source: social",
                        '  - {code: "a", title: 甲, parent: "b"}\n'
                        '  - {code: "b", title: 乙, parent: "a"}\n'
                        "funds:\n  - {source: social")
    result, _ = _import_text(cli, tmp_path, text)
    _assert_refused(result, engine, before, "任务层级成环", "a → b → a")


def test_unquoted_numeric_code_is_refused(cli, engine, tmp_path):
    before = _counts(engine)
    text = GOOD.replace('code: "2.1"', "code: 2.10")
    result, _ = _import_text(cli, tmp_path, text)
    _assert_refused(result, engine, before, "请加引号")


def test_missing_year_for_a_20xx_plan_is_explained(cli, engine, tmp_path):
    before = _counts(engine)
    path = tmp_path / "p.yaml"
    path.write_text(GOOD, encoding="utf-8")
    result = cli("plan", "import", str(path))
    _assert_refused(result, engine, before, "--year")


def test_all_problems_are_reported_at_once(cli, engine, tmp_path):
    before = _counts(engine)
    text = GOOD.replace("lead: 县林业局", "lead: 县林业厅").replace("due: 12 月底前",
                                                                     "due: 某天")
    result, _ = _import_text(cli, tmp_path, text)
    _assert_refused(result, engine, before, "未知单位", "无法识别的日期")


def test_a_bad_file_among_several_writes_none_of_them(cli, engine, tmp_path):
    before = _counts(engine)
    good = tmp_path / "good.yaml"
    good.write_text(GOOD, encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("code: demo", "code: demo2").replace("lead: 县林业局",
                                                                       "lead: 县林业厅"),
                   encoding="utf-8")
    result = cli("plan", "import", str(good), str(bad), "--year", "2025")
    _assert_refused(result, engine, before, "未知单位 '县林业厅'")
