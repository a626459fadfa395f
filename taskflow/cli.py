"""The taskflow command line (Typer + Rich).

A user's mistake (bad file, unknown plan, bad option) ends in one line per problem on stderr
and exit code 2, never a traceback.

This module holds the main app: `init`, `db`, `sweep`, `calendar`, and the
registrations of the sub-apps and of the commands from workflows/ and notifications/. The
command groups live in taskflow/cli_*.py (plans, units, tasks, exports, inspections, funds,
users, simulate), the helpers they share in taskflow/cli_common.py.
"""

from __future__ import annotations

import sys
from datetime import datetime
from functools import wraps
from pathlib import Path
from typing import Annotated

import typer

from notifications import cli as notify_cli
from notifications.templates import kind_counts
from taskflow.cli_common import (
    NowOption,
    _actor,
    _calendar,
    _engine,
    _parse_now,
    console,
    err_console,
    seed_plans_dir,
    user_errors,
)
from taskflow.cli_exports import export_app
from taskflow.cli_funds import bulletin_cmd, funds_app
from taskflow.cli_inspections import inspections_app
from taskflow.cli_plans import plan_app, plan_import
from taskflow.cli_secret import secret_app
from taskflow.cli_simulate import simulate_cmd
from taskflow.cli_tasks import task_app, tasks_cmd
from taskflow.cli_units import units_app, units_import
from taskflow.cli_users import user_app
from taskflow.domain.labels import MESSAGE_KIND_SHORT_LABELS, label
from taskflow.errors import UserError
from workflows import cli as workflow_cli

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="taskflow: 扶贫专项实施方案 → 任务、期限、提醒、督办。")
db_app = typer.Typer(no_args_is_help=True, help="Database: migrations.")
calendar_app = typer.Typer(no_args_is_help=True, help="Working-day calendar: holiday files.")
app.add_typer(plan_app, name="plan")
app.add_typer(db_app, name="db")
app.add_typer(units_app, name="units")
app.add_typer(task_app, name="task")
app.add_typer(calendar_app, name="calendar")
app.add_typer(inspections_app, name="inspections")
app.add_typer(funds_app, name="funds")
app.command("bulletin")(bulletin_cmd)
app.command("simulate")(simulate_cmd)
app.add_typer(user_app, name="user")
app.add_typer(secret_app, name="secret")
app.add_typer(export_app, name="export")


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
    now: NowOption = None,
) -> None:
    """Create or upgrade the database in the data directory and import the seed plans."""
    from taskflow.settings import get_settings

    with user_errors():
        settings = get_settings()
        moment = _parse_now(now)  # when the system learns of the seed plans' tasks
        db_upgrade()
        # Generated once, owner-only, at first start; a missing key of a database that
        # holds users or links is an error, never silently replaced.
        from taskflow.services.secret_key import verified_secret_key

        verified_secret_key(settings, _engine())
        if seed:
            seed_dir = seed_plans_dir()
            units_import([seed_dir / "org"], now=moment.isoformat())
            plan_import(sorted(seed_dir.glob("p*.yaml")),
                        year=year or moment.astimezone(settings.tz).year,
                        now=moment.isoformat())
        _first_admin(settings, now=moment)
        console.print(f"数据目录：{settings.data_dir}")


def _first_admin(settings, *, now: datetime) -> None:
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
        user = add_user(session, username="admin", display_name="管理员", password=password,
                        actor=_actor(), now=now)
        grant(session, user=user, role="admin", actor=_actor(), now=now)
    path = settings.data_dir / "initial_admin_password"
    path.touch(mode=0o600)
    path.write_text(password + "\n", encoding="utf-8")
    console.print(f"网页端管理员：admin / {password}（另存于 {path}；修改密码："
                  "taskflow user passwd admin）", highlight=False)


app.command("tasks")(tasks_cmd)  # registered here: its place in `taskflow --help`


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
    kinds = kind_counts(report.messages)
    levels = "，".join(f"{level}级 {n}" for level, n in sorted(report.escalations.items()))
    console.print(f"到期处理：{report.tasks} 项任务，启动 {report.activated}，"
                  f"消息 {sum(report.messages.values())}（{kinds or '无'}），"
                  f"督办 {levels or '无'}，周期任务生成 {report.occurrences}", soft_wrap=True)
    for plan, code, kind, selectors in report.unreachable_examples[:5]:
        console.print(f"[yellow]  {plan} 任务 {code} 的{label(MESSAGE_KIND_SHORT_LABELS, kind)}"
                      f"没有收件人（{selectors}）[/]", soft_wrap=True)
    if report.unreachable:
        console.print(f"[yellow]{report.unreachable} 条提醒找不到联系人[/]"
                      "（taskflow units 查看通讯录）")
    for task_id, code, error in report.errors:
        err_console.print(f"[red]任务 {code} (#{task_id}) 规则出错，已推迟 1 小时：{error}[/]")




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
