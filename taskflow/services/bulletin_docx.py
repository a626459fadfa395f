"""The bulletin (通报) as a Word document laid out as a 公文 (GB/T 9704-2012), for an office
to edit and issue.

From the top: the issuing office's mark in red (发文机关标志), the document number (文号)
above a red rule, the title, the addressees (主送), an opening sentence, the numbered
sections (一、总体情况 ... 六、资金拨付情况) with their tables, and the signing office and date
(落款). Fonts are the ones offices use (方正小标宋简体 for the title, 黑体 for section
headings, 仿宋_GB2312 for the text) named as East Asian fonts, so Word substitutes its own when
one is missing; margins and sizes follow the standard (A4, 3号 text).
"""

from __future__ import annotations

from pathlib import Path

from docx import Document
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt, RGBColor

from taskflow.domain.funds import percent, wan
from taskflow.services.bulletin import Bulletin
from taskflow.services.bulletin_render import DocumentHead, cn_date, level_label, num, save_atomic

RED = RGBColor(0xE0, 0x00, 0x00)
TITLE_FONT, HEADING_FONT, TEXT_FONT = "方正小标宋简体", "黑体", "仿宋_GB2312"
TEXT_SIZE, TABLE_SIZE = 16, 10.5  # 3号, 5号
# pPr children that must follow a paragraph border (w:pBdr), in schema order.
_AFTER_BORDER = ("w:shd", "w:tabs", "w:suppressAutoHyphens", "w:kinsoku", "w:wordWrap",
                 "w:overflowPunct", "w:topLinePunct", "w:autoSpaceDE", "w:autoSpaceDN",
                 "w:bidi", "w:adjustRightInd", "w:snapToGrid", "w:spacing", "w:ind",
                 "w:contextualSpacing", "w:mirrorIndents", "w:suppressOverlap", "w:jc",
                 "w:textDirection", "w:textAlignment", "w:textboxTightWrap",
                 "w:outlineLvl", "w:divId", "w:cnfStyle", "w:rPr", "w:sectPr", "w:pPrChange")


def _font(run, east_asian: str, size: float, *, bold: bool = False,
          colour: RGBColor | None = None) -> None:
    run.font.name = "Times New Roman"  # digits and Latin letters
    run._element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), east_asian)
    run.font.size = Pt(size)
    run.font.bold = bold
    if colour is not None:
        run.font.color.rgb = colour


def _paragraph(doc, text: str, *, font: str = TEXT_FONT, size: float = TEXT_SIZE,
               align=None, bold: bool = False, colour: RGBColor | None = None,
               indent: bool = False, space_after: float = 0):
    paragraph = doc.add_paragraph()
    paragraph.alignment = align
    paragraph.paragraph_format.space_after = Pt(space_after)
    paragraph.paragraph_format.line_spacing = Pt(28) if size >= TEXT_SIZE else None
    if indent:
        paragraph.paragraph_format.first_line_indent = Pt(size * 2)
    _font(paragraph.add_run(text), font, size, bold=bold, colour=colour)
    return paragraph


def _red_rule(paragraph) -> None:
    """A red line under the paragraph (the 版头's separator)."""
    border = OxmlElement("w:pBdr")
    bottom = OxmlElement("w:bottom")
    for name, value in (("val", "single"), ("sz", "18"), ("space", "6"), ("color", "E00000")):
        bottom.set(qn(f"w:{name}"), value)
    border.append(bottom)
    paragraph._p.get_or_add_pPr().insert_element_before(border, *_AFTER_BORDER)


def _table(doc, header: list[str], rows: list[list[object]]) -> None:
    table = doc.add_table(rows=1, cols=len(header))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for cell, text in zip(table.rows[0].cells, header, strict=True):
        cell.text = ""
        _font(cell.paragraphs[0].add_run(text), HEADING_FONT, TABLE_SIZE)
    header_row = OxmlElement("w:tblHeader")  # repeated on every page the table runs over
    header_row.set(qn("w:val"), "true")
    table.rows[0]._tr.get_or_add_trPr().append(header_row)
    for row in rows:
        cells = table.add_row().cells
        for cell, value in zip(cells, row, strict=True):
            _font(cell.paragraphs[0].add_run("" if value is None else str(value)), TEXT_FONT,
                  TABLE_SIZE)
    doc.add_paragraph()


def _page_number_footer(section) -> None:
    paragraph = section.footer.paragraphs[0]
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _font(paragraph.add_run("— "), TEXT_FONT, 14)
    field = OxmlElement("w:fldSimple")
    field.set(qn("w:instr"), "PAGE")
    paragraph._p.append(field)
    _font(paragraph.add_run(" —"), TEXT_FONT, 14)


def _heading(doc, text: str) -> None:
    _paragraph(doc, text, font=HEADING_FONT, indent=True)


def _sections(doc, b: Bulletin) -> None:
    _heading(doc, "一、总体情况")
    for line in b.summary_lines()[1:]:
        _paragraph(doc, line, indent=True)
    _paragraph(doc, f"在办任务红灯{b.lights.get('red', 0)}项、黄灯{b.lights.get('yellow', 0)}项、"
                    f"绿灯{b.lights.get('green', 0)}项。", indent=True)

    _heading(doc, "二、各单位按期办结率排名")
    if b.units:
        _table(doc, ["排名", "单位", "到期任务", "按期办结", "逾期办结", "逾期未办结",
                     "按期办结率"],
               [[u.rank, u.unit, u.due, u.on_time, u.late_done, u.overdue, u.shown_rate]
                for u in b.units])
    else:
        _paragraph(doc, "本期没有到期任务。", indent=True)

    _heading(doc, "三、表扬与点名通报")
    praised = "、".join(u.unit for u in b.praised)
    named = "、".join(u.unit for u in b.named)
    _paragraph(doc, f"{praised}本期到期任务全部按期办结，予以通报表扬。" if praised
               else "本期无表扬单位。", indent=True)
    _paragraph(doc, f"{named}有逾期任务，予以点名通报。请相关单位认真整改，按期完成目标任务。"
               if named else "本期无点名通报单位。", indent=True)

    _heading(doc, "四、逾期未办结任务")
    if b.overdue:
        _table(doc, ["编号", "任务", "牵头单位", "完成时限", "逾期天数", "督办级别"],
               [[o.task_code, o.title, "、".join(o.lead_units), cn_date(o.due_on, True),
                 f"{o.days_overdue}天", level_label(o.escalation_level) or "未督办"]
                for o in b.overdue])
    else:
        _paragraph(doc, "无逾期未办结任务。", indent=True)

    _heading(doc, "五、目标任务完成情况")
    if b.targets:
        _table(doc, ["编号", "任务", "目标", "计划累计", "实际累计", "完成比例", "进度"],
               [[t.task_code, t.task_title, f"{num(t.target)}{t.measure}",
                 num(t.last.planned) if t.last else "—",
                 num(t.last.actual) if t.last and t.last.actual is not None else "未报送",
                 f"{num(t.attainment)}%" if t.attainment is not None else "—",
                 "滞后" if t.behind else "正常"] for t in b.targets])
    else:
        _paragraph(doc, "无量化目标任务。", indent=True)

    _heading(doc, "六、资金拨付情况")
    if not b.funds:
        _paragraph(doc, "方案未安排资金。", indent=True)
    for status in b.funds:
        _paragraph(doc, f"{status.plan_title}：预算{wan(status.budget)}，已拨付"
                        f"{wan(status.disbursed)}，余额{wan(status.balance)}，拨付率"
                        f"{percent(status.share)}。", indent=True)
        if status.lines:
            _table(doc, ["资金", "来源", "安排", "已拨付", "余额", "拨付率", "期限", "状态"],
                   [[ln.code, ln.source_label, wan(ln.amount), wan(ln.disbursed),
                     wan(ln.balance), percent(ln.share),
                     cn_date(ln.disburse_by, True) if ln.disburse_by else "—",
                     ln.status_label] for ln in status.lines])
        for rule in status.rules:
            _paragraph(doc, f"规则「{rule.subject}」{rule.requirement}：{rule.detail}",
                       indent=True)


def build_docx(b: Bulletin, head: DocumentHead):
    doc = Document()
    doc.core_properties.title = b.title
    doc.core_properties.author = head.signer or "taskflow"
    section = doc.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.bottom_margin = Mm(37), Mm(35)
    section.left_margin, section.right_margin = Mm(28), Mm(26)
    _page_number_footer(section)

    _paragraph(doc, head.mark, font=TITLE_FONT, size=36, align=WD_ALIGN_PARAGRAPH.CENTER,
               colour=RED, space_after=12)
    number = _paragraph(doc, head.number, align=WD_ALIGN_PARAGRAPH.CENTER, space_after=24)
    _red_rule(number)
    _paragraph(doc, b.title, font=TITLE_FONT, size=22, align=WD_ALIGN_PARAGRAPH.CENTER,
               space_after=16)
    if head.to:
        _paragraph(doc, f"{head.to}：")
    plans = "、".join(f"《{title}》" for title in b.plan_titles)
    _paragraph(doc, f"现将{plans}{b.period.label}推进情况（统计截至{cn_date(b.as_of, True)}）"
                    f"通报如下：", indent=True)
    for note in b.notes:  # e.g. a period outside the plan's years
        _paragraph(doc, note, indent=True)
    _sections(doc, b)
    doc.add_paragraph()
    for text in (head.signer, cn_date(head.issued_on, True)):
        if text:
            paragraph = _paragraph(doc, text, align=WD_ALIGN_PARAGRAPH.RIGHT)
            paragraph.paragraph_format.right_indent = Pt(TEXT_SIZE * 4)
    return doc


def render_docx(b: Bulletin, path: Path, *, head: DocumentHead) -> Path:
    doc = build_docx(b, head)
    return save_atomic(path, doc.save)
