"""Balances as the seed plans' texts state them (篇2's budget, 篇3's disbursement)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from sqlmodel import Session, func, select

from taskflow.db import write_session
from taskflow.models import Disbursement
from taskflow.plans.units import read_units_files
from taskflow.services import intake
from taskflow.services.funds import fund_status
from taskflow.services.units import import_units

SEED = Path(__file__).resolve().parents[2] / "seed_plans"
WAN = Decimal(10_000)


def _import(engine, *names: str, year: int | None = None) -> list:
    at = datetime(2025, 1, 1, tzinfo=UTC)
    reports = []
    with write_session(engine) as session:
        import_units(session, read_units_files([SEED / "org"]), actor="test", now=at)
        for name in names:
            (taken,) = intake.import_file(session, path=SEED / name, year=year, actor="test",
                                          now=at)
            reports.append(taken.report)
    return reports


def test_p2_budget_is_2490_96_wan_from_230_wan_public_and_2260_96_wan_social(engine):
    _import(engine, "p2-social.yaml", year=2025)
    with Session(engine) as session:
        status = fund_status(session, plan="p2-social", now=datetime(2025, 5, 1, tzinfo=UTC))
    assert status.budget == Decimal("2490.96") * WAN
    assert {s.label: s.budget for s in status.sources} == {
        "财政": Decimal(230) * WAN, "社会": Decimal("2260.96") * WAN}
    assert status.disbursed == 0 and status.balance == status.budget
    lines = {line.code: line for line in status.lines}
    # "5 至 6 月 ... 拨付资金" and "三季度资金拨付到位" are the lines' deadlines
    assert lines["4.2.F1"].disburse_by.isoformat() == "2025-06-30"
    assert lines["4.3.F2"].disburse_by.isoformat() == "2025-09-30"
    assert [line.scope for line in status.lines][:2] == ["plan", "plan"]


def test_p3_lottery_money_has_1079_4813_wan_disbursed_and_20_5187_wan_left(engine):
    _import(engine, "p3-lottery.yaml")
    with Session(engine) as session:
        status = fund_status(session, plan="p3-lottery",
                             now=datetime(2015, 7, 31, tzinfo=UTC))
    lottery = next(line for line in status.lines if line.code == "lottery")
    assert lottery.amount == 1100 * WAN
    assert lottery.disbursed == Decimal("1079.4813") * WAN
    assert lottery.balance == Decimal("20.5187") * WAN
    assert lottery.status == "untracked" and lottery.last_paid_on.isoformat() == "2015-07-06"
    assert status.budget == 1311 * WAN and status.disbursed == lottery.disbursed
    # before the day the text reports, nothing was disbursed yet
    with Session(engine) as session:
        earlier = fund_status(session, plan="p3-lottery", now=datetime(2015, 7, 1, tzinfo=UTC))
    assert earlier.disbursed == 0


def test_reimporting_a_plan_keeps_its_stated_disbursements_once(engine):
    _import(engine, "p3-lottery.yaml")
    (again,) = _import(engine, "p3-lottery.yaml")
    assert again.noop
    with Session(engine) as session:
        rows = session.exec(select(func.count()).select_from(Disbursement)).one()
    assert rows == 1
