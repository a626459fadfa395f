"""Amounts as offices write them: 万元 and 元 forms, refused clearly otherwise."""

from __future__ import annotations

from decimal import Decimal

import pytest

from taskflow.domain.funds import parse_amount, percent, wan
from taskflow.errors import UserError


@pytest.mark.parametrize(("text", "yuan"), [
    ("12.5万", "125000.00"), ("12.5万元", "125000.00"), ("125000", "125000.00"),
    ("125000元", "125000.00"), ("125,000元", "125000.00"), ("0.3亿", "30000000.00"),
    ("１２.５万", "125000.00"), (" 1079.4813万元 ", "10794813.00"), ("0.01", "0.01"),
])
def test_amounts_in_wan_and_yuan_forms_become_yuan(text, yuan):
    assert parse_amount(text) == Decimal(yuan)


@pytest.mark.parametrize(("text", "says"), [
    ("abc", "不是金额"), ("12.5万美元", "不是金额"), ("", "不是金额"), ("0", "大于 0"),
    ("-5万", "大于 0"), ("0.001", "精确到分"), ("1.2.3万", "不是金额"),
])
def test_bad_amounts_say_what_is_expected(text, says):
    with pytest.raises(UserError) as caught:
        parse_amount(text)
    problem = caught.value.problems[0]
    assert says in problem.message and problem.field == "--amount"


def test_money_is_shown_in_wan_or_yi_without_trailing_zeros():
    assert wan(Decimal("24909600.00")) == "2490.96万元"
    assert wan(Decimal("205187.00")) == "20.5187万元"
    assert wan(Decimal("69700000000")) == "697亿元"
    assert wan(Decimal(0)) == "0万元"
    assert percent(Decimal("98.1345")) == "98.1%" and percent(None) == "—"
