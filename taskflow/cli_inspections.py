"""`taskflow inspections ...`: rounds, findings, the year-end assessment (Typer sub-app).

Registered in taskflow/cli.py with ``app.add_typer(inspections_app, name="inspections")``.
The shared helpers (error handling, --now, the engine) come from taskflow.cli at call time,
so importing this module from there makes no import cycle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from taskflow import cli_common as common
from taskflow.cli_common import NowOption
from taskflow.domain.labels import (
    ASSESSMENT_PART_LABELS,
    FINDING_RESULT_LABELS,
    ROUND_KIND_LABELS,
    label,
)

inspections_app = typer.Typer(no_args_is_help=True,
                              help="Inspections: 季度检查、半年通报、年底考核; findings and 整改.")


ActorOpt = Annotated[str | None, typer.Option("--as", help="Who records (for the audit trail).")]


@inspections_app.command("plan")
def inspections_plan(
    year: Annotated[int | None, typer.Option("--year", help="The year (default: this year).")
                    ] = None,
    plan: Annotated[str | None, typer.Option("--plan", help="One plan's code.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show, write nothing.")] = False,
    now: NowOption = None,
) -> None:
    """The inspection rounds of a year: dates, notices, scope, 抽查 sample, inspectors.

    Missing rounds are made (idempotent) and their notices written to the outbox.
    """
    from taskflow.db import write_session
    from taskflow.services.inspection_rounds import generate_rounds
    from taskflow.settings import get_settings

    with common.user_errors():
        moment = common._parse_now(now)
        the_year = year or moment.astimezone(get_settings().tz).year
        with write_session(common._engine(), dry_run=dry_run) as session:
            views = generate_rounds(session, year=the_year, calendar=common._calendar(),
                                    now=moment, plan_code=plan)
            table = Table(title=f"{the_year} 年检查安排" + ("（预览）" if dry_run else ""))
            for column in ("方案", "轮次", "类型", "名称", "日期", "通知日", "范围", "抽查",
                           "检查人员"):
                table.add_column(column)
            names = _contact_names(session)
            for view in views:
                row = view.round
                drawn = row.sample.get("drawn", {})
                sample = (f"{sum(len(v) for v in drawn.values())}/{row.sample['strata']}"
                          f" ({len(drawn)}层, seed {row.sample['seed']})" if drawn else "—")
                inspectors: dict[str, int] = {}
                for a in view.assignments:
                    name = names.get(a.inspector_contact_id, "未分配")
                    inspectors[name] = inspectors.get(name, 0) + 1
                scope = row.scope
                table.add_row(
                    view.plan.code, row.code, label(ROUND_KIND_LABELS, row.kind), row.title,
                    row.scheduled_on.isoformat(),
                    row.notice_on.isoformat() if row.notice_on else "—",
                    f"{len(scope.get('units', []))}单位 {len(scope.get('townships', []))}乡镇 "
                    f"{len(scope.get('villages', []))}村",
                    sample,
                    "、".join(f"{k}×{v}" for k, v in inspectors.items()) or "—")
        common.console.print(table)
        made = sum(v.created for v in views)
        notices = sum(v.notices for v in views)
        common.console.print(f"{len(views)} 轮，新建 {made} 轮，写入通知 {notices} 条"
                          + ("（预览，未写入）" if dry_run else ""))
        for view in views:
            if view.unassigned:
                common.err_console.print(
                    f"[yellow]warning:[/] {view.round.code}: 无可分配的检查人员（不得检查本单位）："
                    f"{'、'.join(view.unassigned)}", highlight=False)


def _contact_names(session) -> dict[int | None, str]:
    from sqlmodel import select

    from taskflow.models import Contact

    return {cid: name for cid, name in session.exec(select(Contact.id, Contact.name)).all()}


@inspections_app.command("record")
def inspections_record(
    plan: Annotated[str, typer.Argument(help="Plan code.")],
    round_ref: Annotated[str, typer.Argument(
        metavar="ROUND", help="Round: quarterly-check@2025-03-31 or quarterly-check#1.")],
    unit: Annotated[str, typer.Option("--unit", help="The inspected unit (name or code).")],
    item: Annotated[str | None, typer.Option(
        "--item", help="Checklist item, e.g. 1.1#2 (without it: show the checklist).")] = None,
    result: Annotated[str | None, typer.Option(
        "--result", help="pass / fail / note")] = None,
    note: Annotated[str | None, typer.Option("--note", help="What was found.")] = None,
    photo: Annotated[str | None, typer.Option("--photo", help="Photo path or URL.")] = None,
    actor: ActorOpt = None, now: NowOption = None,
) -> None:
    """Record a finding (a failed item makes a 整改 task); without --item, the checklist."""
    from taskflow.db import write_session
    from taskflow.errors import UserError
    from taskflow.services.inspection_findings import record_finding
    from taskflow.services.inspection_rounds import find_round, round_checklist
    from taskflow.services.queries import find_unit

    with common.user_errors():
        moment = common._parse_now(now)
        with write_session(common._engine()) as session:
            if item is None:
                the_plan, row = find_round(session, plan, round_ref)
                target = find_unit(session, unit)
                table = Table(title=f"{row.code} {target.name} 检查清单")
                table.add_column("检查项")
                table.add_column("验收标准")
                for entry in round_checklist(session, the_plan, row, target.id):
                    table.add_row(entry.key, entry.text)
                common.console.print(table)
                return
            if result is None:
                raise UserError.single("使用 --item 时必须给出 --result（pass / fail / note）")
            out = record_finding(
                session, plan_code=plan, round_ref=round_ref, unit=unit, item=item,
                result=result, note=note, photo=photo, calendar=common._calendar(), now=moment,
                actor=actor or common._actor())
            common.console.print(f"{round_ref} {unit} {item}：{FINDING_RESULT_LABELS[result]}"
                              + ("" if out.created else "（已更正）"))
            if out.rectification is not None:
                task = out.rectification
                common.console.print(f"整改任务 {task.code}：{task.title}，"
                                  f"期限 {task.due_on.isoformat() if task.due_on else '—'}")


@inspections_app.command("assess")
def inspections_assess(
    plan: Annotated[str, typer.Argument(help="Plan code.")],
    year: Annotated[int | None, typer.Option("--year", help="Default: the plan year.")] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write the score sheet (.xlsx).")] = None,
    now: NowOption = None,
) -> None:
    """年底考核: each unit's 百分制 score, ranked; the score sheet as Excel."""
    from taskflow.db import read_session
    from taskflow.errors import UserError
    from taskflow.services.assessment import assess, write_score_sheet

    with common.user_errors():
        if output is not None and output.suffix.lower() != ".xlsx":
            raise UserError.single(f"--output {output}：考核表须为 .xlsx 文件")
        moment = common._parse_now(now)
        with read_session(common._engine()) as session:
            the_plan, weights, scores = assess(session, plan_code=plan, now=moment, year=year)
        the_year = year or the_plan.year
        parts = [p for p in ASSESSMENT_PART_LABELS if weights.get(p)]
        table = Table(title=f"{the_plan.title} {the_year} 年度考核（百分制）")
        part_columns = (f"{ASSESSMENT_PART_LABELS[p]}({weights[p]:g})" for p in parts)
        for column in ("排名", "单位", *part_columns,
                       "总分"):
            table.add_column(column)
        for score in scores:
            table.add_row(str(score.rank), score.name,
                          *(f"{score.points[p]}" if p in score.points else "—" for p in parts),
                          f"{score.total}")
        common.console.print(table)
        if output is not None:
            write_score_sheet(output, plan=the_plan, year=the_year, weights=weights,
                              scores=scores)
            common.console.print(f"考核表 → {output}")
