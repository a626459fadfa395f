"""A small county with two townships, five villages, inspectors, and a plan with an
inspection programme (quarterly checks with a village sample, a bulletin, the assessment)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from taskflow.calendar import WorkCalendar
from taskflow.db import write_session
from taskflow.plans.units import read_units_files
from taskflow.services import intake
from taskflow.services.units import import_units

NOW = datetime(2025, 1, 2, 1, 0, tzinfo=UTC)

ORG = """
units:
  - code: t
    name: 测试县人民政府
    kind: county
    contacts:
      - {name: 分管县长, role: leader_in_charge, email: leader@t.example.org}
    children:
      - code: t.dcs
        name: 县督查室
        kind: office
        contacts:
          - {name: 督主任, role: coordinator, email: dcs@t.example.org}
          - {name: 督查员甲, role: inspector, email: jia@t.example.org}
          - {name: 督查员乙, role: inspector, email: yi@t.example.org}
      - code: t.fpb
        name: 县扶贫开发局
        kind: department
        contacts:
          - {name: 王局长, role: head, email: wang@t.example.org}
          - {name: 赵联络员, role: liaison, email: zhao@t.example.org, mobile: "10000000002",
             channels: [email, sms]}
          - {name: 扶贫局检查员, role: inspector, email: fpb-insp@t.example.org}
      - code: t.lyj
        name: 县林业局
        kind: department
        contacts:
          - {name: 林局长, role: head, email: lin@t.example.org}
      - code: t.townships
        name: 各乡(镇)人民政府
        kind: collective
        member_kind: township
      - code: t.a
        name: 甲镇
        kind: township
        contacts: [{name: 甲镇联络员, role: liaison, email: a@t.example.org}]
        children:
          - {code: t.a.v1, name: 甲一村, kind: village}
          - {code: t.a.v2, name: 甲二村, kind: village}
          - {code: t.a.v3, name: 甲三村, kind: village}
      - code: t.b
        name: 乙镇
        kind: township
        contacts: [{name: 乙镇联络员, role: liaison, email: b@t.example.org}]
        children:
          - {code: t.b.v1, name: 乙一村, kind: village}
          - {code: t.b.v2, name: 乙二村, kind: village}
"""

PLAN = """
code: insp
title: 测试县电商扶贫方案
year: 20xx
jurisdiction: t
tasks:
  - code: "1"
    title: 建设村级电商服务站
    lead: 县扶贫开发局
    due: 3月底前
    target: 100 户
    funds:
      - {source: county, amount: 10万元}
    acceptance: [实际使用面积不少于20平方米, 至少配备1名以上专职人员]
  - code: "2"
    title: 退耕还林
    lead: 县林业局
    due: 6月底前
    target: 50 亩
    acceptance: ["=HYPERLINK(\\"x\\")不得出现"]
  - code: "3"
    title: 联合检查
    lead: 县扶贫开发局
    responsible: 县林业局
    due: 9月底
  - code: "4"
    title: 乡镇电商网点
    responsible: 各乡(镇)人民政府
    each_responsible: true    # each township its own points: no lead
    due: 2026年3月底前
inspections:
  - {code: q, title: 季度检查, kind: inspection, recurrence: 每季度, notice_days: 5,
     rectify_within: 5, inspectors: [县督查室, 县扶贫开发局],
     sample: {strata: village, share: 50%, seed: 7}}
  - {code: half, title: 半年通报, kind: bulletin, when: 6月底, inspectors: [县督查室]}
  - {code: year-end, title: 年底考核, kind: assessment, when: 年底}
assessment:
  weights: {on_time: 40, targets: 30, funds: 15, inspections: 15}
"""


@pytest.fixture
def calendar():
    return WorkCalendar()


@pytest.fixture
def plan_db(engine, tmp_path: Path):
    org = tmp_path / "org.yaml"
    org.write_text(ORG, encoding="utf-8")
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN, encoding="utf-8")
    with write_session(engine) as session:
        import_units(session, read_units_files([org]), actor="test", now=NOW)
    import_file(engine, plan)
    return engine


def import_file(engine, path: Path, year: int = 2025):
    with write_session(engine) as session:
        (taken,) = intake.import_file(session, path=path, year=year, actor="test", now=NOW)
        return taken.report
