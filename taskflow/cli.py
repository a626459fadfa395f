"""The taskflow command line (Typer + Rich)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from taskflow.errors import UserError

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="taskflow: 扶贫专项实施方案 → 任务、期限、提醒、督办。")
plan_app = typer.Typer(no_args_is_help=True, help="Plans: check, import, list, show.")
app.add_typer(plan_app, name="plan")

console = Console()
err_console = Console(stderr=True)


def fail(exc: UserError) -> None:
    for problem in exc.problems:
        err_console.print(f"[bold red]error:[/] {problem}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


@plan_app.command("check")
def plan_check(
    files: Annotated[list[Path], typer.Argument(help="Plan YAML files.")],
    units: Annotated[list[Path], typer.Option("--units", help="Units files or directories.")],
    year: Annotated[int | None, typer.Option(help="The plan year (for plans written 20xx).")] = None,
) -> None:
    """Validate plan files against units files without touching the database."""
    from taskflow.plans.loader import index_from_units_files, resolve_plan_file

    try:
        for file in files:
            index = index_from_units_files(units)
            resolved = resolve_plan_file(file, index, year=year)
            console.print(f"{file}: ok — {len(resolved.tasks)} tasks, {len(resolved.funds)} "
                          f"fund lines, {len(resolved.inspections)} inspections, year "
                          f"{resolved.year}")
    except UserError as exc:
        fail(exc)


def main() -> None:
    try:
        app()
    except UserError as exc:  # a service raised past a command's own handling
        for problem in exc.problems:
            err_console.print(f"[bold red]error:[/] {problem}", highlight=False)
        sys.exit(2)
