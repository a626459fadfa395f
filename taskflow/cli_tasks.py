"""`taskflow task ...` (签收、报送、提交、验收、退回、延期、撤销; a Typer sub-app) and
`taskflow tasks` (the task list with lights).

Registered in taskflow/cli.py with ``app.add_typer(task_app, name="task")`` and
``app.command("tasks")(tasks_cmd)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Annotated

import typer
from rich.table import Table

from taskflow.cli_common import (
    NowOption,
    _actor,
    _calendar,
    _engine,
    _parse_date,
    _parse_now,
    console,
    user_errors,
)
from taskflow.domain.labels import LIGHT_SHORT_LABELS, STATE_LABELS
from taskflow.domain.states import CLOSED
from taskflow.errors import UserError

task_app = typer.Typer(no_args_is_help=True,
                       help="Act on a task: 签收、报送、提交、验收、退回、延期、撤销.")

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


# -- tasks: the list (registered as `taskflow tasks` in taskflow/cli.py) ------------------


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
    from taskflow.services.lights import lights

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
            late = task.due_at is not None and task.due_at <= moment and task.state not in CLOSED
            due = str(task.due_on or "")
            colour = colours[task.id]
            table.add_row(f"[{styles[colour]}]●{LIGHT_SHORT_LABELS[colour]}[/]", plan_row.code,
                          task.code, task.title, "、".join(leads),
                          f"[red]{due}[/]" if late else due, STATE_LABELS.get(task.state,
                                                                              task.state))
        console.print(table)
        console.print(f"共 {len(rows)} 项任务")
