"""台账: the ledger export and its import back as progress reports."""

from __future__ import annotations

from decimal import Decimal

import openpyxl
import pytest
from sqlmodel import Session, func, select

from taskflow.models import AuditEvent, ProgressReport, Task
from taskflow.services.ledger import HEADERS, LIGHT_FILLS, META_SHEET, SHEET

NOW = "2025-07-01"


@pytest.fixture
def ledger(cli, tmp_path):
    cli("sweep", "--now", "2025-06-05T09:30")
    cli("task", "report", "demo", "2", "--quantity", "100", "--amount", "50000", "--note",
        "=cmd|' /C calc'!A0", "--now", "2025-06-06T10:00")
    path = tmp_path / "ledger.xlsx"
    assert "任务 9 项" in cli("export", "ledger", "--plan", "demo", "--now", NOW, "-o",
                            str(path))
    return path


def _rows(path):
    sheet = openpyxl.load_workbook(path)[SHEET]
    header = [c.value for c in sheet[1]]
    return sheet, header, {row[1].value: row for row in sheet.iter_rows(min_row=2)}


def _set(path, code, **values):
    workbook = openpyxl.load_workbook(path)
    sheet = workbook[SHEET]
    header = [c.value for c in sheet[1]]
    for row in sheet.iter_rows(min_row=2):
        if row[header.index("编号")].value == code:
            for name, value in values.items():
                row[header.index(name)].value = value
    workbook.save(path)


def _reports(engine) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(ProgressReport)).one()


def test_ledger_lists_live_tasks_in_tree_order_with_lights_and_progress(ledger):
    workbook = openpyxl.load_workbook(ledger)
    assert workbook[META_SHEET].sheet_state == "hidden"
    sheet, header, rows = _rows(ledger)
    assert tuple(header) == HEADERS
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref.startswith("A1:")
    assert list(rows)[:6] == ["1", "1.m1", "1.m2", "2", "2.1", "2.2"]
    col = {name: i for i, name in enumerate(header)}
    task = rows["2"]
    assert task[col["状态"]].value == "办理中"
    assert task[col["目标"]].value == "500人次"
    assert task[col["实际"]].value == 100 and task[col["完成比例"]].value == 20
    assert task[col["资金(万元)"]].value == 20 and task[col["已拨付(万元)"]].value == 5
    # the note began with "=": neutralised, never a formula
    assert task[col["最近报送"]].data_type != "f"
    assert rows["1"][col["资金(万元)"]].value == 2260.96
    assert rows["1.m1"][col["灯"]].value == "红"
    assert rows["1.m1"][col["灯"]].fill.fgColor.rgb.endswith(LIGHT_FILLS["red"])
    assert rows["2"][col["灯"]].value == "黄"
    assert rows["2.2@2025-07-01"][col["灯"]].value == "绿"
    assert rows["2.2@2025-07-01"][col["状态"]].value == "未开始"
    # widths count CJK characters as two
    assert sheet.column_dimensions["C"].width >= 2 * len("每季度至少研究一次")


def test_unit_ledger_holds_only_that_units_tasks(cli, tmp_path):
    path = tmp_path / "forestry.xlsx"
    cli("export", "ledger", "--plan", "demo", "--unit", "县林业局", "-o", str(path), "--now",
        NOW)
    _, _, rows = _rows(path)
    assert "2" in rows and "1" not in rows


def test_filled_in_ledger_is_imported_as_progress_with_audit(ledger, cli, engine):
    before = _reports(engine)
    _set(ledger, "2", **{"实际": 250, "已拨付(万元)": 8, "说明": "完成过半"})
    _set(ledger, "2.1", **{"完成比例": 60})
    out = cli("plan", "import", str(ledger))
    assert "进度报送 2 条" in out
    with Session(engine) as session:
        task = session.exec(select(Task).where(Task.code == "2")).one()
        report = session.exec(select(ProgressReport).where(ProgressReport.task_id == task.id)
                              .order_by(ProgressReport.id.desc())).first()
        assert report.quantity == Decimal(250) and report.amount == Decimal(80000)
        assert report.note == "完成过半"
        assert report.percent is None  # the stale 完成比例 (20) is not reported as a percent
        audit = session.exec(select(AuditEvent).where(
            AuditEvent.entity_id == task.id, AuditEvent.action == "task.report")
            .order_by(AuditEvent.id.desc())).first()
        assert audit is not None and audit.note == "完成过半"
        sub = session.exec(select(Task).where(Task.code == "2.1")).one()
        latest = session.exec(select(ProgressReport).where(
            ProgressReport.task_id == sub.id)).one()
        assert latest.percent == Decimal(60)
    # the same file again changes nothing
    assert "进度报送 0 条" in cli("plan", "import", str(ledger))
    assert _reports(engine) == before + 2


@pytest.mark.parametrize(("values", "field", "message"), [
    ({"完成比例": 120}, "完成比例", "应为 0–100"),
    ({"完成比例": "多半"}, "完成比例", "应为数字"),
    ({"已拨付(万元)": -1}, "已拨付(万元)", "应为 ≥ 0"),
    ({"实际": "=B2*2"}, "实际", "不接受公式"),
    ({"说明": "=HYPERLINK(\"x\")"}, "说明", "不接受公式"),
    ({"编号": "9.9"}, "编号", "没有任务 9.9"),
])
def test_a_bad_row_is_rejected_and_nothing_is_applied(ledger, cli, engine, values, field,
                                                       message):
    before = _reports(engine)
    _set(ledger, "1", **{"完成比例": 50})  # a good row, not applied either
    _set(ledger, "2", **values)
    out = cli("plan", "import", str(ledger), code=2)
    assert f":5: {field}: " in out and message in out, out
    assert _reports(engine) == before


def test_every_bad_row_is_listed(ledger, cli):
    _set(ledger, "1", **{"完成比例": 101})
    _set(ledger, "2", **{"实际": "abc"})
    out = cli("plan", "import", str(ledger), code=2)
    assert ":2: 完成比例" in out and ":5: 实际" in out


def test_a_missing_code_column_is_rejected(ledger, cli, engine):
    workbook = openpyxl.load_workbook(ledger)
    workbook[SHEET]["B1"].value = "序号"
    workbook.save(ledger)
    before = _reports(engine)
    out = cli("plan", "import", str(ledger), code=2)
    assert "编号" in out and "缺少必需的" in out
    assert _reports(engine) == before


def test_columns_are_matched_by_header_not_position(ledger, cli, engine):
    workbook = openpyxl.load_workbook(ledger)
    sheet = workbook[SHEET]
    sheet.move_range("A1:P20", cols=1)  # everything one column to the right
    workbook.save(ledger)
    _set(ledger, "2.1", **{"完成比例": 30})
    assert "进度报送 1 条" in cli("plan", "import", str(ledger))


def test_progress_on_a_task_not_yet_started_is_rejected_with_its_row(cli, engine, tmp_path):
    path = tmp_path / "ledger.xlsx"
    cli("export", "ledger", "--plan", "demo", "-o", str(path), "--now", "2024-12-01")
    _set(path, "2.1", **{"完成比例": 10})
    _set(path, "1", **{"说明": "已布置"})
    out = cli("plan", "import", str(path), code=2)
    assert ":6: 编号: " in out and "未开始" in out, out
    assert _reports(engine) == 0
