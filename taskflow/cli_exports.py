"""`taskflow export ...`: the progress ledger (台账, Excel) and deadlines as .ics (Typer
sub-app).

Registered in taskflow/cli.py with ``app.add_typer(export_app, name="export")``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from taskflow.cli_common import (
    NowOption,
    _calendar,
    _engine,
    _parse_now,
    console,
    err_console,
    user_errors,
)
from taskflow.errors import UserError

export_app = typer.Typer(no_args_is_help=True, help="Export: the progress ledger (台账), .ics.")


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
