"""The bulletin (通报) as HTML (SVG charts), Excel (charts), PDF (fpdf2) or Word.

All four render the same ``Bulletin`` (taskflow.services.bulletin). The Word document
(python-docx) is laid out as a 公文 (GB/T 9704): the issuing office's red title line, the
document number (文号), a red rule, the title, the addressees, the numbered sections with
their tables, and the office and date at the end; an office edits it and issues it. The PDF
carries the same head when one is given (``DocumentHead``). HTML is a Jinja2
template with autoescaping (taskflow/templates/bulletin.html), so a title such as
``<script>`` is shown, never run; the charts are inline SVG drawn by the template from
geometry computed here. Excel cells that look like formulas are written as text. The PDF
needs a font with Chinese glyphs: ``pdf_font`` (TASKFLOW_PDF_FONT), else the first of the
usual system fonts that exists (Debian: fonts-droid-fallback, fonts-wqy-microhei,
fonts-noto-cjk), else ``fc-list :lang=zh``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from taskflow.domain.funds import percent, wan
from taskflow.domain.inspections import safe_cell
from taskflow.errors import UserError
from taskflow.services.bulletin import Bulletin
from taskflow.services.funds import FundStatus

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
FORMATS = ("html", "xlsx", "pdf", "docx")
FORMAT_NAMES = "html、xlsx、pdf、docx"
LEVELS = {1: "一级督办", 2: "二级督办", 3: "三级督办", 4: "四级督办", 5: "五级督办"}
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",  # CJK only: Latin falls back
    "/usr/share/fonts/truetype/arphic/uming.ttc",
    "/System/Library/Fonts/PingFang.ttc",
    "C:/Windows/Fonts/msyh.ttc",
    "C:/Windows/Fonts/simhei.ttf",
)
# Digits and Latin letters for a CJK font without them (Droid Sans Fallback).
LATIN_FALLBACKS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
)
NO_FONT = ("生成 PDF 需要中文字体，本机未找到：请安装（Debian/Ubuntu：apt-get install "
           "fonts-droid-fallback 或 fonts-noto-cjk），或设置 TASKFLOW_PDF_FONT 为字体文件路径")


@dataclass(frozen=True)
class DocumentHead:
    """The 公文 parts around a bulletin: the issuing office's mark (发文机关标志, the red
    title line), the document number (文号), the date (成文日期), the addressees (主送) and
    the office that signs (落款)."""

    mark: str
    number: str
    issued_on: date
    to: str = "各有关单位"
    signer: str = ""


def default_head(session, bulletin: Bulletin, *, today: date) -> DocumentHead:
    """The head an office starts from: its plans' issuing office (发文单位) as the mark and
    the signer, 文号 left to fill in (〔year〕号), dated ``today``."""
    from sqlmodel import select

    from taskflow.models import Plan, Unit

    issuers = list(dict.fromkeys(session.exec(
        select(Unit.name).join(Plan, Plan.issuer_id == Unit.id).where(
            Plan.code.in_(bulletin.plan_codes))).all()))
    office = issuers[0] if len(issuers) == 1 else ""
    return DocumentHead(mark=f"{office}文件" if office else "通报", number=f"〔{today.year}〕号",
                        issued_on=today, signer=office)


# -- filters ---------------------------------------------------------------------------------


def cn_date(value: Any, year: bool = False) -> str:
    if value in (None, ""):
        return ""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    text = f"{value.month}月{value.day}日"
    return f"{value.year}年{text}" if year else text


def num(value: Decimal | int | None) -> str:
    if value is None:
        return "—"
    text = format(Decimal(value).normalize(), "f")
    return text if text != "-0" else "0"


def level_label(level: int) -> str:
    return LEVELS.get(int(level or 0), f"{level}级督办" if level else "")


# -- charts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    label: str
    y: int
    width: int
    colour: str
    text: str
    mark: int | None = None  # a planned share marker (x offset)


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    label_width: int
    scale: int
    bars: list[Bar]


def _label_width(labels: list[str]) -> int:
    longest = max((sum(2 if ord(c) > 0x2E80 else 1 for c in text) for text in labels),
                  default=8)
    return min(260, 20 + 7 * longest)


def _colour(rate: Decimal | None) -> str:
    if rate is None:
        return "#bbbbbb"
    return "#1e8449" if rate >= 90 else "#d68910" if rate >= 60 else "#c0392b"


def rate_chart(bulletin: Bulletin, *, scale: int = 420, limit: int = 30) -> Chart:
    """Horizontal bars: 按期办结率 by unit, in ranking order."""
    units = bulletin.units[:limit]
    label_width = _label_width([u.unit for u in units])
    bars = [Bar(u.unit, 8 + i * 26, int((u.rate or 0) * scale / 100), _colour(u.rate),
                f"{u.shown_rate}（{u.on_time}/{u.due}）") for i, u in enumerate(units)]
    return Chart(label_width + scale + 120, 16 + 26 * len(bars), label_width, scale, bars)


def fund_chart(status: FundStatus, *, scale: int = 360, limit: int = 30) -> Chart:
    """Horizontal bars: each line's disbursed share; a tick at its planned share."""
    lines = status.lines[:limit]
    label_width = _label_width([ln.code for ln in lines])
    bars = []
    for i, line in enumerate(lines):
        share = min(line.share, Decimal(100))
        colour = "#c0392b" if line.late else "#1e8449" if line.status == "done" else "#2e86c1"
        mark = None if line.planned_share is None else int(line.planned_share * scale / 100)
        bars.append(Bar(line.code, 8 + i * 26, int(share * scale / 100), colour,
                        f"{percent(line.share)} {wan(line.disbursed)}/{wan(line.amount)}", mark))
    return Chart(label_width + scale + 220, 16 + 26 * len(bars), label_width, scale, bars)


# -- HTML ------------------------------------------------------------------------------------


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), undefined=StrictUndefined,
                      autoescape=select_autoescape(enabled_extensions=("html",), default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(cn_date=cn_date, num=num, level_label=level_label, wan=wan,
                       pct=percent)
    return env


def render_html_body(bulletin: Bulletin) -> str:
    """The bulletin's text without a page around it (the web app's preview), escaped."""
    return _environment().get_template("bulletin_body.html").render(**_html_context(bulletin))


def _html_context(bulletin: Bulletin) -> dict[str, Any]:
    return {"b": bulletin, "chart": rate_chart(bulletin),
            "fund_charts": [fund_chart(f) for f in bulletin.funds],
            "fund_rate": "—" if bulletin.fund_rate is None else f"{bulletin.fund_rate}%",
            "generated": bulletin.generated_at.strftime("%Y-%m-%d %H:%M UTC")}


def render_html(bulletin: Bulletin) -> str:
    return _environment().get_template("bulletin.html").render(**_html_context(bulletin))


# -- Excel -----------------------------------------------------------------------------------


def _cell(value: Any) -> Any:
    """Text that a spreadsheet would take for a formula is kept as text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    if isinstance(value, Decimal):
        return float(value)
    return value


def _sheet(workbook, title: str, header: list[str], rows: list[list[Any]]):
    from openpyxl.styles import Alignment, Font, PatternFill

    sheet = workbook.create_sheet(title)
    sheet.append(header)
    for row in rows:
        sheet.append([_cell(v) for v in row])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="F0F0F0")
        cell.alignment = Alignment(vertical="center")
    sheet.freeze_panes = "A2"
    if rows:
        sheet.auto_filter.ref = sheet.dimensions
    for i, name in enumerate(header, start=1):
        values = [name] + [str(r[i - 1]) if r[i - 1] is not None else "" for r in rows]
        width = max(sum(2 if ord(c) > 0x2E80 else 1 for c in v) for v in values)
        sheet.column_dimensions[sheet.cell(1, i).column_letter].width = min(60, width + 2)
    return sheet


def render_xlsx(bulletin: Bulletin, path: Path, *, head: DocumentHead | None = None) -> Path:
    from openpyxl import Workbook
    from openpyxl.chart import BarChart, Reference
    from openpyxl.styles import Font

    workbook = Workbook()
    cover = workbook.active
    cover.title = "通报"
    cover.append([bulletin.title])
    cover["A1"].font = Font(bold=True, size=14)
    cover.append([f"统计期间：{bulletin.period.label}，统计截至{cn_date(bulletin.as_of, True)}"])
    for note in bulletin.notes:
        cover.append([safe_cell(note)])
    for key, value in (("到期任务", bulletin.total_due), ("按期办结", bulletin.on_time),
                       ("逾期办结", bulletin.late_done), ("逾期未办结", bulletin.overdue_open),
                       ("按期办结率(%)", bulletin.rate),
                       ("资金拨付率(%)", bulletin.fund_rate)):
        cover.append([key, _cell(value)])
    cover.append([])
    for line in bulletin.summary_lines()[2:]:
        cover.append([_cell(line)])
    if head is not None:
        cover.append([])
        for key, value in (("发文机关", head.signer or head.mark), ("文号", head.number),
                           ("成文日期", cn_date(head.issued_on, True))):
            cover.append([key, _cell(value)])
    cover.column_dimensions["A"].width = 24
    cover.column_dimensions["B"].width = 16

    ranking = _sheet(workbook, "按期办结率", ["排名", "单位", "到期任务", "按期办结", "逾期办结",
                                         "逾期未办结", "按期办结率(%)"],
                     [[u.rank, u.unit, u.due, u.on_time, u.late_done, u.overdue, u.rate]
                      for u in bulletin.units])
    if bulletin.units:
        chart = BarChart()
        chart.type = "bar"
        chart.title = "各单位按期办结率"
        chart.y_axis.title = "%"
        chart.y_axis.scaling.min, chart.y_axis.scaling.max = 0, 100
        last = len(bulletin.units) + 1
        chart.add_data(Reference(ranking, min_col=7, min_row=1, max_row=last),
                       titles_from_data=True)
        chart.set_categories(Reference(ranking, min_col=2, min_row=2, max_row=last))
        chart.height = max(7.5, 0.6 * len(bulletin.units))
        chart.width = 18
        ranking.add_chart(chart, "I2")
    _sheet(workbook, "表扬与点名", ["类别", "单位", "到期任务", "按期办结", "逾期办结",
                                "逾期未办结"],
           [["表扬", u.unit, u.due, u.on_time, u.late_done, u.overdue]
            for u in bulletin.praised]
           + [["点名通报", u.unit, u.due, u.on_time, u.late_done, u.overdue]
              for u in bulletin.named])
    _sheet(workbook, "逾期任务", ["方案", "编号", "任务", "牵头单位", "完成时限", "逾期天数",
                              "逾期工作日", "督办级别", "状态"],
           [[o.plan_code, o.task_code, o.title, "、".join(o.lead_units), o.due_on,
             o.days_overdue, o.workdays_overdue, level_label(o.escalation_level) or "未督办",
             o.state_label] for o in bulletin.overdue])
    _sheet(workbook, "目标完成", ["方案", "编号", "任务", "牵头单位", "目标", "计量单位",
                              "期间", "计划累计", "实际累计", "计划比例(%)", "实际比例(%)",
                              "滞后"],
           [[t.plan_code, t.task_code, t.task_title, "、".join(t.lead_units), t.target,
             t.measure, p.label, p.planned, p.actual, p.planned_share, p.actual_share,
             "滞后" if p.behind else ""] for t in bulletin.targets for p in t.points])
    fund_rows = [[f.plan_code, ln.code, ln.source_label, ln.task_code or "", ln.amount / 10000,
                  ln.disbursed / 10000, ln.balance / 10000, ln.share, ln.planned_share,
                  ln.disburse_by, ln.status_label, ln.days_behind]
                 for f in bulletin.funds for ln in f.lines]
    funds = _sheet(workbook, "资金拨付", ["方案", "资金", "来源", "用于任务", "安排(万元)",
                                      "已拨付(万元)", "余额(万元)", "拨付率(%)", "应拨比例(%)",
                                      "拨付期限", "状态", "滞后工作日"], fund_rows)
    if fund_rows:
        chart = BarChart()
        chart.type = "bar"
        chart.title = "资金拨付率"
        chart.y_axis.scaling.min, chart.y_axis.scaling.max = 0, 100
        last = len(fund_rows) + 1
        chart.add_data(Reference(funds, min_col=8, max_col=9, min_row=1, max_row=last),
                       titles_from_data=True)
        chart.set_categories(Reference(funds, min_col=2, min_row=2, max_row=last))
        chart.height = max(7.5, 0.6 * len(fund_rows))
        chart.width = 18
        funds.add_chart(chart, "N2")
    _sheet(workbook, "规则检查", ["方案", "规则", "要求", "实际", "结论", "原文"],
           [[f.plan_code, r.subject, r.requirement, r.shown_value, r.detail, r.text]
            for f in bulletin.funds for r in f.rules])
    return save_atomic(path, workbook.save)


def save_atomic(path: Path, write) -> Path:
    """Write next to the target and rename: a failure leaves no half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(temporary)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(temporary, 0o666 & ~mask)  # as an ordinary new file, not mkstemp's 0600
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


# -- PDF -------------------------------------------------------------------------------------


def find_cjk_font(configured: Path | None = None) -> Path:
    """A font file with Chinese glyphs, or a UserError saying how to get one."""
    if configured is not None:
        if not Path(configured).is_file():
            raise UserError.single(f"字体文件不存在：{configured}", field="TASKFLOW_PDF_FONT")
        return Path(configured)
    for candidate in FONT_CANDIDATES:
        if Path(candidate).is_file():
            return Path(candidate)
    if shutil.which("fc-list"):
        try:
            out = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True,
                                 text=True, timeout=10, check=False).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        for line in sorted(out.splitlines()):
            name = line.split(":")[0].strip()
            if name.lower().endswith((".ttf", ".ttc", ".otf")) and Path(name).is_file():
                return Path(name)
    raise UserError.single(NO_FONT)


def render_pdf(bulletin: Bulletin, path: Path, *, font: Path | None = None,
               head: DocumentHead | None = None) -> Path:
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    font_file = find_cjk_font(font)
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_font("cjk", "", str(font_file))
    latin = next((f for f in LATIN_FALLBACKS if Path(f).is_file()), None)
    if latin is not None:
        pdf.add_font("latin", "", latin)
        pdf.set_fallback_fonts(["latin"])
    pdf.set_title(bulletin.title)
    pdf.set_creator("taskflow")
    pdf.add_page()
    width = pdf.epw

    def heading(text: str) -> None:
        pdf.ln(3)
        pdf.set_font("cjk", size=13)
        pdf.set_text_color(178, 34, 34)
        pdf.multi_cell(width, 8, text, new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0, 0, 0)
        pdf.set_font("cjk", size=10)

    def paragraph(text: str) -> None:
        pdf.set_font("cjk", size=10)
        pdf.multi_cell(width, 6, text, new_x="LMARGIN", new_y="NEXT")

    def table(header: list[str], rows: list[list[str]], widths: list[int]) -> None:
        pdf.set_font("cjk", size=8.5)
        style = FontFace(fill_color=(240, 240, 240))
        with pdf.table(col_widths=widths, headings_style=style, line_height=5,
                       text_align="LEFT", first_row_as_headings=True) as grid:
            grid.row(header)
            for row in rows:
                grid.row([str(v) for v in row])
        pdf.set_font("cjk", size=10)

    if head is not None:
        _pdf_head(pdf, head)
    pdf.set_font("cjk", size=16)
    pdf.set_text_color(178, 34, 34)
    pdf.multi_cell(width, 10, bulletin.title, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(90, 90, 90)
    pdf.set_font("cjk", size=9)
    span = bulletin.period
    pdf.multi_cell(width, 6, f"统计期间：{span.label}（{cn_date(span.start)}至"
                             f"{cn_date(span.end)}），统计截至{cn_date(bulletin.as_of, True)}",
                   align="C", new_x="LMARGIN", new_y="NEXT")
    for note in bulletin.notes:
        pdf.multi_cell(width, 6, note, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)

    heading("一、总体情况")
    for line in bulletin.summary_lines()[1:]:
        paragraph(line)
    heading("二、各单位按期办结率排名")
    if bulletin.units:
        _pdf_bars(pdf, [(u.unit, u.rate or Decimal(0), f"{u.shown_rate}（{u.on_time}/{u.due}）",
                         _colour(u.rate)) for u in bulletin.units[:30]])
        table(["排名", "单位", "到期", "按期办结", "逾期办结", "逾期未办结", "按期办结率"],
              [[u.rank, u.unit, u.due, u.on_time, u.late_done, u.overdue, u.shown_rate]
               for u in bulletin.units], [8, 40, 10, 12, 12, 12, 14])
    else:
        paragraph("本期没有到期任务。")
    heading("三、表扬与点名通报")
    praised = "、".join(u.unit for u in bulletin.praised)
    named = "、".join(u.unit for u in bulletin.named)
    paragraph(f"表扬：{praised}，本期到期任务全部按期办结。" if praised else "表扬：本期无。")
    paragraph(f"点名通报：{named}。请相关单位认真整改。" if named else "点名通报：本期无。")
    heading("四、逾期未办结任务")
    if bulletin.overdue:
        table(["编号", "任务", "牵头单位", "完成时限", "逾期天数", "督办级别"],
              [[o.task_code, o.title, "、".join(o.lead_units), o.due_on.isoformat(),
                f"{o.days_overdue}天", level_label(o.escalation_level) or "未督办"]
               for o in bulletin.overdue[:200]], [14, 60, 36, 20, 14, 16])
    else:
        paragraph("无逾期未办结任务。")
    heading("五、目标任务完成情况")
    if bulletin.targets:
        table(["编号", "任务", "目标", "计划累计", "实际累计", "完成比例", "进度"],
              [[t.task_code, t.task_title, f"{num(t.target)}{t.measure}",
                num(t.last.planned) if t.last else "—",
                num(t.last.actual) if t.last and t.last.actual is not None else "未报送",
                f"{num(t.attainment)}%" if t.attainment is not None else "—",
                "滞后" if t.behind else "正常"] for t in bulletin.targets],
              [14, 62, 22, 18, 18, 16, 12])
    else:
        paragraph("无量化目标任务。")
    heading("六、资金拨付情况")
    if not bulletin.funds:
        paragraph("方案未安排资金。")
    for status in bulletin.funds:
        paragraph(f"{status.plan_title}：预算{wan(status.budget)}，已拨付{wan(status.disbursed)}，"
                  f"余额{wan(status.balance)}，拨付率{percent(status.share)}。")
        if status.lines:
            _pdf_bars(pdf, [(ln.code, min(ln.share, Decimal(100)), percent(ln.share),
                             "#c0392b" if ln.late else "#2e86c1") for ln in status.lines[:30]])
            table(["资金", "来源", "安排", "已拨付", "余额", "拨付率", "期限", "状态"],
                  [[ln.code, ln.source_label, wan(ln.amount), wan(ln.disbursed),
                    wan(ln.balance), percent(ln.share),
                    ln.disburse_by.isoformat() if ln.disburse_by else "—", ln.status_label]
                   for ln in status.lines], [20, 14, 22, 22, 22, 16, 20, 24])
        for rule in status.rules:
            paragraph(f"规则「{rule.subject}」{rule.requirement}：{rule.detail}")
    if head is not None:
        pdf.ln(8)
        for text in (head.signer, cn_date(head.issued_on, True)):
            if text:
                pdf.multi_cell(width - 20, 7, text, align="R", new_x="LMARGIN", new_y="NEXT")
    return save_atomic(path, pdf.output)


def _pdf_head(pdf, head: DocumentHead) -> None:
    """The 公文 版头: the office's mark in red, the 文号, a red rule."""
    pdf.set_font("cjk", size=26)
    pdf.set_text_color(224, 0, 0)
    pdf.multi_cell(pdf.epw, 14, head.mark, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    pdf.set_font("cjk", size=11)
    pdf.ln(2)
    if head.number:
        pdf.multi_cell(pdf.epw, 7, head.number, align="C", new_x="LMARGIN", new_y="NEXT")
    y = pdf.get_y() + 2
    pdf.set_draw_color(224, 0, 0)
    pdf.set_line_width(0.8)
    pdf.line(pdf.l_margin, y, pdf.l_margin + pdf.epw, y)
    pdf.set_draw_color(0, 0, 0)
    pdf.set_line_width(0.2)
    pdf.set_y(y + 5)


def _pdf_bars(pdf, bars: list[tuple[str, Decimal, str, str]]) -> None:
    label_w, scale, height = 45, 100, 5
    pdf.set_font("cjk", size=8)
    for label, value, text, colour in bars:
        if pdf.will_page_break(height + 1):
            pdf.add_page()
        x, y = pdf.l_margin, pdf.get_y()
        pdf.set_xy(x, y)
        pdf.cell(label_w - 2, height, label[:18], align="R")
        red, green, blue = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
        pdf.set_fill_color(red, green, blue)
        length = float(value) * scale / 100
        if length > 0:
            pdf.rect(x + label_w, y + 0.5, length, height - 1, style="F")
        pdf.set_xy(x + label_w + length + 2, y)
        pdf.cell(50, height, text)
        pdf.set_xy(pdf.l_margin, y + height + 1)
    pdf.set_fill_color(255, 255, 255)
    pdf.ln(2)
    pdf.set_font("cjk", size=10)


def render(bulletin: Bulletin, path: Path, *, fmt: str | None = None,
           font: Path | None = None, head: DocumentHead | None = None) -> Path:
    """Write the bulletin in ``fmt`` (default: from the file's suffix). ``head``: the 公文
    head of the Word document and the PDF (the Word document gets a plain one without)."""
    kind = (fmt or Path(path).suffix.lstrip(".")).lower()
    if kind not in FORMATS:
        raise UserError.single(f"不支持的格式「{kind}」：可选 {FORMAT_NAMES}", field="--format")
    if kind == "html":
        text = render_html(bulletin)
        return save_atomic(path, lambda name: Path(name).write_text(text, encoding="utf-8"))
    if kind == "xlsx":
        return render_xlsx(bulletin, path, head=head)
    if kind == "docx":
        from taskflow.services.bulletin_docx import render_docx

        return render_docx(bulletin, path, head=head or DocumentHead(
            mark="通报", number="", issued_on=bulletin.as_of))
    return render_pdf(bulletin, path, font=font, head=head)


def render_bytes(bulletin: Bulletin, fmt: str, *, font: Path | None = None,
                 head: DocumentHead | None = None) -> bytes:
    """The file ``render`` writes, as bytes (the web app's downloads)."""
    with tempfile.TemporaryDirectory(prefix="taskflow-bulletin-") as folder:
        return render(bulletin, Path(folder) / f"bulletin.{fmt}", fmt=fmt, font=font,
                      head=head).read_bytes()
