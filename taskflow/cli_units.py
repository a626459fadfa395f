"""`taskflow units [import]`: the unit hierarchy with contacts; units files (Typer sub-app).

Registered in taskflow/cli.py with ``app.add_typer(units_app, name="units")``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.tree import Tree

from taskflow.cli_common import NowOption, _actor, _engine, _parse_now, console, user_errors

units_app = typer.Typer(invoke_without_command=True,
                        help="The unit hierarchy and contacts; `units import` loads units files.")


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
        help="Units files or directories of them.")], now: NowOption = None) -> None:
    """Import units files (upsert by code)."""
    from taskflow.db import write_session
    from taskflow.plans.units import read_units_files
    from taskflow.services.units import import_units

    with user_errors():
        flat = read_units_files(paths)
        engine = _engine()
        with write_session(engine) as session:
            report = import_units(session, flat, actor=_actor(), now=_parse_now(now))
        if report.noop:
            console.print(f"单位：共 {len(flat)} 个，无变化")
        else:
            console.print(f"单位：新增 {len(report.added)}，变更 {len(report.changed)}，"
                          f"未变 {report.unchanged}；联系人新增 {report.contacts_added}，"
                          f"变更 {report.contacts_changed}，"
                          f"停用 {report.contacts_deactivated}")
