"""The engine's commands end to end through the CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlmodel import Session, func, select

from taskflow.models import AuditEvent, Notification
from tests.conftest import FIXTURES


def test_sweep_then_a_unit_works_a_task_through_to_done(cli, engine):
    out = cli("sweep", "--now", "2025-01-02T09:30")
    # 1, its two milestones, 2, the duty 2.2 and its first occurrence (2.1 starts in February)
    assert "启动 6" in out and "交办 1" in out and "2 条提醒找不到联系人" in out
    assert "已签收" in cli("task", "ack", "demo", "1", "--unit", "县扶贫开发局", "--now",
                          "2025-01-02T10:00")
    assert "办理中" in cli("task", "report", "demo", "1.m1", "--unit", "示例镇", "--percent",
                          "50", "--note", "已核定一半", "--now", "2025-06-01T10:00")
    assert "待审核" in cli("task", "submit", "demo", "1.m1", "--now", "2025-06-09T10:00")
    assert "已办结" in cli("task", "accept", "demo", "1.m1", "--now", "2025-06-10T10:00")
    with Session(engine) as session:
        actions = set(session.exec(select(AuditEvent.action)).all())
        assert {"task.acknowledge", "task.report", "task.submit", "task.accept"} <= actions
        assert session.exec(select(func.count()).select_from(Notification)).one() > 0


def test_illegal_and_foreign_actions_are_user_errors(cli):
    cli("sweep", "--now", "2025-01-02T09:30")
    out = cli("task", "accept", "demo", "1", code=2)
    assert "不能验收通过" in out
    out = cli("task", "ack", "demo", "2", "--unit", "县扶贫开发局", code=2)
    assert "不是任务 2 的承办单位" in out
    assert "没有任务" in cli("task", "ack", "demo", "9.9", code=2)
    assert "理由" in cli("task", "cancel", "demo", "2", "--reason", " ", code=2)
    assert "应晚于" in cli("task", "extend", "demo", "2", "--to", "2025-01-01", "--reason",
                         "x", code=2)
    assert "超出允许范围" in cli("task", "extend", "demo", "2", "--to", "9999-12-31",
                              "--reason", "x", code=2)


def test_extension_is_kept_when_the_same_plan_is_imported_again(cli):
    cli("task", "extend", "demo", "2", "--to", "2026-03-31", "--reason", "资金未到位")
    out = cli("plan", "import", str(FIXTURES / "plan.yaml"), "--year", "2025")
    assert "无变化" in out
    assert "2026-03-31" in cli("tasks", "--plan", "demo")


def test_lights_filter(cli):
    cli("sweep", "--now", "2025-06-05T09:30")
    red = cli("tasks", "--light", "red", "--now", "2025-07-01")
    assert "1.m1" in red and "●红" in red
    assert "--light" in cli("tasks", "--light", "blue", code=2)


def test_calendar_add_makes_a_later_year_known(cli, tmp_path):
    holidays = tmp_path / "2027.yaml"
    holidays.write_text("year: 2027\nholidays:\n  - {from: 2027-10-01, to: 2027-10-07, "
                        "name: 国庆节}\nworkdays:\n  - 2027-09-26\n", encoding="utf-8")
    out = cli("calendar", "add", str(holidays))
    assert "2027 年：7 天假日，1 天调休上班" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text("year: 2027\nholidays: [2028-01-01]\n", encoding="utf-8")
    assert "bad.yaml:2" in cli("calendar", "add", str(bad), code=2)


def test_the_sweep_summary_names_every_kind_in_chinese(capsys):
    from collections import Counter

    from taskflow.cli import _print_sweep
    from taskflow.services.sweep import SweepReport

    report = SweepReport(tasks=3, messages=Counter(
        {"assigned": 1, "due_soon": 2, "fund_lag": 3, "fund_escalation": 4, "supervision": 5}))
    _print_sweep(report)
    out = capsys.readouterr().out
    for label in ("交办 1", "到期提醒 2", "资金拨付滞后 3", "资金督办 4", "督办通知 5"):
        assert label in out, out
    assert "fund" not in out and "supervision" not in out
