"""`taskflow funds disburse` and `funds status`: recorded payments, clear refusals."""

from __future__ import annotations

import pytest
from sqlmodel import Session, func, select

from taskflow.models import AuditEvent, Disbursement

NOW = "2025-07-01"


def _count(engine) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(Disbursement)).one()


def test_disbursement_is_recorded_with_its_balance_and_audit(funds_cli, engine):
    out = funds_cli("funds", "disburse", "--plan", "fundlag", "--task", "1", "--amount",
                    "2.5万", "--on", "2025-03-10", "--note", "第一批", "--now", NOW)
    assert "2.5万元" in out and "累计 2.5万元 / 10万元（25.0%）" in out and "余额 7.5万元" in out
    with Session(engine) as session:
        row = session.exec(select(Disbursement)).one()
        assert (row.line_code, str(row.amount), row.paid_on.isoformat(), row.note,
                row.origin) == ("1.F1", "25000.00", "2025-03-10", "第一批", "manual")
        assert row.unit_id is not None  # the task's lead unit by default
        audit = session.exec(select(AuditEvent).where(
            AuditEvent.action == "fund.disburse")).one()
        assert audit.after["amount"] == "25000.00"


@pytest.mark.parametrize(("args", "says"), [
    (["--line", "nope"], "没有资金 nope"),
    (["--task", "2"], "没有资金安排"),
    (["--task", "9"], "没有任务 9"),
    ([], "二选一"),
    (["--line", "1.F1", "--task", "1"], "二选一"),
    (["--line", "1.F1", "--amount", "11万"], "超出资金安排"),
    (["--line", "1.F1", "--amount", "abc"], "不是金额"),
    (["--line", "1.F1", "--on", "2025-07-02"], "晚于今天"),
    (["--line", "1.F1", "--on", "7月2日"], "不是日期"),
    (["--line", "1.F1", "--unit", "火星局"], "--unit"),
])
def test_bad_disbursements_exit_2_and_write_nothing(funds_cli, engine, args, says):
    base = ["funds", "disburse", "--plan", "fundlag", "--now", NOW]
    if "--amount" not in args:
        base += ["--amount", "1万"]
    if "--on" not in args:
        base += ["--on", "2025-06-01"]
    out = funds_cli(*base, *args, code=2)
    assert says in out and "Traceback" not in out
    assert _count(engine) == 0


def test_unknown_plan_is_refused(funds_cli):
    out = funds_cli("funds", "disburse", "--plan", "nope", "--line", "x", "--amount", "1万",
                    "--on", "2025-06-01", code=2)
    assert "没有方案 nope" in out


def test_a_task_with_two_lines_asks_for_the_line(cli):
    out = cli("funds", "disburse", "--plan", "demo", "--task", "2", "--amount", "1万",
              "--on", "2025-06-01", "--now", NOW, code=2)
    assert "2.F1" in out and "2.F2" in out and "--line" in out


def test_status_shows_budget_balances_lags_and_rules(funds_cli):
    funds_cli("funds", "disburse", "--plan", "fundlag", "--line", "1.F1", "--amount", "1万",
              "--on", "2025-03-10", "--now", NOW)
    funds_cli("funds", "disburse", "--plan", "fundlag", "--line", "F-all", "--amount", "30万",
              "--on", "2025-04-10", "--tag", "到户", "--now", NOW)
    funds_cli("funds", "disburse", "--plan", "fundlag", "--line", "F-all", "--amount", "20万",
              "--on", "2025-04-11", "--now", NOW)
    out = funds_cli("funds", "status", "--plan", "fundlag", "--now", NOW)
    assert "100万元" in out and "已拨付 51万元" in out and "余额 49万元" in out
    # 1.F1: 10% when 30% was due by 31 March and all of it by 30 June: late since March
    assert "逾期未拨付到位" in out
    assert "1.F1（应拨 100.0%，实拨 10.0%，自 2025-03-31 起）" in out
    # 到户 30万 of 51万 disbursed = 58.8% < 70%
    assert "未达标" in out and "58.8%" in out
