"""The taskflow command line (Typer + Rich).

A user's mistake (bad file, unknown plan, bad option) ends in one line per problem on stderr
and exit code 2, never a traceback.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import partial, wraps
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from notifications import cli as notify_cli
from notifications.templates import KIND_LABELS as MESSAGE_KIND_LABELS
from taskflow.cli_funds import bulletin_cmd, funds_app
from taskflow.cli_inspections import inspections_app
from taskflow.cli_users import user_app
from taskflow.errors import UserError
from taskflow.rules import STATE_LABELS
from workflows import cli as workflow_cli

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="taskflow: 扶贫专项实施方案 → 任务、期限、提醒、督办。")
plan_app = typer.Typer(no_args_is_help=True, help="Plans: check, import, list, show.")
db_app = typer.Typer(no_args_is_help=True, help="Database: migrations.")
units_app = typer.Typer(invoke_without_command=True,
                        help="The unit hierarchy and contacts; `units import` loads units files.")
app.add_typer(plan_app, name="plan")
app.add_typer(db_app, name="db")
app.add_typer(units_app, name="units")
task_app = typer.Typer(no_args_is_help=True,
                       help="Act on a task: 签收、报送、提交、验收、退回、延期、撤销.")
calendar_app = typer.Typer(no_args_is_help=True, help="Working-day calendar: holiday files.")
app.add_typer(task_app, name="task")
app.add_typer(calendar_app, name="calendar")
app.add_typer(inspections_app, name="inspections")
app.add_typer(funds_app, name="funds")
app.command("bulletin")(bulletin_cmd)
app.add_typer(user_app, name="user")
export_app = typer.Typer(no_args_is_help=True, help="Export: the progress ledger (台账), .ics.")
app.add_typer(export_app, name="export")

console = Console()
err_console = Console(stderr=True)

ROLE_LABELS = {"lead": "牵头", "responsible": "责任", "cooperating": "配合"}
SOURCE_LABELS = {"central": "中央", "provincial": "省级", "municipal": "市级", "county": "县(区)级",
                 "township": "乡镇", "government": "财政", "social": "社会", "other": "其他"}


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _parse_now(value: str | None) -> datetime:
    """--now accepts an ISO date or datetime; without a zone it is in the configured zone."""
    from taskflow.instants import parse_now
    from taskflow.settings import get_settings

    return parse_now(value, get_settings().tz)


NowOption = Annotated[str | None, typer.Option(
    "--now", help="Pretend it is this instant (ISO date/datetime; default: now).")]


@contextmanager
def user_errors() -> Iterator[None]:
    try:
        yield
    except UserError as exc:
        for problem in exc.problems:
            err_console.print(f"[bold red]error:[/] {problem}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


def _engine(upgrade: bool = True):
    from taskflow.db import make_engine
    from taskflow.migrate import open_current
    from taskflow.settings import get_settings

    url = get_settings().database_url_resolved
    return open_current(url) if upgrade else make_engine(url)


def _calendar():
    from taskflow.calendar import WorkCalendar
    from taskflow.settings import get_settings

    return WorkCalendar.load(get_settings().holidays_dir)


def _seed_dir() -> Path:
    """seed_plans/ of a source checkout, else the copy packaged into the wheel."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "seed_plans", here / "seed_plans"):
        if (candidate / "org").is_dir():
            return candidate
    raise UserError.single("找不到种子方案（源码目录和安装包中都没有）")


# -- db -----------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Run the Alembic migrations up to the current schema."""
    from taskflow.migrate import current_revision, head_revision, upgrade

    with user_errors():
        engine = _engine(upgrade=False)
        before = current_revision(engine)
        upgrade(engine)
        url = engine.url.render_as_string(hide_password=True)
        if before == head_revision():
            console.print(f"数据库已是最新版本 {before}：{url}")
        else:
            console.print(f"数据库已升级 {before or '（空）'} → {head_revision()}：{url}")


@db_app.command("current")
def db_current() -> None:
    """Show the database's schema revision."""
    from taskflow.migrate import current_revision, head_revision

    with user_errors():
        engine = _engine(upgrade=False)
        console.print(f"{current_revision(engine) or '（空）'}（最新版本：{head_revision()}）")


# -- init -----------------------------------------------------------------------------------


@app.command("init")
def init(
    seed: Annotated[bool, typer.Option("--seed/--no-seed",
                                       help="Import the org chart and the eight seed plans.")
                    ] = True,
    year: Annotated[int | None, typer.Option(help="Year for the seed plans (default: this year).")
                    ] = None,
) -> None:
    """Create or upgrade the database in the data directory and import the seed plans."""
    from taskflow.settings import get_settings

    with user_errors():
        settings = get_settings()
        settings.resolved_secret_key()  # generated once, owner-only, at first start
        db_upgrade()
        if seed:
            seed_dir = _seed_dir()
            units_import([seed_dir / "org"])
            plan_import(sorted(seed_dir.glob("p*.yaml")),
                        year=year or datetime.now(settings.tz).year)
        _first_admin(settings)
        console.print(f"数据目录：{settings.data_dir}")


def _first_admin(settings) -> None:
    """A fresh database gets one administrator, so that the web app can be signed in to.

    Its random password is printed once and kept in <data dir>/initial_admin_password
    (owner-only) until changed with `taskflow user passwd admin`.
    """
    import secrets

    from sqlalchemy import func, select

    from taskflow.db import write_session
    from taskflow.models import User
    from taskflow.services.users import add_user, grant

    with write_session(_engine()) as session:
        if session.scalar(select(func.count()).select_from(User)):
            return
        password = secrets.token_urlsafe(12)
        now = datetime.now(UTC)
        user = add_user(session, username="admin", display_name="管理员", password=password,
                        actor=_actor(), now=now)
        grant(session, user=user, role="admin", actor=_actor(), now=now)
    path = settings.data_dir / "initial_admin_password"
    path.touch(mode=0o600)
    path.write_text(password + "\n", encoding="utf-8")
    console.print(f"网页端管理员：admin / {password}（另存于 {path}；修改密码："
                  "taskflow user passwd admin）", highlight=False)


# -- units ----------------------------------------------------------------------------------


@units_app.callback()
def units_show(ctx: typer.Context,
               contacts: Annotated[bool, typer.Option("--contacts/--no-contacts")] = True,
               root: Annotated[str | None, typer.Option(help="Show only below this unit.")]
               = None) -> None:
    """Show the unit hierarchy with contacts."""
    if ctx.invoked_subcommand is not None:
        return
    from taskflow.db import read_session
    from taskflow.services import queries

    with user_errors():
        engine = _engine()
        with read_session(engine) as session:
            units = queries.units_by_id(session)
            by_contact = queries.contacts_by_unit(session) if contacts else {}
            children: dict[int | None, list] = {}
            for unit in sorted(units.values(), key=lambda u: u.code):
                children.setdefault(unit.parent_id, []).append(unit)
            start = [queries.find_unit(session, root)] if root else children.get(None, [])
        if not start:
            console.print("尚无单位：请运行 taskflow units import FILE（或 taskflow init）")
            return
        tree = Tree("[bold]单位[/]")

        def add(node: Tree, unit) -> None:
            label = f"[bold]{unit.name}[/] [dim]{unit.code} · {unit.kind}[/]"
            if unit.aliases:
                label += f" [dim](又称 {'、'.join(unit.aliases)})[/]"
            branch = node.add(label)
            for c in by_contact.get(unit.id, []):
                reach = " ".join(x for x in (c.email, c.mobile) if x)
                branch.add(f"[green]{c.name}[/] {c.title or ''} [dim]{c.role}[/] {reach}")
            for child in children.get(unit.id, []):
                add(branch, child)

        for unit in start:
            add(tree, unit)
        console.print(tree)


@units_app.command("import")
def units_import(paths: Annotated[list[Path], typer.Argument(
        help="Units files or directories of them.")]) -> None:
    """Import units files (upsert by code)."""
    from taskflow.db import write_session
    from taskflow.plans.units import read_units_files
    from taskflow.services.units import import_units

    with user_errors():
        flat = read_units_files(paths)
        engine = _engine()
        with write_session(engine) as session:
            report = import_units(session, flat, actor=_actor(), now=datetime.now(UTC))
        if report.noop:
            console.print(f"单位：共 {len(flat)} 个，无变化")
        else:
            console.print(f"单位：新增 {len(report.added)}，变更 {len(report.changed)}，"
                          f"未变 {report.unchanged}；联系人新增 {report.contacts_added}，"
                          f"变更 {report.contacts_changed}，"
                          f"停用 {report.contacts_deactivated}")


# -- plan -----------------------------------------------------------------------------------


YearOption = Annotated[int | None, typer.Option(
    help="The plan year (required for plans written 20xx; shifts dated plans).")]


@plan_app.command("check")
def plan_check(
    files: Annotated[list[Path], typer.Argument(help="Plan YAML files.")],
    units: Annotated[list[Path] | None, typer.Option(
        "--units", help="Units files or directories (default: the units in the database).")
    ] = None,
    year: YearOption = None,
) -> None:
    """Validate plan files; writes nothing."""
    from taskflow.db import read_session
    from taskflow.plans.loader import index_from_units_files, resolve_plan_file
    from taskflow.services.units import unit_index

    with user_errors():
        if units:
            known = index_from_units_files(units)
        else:
            with read_session(_engine()) as session:
                known = unit_index(session)
        for file in files:
            # a fresh directory per file: a plan's own units: must not leak into the next one
            resolved = resolve_plan_file(file, known.copy(), year=year)
            console.print(f"{file}：通过 — 任务 {len(resolved.tasks)} 项，资金 "
                          f"{len(resolved.funds)} 条，检查考核 {len(resolved.inspections)} 项，"
                          f"年度 {resolved.year}")


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
    from taskflow.plans.expand import expand
    from taskflow.plans.loader import read_plan_file
    from taskflow.services.plans import import_plan
    from taskflow.services.units import unit_index

    with user_errors():
        moment = _parse_now(now)
        engine = _engine()
        if _import_ledgers(engine, files, dry_run=dry_run, now=moment):
            return
        documents = [f for f in files if f.suffix.lower() not in (".yaml", ".yml")]
        # all files valid first
        parsed = [(file, *read_plan_file(file)) for file in files if file not in documents]
        reports = []
        # One transaction for all files: a problem in any of them writes none of them.
        with write_session(engine, dry_run=dry_run) as session:
            for file in documents:
                parsed.extend(_parsed_documents(file, year=year, part=part,
                                                jurisdiction=jurisdiction,
                                                units=unit_index(session), dry_run=dry_run))
            for file, plan_file, located in parsed:
                resolved = expand(plan_file, located, unit_index(session), year=year)
                reports.append((file, import_plan(session, resolved, actor=_actor(),
                                                  now=moment,
                                                  source_file=str(file))))
        for file, report in reports:
            _print_import(file, report, dry_run)


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


PartOption = Annotated[int | None, typer.Option(
    "--part", help="Only this part (篇N) of a document that holds several plans.")]
JurisdictionOption = Annotated[str | None, typer.Option(
    "--jurisdiction", help="Unit code of the plan's government (default: inferred from the "
    "units the text names).")]


def _parsed_documents(file: Path, *, year: int | None, part: int | None,
                      jurisdiction: str | None, units, dry_run: bool) -> list[tuple]:
    """Parse a plan document for `plan import`: (label, PlanFile, Located) per plan found."""
    from taskflow.parsing import dump_plan, parse_file
    from taskflow.plans.schema import PlanFile
    from taskflow.plans.yamlio import load_located, validate

    result = parse_file(file, year=year, units=units, jurisdiction=jurisdiction)
    chosen = [result.part(part)] if part is not None else result.found
    out = []
    for parsed in chosen:
        _print_review(parsed.review)
        if parsed.plan is None:
            continue
        if dry_run:
            _print_parsed_tree(parsed.plan)
        label = f"{file}" + (f" (篇{parsed.part})" if parsed.part is not None else "")
        located = load_located(dump_plan(parsed.plan), label)
        out.append((Path(label), validate(PlanFile, located), located))
    if not out:
        raise UserError.single("文档中没有找到方案", file=str(file))
    return out


def _print_review(review) -> None:
    err_console.print(review.format(), markup=False, highlight=False, soft_wrap=True)


def _print_parsed_tree(plan: dict) -> None:
    tree = Tree(f"[bold]{plan['code']}[/] {plan['title']} [dim]({plan['year']}, "
                f"{plan['jurisdiction']})[/]")

    def add(node: Tree, task: dict) -> None:
        facts = [f"牵头 {'、'.join(task['lead'])}" if task.get("lead") else "",
                 f"限 {task['due']}" if task.get("due") else "",
                 f"周期 {task['recurrence']}" if task.get("recurrence") else ""]
        label = f"[cyan]{task['code']}[/] {task['title']}"
        facts = [f for f in facts if f]
        branch = node.add(label + (f" [dim]{' · '.join(facts)}[/]" if facts else ""))
        for ms in task.get("milestones", []):
            branch.add(f"[dim]◆ {ms['due']} {ms['title']}[/]")
        for child in task.get("children", []):
            add(branch, child)

    for task in plan["tasks"]:
        add(tree, task)
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


def _print_import(file: Path, report, dry_run: bool) -> None:
    print_ = partial(console.print, soft_wrap=True)  # one line per plan, for scripts and grep
    prefix = "[yellow]（试运行）[/]" if dry_run else ""
    shift = (f"（日期平移 {report.year_shift:+d} 年）" if report.year_shift else "")
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
        print_(f"  [yellow]~ {code}[/]（{'、'.join(fields)}）")
    for code in report.removed:
        print_(f"  [red]- {code}[/]（已归档，报送记录保留）")
    for code in report.restored:
        print_(f"  [green]↺ {code}[/]（已恢复）")
    for item in report.plan_changed:
        print_(f"  [yellow]~ 方案 {item}[/]")
    for item in report.other_changes:
        print_(f"  [yellow]~ {item}[/]")


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
                parts.append(f"{ROLE_LABELS[link.role]}:{units[link.unit_id].name}")
            if task.start_on:
                parts.append(f"起 {task.start_on}")
            if task.due_on:
                parts.append(f"[magenta]限 {task.due_on}[/]")
            if task.recurrence:
                parts.append(f"周期 {task.recurrence}")
            if task.target_value is not None:
                parts.append(f"目标 {task.target_value.normalize():f} {task.target_unit}")
            for fund in funds_by_task.get(task.id, []):
                parts.append(f"资金 {SOURCE_LABELS[fund.source]} {_wan(fund.amount)}")
            if parts:
                label += "\n" + " · ".join(parts)
            nodes[task.id] = parent.add(label)
        if funds_by_task.get(None):
            branch = tree.add("[bold]资金[/]")
            for fund in funds_by_task[None]:
                branch.add(f"{SOURCE_LABELS[fund.source]} {_wan(fund.amount)} {fund.note or ''}")
        if inspections:
            branch = tree.add("[bold]检查考核[/]")
            for item in inspections:
                when = item.due_on.isoformat() if item.due_on else item.recurrence
                branch.add(f"{item.title} [dim]({item.kind}, {when})[/]")
        console.print(tree)


# -- tasks ----------------------------------------------------------------------------------


def _parse_date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UserError.single(f"{option} {value!r} 不是有效日期（格式 YYYY-MM-DD）") from None


@app.command("tasks")
def tasks_cmd(
    plan: Annotated[str | None, typer.Option(help="Plan code.")] = None,
    unit: Annotated[str | None, typer.Option(help="Unit name, alias or code.")] = None,
    state: Annotated[str | None, typer.Option(help="Task state.")] = None,
    due_before: Annotated[str | None, typer.Option("--due-before", help="YYYY-MM-DD")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Open and past the deadline.")]
    = False,
    light: Annotated[str | None, typer.Option(help="red, yellow or green (红黄绿灯).")] = None,
    limit: Annotated[int | None, typer.Option(help="Show at most this many.")] = None,
    now: NowOption = None,
) -> None:
    """List tasks, soonest deadline first, with their lights."""
    from taskflow.db import read_session
    from taskflow.services import queries
    from taskflow.services.lights import LIGHT_LABELS, lights

    with user_errors():
        moment = _parse_now(now)
        before = _parse_date(due_before, "--due-before")
        if light is not None and light not in ("red", "yellow", "green"):
            raise UserError.single(f"--light {light!r} 无效：应为 red、yellow 或 green")
        with read_session(_engine()) as session:
            rows = queries.search_tasks(session, now=moment, plan=plan, unit=unit, state=state,
                                        due_before=before, overdue=overdue,
                                        limit=None if light else limit)
            colours = lights(session, [t for t, _ in rows], now=moment, calendar=_calendar())
            if light is not None:
                rows = [(t, p) for t, p in rows if colours[t.id] == light][:limit]
            links = queries.task_units(session, [t.id for t, _ in rows])
            units = queries.units_by_id(session)
        table = Table("灯", "方案", "code", "任务", "牵头单位", "期限", "状态")
        styles = {"red": "bold red", "yellow": "bold yellow", "green": "green", "none": "dim"}
        for task, plan_row in rows:
            leads = [units[link.unit_id].name for link in links.get(task.id, [])
                     if link.role == "lead"]
            late = task.due_at is not None and task.due_at <= moment and task.state not in (
                "done", "cancelled")
            due = str(task.due_on or "")
            colour = colours[task.id]
            table.add_row(f"[{styles[colour]}]●{LIGHT_LABELS[colour]}[/]", plan_row.code,
                          task.code, task.title, "、".join(leads),
                          f"[red]{due}[/]" if late else due, STATE_LABELS.get(task.state,
                                                                              task.state))
        console.print(table)
        console.print(f"共 {len(rows)} 项任务")


# -- engine ---------------------------------------------------------------------------------


@app.command("sweep")
def sweep_cmd(now: NowOption = None,
              plan: Annotated[list[str] | None, typer.Option(help="Only these plans.")] = None
              ) -> None:
    """Run one sweep: activate, remind, chase, escalate; messages go to the outbox."""
    from taskflow.db import read_session
    from taskflow.services import queries
    from taskflow.services.sweep import sweep

    with user_errors():
        engine = _engine()
        plan_ids = None
        if plan:
            with read_session(engine) as session:
                plan_ids = [queries.get_plan(session, code).id for code in plan]
        report = sweep(engine, now=_parse_now(now), calendar=_calendar(), plan_ids=plan_ids)
        _print_sweep(report)


def _print_sweep(report) -> None:
    kinds = "，".join(f"{KIND_LABELS.get(k, k)} {n}" for k, n in sorted(report.messages.items()))
    levels = "，".join(f"{level}级 {n}" for level, n in sorted(report.escalations.items()))
    console.print(f"到期处理：{report.tasks} 项任务，启动 {report.activated}，"
                  f"消息 {sum(report.messages.values())}（{kinds or '无'}），"
                  f"督办 {levels or '无'}，周期任务生成 {report.occurrences}", soft_wrap=True)
    if report.unreachable:
        console.print(f"[yellow]{report.unreachable} 条提醒找不到联系人[/]"
                      "（taskflow units 查看通讯录）")
    for task_id, code, error in report.errors:
        err_console.print(f"[red]任务 {code} (#{task_id}) 规则出错，已推迟 1 小时：{error}[/]")


# The messages' names (notifications.templates), a few shorter for one-line summaries, and
# the sweep's count of fund reminders with an escalation level.
KIND_LABELS = {**MESSAGE_KIND_LABELS, "assigned": "交办", "ack_chase": "催签收",
               "due_today": "当日到期", "fund_escalation": "资金督办"}

TaskRef = Annotated[str, typer.Argument(help="Plan code.")]
CodeRef = Annotated[str, typer.Argument(help="Task code, e.g. 4.2")]
UnitOpt = Annotated[str | None, typer.Option("--unit", help="The acting unit (name or code).")]
ReasonOpt = Annotated[str, typer.Option("--reason", help="Why (required).")]
ActorOpt = Annotated[str | None, typer.Option("--as", help="Who acts (for the audit trail).")]


@contextmanager
def _task_action(plan: str, code: str, now: str | None) -> Iterator[tuple]:
    from taskflow.db import write_session
    from taskflow.services.tasks import find_task

    with user_errors():
        moment = _parse_now(now)
        with write_session(_engine()) as session:
            task = find_task(session, plan, code)
            yield session, task, moment
        console.print(f"{plan} {code}：{STATE_LABELS.get(task.state, task.state)}")


@task_app.command("ack")
def task_ack(plan: TaskRef, code: CodeRef, unit: UnitOpt = None, actor: ActorOpt = None,
             now: NowOption = None) -> None:
    """签收 a task for a unit."""
    from taskflow.services import tasks

    with _task_action(plan, code, now) as (session, task, moment):
        tasks.acknowledge(session, task, unit=unit, actor=actor or _actor(), now=moment)


@task_app.command("report")
def task_report(plan: TaskRef, code: CodeRef, unit: UnitOpt = None,
                percent: Annotated[Decimal | None, typer.Option(help="完成比例 0-100")] = None,
                quantity: Annotated[Decimal | None, typer.Option(help="累计完成数量")] = None,
                amount: Annotated[Decimal | None, typer.Option(help="累计拨付资金（元）")] = None,
                note: Annotated[str | None, typer.Option(help="说明")] = None,
                actor: ActorOpt = None, now: NowOption = None) -> None:
    """报送进度 (cumulative figures)."""
    from taskflow.services import tasks

    with _task_action(plan, code, now) as (session, task, moment):
        tasks.report_progress(session, task, unit=unit, actor=actor or _actor(), now=moment,
                              percent=percent, quantity=quantity, amount=amount, note=note)


@task_app.command("submit")
def task_submit(plan: TaskRef, code: CodeRef, unit: UnitOpt = None,
                note: Annotated[str | None, typer.Option(help="说明")] = None,
                actor: ActorOpt = None, now: NowOption = None) -> None:
    """提交办结 (the coordinator then accepts or returns)."""
    from taskflow.services import tasks

    with _task_action(plan, code, now) as (session, task, moment):
        tasks.submit(session, task, unit=unit, actor=actor or _actor(), now=moment, note=note)


@task_app.command("accept")
def task_accept(plan: TaskRef, code: CodeRef,
                note: Annotated[str | None, typer.Option(help="说明")] = None,
                actor: ActorOpt = None, now: NowOption = None) -> None:
    """验收通过 a submitted task."""
    from taskflow.services import tasks

    with _task_action(plan, code, now) as (session, task, moment):
        tasks.accept(session, task, actor=actor or _actor(), now=moment, note=note)


@task_app.command("return")
def task_return(plan: TaskRef, code: CodeRef, reason: ReasonOpt, actor: ActorOpt = None,
                now: NowOption = None) -> None:
    """退回 a submitted task, with a reason."""
    from taskflow.services import tasks

    with _task_action(plan, code, now) as (session, task, moment):
        tasks.return_(session, task, reason=reason, actor=actor or _actor(), now=moment)


@task_app.command("extend")
def task_extend(plan: TaskRef, code: CodeRef,
                to: Annotated[str, typer.Option("--to", help="New deadline YYYY-MM-DD")],
                reason: ReasonOpt, actor: ActorOpt = None, now: NowOption = None) -> None:
    """延期: move the deadline, with a reason."""
    from taskflow.services import tasks

    with _task_action(plan, code, now) as (session, task, moment):
        tasks.extend(session, task, due_on=_parse_date(to, "--to"), reason=reason,
                     actor=actor or _actor(), now=moment)


@task_app.command("cancel")
def task_cancel(plan: TaskRef, code: CodeRef, reason: ReasonOpt, actor: ActorOpt = None,
                now: NowOption = None) -> None:
    """撤销 a task, with a reason."""
    from taskflow.services import tasks

    with _task_action(plan, code, now) as (session, task, moment):
        tasks.cancel(session, task, reason=reason, actor=actor or _actor(), now=moment)


# -- export ---------------------------------------------------------------------------------


@export_app.command("ledger")
def export_ledger(
    plan: Annotated[str, typer.Option("--plan", help="Plan code.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="The .xlsx file to write.")],
    unit: Annotated[str | None, typer.Option("--unit", help="Only this unit's tasks.")] = None,
    now: NowOption = None,
) -> None:
    """台账: the plan's tasks with states, lights, progress and funds (Excel)."""
    from taskflow.db import read_session
    from taskflow.services.ledger import write_ledger

    with user_errors():
        if output.suffix.lower() != ".xlsx":
            raise UserError.single(f"-o {output}：台账须为 .xlsx 文件")
        with read_session(_engine()) as session:
            path, rows = write_ledger(output, session, plan_code=plan, unit=unit,
                                      now=_parse_now(now), calendar=_calendar())
        console.print(f"已写入 {path}（任务 {rows} 项）", soft_wrap=True)


@export_app.command("ics")
def export_ics(
    plan: Annotated[str | None, typer.Option("--plan", help="Plan code.")] = None,
    unit: Annotated[str | None, typer.Option("--unit", help="Unit name, alias or code.")]
    = None,
    output: Annotated[Path | None, typer.Option(
        "-o", "--output", help="The .ics file to write (default: stdout).")] = None,
    now: NowOption = None,
) -> None:
    """Deadlines and inspection rounds as an iCalendar file (all-day events)."""
    from taskflow.db import read_session
    from taskflow.services.calendar_feed import build_calendar

    with user_errors():
        with read_session(_engine()) as session:
            data = build_calendar(session, plan=plan, unit=unit, now=_parse_now(now))
        if output is None:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
            return
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_bytes(data)
        err_console.print(f"已写入 {output}", highlight=False, soft_wrap=True)


def _registered(function):
    """Register an interface function from workflows/ with this CLI's error handling."""

    @wraps(function)
    def command(**kwargs) -> None:
        with user_errors():
            function(**kwargs)

    return command


app.command("serve")(_registered(workflow_cli.serve))
app.command("deploy")(_registered(workflow_cli.deploy))
app.command("web")(_registered(workflow_cli.web))
app.command("status")(_registered(workflow_cli.status))
notify_cli.register(app, _registered)  # dispatch, outbox [retry], notify test


@app.command("simulate")
def simulate_cmd(
    start: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD.")],
    end: Annotated[str, typer.Option("--to", help="Last day, YYYY-MM-DD.")],
    seed: Annotated[int, typer.Option(help="Random seed for the simulated units.")] = 1,
    database: Annotated[str | None, typer.Option(
        help="Database URL to simulate in (default: a new scratch SQLite file).")] = None,
    deliver: Annotated[bool, typer.Option(
        "--deliver", help="Then deliver the outbox: with no channel configured, as files "
                          "(one .eml/.txt per message) next to the scratch database.")] = False,
    bulletin_out: Annotated[Path | None, typer.Option(
        "--bulletin-out", help="Write the year's bulletin (通报) here (.html/.xlsx/.pdf; "
                               "default: simulation-<year>.html in the data directory).")]
    = None,
) -> None:
    """Replay the seed plans day by day with simulated units; print what the engine did."""
    import tempfile
    import time as time_module

    from taskflow.db import make_engine, write_session
    from taskflow.migrate import upgrade
    from taskflow.plans.expand import expand
    from taskflow.plans.loader import read_plan_file
    from taskflow.plans.units import read_units_files
    from taskflow.services.plans import import_plan
    from taskflow.services.simulate import simulate
    from taskflow.services.units import import_units, unit_index

    with user_errors():
        first, last = _parse_date(start, "--from"), _parse_date(end, "--to")
        if last < first:
            raise UserError.single("--to 早于 --from")
        scratch = None
        if database is None:
            scratch = tempfile.mkdtemp(prefix="taskflow-sim-")
            database = f"sqlite:///{scratch}/simulation.db"
        engine = make_engine(database)
        upgrade(engine)
        seed_dir = _seed_dir()
        began = time_module.perf_counter()
        at = datetime(first.year, 1, 1, tzinfo=UTC)
        with write_session(engine) as session:
            import_units(session, read_units_files([seed_dir / "org"]), actor="simulation",
                         now=at)
            for path in sorted(seed_dir.glob("p*.yaml")):
                plan_file, located = read_plan_file(path)
                import_plan(session, expand(plan_file, located, unit_index(session),
                                            year=first.year), actor="simulation", now=at)
        report = simulate(engine, start=first, end=last, calendar=_calendar(), seed=seed)
        elapsed = time_module.perf_counter() - began
        _print_simulation(report, elapsed, database)
        _write_simulation_bulletin(report.bulletin, bulletin_out, scratch)
        if deliver:
            _deliver_simulation(engine, last, scratch)


def _write_simulation_bulletin(bulletin, output: Path | None, scratch: str | None) -> None:
    """The simulated year's bulletin: its summary printed, the file written."""
    from taskflow.services.bulletin_render import render
    from taskflow.settings import get_settings

    settings = get_settings()
    folder = Path(scratch) if scratch is not None else settings.bulletins_dir
    path = render(bulletin, output or folder / f"simulation-{bulletin.period.code}.html",
                  font=settings.pdf_font)
    for line in bulletin.summary_lines():
        console.print(line, soft_wrap=True, highlight=False)
    console.print(f"通报：{path}", soft_wrap=True, highlight=False)


def _deliver_simulation(engine, last: date, scratch: str | None) -> None:
    """Deliver the simulated outbox as of the evening of the last day."""
    from zoneinfo import ZoneInfo

    from notifications.dispatch import dispatch, summary_line
    from taskflow.settings import get_settings, load_settings

    settings = get_settings()
    if scratch is not None:
        settings = load_settings(data_dir=Path(scratch))
    evening = datetime(last.year, last.month, last.day, 18, tzinfo=ZoneInfo(settings.timezone))
    report = dispatch(engine, now=evening.astimezone(UTC), settings=settings)
    console.print(summary_line(report.summary()),
                  soft_wrap=True)
    console.print(f"消息文件：{settings.notify_file_dir or settings.data_dir / 'messages'}",
                  soft_wrap=True)


def _print_simulation(report, elapsed: float, database: str) -> None:
    console.print(f"[bold]模拟 {report.days} 天[/]（{elapsed:.1f} 秒，数据库 {database}）",
                  soft_wrap=True)
    table = Table("消息类型", "条数")
    for kind, n in sorted(report.messages.items()):
        table.add_row(KIND_LABELS.get(kind, kind), str(n))
    console.print(table)
    levels = "，".join(f"{level}级 {n} 项" for level, n in sorted(report.escalations.items()))
    console.print(f"签收 {report.acknowledgements}，提交办结 {report.submissions}，"
                  f"验收 {report.acceptances}；督办 {levels or '无'}")
    rates = Table("单位", "类型", "按期办结", "到期任务", "按期办结率")
    labels = {"punctual": "守时", "late": "拖延", "silent": "不回应"}
    for name, (done, due) in sorted(report.on_time.items(), key=lambda x: -x[1][1]):
        rate = f"{done / due:.0%}" if due else "—"
        rates.add_row(name, labels.get(report.temperaments.get(name, ""), ""), str(done),
                      str(due), rate)
    console.print(rates)
    console.print("期末红黄绿灯：" + "，".join(
        f"{LIGHT_NAMES[k]} {report.lights.get(k, 0)}" for k in ("red", "yellow", "green")))
    for error in report.errors[:20]:
        err_console.print(f"[red]{error}[/]")


LIGHT_NAMES = {"red": "红灯", "yellow": "黄灯", "green": "绿灯"}


@calendar_app.command("add")
def calendar_add(file: Annotated[Path, typer.Argument(help="Holiday file (YAML).")]) -> None:
    """Add a year's holidays and make-up working days (see docs/calendar.md)."""
    from taskflow.calendar import install_holiday_file
    from taskflow.settings import get_settings

    with user_errors():
        year = install_holiday_file(file, get_settings().holidays_dir)
        console.print(f"{year.year} 年：{len(year.holidays)} 天假日，"
                      f"{len(year.workdays)} 天调休上班 → {year.source}")


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings (an unknown holiday year, say) as one readable line, not a source dump."""
    err_console.print(f"[yellow]warning:[/] {message}", highlight=False, soft_wrap=True)


def main() -> None:
    import warnings

    warnings.showwarning = _show_warning
    try:
        app()
    except UserError as exc:  # raised outside a command's own handling (settings, say)
        for problem in exc.problems:
            err_console.print(f"[bold red]error:[/] {problem}", highlight=False)
        sys.exit(2)
