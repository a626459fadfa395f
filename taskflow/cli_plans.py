"""`taskflow plan ...`: check, import (plan files, documents, progress ledgers), parse,
list, show (Typer sub-app).

Registered in taskflow/cli.py with ``app.add_typer(plan_app, name="plan")``.
"""

from __future__ import annotations

import sys
from datetime import datetime
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.tree import Tree

from taskflow.cli_common import (
    NowOption,
    _actor,
    _engine,
    _parse_now,
    console,
    err_console,
    user_errors,
)
from taskflow.domain.labels import FUND_SOURCE_LABELS, UNIT_ROLE_SHORT_LABELS
from taskflow.errors import UserError

plan_app = typer.Typer(no_args_is_help=True, help="Plans: check, import, list, show.")


YearOption = Annotated[int | None, typer.Option(
    help="The plan year (required for plans written 20xx; shifts dated plans).")]
PartOption = Annotated[int | None, typer.Option(
    "--part", help="Only this part (篇N) of a document that holds several plans.")]
JurisdictionOption = Annotated[str | None, typer.Option(
    "--jurisdiction", help="Unit code of the plan's government (default: inferred from the "
    "units the text names).")]


@plan_app.command("check")
def plan_check(
    files: Annotated[list[Path], typer.Argument(
        help="Plan YAML files, or plan documents (.txt .md .docx .xlsx) to parse.")],
    units: Annotated[list[Path] | None, typer.Option(
        "--units", help="Units files or directories (default: the units in the database).")
    ] = None,
    year: YearOption = None,
    part: PartOption = None,
    jurisdiction: JurisdictionOption = None,
) -> None:
    """Validate plan files; writes nothing."""
    from taskflow.db import read_session
    from taskflow.plans.loader import index_from_units_files
    from taskflow.services import intake
    from taskflow.services.units import unit_index

    with user_errors():
        if units:
            known = index_from_units_files(units)
        else:
            with read_session(_engine()) as session:
                known = unit_index(session)
        for file in files:
            reading = intake.read(intake.Source(file), units=known, year=year, part=part,
                                  jurisdiction=jurisdiction)
            for review in reading.reviews:
                _print_review(review)
            for found in reading.found:
                resolved = intake.resolve(found, units=known, year=year)
                console.print(f"{found.label}：通过 — 任务 {len(resolved.tasks)} 项，资金 "
                              f"{len(resolved.funds)} 条，检查考核 {len(resolved.inspections)}"
                              f" 项，年度 {resolved.year}", soft_wrap=True)


@plan_app.command("import")
def plan_import(
    files: Annotated[list[Path], typer.Argument(
        help="Plan YAML files, or plan documents (.txt .md .docx .xlsx) to parse.")],
    year: YearOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would change.")] = False,
    part: PartOption = None,
    jurisdiction: JurisdictionOption = None,
    now: NowOption = None,
) -> None:
    """Import plan files; re-importing updates by task code and keeps recorded progress."""
    from taskflow.db import write_session
    from taskflow.services import intake
    from taskflow.services.units import unit_index

    with user_errors():
        moment = _parse_now(now)
        engine = _engine()
        if _import_ledgers(engine, files, dry_run=dry_run, now=moment):
            return
        sources = [intake.Source(file) for file in files]
        # Plan YAML files are all read first: a mistake in any of them is said at once.
        readings = {source: intake.read(source, units=None, year=year)
                    for source in sources if source.is_yaml}
        taken = []
        # One transaction for all files: a problem in any of them writes none of them.
        with write_session(engine, dry_run=dry_run) as session:
            for source in sources:
                if source not in readings:  # a document, checked against the known units
                    readings[source] = intake.read(source, units=unit_index(session),
                                                   year=year, part=part,
                                                   jurisdiction=jurisdiction)
                    for review in readings[source].reviews:
                        _print_review(review)
            for source in dict.fromkeys(sources):
                for item in intake.take_in(session, reading=readings[source], year=year,
                                           actor=_actor(), now=moment):
                    if dry_run and item.found.review is not None:
                        _print_outline(item, unit_index(session))
                    taken.append(item)
        for item in taken:
            _print_import(item, dry_run)


def _import_ledgers(engine, files: list[Path], *, dry_run: bool, now: datetime) -> bool:
    """Progress ledgers (台账) given to `plan import`: record their changed progress."""
    from taskflow.db import write_session
    from taskflow.services.ledger import import_ledger, ledger_plan

    ledgers = [f for f in files if ledger_plan(f) is not None]
    if not ledgers:
        return False
    if len(ledgers) != len(files):
        raise UserError.single("台账和方案文件请分开导入")
    results = []
    with write_session(engine, dry_run=dry_run) as session:
        for file in ledgers:
            results.append((file, import_ledger(session, file, actor=_actor(), now=now)))
    prefix = "[yellow]（试运行）[/]" if dry_run else ""
    for file, result in results:
        console.print(f"{prefix}{file}：方案 {result.plan_code} 的台账 — {result.rows} 行，"
                      f"进度报送 {len(result.changes)} 条", soft_wrap=True)
        for change in result.changes:
            console.print(f"  [green]~ {change.code}[/]（第 {change.row} 行）", soft_wrap=True)
    return True


def _print_review(review) -> None:
    err_console.print(review.format(), markup=False, highlight=False, soft_wrap=True)


def _print_outline(item, units) -> None:
    """The tree a document resolved to, for a dry run."""
    from taskflow.services import intake

    resolved = item.resolved
    names = intake.unit_names(units, resolved)
    tree = Tree(f"[bold]{resolved.code}[/] {resolved.title} [dim]({resolved.year}, "
                f"{names.get(resolved.jurisdiction_code, resolved.jurisdiction_code)})[/]")
    branches: list[Tree] = [tree]
    for row in intake.outline(resolved.tasks, names):
        del branches[row.depth + 1:]
        if row.kind == "milestone":
            branches.append(branches[-1].add(f"[dim]◆ {row.due_on or ''} {row.title}[/]"))
            continue
        facts = [f"牵头 {'、'.join(row.lead)}" if row.lead else "",
                 f"限 {row.due_on}" if row.due_on else "",
                 f"周期 {row.recurrence}" if row.recurrence else ""]
        facts = [f for f in facts if f]
        label = f"[cyan]{row.code}[/] {row.title}"
        branches.append(branches[-1].add(label + (f" [dim]{' · '.join(facts)}[/]"
                                                  if facts else "")))
    console.print(tree)


@plan_app.command("parse")
def plan_parse(
    file: Annotated[Path, typer.Argument(help="A plan document: .txt .md .docx .xlsx.")],
    year: YearOption = None,
    output: Annotated[Path | None, typer.Option(
        "-o", "--output", help="Write here: a .yaml file (one plan) or a directory (one "
        "<code>.yaml per plan). Default: YAML on stdout.")] = None,
    part: PartOption = None,
    jurisdiction: JurisdictionOption = None,
    units: Annotated[list[Path] | None, typer.Option(
        "--units", help="Units files or directories to check unit names against (default: "
        "the units in the database, when there is one).")] = None,
) -> None:
    """Parse a plan document into plan YAML; the review report goes to stderr."""
    from taskflow.parsing import parse_file

    with user_errors():
        index = _parsing_units(units)
        result = parse_file(file, year=year, units=index, jurisdiction=jurisdiction)
        chosen = [result.part(part)] if part is not None else result.plans
        for parsed in chosen:
            _print_review(parsed.review)
        plans = [p for p in chosen if p.plan is not None]
        if not plans:
            raise UserError.single("没有找到任务，未写入任何文件", file=str(file))
        if output is None:
            sys.stdout.write("---\n".join(p.to_yaml() for p in plans))
            return
        if output.suffix.lower() in (".yaml", ".yml"):
            if len(plans) > 1:
                numbers = ", ".join(str(p.part) for p in plans)
                raise UserError.single(f"文档包含 {len(plans)} 个方案（篇 {numbers}）：请用 "
                                       "--part N 选择其一，或用 -o DIR 每个方案写一个文件",
                                       file=str(file))
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(plans[0].to_yaml(), encoding="utf-8")
            err_console.print(f"已写入 {output}", highlight=False)
            return
        output.mkdir(parents=True, exist_ok=True)
        for parsed in plans:
            target = output / f"{parsed.plan['code']}.yaml"  # type: ignore[index]
            target.write_text(parsed.to_yaml(), encoding="utf-8")
            err_console.print(f"已写入 {target}", highlight=False)


def _parsing_units(paths: list[Path] | None):
    """The unit directory for parsing: the files given, else the database's if it exists."""
    from taskflow.plans.loader import index_from_units_files

    if paths:
        return index_from_units_files(paths)
    from taskflow.db import read_session
    from taskflow.services.units import unit_index
    from taskflow.settings import get_settings

    url = get_settings().database_url_resolved
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return None  # no database yet: parse without checking units (never create one)
    try:
        with read_session(_engine()) as session:
            return unit_index(session)
    except Exception:  # no usable database: units are then not checked
        return None


def _print_import(item, dry_run: bool) -> None:
    from taskflow.domain.labels import PLAN_FIELD_LABELS, TASK_FIELD_LABELS

    print_ = partial(console.print, soft_wrap=True)  # one line per plan, for scripts and grep
    report, file = item.report, item.found.label
    prefix = "[yellow]（试运行）[/]" if dry_run else ""
    shift = (f"（日期平移 {report.year_shift:+d} 年）" if report.year_shift else "")
    if item.match is not None and item.match.by == "title":
        print_(f"{prefix}{file}：与已有方案 {item.match.code}「{item.match.title}」"
               f"{item.match.reason}，按该方案更新")
    if item.renamed:
        print_(f"{prefix}{file}：已有方案标题为「{item.retitled_from}」，本方案标题定为"
               f"「{item.resolved.title}」以示区别")
    if report.noop:
        print_(f"{prefix}{file}：方案 {report.plan_code} 无变化，无需导入")
        return
    if report.created:
        print_(f"{prefix}{file}：方案 {report.plan_code} 已导入 — "
               f"任务 {len(report.added)} 项，年度 {report.year}{shift}")
        return
    print_(f"{prefix}{file}：方案 {report.plan_code} 已更新 — 新增 {len(report.added)}，"
           f"变更 {len(report.changed)}，移除 {len(report.removed)}，"
           f"恢复 {len(report.restored)}{shift}")
    for code in report.added:
        print_(f"  [green]+ {code}[/]")
    for code, fields in report.changed.items():
        print_(f"  [yellow]~ {code}[/]（{'、'.join(TASK_FIELD_LABELS[f] for f in fields)}）")
    for code in report.removed:
        print_(f"  [red]- {code}[/]（已归档，报送记录保留）")
    for code in report.restored:
        print_(f"  [green]↺ {code}[/]（已恢复）")
    for name in report.plan_changed:
        print_(f"  [yellow]~ 方案{PLAN_FIELD_LABELS[name]}[/]")
    for change in report.other_changes:
        print_(f"  [yellow]~ {change}[/]")


def _wan(amount: Decimal) -> str:
    """Money as Chinese offices write it: 2490.96万元, 4.36亿元."""
    if amount >= 100_000_000:
        return f"{(amount / Decimal(100_000_000)).normalize():f}亿元"
    return f"{(amount / Decimal(10_000)).normalize():f}万元"


@plan_app.command("list")
def plan_list(now: NowOption = None) -> None:
    """List plans with task counts, overdue tasks and funds."""
    from taskflow.db import read_session
    from taskflow.services import queries

    with user_errors():
        moment = _parse_now(now)
        with read_session(_engine()) as session:
            rows = queries.plan_summaries(session, now=moment)
        if not rows:
            console.print("尚无方案：请运行 taskflow plan import FILE（或 taskflow init）")
            return
        table = Table("code", "方案", "年度", "任务", "未办结", "逾期", "预算")
        for row in rows:
            table.add_row(row.plan.code, row.plan.title, str(row.plan.year), str(row.tasks),
                          str(row.open), f"[red]{row.overdue}[/]" if row.overdue else "0",
                          _wan(row.funds) if row.funds else "")
        console.print(table)


@plan_app.command("show")
def plan_show(plan: Annotated[str, typer.Argument(help="Plan code.")],
              depth: Annotated[int | None, typer.Option(help="Levels of the tree to show.")]
              = None) -> None:
    """Show a plan's task tree: codes, units, deadlines, targets, funds."""
    from taskflow.db import read_session
    from taskflow.services import queries

    with user_errors(), read_session(_engine()) as session:
        row = queries.get_plan(session, plan)
        tasks = queries.plan_tasks(session, row)
        links = queries.task_units(session, [t.id for t in tasks])
        units = queries.units_by_id(session)
        funds = queries.plan_funds(session, row)
        inspections = queries.plan_inspections(session, row)
        shifted = (f", 原文 {row.source_year} 年" if row.source_year and row.source_year != row.year
                   else "")
        tree = Tree(f"[bold]{row.title}[/] [dim]{row.code} · {row.year} 年{shifted}[/]")
        funds_by_task: dict[int | None, list] = {}
        for fund in funds:
            funds_by_task.setdefault(fund.task_id, []).append(fund)
        nodes: dict[int, Tree] = {}
        levels: dict[int, int] = {}
        for task in tasks:
            level = levels.get(task.parent_id, 0) + 1 if task.parent_id else 1
            levels[task.id] = level
            if depth is not None and level > depth:
                continue
            parent = nodes.get(task.parent_id, tree) if task.parent_id else tree
            label = f"[cyan]{task.code}[/] [bold]{task.title}[/]"
            if task.kind != "task":
                label += f" [dim]({task.kind})[/]"
            parts = []
            for link in links.get(task.id, []):
                parts.append(f"{UNIT_ROLE_SHORT_LABELS[link.role]}:{units[link.unit_id].name}")
            if task.start_on:
                parts.append(f"起 {task.start_on}")
            if task.due_on:
                parts.append(f"[magenta]限 {task.due_on}[/]")
            if task.recurrence:
                parts.append(f"周期 {task.recurrence}")
            if task.target_value is not None:
                parts.append(f"目标 {task.target_value.normalize():f} {task.target_unit}")
            for fund in funds_by_task.get(task.id, []):
                parts.append(f"资金 {FUND_SOURCE_LABELS[fund.source]} {_wan(fund.amount)}")
            if parts:
                label += "\n" + " · ".join(parts)
            nodes[task.id] = parent.add(label)
        if funds_by_task.get(None):
            branch = tree.add("[bold]资金[/]")
            for fund in funds_by_task[None]:
                branch.add(f"{FUND_SOURCE_LABELS[fund.source]} {_wan(fund.amount)} "
                           f"{fund.note or ''}")
        if inspections:
            branch = tree.add("[bold]检查考核[/]")
            for item in inspections:
                when = item.due_on.isoformat() if item.due_on else item.recurrence
                branch.add(f"{item.title} [dim]({item.kind}, {when})[/]")
        console.print(tree)
