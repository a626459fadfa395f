"""The year-end assessment: each unit's 百分制 score in a plan (``assess``) and the Excel
score sheet (``write_score_sheet``).

The scoring rules are in ``taskflow.domain.inspections`` (pure); this module gathers the facts from
the database.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, col, select

from taskflow.domain.inspections import (
    DEFAULT_WEIGHTS,
    UnitFacts,
    UnitScore,
    display_width,
    safe_cell,
    score_units,
)
from taskflow.domain.labels import ASSESSMENT_PART_LABELS
from taskflow.domain.states import TaskState
from taskflow.models import (
    Disbursement,
    FundLine,
    InspectionFinding,
    InspectionRound,
    Plan,
    ProgressReport,
)
from taskflow.services.inspection_rounds import _links, _live_tasks, _Org, _plans
from taskflow.services.recipients import Directory


def _weights(plan: Plan) -> dict[str, Decimal]:
    if plan.assessment and plan.assessment.get("weights"):
        return {k: Decimal(str(v)) for k, v in plan.assessment["weights"].items()}
    return dict(DEFAULT_WEIGHTS)


def assess(session: Session, *, plan_code: str, now: datetime, year: int | None = None
           ) -> tuple[Plan, dict[str, Decimal], list[UnitScore]]:
    """Each unit's 百分制 score in the plan, from the facts up to ``now``.

    Tasks counted: the plan's live leaf tasks (not duties, not cancelled) due in the year by
    ``now``, for each of their lead and responsible units (a collective: each member).
    On time: done, submitted (or accepted) by the deadline as it stands (an approved
    extension counts). Target: the latest reported quantity (else percent) against the
    target. Funds: the disbursements recorded against the task (else the latest reported
    amount) against the task's fund lines.
    Inspections: checklist items passed / inspected in the year's rounds.
    """
    plan = _plans(session, plan_code)[0]
    year = year or plan.year
    org = _Org(Directory.load(session))
    tasks = _live_tasks(session, plan.id)
    parents = {t.parent_id for t in tasks if t.parent_id is not None}
    counted = [t for t in tasks if t.id not in parents and t.kind != "duty"
               and t.state != TaskState.cancelled and t.due_on is not None and t.due_on.year == year
               and t.due_at is not None and t.due_at <= now]
    ids = [t.id for t in counted]
    links = _links(session, ids)
    latest: dict[int, ProgressReport] = {}
    if ids:
        for report in session.exec(select(ProgressReport).where(
                col(ProgressReport.task_id).in_(ids), ProgressReport.reported_at <= now)
                .order_by(ProgressReport.reported_at, ProgressReport.id)).all():
            latest[report.task_id] = report
    # Disbursements recorded against the tasks (taskflow funds disburse, the plan's stated
    # payments) are the better record; a task without any falls back to its units' reports.
    paid: dict[int, Decimal] = {}
    if ids:
        today = now.astimezone(ZoneInfo(plan.timezone)).date()
        for task_id, amount in session.execute(
                select(Disbursement.task_id, func.sum(Disbursement.amount))
                .where(col(Disbursement.task_id).in_(ids), Disbursement.paid_on <= today)
                .group_by(Disbursement.task_id)).all():
            paid[task_id] = Decimal(amount)
    planned: dict[int, Decimal] = {}
    plan_lines: dict[int, Decimal] = {}
    if ids:
        for line in session.exec(select(FundLine).where(col(FundLine.task_id).in_(ids))).all():
            target = planned if line.scope == "task" else plan_lines
            target[line.task_id] = target.get(line.task_id, Decimal(0)) + line.amount
    facts: dict[int, UnitFacts] = {}

    def of(unit_id: int) -> UnitFacts:
        if unit_id not in facts:
            facts[unit_id] = UnitFacts(org.code(unit_id), org.name(unit_id))
        return facts[unit_id]

    for task in counted:
        units = org.members(link.unit_id for link in links.get(task.id, [])
                            if link.role in ("lead", "responsible"))
        report = latest.get(task.id)
        done_at = task.submitted_at or task.completed_at
        on_time = task.state == TaskState.done and done_at is not None and done_at <= task.due_at
        ratio = None
        if task.target_value:
            if report is not None and report.quantity is not None:
                ratio = report.quantity / task.target_value
            elif report is not None and report.percent is not None:
                ratio = report.percent / 100
            elif task.state == TaskState.done:
                ratio = Decimal(1)
            else:
                ratio = Decimal(0)
        money = planned.get(task.id) or plan_lines.get(task.id) or Decimal(0)
        spent = paid.get(task.id)
        if spent is None and report is not None and report.amount is not None:
            spent = report.amount
        for unit_id in units:
            unit = of(unit_id)
            unit.tasks_due += 1
            unit.tasks_on_time += on_time
            if ratio is not None:
                unit.target_ratios.append(ratio)
            if money:
                unit.funds_planned += money
                unit.funds_disbursed += spent or Decimal(0)
    rounds = [r.id for r in session.exec(select(InspectionRound).where(
        InspectionRound.plan_id == plan.id)).all()]
    if rounds:
        for finding in session.exec(select(InspectionFinding).where(
                col(InspectionFinding.round_id).in_(rounds),
                InspectionFinding.recorded_at <= now)).all():
            if finding.recorded_on.year != year or finding.result == "note":
                continue
            unit = of(finding.unit_id)
            if finding.result == "pass":
                unit.items_passed += 1
            else:
                unit.items_failed += 1
    weights = _weights(plan)
    return plan, weights, score_units(facts.values(), weights)


HEADER = ("排名", "单位", "单位编码")
DETAIL = ("到期任务", "按时办结", "目标任务数", "计划资金(元)", "已拨付(元)", "检查合格项",
          "检查不合格项")


def write_score_sheet(path: Path, *, plan: Plan, year: int, weights: dict[str, Decimal],
                      scores: list[UnitScore]) -> Path:
    """The score sheet (Excel): frozen header, ranking, widths that fit Chinese text."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    parts = [p for p in ASSESSMENT_PART_LABELS if p in weights and weights[p] > 0]
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = f"{year}年度考核"[:31]
    header = [*HEADER, *(f"{ASSESSMENT_PART_LABELS[p]}({weights[p].normalize():f})" for p in parts),
              "总分", *DETAIL]
    sheet.append(header)
    for score in scores:
        f = score.facts or UnitFacts(score.unit, score.name)
        sheet.append([safe_cell(v) for v in (
            score.rank, score.name, score.unit,
            *(float(score.points[p]) if p in score.points else None for p in parts),
            float(score.total), f.tasks_due, f.tasks_on_time, len(f.target_ratios),
            float(f.funds_planned), float(f.funds_disbursed), f.items_passed,
            f.items_failed)])
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="DDEBF7")
    for cell in sheet[1]:
        cell.font, cell.fill = bold, fill
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=False)
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions
    for index, column in enumerate(sheet.iter_cols(min_row=1, max_row=sheet.max_row), 1):
        widest = max(display_width(str(c.value)) for c in column if c.value is not None)
        sheet.column_dimensions[get_column_letter(index)].width = min(60, widest + 2)
    notes = workbook.create_sheet("说明")
    notes.append([safe_cell(f"{plan.title}（{plan.code}）{year}年度考核，百分制。")])
    notes.append(["各项得分 = 权重 × 完成率；某项无数据时，其余各项权重按比例折算为100分。"])
    notes.column_dimensions["A"].width = 80
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(path)
    return path
