"""A small plan whose completion rates are worked out by hand in the tests."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from taskflow.calendar import WorkCalendar
from taskflow.db import write_session
from taskflow.services import tasks as actions
from taskflow.services.sweep import sweep

PLAN = """\
code: rates
title: 通报测试方案<script>alert(1)</script>
year: 2025
issuer: 扶贫开发局
jurisdiction: t
tasks:
  - {code: a1, title: 完成核定, lead: 县扶贫开发局, due: 2025-04-30}
  - {code: a2, title: 补助到位, lead: 县扶贫开发局, due: 2025-05-31}
  - {code: a3, title: "<script>alert('x')</script>验收", lead: 县扶贫开发局, due: 2025-06-30}
  - {code: b1, title: 调查摸底, lead: 县林业局, due: 2025-05-15}
  - {code: b2, title: 确定承办单位, lead: 县林业局, due: 2025-06-20}
  - {code: c1, title: 一季度工作, lead: 县财政局, due: 2025-03-31}
  - {code: d1, title: 下半年工作, lead: 县林业局, due: 2025-08-31}
  - code: t1
    title: 培训农民工
    lead: 县林业局
    due: 2025-12-31
    target: 500 人次
    progress_plan:
      - {by: 2025-06-30, cumulative: 40%}
funds:
  - {code: F1, source: county, amount: 20万元, disburse_by: 2025-06-30}
"""
NOW = datetime.fromisoformat("2025-07-05T10:00+08:00").astimezone(UTC)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text + "T15:00+08:00").astimezone(UTC)


@pytest.fixture
def rates(cli, engine, tmp_path: Path):
    """The plan with: a1 on time (accepted), a2 late, a3 open (overdue), b1 on time (awaiting
    acceptance), b2 on time, c1 open since Q1, d1 not yet due; 5万 of F1 disbursed; t1 200."""
    path = tmp_path / "rates.yaml"
    path.write_text(PLAN, encoding="utf-8")
    cli("plan", "import", str(path), "--now", "2025-01-01")
    sweep(engine, now=_at("2025-01-02"), calendar=WorkCalendar())
    from sqlmodel import select

    from taskflow.models import Plan, Task

    with write_session(engine) as session:
        plan = session.exec(select(Plan).where(Plan.code == "rates")).one()
        tasks = {t.code: t for t in session.exec(select(Task).where(Task.plan_id == plan.id))}
        for code, day in (("a1", "2025-04-28"), ("a2", "2025-06-03"), ("b1", "2025-05-10"),
                          ("b2", "2025-06-19")):
            actions.submit(session, tasks[code], unit=None, actor="test", now=_at(day))
        actions.accept(session, tasks["a1"], actor="test", now=_at("2025-04-29"))
        actions.report_progress(session, tasks["t1"], unit=None, actor="test",
                                now=_at("2025-06-20"), quantity=Decimal(200))
    cli("funds", "disburse", "--plan", "rates", "--line", "F1", "--amount", "5万", "--on",
        "2025-06-01", "--now", "2025-07-01")
    return NOW
