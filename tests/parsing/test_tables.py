"""Word and Excel task tables (任务分工表) parse to the same plan as the equivalent text."""

from __future__ import annotations

from pathlib import Path

import pytest

from taskflow.parsing import parse_file, parse_text

TITLE = "xx区2025年社会扶贫任务分工"
HEADER = ["序号", "工作任务", "主要任务", "牵头单位", "责任单位", "配合单位", "责任领导",
          "进度安排"]
ROWS = [
    ["1", "实施“三支一扶”计划", "计划招募服务基层教育人员 10 名,争取资金50 万元。",
     "区人力资源社会保障局", "区教科局、各乡(镇)人民政府", "", "李副区长",
     "3 月底前开展招募需求计划征集工作,7 月底签订协议,9 月 1 日组织人员上岗。"],
    ["2", "开展就业援助行动",
     "计划投入资金 20 万元,其中省级资金 9 万元,区级资金 11万元。培训农民工 500 人次。",
     "区总工会", "", "区扶贫开发局", "",
     "2 至 4 月调查摸底,12 月底前项目验收考评。"],
    ["3", "开展扶贫助学", "资助农民工子女大学新生 70 人次。", "区总工会", "区级各部门(单位)", "",
     "张副区长", "一季度开展回访,二季度调查摸底,三季度资金拨付到位。"],
]

TEXT = f"""{TITLE}

一、重点任务

(一)实施“三支一扶”计划(牵头单位:区人力资源社会保障局;责任单位:区教科局、各乡(镇)人民政府)

责任领导:李副区长

主要任务:计划招募服务基层教育人员 10 名,争取资金50 万元。

进度安排:3 月底前开展招募需求计划征集工作,7 月底签订协议,9 月 1 日组织人员上岗。

(二)开展就业援助行动(区总工会牵头,区扶贫开发局配合)

主要任务:计划投入资金 20 万元,其中省级资金 9 万元,区级资金 11万元。培训农民工 500 人次。

进度安排:2 至 4 月调查摸底,12 月底前项目验收考评。

(三)开展扶贫助学

牵头单位:区总工会 责任单位:区级各部门(单位) 责任领导:张副区长

主要任务:资助农民工子女大学新生 70 人次。

进度安排:一季度开展回访,二季度调查摸底,三季度资金拨付到位。
"""


def tasks_of(result) -> list[dict]:
    return result.plan["tasks"]


@pytest.fixture(scope="module")
def from_text():
    return parse_text(TEXT, source="分工.txt", year=2025)


def test_text_form_reads_units_in_every_form(from_text):
    tasks = tasks_of(from_text)
    assert [t["title"] for t in tasks] == [r[1] for r in ROWS]
    assert tasks[0]["lead"] == ["区人力资源社会保障局"]
    assert tasks[0]["responsible"] == ["区教科局", "各乡(镇)人民政府"]
    assert tasks[1]["lead"] == ["区总工会"] and tasks[1]["cooperating"] == ["区扶贫开发局"]
    assert tasks[2]["responsible"] == ["区级各部门(单位)"]
    persons = [i.phrase for i in from_text.review.of_kind("check") if "人名，不是单位" in i.message]
    assert persons == ["李副区长", "张副区长"]  # people are never units


def test_docx_table_parses_to_the_same_plan_as_the_text(tmp_path, from_text):
    import docx

    document = docx.Document()
    document.add_paragraph(TITLE)
    document.add_paragraph("一、重点任务")
    table = document.add_table(rows=1 + len(ROWS), cols=len(HEADER))
    for c, text in enumerate(HEADER):
        table.cell(0, c).text = text
    for r, row in enumerate(ROWS, 1):
        for c, text in enumerate(row):
            table.cell(r, c).text = text
    path = tmp_path / "分工.docx"
    document.save(str(path))
    result = parse_file(path, year=2025)
    assert tasks_of(result) == tasks_of(from_text)
    assert [t.ref for t in result.review.tasks] == ["table 1 row 2", "table 1 row 3",
                                                   "table 1 row 4"]


def test_xlsx_table_with_merged_cells_parses_to_the_same_plan(tmp_path, from_text):
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "任务分工"
    sheet.append([TITLE])
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(HEADER))
    sheet.append(HEADER)
    for row in ROWS:
        sheet.append([int(row[0]), *row[1:]])
    # Rows 2 and 3 share their lead unit: one merged cell, as offices write them.
    sheet["D5"] = None
    sheet.merge_cells("D4:D5")
    path = tmp_path / "分工.xlsx"
    workbook.save(str(path))
    result = parse_file(path, year=2025)
    assert tasks_of(result) == tasks_of(from_text)
    assert [t.ref for t in result.review.tasks] == ["任务分工 row 3", "任务分工 row 4",
                                                   "任务分工 row 5"]


def test_markdown_table_parses_to_the_same_plan(from_text):
    lines = [f"# {TITLE}", "", "## 一、重点任务", "", "| " + " | ".join(HEADER) + " |",
             "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(row) + " |" for row in ROWS]
    result = parse_text("\n".join(lines), source="分工.md", year=2025)
    assert tasks_of(result) == tasks_of(from_text)


def test_flattened_table_cells_one_per_line(from_text):
    header = ["序号", "工作任务", "主要任务", "牵头单位", "责任单位", "进度安排"]
    rows = [["1", ROWS[0][1], ROWS[0][2], ROWS[0][3], ROWS[0][4], ROWS[0][7]],
            ["2", ROWS[2][1], ROWS[2][2], ROWS[2][3], ROWS[2][4], ROWS[2][7]]]
    text = "\n".join([TITLE, "一、重点任务", *header, *(cell for row in rows for cell in row)])
    result = parse_text(text, source="flat.txt", year=2025)
    tasks = tasks_of(result)
    expected = tasks_of(from_text)
    assert [t["title"] for t in tasks] == [expected[0]["title"], expected[2]["title"]]
    assert tasks[0]["lead"] == expected[0]["lead"]
    assert tasks[0]["milestones"] == expected[0]["milestones"]
    assert tasks[1]["responsible"] == expected[2]["responsible"]


def test_a_table_without_a_known_header_is_reported(tmp_path):
    import openpyxl

    workbook = openpyxl.Workbook()
    workbook.active.append(["甲", "乙"])
    workbook.active.append(["1", "2"])
    path = tmp_path / "other.xlsx"
    workbook.save(str(path))
    result = parse_file(path, year=2025)
    assert not result.found


def test_a_markdown_table_without_a_known_header_is_reported_at_its_line():
    result = parse_text("一、任务\n\n| 甲 | 乙 |\n|---|---|\n| 1 | 2 |\n", year=2025,
                        source="a.md")
    item = result.review.of_kind("check")[0]
    assert (item.ref, item.line) == ("line 3", 3)
    assert str(item) == "第3行：表格没有可识别的表头行（序号/工作任务/牵头单位/完成时限…）：已跳过"


def test_a_corrupt_file_is_a_user_error(tmp_path):
    from taskflow.errors import UserError

    path = tmp_path / "broken.docx"
    path.write_bytes(b"not a zip")
    with pytest.raises(UserError, match="无法读取"):
        parse_file(path, year=2025)
    with pytest.raises(UserError, match=r"应为 \.txt \.md \.docx \.xlsx 之一"):
        parse_file(Path("plan.pdf"), year=2025)
