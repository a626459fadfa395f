"""A plan's funds on the web: the status page and recording a disbursement."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from taskflow.db import read_session
from taskflow.models import AuditEvent, Disbursement, Plan, Unit

from .conftest import csrf_of


@pytest.fixture
def clocked(app):
    app.state.clock = lambda: datetime(2025, 3, 3, 2, 0, tzinfo=UTC)
    return app


def _plan_id(engine) -> int:
    with read_session(engine) as session:
        return session.scalars(select(Plan.id).where(Plan.code == "demo")).one()


def test_coordinator_records_a_disbursement(clocked, signed_in, engine):
    coord = signed_in("coord")
    url = f"/plans/{_plan_id(engine)}/funds"
    page = coord.get(url)
    assert page.status_code == 200
    assert "2260.96万元" in page.text and "登记拨付" in page.text
    response = coord.submit(url, url, {"line": "2.F1", "amount": "5万", "paid_on": "2025-03-01",
                                       "unit": "县林业局", "note": "第一批"})
    assert response.status_code == 303, response.text
    with read_session(engine) as session:
        row = session.scalars(select(Disbursement)).one()
        assert (row.line_code, row.amount, row.paid_on.isoformat(), row.recorder) == \
            ("2.F1", Decimal("50000.00"), "2025-03-01", "web:coord")
        assert session.scalars(select(AuditEvent).where(
            AuditEvent.actor == "web:coord", AuditEvent.entity == "disbursement")).first()
    after = coord.get(url)
    assert "已登记拨付：2.F1 5万元" in after.text
    assert "4万元" in after.text  # the line's balance: 9万 − 5万


def test_a_unit_name_typed_with_invisible_characters_is_the_unit(clocked, signed_in, engine):
    coord = signed_in("coord")
    url = f"/plans/{_plan_id(engine)}/funds"
    response = coord.submit(url, url, {"line": "2.F1", "amount": "1万", "paid_on": "2025-03-01",
                                       "unit": "\ufeff县\u200b林业局\u00a0"})
    assert response.status_code == 303, response.text
    with read_session(engine) as session:
        unit = session.scalars(select(Unit).where(Unit.code == "t.lyj")).one()
        assert session.scalars(select(Disbursement)).one().unit_id == unit.id


@pytest.mark.parametrize("data, message", [
    ({"line": "2.F1", "amount": "五块钱", "paid_on": "2025-03-01"}, "amount"),
    ({"line": "2.F1", "amount": "10万", "paid_on": "2025-03-01"}, "金额：超出资金安排"),
    ({"line": "2.F1", "amount": "1万", "paid_on": "2025-04-01"}, "晚于今天"),
    ({"line": "", "amount": "1万", "paid_on": "2025-03-01"}, "请选择资金项目"),
    ({"line": "nope", "amount": "1万", "paid_on": "2025-03-01"}, "nope"),
])
def test_bad_disbursements_are_refused_and_nothing_written(clocked, signed_in, engine, data,
                                                           message):
    coord = signed_in("coord")
    url = f"/plans/{_plan_id(engine)}/funds"
    response = coord.submit(url, url, data)
    assert response.status_code == 422
    assert message in response.text
    assert "--" not in re.sub(r"<!--.*?-->", "", response.text)  # no CLI option named
    with read_session(engine) as session:
        assert session.scalars(select(Disbursement)).first() is None


def test_members_do_not_see_funds_and_leaders_cannot_record(clocked, signed_in, engine):
    url = f"/plans/{_plan_id(engine)}/funds"
    member = signed_in("lyj")
    assert member.get(url).status_code == 404
    token = csrf_of(member.get("/").text)
    assert member.post(url, data={"line": "2.F1", "amount": "1万", "paid_on": "2025-03-01",
                                  "csrf_token": token}, follow_redirects=False).status_code == 404
    leader = signed_in("leader")
    page = leader.get(url)
    assert page.status_code == 200 and "登记拨付" not in page.text
    response = leader.post(url, data={"line": "2.F1", "amount": "1万", "paid_on": "2025-03-01",
                                      "csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert response.status_code == 404
    with read_session(engine) as session:
        assert session.scalars(select(Disbursement)).first() is None
        denied = session.scalars(select(AuditEvent).where(
            AuditEvent.action == "access_denied")).all()
        assert {d.actor for d in denied} == {"web:lyj", "web:leader"}
