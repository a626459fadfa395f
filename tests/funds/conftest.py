"""Fund fixtures: the fixture org and a small plan whose line has a disbursement deadline."""

from __future__ import annotations

from pathlib import Path

import pytest

FUNDS_PLAN = """\
code: fundlag
title: 资金拨付测试方案
year: 2025
issuer: 扶贫开发局
jurisdiction: t
tasks:
  - code: "1"
    title: 雨露计划补助发放
    lead: 县扶贫开发局
    due: 12月底
    funds:
      - source: county
        amount: 10万元
        disburse_by: 6月底
        schedule: [{by: 3月底, cumulative: 30%}]
  - code: "2"
    title: 产业扶持
    lead: 县林业局
    due: 12月底
funds:
  - {code: F-all, source: government, amount: 100万元}
rules:
  - code: households-70
    kind: min_share
    subject: 到户资金占到县资金比例
    threshold: 70%
    text: 到贫困户的扶贫资金额度不得低于到县总额的70%
    tag: 到户
"""


@pytest.fixture
def funds_cli(cli, tmp_path: Path):
    """``cli`` with the fund plan imported too (year 2025)."""
    path = tmp_path / "fundlag.yaml"
    path.write_text(FUNDS_PLAN, encoding="utf-8")
    cli("plan", "import", str(path), "--now", "2025-01-01")
    return cli
