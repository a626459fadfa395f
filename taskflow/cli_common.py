"""Helpers shared by the command-line modules (taskflow/cli.py and taskflow/cli_*.py).

The consoles, a user's mistake as one line per problem on stderr and exit code 2
(``user_errors``), --now, the acting user for the audit trail, the engine, the working-day
calendar and dates given as options.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from taskflow.calendar import configured_calendar
from taskflow.errors import UserError

console = Console()
err_console = Console(stderr=True)


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
    return configured_calendar()


def _parse_date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UserError.single(f"{option} {value!r} 不是有效日期（格式 YYYY-MM-DD）") from None


def seed_plans_dir() -> Path:
    """seed_plans/ of a source checkout, else the copy packaged into the wheel."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "seed_plans", here / "seed_plans"):
        if (candidate / "org").is_dir():
            return candidate
    raise UserError.single("找不到种子方案（源码目录和安装包中都没有）")
