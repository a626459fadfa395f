"""Input hygiene (encodings, widths, stray spaces) and unit phrases."""

from __future__ import annotations

from datetime import date

import pytest

from taskflow.parsing import parse_bytes, parse_file
from taskflow.parsing.text import decode, normalize
from taskflow.parsing.units import find_parenthetical, labelled, split_units, verbal

PLAN = """一、重点工作
(一)开展就业援助行动(牵头单位:区总工会;责任单位:区扶贫开发局)
主要任务:培训农民工 500 人次,资金 20 万元, 其中省级资金 9 万元。
进度安排:6 月 10 日前完成摸底,12 月 10 前完成培训。
"""


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030", "utf-16"])
def test_every_encoding_reads_the_same(tmp_path, encoding):
    path = tmp_path / "plan.txt"
    path.write_bytes(PLAN.encode(encoding))
    result = parse_file(path, year=2025)
    task = result.plan["tasks"][0]
    assert task["lead"] == ["区总工会"]
    assert [str(m["due"]) for m in task["milestones"]] == ["2025-06-10", "2025-12-10"]
    assert not result.plan["tasks"][0]["title"].startswith("\ufeff")


def test_full_width_punctuation_and_digits_read_as_half_width():
    wide = PLAN.replace("(", "（").replace(")", "）").replace(":", "：").replace(";", "；") \
        .replace(",", "，").replace("500", "５００").replace("6 月", "６　月")
    result = parse_bytes(wide.encode("utf-8"), "plan.txt", year=2025)
    task = result.plan["tasks"][0]
    assert task["lead"] == ["区总工会"] and task["responsible"] == ["区扶贫开发局"]
    assert task["target"]["value"] == 500
    assert str(task["milestones"][0]["due"]) == "2025-06-10"
    assert [f["amount"] for f in task["funds"]] == ["20万元"] or task["funds"]


def test_decode_reports_the_encoding():
    assert decode("扶贫专项实施方案".encode("gbk")) == ("扶贫专项实施方案", "gb18030")
    assert decode(b"\xef\xbb\xbfabc") == ("abc", "utf-8-sig")
    assert normalize("（一）６月") == "(一)6月"


def test_collective_units_stay_whole():
    assert split_units("区级相关部门(单位)、各乡(镇)人民政府、街道办事处") == [
        "区级相关部门(单位)", "各乡(镇)人民政府", "街道办事处"]
    assert split_units("各县(市、区、行委)政府") == ["各县(市、区、行委)政府"]
    assert split_units("区级各部门(单位),各乡(镇)人民政府、街道办事处") == [
        "区级各部门(单位)", "各乡(镇)人民政府", "街道办事处"]


def test_labelled_units_and_other_labels():
    refs, other, _ = labelled("责任单位:区教科局、区卫健局 完成时限:6月底前")
    assert refs.responsible == ["区教科局", "区卫健局"]
    assert other == {"due": "6月底前"}
    refs, _, _ = labelled("牵头单位:区脱贫攻坚办,责任单位:区级各部门(单位)、街道办事处")
    assert refs.lead == ["区脱贫攻坚办"] and refs.responsible == ["区级各部门(单位)", "街道办事处"]


def test_verbal_unit_phrases():
    refs = verbal("区扶贫开发局牵头,区财政局、区农业农村局配合")
    assert refs.lead == ["区扶贫开发局"] and refs.cooperating == ["区财政局", "区农业农村局"]
    assert verbal("由区教科局负责").lead == ["区教科局"]
    assert verbal("加强宣传,营造氛围") is None


def test_people_are_never_units():
    refs, _, _ = labelled("牵头单位:区民政局 责任领导:王副区长")
    assert refs.lead == ["区民政局"] and refs.persons == ["王副区长"]
    refs, _, _ = labelled("责任单位:区财政局、李局长")
    assert refs.responsible == ["区财政局"] and refs.persons == ["李局长"]


def test_unit_parenthetical_with_nested_parentheses():
    text = ("省、市直部门定点扶贫工作。"
            "(牵头单位:区扶贫开发局;责任单位:区级相关部门(单位)、街道办事处)")
    start, end, refs = find_parenthetical(text)
    assert text[:start] == "省、市直部门定点扶贫工作。" and end == len(text)
    assert refs.responsible == ["区级相关部门(单位)", "街道办事处"]


def test_unknown_units_are_proposed_as_new_units_with_their_line(org):
    from taskflow.parsing import parse_text

    text = PLAN.replace("区扶贫开发局", "区不存在局")
    result = parse_text(text, year=2025, units=org, jurisdiction="sc.dazhou.xq")
    checks = [i for i in result.review.of_kind("check") if i.phrase == "区不存在局"]
    assert checks and checks[0].ref == "line 2" and checks[0].line == 2
    assert str(checks[0]).startswith(
        "第2行 [1]：“区不存在局” 单位名录中没有“区不存在局”：已作为新单位")
    assert "需核对：\n  第2行 [1]：“区不存在局” 单位名录中没有" in result.review.format()
    # Never dropped: kept on the task and declared in the plan's units, under the jurisdiction.
    [proposed] = result.plans[0].proposed_units
    assert (proposed.name, proposed.kind, proposed.parent) == ("区不存在局", "department",
                                                              "sc.dazhou.xq")
    assert result.plan["tasks"][0]["responsible"] == ["区不存在局"]
    assert result.plan["units"] == [{"code": proposed.code, "name": "区不存在局",
                                     "kind": "department"}]


def test_review_is_in_chinese_and_names_the_year_to_give():
    from taskflow.parsing import parse_text

    result = parse_text(PLAN.replace("(牵头单位:区总工会;责任单位:区扶贫开发局)", ""))
    report = result.review.format()
    head = report.splitlines()[0]
    assert head.startswith("== ") and head.endswith("：任务 1 项，未能解析 0 处，需核对 2 处")
    assert "→ 方案 " in head and "\n任务：\n" in report and "\n需核对：\n" in report
    year = date.today().year  # no year in the text, none given: this year, questioned
    # the ref column right-aligned in terminal columns, a Chinese character counting two
    # no unit named: a little less sure
    line = f"第2行  1        开展就业援助行动  （限 {year}-12-10；2 个节点；可信度 0.90）"
    assert f"\n{' ' * 11}{line}\n" in report
    assert f"未写明方案年度，按 {year} 年处理（可用 --year 指定）" in report
    assert "未能确定辖区（没有单位名录）：方案中暂填 todo.jurisdiction；" \
           "请用 --jurisdiction 指定辖区单位代码" in report


def test_a_plan_written_for_another_year_says_how_far_dates_move():
    from taskflow.parsing import parse_text

    result = parse_text(PLAN.replace("6 月 10 日", "2019 年 6 月 10 日"), year=2025)
    assert "原文按 2019 年编写（文中期限“2019年6月10日前”）；`plan import --year 2025` 将把所有" \
           "日期推后 6 年" in [i.message for i in result.review.of_kind("info")]


@pytest.mark.parametrize(("ref", "shown"), [
    ("line 37", "第37行"), ("paragraph 4", "第4段"), ("table 1 row 3", "表1 第3行"),
    ("table 2", "表2"), ("Sheet1 row 5", "Sheet1 第5行"), ("任务分工 row 3", "任务分工 第3行"),
    (None, ""), ("elsewhere", "elsewhere")])
def test_refs_are_shown_in_chinese(ref, shown):
    from taskflow.parsing.review import place

    assert place(ref) == shown
