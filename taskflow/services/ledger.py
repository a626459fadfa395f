"""The progress ledger (台账): an Excel workbook of a plan's tasks, and its import back.

The export writes one row per live task in tree order with its units, deadline, state, light,
target, latest progress and funds, plus a hidden ``_taskflow`` sheet that names the plan, so
`taskflow plan import` can recognise a filled-in ledger and record the changed progress
through :func:`taskflow.services.tasks.report_progress` (which writes the AuditEvents).

Columns are matched by their header text on import, never by position. A bad row (a
formula, an unknown code, a number that is not one or out of range) is reported with its
sheet row and column header, and nothing is applied when any row is bad.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from taskflow.domain.inspections import display_width, safe_cell
from taskflow.domain.labels import LIGHT_SHORT_LABELS, STATE_LABELS
from taskflow.errors import Problem, UserError
from taskflow.models import FundLine, Plan, ProgressReport, Task
from taskflow.services import queries
from taskflow.services.lights import latest_progress, lights

SHEET = "台账"
META_SHEET = "_taskflow"
BASELINE_SHEET = "_baseline"
MARKER = "taskflow-ledger"
VERSION = 1

HEADERS = ("方案", "编号", "任务", "牵头单位", "责任单位", "开始", "期限", "状态", "灯", "目标",
           "实际", "完成比例", "资金(万元)", "已拨付(万元)", "最近报送", "说明")
LIGHT_FILLS = {"red": "FF9999", "yellow": "FFE699", "green": "A9D08E"}
WAN = Decimal(10_000)
PERCENT_STEP = Decimal("0.01")
QUANTITY_STEP = Decimal("0.0001")
MONEY_STEP = Decimal("0.01")


# -- values shared by export and import ----------------------------------------------------


def _number(value: Decimal | None, step: Decimal) -> Decimal | None:
    return None if value is None else value.quantize(step)


def _cell_number(value: Decimal | None) -> int | float | None:
    if value is None:
        return None
    value = value.normalize()
    return int(value) if value == value.to_integral_value() else float(value)


@dataclass(frozen=True)
class Figures:
    """The fill-in figures of a task as the ledger shows them (percent, quantity, yuan)."""

    quantity: Decimal | None = None
    percent: Decimal | None = None
    amount: Decimal | None = None  # yuan
    note: str | None = None


def shown_figures(task: Task, report: ProgressReport | None) -> Figures:
    """What the ledger shows for a task's latest report: 实际 is the quantity for a task with
    a target and the percent otherwise; 完成比例 is derived from the quantity when needed."""
    if report is None:
        return Figures()
    percent = report.percent
    if percent is None and report.quantity is not None and task.target_value:
        percent = report.quantity * Decimal(100) / task.target_value
    quantity = report.quantity if task.target_value else percent
    return Figures(quantity=_number(quantity, QUANTITY_STEP),
                   percent=_number(percent, PERCENT_STEP),
                   amount=_number(report.amount, MONEY_STEP), note=report.note or None)


def _task_funds(funds: Sequence[FundLine]) -> dict[int, Decimal]:
    """A task's money: the plan lines that name it, else the lines its own text states (those
    are usually parts of a plan line, so the two are never added)."""
    plan_lines: dict[int, Decimal] = {}
    task_lines: dict[int, Decimal] = {}
    for line in funds:
        if line.task_id is None:
            continue
        bucket = plan_lines if line.scope == "plan" else task_lines
        bucket[line.task_id] = bucket.get(line.task_id, Decimal(0)) + line.amount
    return {tid: plan_lines.get(tid) or task_lines[tid] for tid in {*plan_lines, *task_lines}}


# -- export --------------------------------------------------------------------------------


def ledger_tasks(session: Session, plan: Plan, unit: str | None, now: datetime) -> list[Task]:
    tasks = queries.plan_tasks(session, plan)
    if unit is None:
        return tasks
    mine = {t.id for t, _ in queries.search_tasks(session, now=now, plan=plan.code, unit=unit)}
    return [t for t in tasks if t.id in mine]


def build_ledger(session: Session, *, plan_code: str, unit: str | None = None,
                 now: datetime, calendar):
    """The ledger workbook (openpyxl) of a plan, or of one unit's tasks in it."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    plan = queries.get_plan(session, plan_code)
    zone = ZoneInfo(plan.timezone)
    unit_row = queries.find_unit(session, unit) if unit else None
    tasks = ledger_tasks(session, plan, unit, now)
    ids = [t.id for t in tasks]
    colours = lights(session, tasks, now=now, calendar=calendar)
    progress = latest_progress(session, ids)
    links = queries.task_units(session, ids)
    units = queries.units_by_id(session)
    funds = _task_funds(queries.plan_funds(session, plan))

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = SHEET
    sheet.append(list(HEADERS))
    light_column = HEADERS.index("灯") + 1
    for task in tasks:
        report = progress.get(task.id)
        shown = shown_figures(task, report)
        names = {role: "、".join(units[link.unit_id].name for link in links.get(task.id, [])
                                if link.role == role) for role in ("lead", "responsible")}
        target = (f"{task.target_value.normalize():f}{task.target_unit or ''}"
                  if task.target_value is not None else None)
        latest = None
        if report is not None:
            day = report.reported_at.astimezone(zone).date().isoformat()
            latest = f"{day} {report.note}" if report.note else day
        money = funds.get(task.id)
        sheet.append([safe_cell(v) for v in (
            plan.code, task.code, task.title, names["lead"] or None,
            names["responsible"] or None, task.start_on, task.due_on,
            STATE_LABELS.get(task.state, task.state), LIGHT_SHORT_LABELS[colours[task.id]], target,
            _cell_number(shown.quantity), _cell_number(shown.percent),
            _cell_number(money / WAN if money is not None else None),
            _cell_number(shown.amount / WAN if shown.amount is not None else None),
            latest, None)])
        fill = LIGHT_FILLS.get(colours[task.id])
        if fill:
            sheet.cell(row=sheet.max_row, column=light_column).fill = PatternFill(
                "solid", fgColor=fill)
    bold = Font(bold=True)
    header_fill = PatternFill("solid", fgColor="DDEBF7")
    for cell in sheet[1]:
        cell.font, cell.fill = bold, header_fill
        cell.alignment = Alignment(horizontal="center", vertical="center")
    for row in sheet.iter_rows(min_row=2):
        for cell in row:
            if hasattr(cell.value, "isoformat"):
                cell.number_format = "yyyy-mm-dd"
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions
    for index, column in enumerate(sheet.iter_cols(min_row=1, max_row=sheet.max_row), 1):
        widest = max((display_width(_text(c.value)) for c in column if c.value is not None),
                     default=4)
        sheet.column_dimensions[get_column_letter(index)].width = min(60, widest + 2)

    baseline = workbook.create_sheet(BASELINE_SHEET)  # what the rows showed, for import
    baseline.append(["编号", "实际", "完成比例", "已拨付(万元)"])
    for task in tasks:
        shown = shown_figures(task, progress.get(task.id))
        baseline.append([safe_cell(task.code), _cell_number(shown.quantity),
                         _cell_number(shown.percent),
                         _cell_number(shown.amount / WAN if shown.amount is not None else None)])
    baseline.sheet_state = "hidden"
    meta = workbook.create_sheet(META_SHEET)
    for key, value in (("marker", MARKER), ("version", VERSION), ("plan", plan.code),
                       ("unit", unit_row.code if unit_row else None),
                       ("exported_at", now.isoformat())):
        meta.append([key, safe_cell(value)])
    meta.sheet_state = "hidden"
    return workbook


def _text(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def write_ledger(path: Path, session: Session, *, plan_code: str, unit: str | None = None,
                 now: datetime, calendar) -> tuple[Path, int]:
    workbook = build_ledger(session, plan_code=plan_code, unit=unit, now=now,
                            calendar=calendar)
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(path)
    return path, workbook[SHEET].max_row - 1


# -- import --------------------------------------------------------------------------------


def ledger_plan(path: Path) -> str | None:
    """The plan code a taskflow ledger names, or None when the file is not a ledger."""
    if path.suffix.lower() != ".xlsx" or not path.is_file():
        return None
    try:
        from openpyxl import load_workbook

        workbook = load_workbook(str(path), read_only=True)
    except Exception:  # not a workbook at all: let the document parser say so
        return None
    try:
        if META_SHEET not in workbook.sheetnames:
            return None
        meta = {row[0]: row[1] for row in workbook[META_SHEET].iter_rows(
            min_col=1, max_col=2, values_only=True) if row and row[0]}
        if meta.get("marker") != MARKER or not meta.get("plan"):
            return None
        return str(meta["plan"])
    finally:
        workbook.close()


@dataclass
class LedgerChange:
    code: str
    row: int
    figures: Figures


@dataclass
class LedgerImport:
    plan_code: str
    rows: int = 0
    changes: list[LedgerChange] = field(default_factory=list)


READ_COLUMNS = ("编号", "实际", "完成比例", "已拨付(万元)", "说明")


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise InvalidOperation
    if isinstance(value, (int, float, Decimal)):
        return Decimal(str(value))
    text = str(value).strip().rstrip("%").replace(",", "")
    return Decimal(text)


def import_ledger(session: Session, path: Path, *, actor: str, now: datetime) -> LedgerImport:
    """Record the progress a filled-in ledger changed; all rows or none."""
    from openpyxl import load_workbook

    plan_code = ledger_plan(path)
    if plan_code is None:
        raise UserError.single("不是 taskflow 导出的台账（缺少 _taskflow 工作表）", file=str(path))
    plan = queries.get_plan(session, plan_code)
    workbook = load_workbook(str(path))  # formulas kept as formulas, to refuse them
    sheet = workbook[SHEET] if SHEET in workbook.sheetnames else workbook.worksheets[0]
    file = f"{path}[{sheet.title}]"
    header = [str(c.value).strip() if c.value is not None else "" for c in sheet[1]]
    columns = {name: header.index(name) for name in READ_COLUMNS if name in header}
    if "编号" not in columns:
        raise UserError.single("缺少必需的“编号”列（任务编号）", file=file,
                               line=1, field="编号")
    baseline = _baseline(workbook)
    tasks = {t.code: t for t in queries.plan_tasks(session, plan)}
    progress = latest_progress(session, [t.id for t in tasks.values()])
    problems: list[Problem] = []
    result = LedgerImport(plan_code)
    pending: list[tuple[Task, LedgerChange]] = []
    seen: dict[str, int] = {}

    for row in sheet.iter_rows(min_row=2):
        number = row[0].row
        cells = {name: row[index] if index < len(row) else None
                 for name, index in columns.items()}
        values = {name: (c.value if c is not None else None) for name, c in cells.items()}
        if all(v is None or (isinstance(v, str) and not v.strip()) for v in values.values()):
            continue
        result.rows += 1
        bad = False
        for name, cell in cells.items():
            if cell is None or cell.value is None:
                continue
            if cell.data_type == "f" or (isinstance(cell.value, str)
                                         and cell.value.lstrip().startswith("=")):
                problems.append(Problem("不接受公式，请直接填写数值",
                                        file=file, line=number, field=name))
                bad = True
        if bad:
            continue
        code = values.get("编号")
        code = str(code).strip().lstrip("'") if code is not None else ""
        if not code:
            problems.append(Problem("缺少任务编号", file=file, line=number, field="编号"))
            continue
        task = tasks.get(code)
        if task is None:
            problems.append(Problem(f"方案 {plan.code} 中没有任务 {code}", file=file,
                                    line=number, field="编号"))
            continue
        if code in seen:
            problems.append(Problem(f"任务 {code} 已在第 {seen[code]} 行出现", file=file,
                                    line=number, field="编号"))
            continue
        seen[code] = number
        parsed: dict[str, Decimal | None] = {}
        for name, low, high in (("实际", Decimal(0), None), ("完成比例", Decimal(0),
                                                            Decimal(100)),
                                ("已拨付(万元)", Decimal(0), None)):
            raw = values.get(name)
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                parsed[name] = None
                continue
            try:
                number_value = _decimal(raw)
                if not number_value.is_finite():
                    raise InvalidOperation
            except (InvalidOperation, ValueError):
                problems.append(Problem(f"应为数字，收到 {raw!r}", file=file,
                                        line=number, field=name))
                bad = True
                continue
            if number_value < low or (high is not None and number_value > high):
                bounds = f"{low}–{high}" if high is not None else f"≥ {low}"
                problems.append(Problem(f"应为 {bounds}，收到 {number_value}", file=file,
                                        line=number, field=name))
                bad = True
                continue
            parsed[name] = number_value
        if bad:
            continue
        if task.target_value is None and parsed["实际"] is not None and parsed["实际"] > 100:
            problems.append(Problem(f"任务 {code} 没有设定目标，“实际”应为百分比（0–100），"
                                    f"收到 {parsed['实际']}", file=file, line=number,
                                    field="实际"))
            continue
        note = values.get("说明")
        note = str(note).strip() if note is not None and str(note).strip() else None
        figures = _changed(task, progress.get(task.id), parsed, note, baseline.get(code))
        if figures is not None:
            pending.append((task, LedgerChange(code, number, figures)))

    if problems:
        raise UserError(problems)
    from taskflow.services.tasks import report_progress

    for task, change in pending:
        f = change.figures
        try:
            report_progress(session, task, unit=None, actor=actor, now=now, percent=f.percent,
                            quantity=f.quantity, amount=f.amount, note=f.note)
        except UserError as exc:
            problems.extend(Problem(p.message, file=file, line=change.row, field="编号")
                            for p in exc.problems)
            continue
        result.changes.append(change)
    if problems:
        raise UserError(problems)
    return result


def _baseline(workbook) -> dict[str, Figures]:
    """The figures each row showed when the ledger was exported (quantity, percent, yuan)."""
    if BASELINE_SHEET not in workbook.sheetnames:
        return {}
    out = {}
    for row in workbook[BASELINE_SHEET].iter_rows(min_row=2, values_only=True):
        if not row or row[0] is None:
            continue
        try:
            q, p, wan = (None if v is None else _decimal(v) for v in (row[1:4] + (None,) * 3)[:3])
        except (InvalidOperation, ValueError):
            continue  # a damaged baseline row: compare with the database instead
        out[str(row[0]).lstrip("'")] = Figures(
            quantity=_number(q, QUANTITY_STEP), percent=_number(p, PERCENT_STEP),
            amount=_number(wan * WAN, MONEY_STEP) if wan is not None else None)
    return out


def _changed(task: Task, report: ProgressReport | None, parsed: dict[str, Decimal | None],
             note: str | None, base: Figures | None) -> Figures | None:
    """The cumulative figures to report when a row's cells differ from what it showed.

    A cell the user did not change (it still shows what the export showed; a blank counts
    as unchanged) keeps the latest reported value, so importing the same file twice, or a
    stale 完成比例 next to a new 实际, reports nothing of its own. For a task without a
    target 实际 is the percent too (完成比例 wins when both were changed). Nothing is
    reported when the result equals the latest report.
    """
    old = report or ProgressReport(task_id=task.id)
    shown = shown_figures(task, report)
    base = base or shown
    old_q = _number(old.quantity, QUANTITY_STEP)
    old_p = _number(old.percent, PERCENT_STEP)
    old_a = _number(old.amount, MONEY_STEP)

    def edited(cell: Decimal | None, was: Decimal | None) -> bool:
        return cell is not None and cell != was

    cell_q = _number(parsed["实际"], QUANTITY_STEP)
    cell_p = _number(parsed["完成比例"], PERCENT_STEP)
    wan = parsed["已拨付(万元)"]
    cell_a = _number(wan * WAN, MONEY_STEP) if wan is not None else None
    amount = cell_a if edited(cell_a, base.amount) else old_a
    percent = cell_p if edited(cell_p, base.percent) else old_p
    quantity = old_q
    if task.target_value:
        if edited(cell_q, base.quantity):
            quantity = cell_q
    elif not edited(cell_p, base.percent) and edited(cell_q, base.quantity):
        percent = _number(cell_q, PERCENT_STEP)
    if (quantity, percent, amount) == (old_q, old_p, old_a) and note in (None, old.note):
        return None
    return Figures(quantity=quantity, percent=percent, amount=amount, note=note)
