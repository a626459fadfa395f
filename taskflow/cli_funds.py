"""`taskflow funds ...` (资金拨付) and `taskflow bulletin` (通报).

Registered in taskflow/cli.py with ``app.add_typer(funds_app, name="funds")`` and
``app.command("bulletin")(bulletin_cmd)``. The shared helpers (error handling, --now, the
engine, the calendar) come from taskflow.cli at call time, so there is no import cycle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from taskflow import cli_common as common
from taskflow.cli_common import NowOption
from taskflow.errors import UserError

funds_app = typer.Typer(no_args_is_help=True,
                        help="Funds: record disbursements (拨付), budget and balances.")

PlanOption = Annotated[str, typer.Option("--plan", help="Plan code.")]


@funds_app.command("disburse")
def funds_disburse(
    plan: PlanOption,
    amount: Annotated[str, typer.Option("--amount", help="12.5万、12.5万元、125000 (元).")],
    on: Annotated[str, typer.Option("--on", help="Day paid, YYYY-MM-DD.")],
    line: Annotated[str | None, typer.Option("--line", help="Fund line code.")] = None,
    task: Annotated[str | None, typer.Option(
        "--task", help="Task code (its only fund line).")] = None,
    unit: Annotated[str | None, typer.Option(
        "--unit", help="Unit paid or paying (default: the task's lead unit).")] = None,
    note: Annotated[str | None, typer.Option("--note", help="Note (拨付说明).")] = None,
    tag: Annotated[list[str] | None, typer.Option(
        "--tag", help="Tag for plan rules, e.g. 到户 (repeatable).")] = None,
    actor: Annotated[str | None, typer.Option("--as", help="Who records it.")] = None,
    now: NowOption = None,
) -> None:
    """Record a disbursement (拨付) against a fund line; checked against its balance."""
    from taskflow.db import write_session
    from taskflow.domain.funds import percent, wan
    from taskflow.services.funds import record_disbursement

    with common.user_errors():
        moment = common._parse_now(now)
        with write_session(common._engine()) as session:
            result = record_disbursement(session, plan=plan, line=line, task=task,
                                         amount=amount, paid_on=on, unit=unit, note=note,
                                         tags=tag or (), actor=actor or common._actor(),
                                         now=moment)
        who = f"，{result.unit}" if result.unit else ""
        common.console.print(
            f"已登记拨付：{result.plan_code} 资金 {result.line_code} {wan(result.amount)}"
            f"（{result.paid_on}{who}）；累计 {wan(result.line_disbursed)} / "
            f"{wan(result.line_amount)}（{percent(result.line_share)}），余额 "
            f"{wan(result.line_balance)}", soft_wrap=True, highlight=False)


@funds_app.command("status")
def funds_status(plan: PlanOption, now: NowOption = None) -> None:
    """Budget by source, allocations, disbursed, balances, lagging lines, plan rules."""
    from taskflow.db import read_session
    from taskflow.domain.funds import percent, wan
    from taskflow.services.funds import fund_status

    with common.user_errors():
        moment = common._parse_now(now)
        with read_session(common._engine()) as session:
            status = fund_status(session, plan=plan, now=moment, calendar=common._calendar())
        console = common.console
        console.print(f"[bold]{status.plan_title}[/]（{status.plan_code}）资金情况，截至 "
                      f"{status.as_of}", soft_wrap=True, highlight=False)
        if not status.lines:
            console.print("方案未安排资金。")
        sources = Table("资金来源", "预算", title="预算（按来源）" + (
            "：方案未列总预算，按任务资金合计" if status.budget_from_tasks else ""))
        for source in status.sources:
            sources.add_row(source.label, wan(source.budget))
        sources.add_row("[bold]合计[/]", f"[bold]{wan(status.budget)}[/]")
        console.print(sources)
        console.print(f"已安排到任务 {wan(status.allocated)}；已拨付 {wan(status.disbursed)}；"
                      f"余额 {wan(status.balance)}；拨付率 {percent(status.share)}"
                      + (f"（其中 {wan(status.unallocated)} 所属资金已从方案中删除）"
                         if status.unallocated else ""), soft_wrap=True, highlight=False)
        lines = Table("资金", "来源", "任务", "安排", "已拨付", "余额", "拨付率", "应拨比例",
                      "拨付期限", "状态", title="资金安排与拨付")
        for item in status.lines:
            state = item.status_label + (f"（{item.days_behind}个工作日）"
                                         if item.days_behind else "")
            lines.add_row(item.code, item.source_label, item.task_code or "—", wan(item.amount),
                          wan(item.disbursed), wan(item.balance), percent(item.share),
                          percent(item.planned_share),
                          str(item.disburse_by) if item.disburse_by else "—",
                          f"[red]{state}[/]" if item.late else state)
        if status.lines:
            console.print(lines)
        late = status.late_lines
        if late:
            console.print("[red]拨付滞后：[/]" + "；".join(
                f"{item.code}（应拨 {percent(item.planned_share)}，实拨 {percent(item.share)}，"
                f"自 {item.lag_since} 起）" for item in late), soft_wrap=True, highlight=False)
        if status.rules:
            rules = Table("规则", "要求", "实际", "结论", title="方案规则检查")
            for rule in status.rules:
                verdict = rule.detail if rule.ok is None else (
                    f"[green]{rule.detail}[/]" if rule.ok else f"[red]{rule.detail}[/]")
                rules.add_row(rule.subject, rule.requirement, rule.shown_value, verdict)
            console.print(rules)


def bulletin_cmd(
    plan: PlanOption,
    period: Annotated[str, typer.Option(
        "--period", help="2025, 2025-H1, 2025-Q2, 2025-06 or 2025-W23.")],
    fmt: Annotated[str | None, typer.Option(
        "--format", help="html, xlsx, pdf or docx (default: from -o, else html).")] = None,
    output: Annotated[Path | None, typer.Option(
        "-o", "--output", help="File to write (default: <plan>-<period>.<format>).")] = None,
    now: NowOption = None,
) -> None:
    """通报: on-time completion by unit, overdue tasks, targets, funds; HTML, Excel, PDF or
    Word (a 公文 an office edits: red title line, 文号, date)."""
    from taskflow.db import read_session
    from taskflow.services.bulletin import build_bulletin
    from taskflow.services.bulletin_render import FORMAT_NAMES, FORMATS, default_head, render
    from taskflow.settings import get_settings

    with common.user_errors():
        kind = (fmt or (output.suffix.lstrip(".") if output and output.suffix else "html"))
        kind = kind.lower()
        if kind not in FORMATS:
            raise UserError.single(f"不支持的格式「{kind}」：可选 {FORMAT_NAMES}",
                                       field="--format")
        if output is not None and output.suffix and output.suffix.lstrip(".").lower() != kind:
            raise UserError.single(f"-o {output} 的扩展名与 --format {kind} 不一致",
                                       field="-o")
        moment = common._parse_now(now)
        with read_session(common._engine()) as session:
            bulletin = build_bulletin(session, plan=plan, period=period, now=moment,
                                      calendar=common._calendar())
            head = default_head(session, bulletin, today=moment.astimezone(
                get_settings().tz).date()) if kind == "docx" else None
        target = output or Path(f"{plan}-{bulletin.period.code}.{kind}")
        path = render(bulletin, target, fmt=kind, font=get_settings().pdf_font, head=head)
        for line in bulletin.summary_lines():
            common.console.print(line, soft_wrap=True, highlight=False)
        common.err_console.print(f"已写入 {path}", highlight=False, soft_wrap=True)
