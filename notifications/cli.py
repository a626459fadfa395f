"""Command functions for ``taskflow dispatch``, ``taskflow outbox`` and ``taskflow notify test``.

Plain functions with Typer-annotated parameters; taskflow/cli.py registers them (see
``register``), with its own error handling around them. They raise
``taskflow.errors.UserError`` for a user's mistake (an unknown id, a bad option, a channel
that is not configured or fails the test); the caller prints it and exits with code 2.
``python -m taskflow dispatch`` runs them in a subprocess (the same error handling), which the
tests use.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from taskflow.calendar import configured_calendar
from taskflow.domain.labels import MESSAGE_KIND_LABELS, OUTBOX_STATUS_LABELS, label
from taskflow.domain.messages import OutboxStatus
from taskflow.errors import UserError

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

STATUSES = tuple(OutboxStatus)
NowOpt = Annotated[str | None, typer.Option(
    "--now", help="Pretend it is this instant (ISO date/datetime; default: now).")]


def _parse_now(value: str | None) -> datetime:
    from taskflow.instants import parse_now
    from taskflow.settings import get_settings

    return parse_now(value, get_settings().tz)


def open_engine():
    """The application database, refusing one that is not at the current schema."""
    from taskflow.migrate import open_current
    from taskflow.settings import get_settings

    return open_current(get_settings().database_url_resolved)


def run_dispatch(now: datetime | None = None, *, only: list[str] | None = None,
                 max_seconds: float | None = None) -> dict[str, Any]:
    """One dispatch pass with the configured channels; its summary (plain values)."""
    from notifications.dispatch import dispatch as run

    engine = open_engine()
    try:
        report = run(engine, now=now or datetime.now(UTC), calendar=configured_calendar(),
                     only=only, max_seconds=max_seconds)
    finally:
        engine.dispose()
    return report.summary()


def _local(moment: datetime | None) -> str:
    from taskflow.settings import get_settings

    if moment is None:
        return ""
    return moment.astimezone(get_settings().tz).strftime("%m-%d %H:%M")


# -- commands -------------------------------------------------------------------------------


def dispatch(
    now: NowOpt = None,
    channel: Annotated[list[str] | None, typer.Option(
        "--channel", help="Only this channel (email, sms, wecom, dingtalk); repeatable.")
    ] = None,
    max_seconds: Annotated[float | None, typer.Option(
        "--max-seconds", help="Stop taking new messages after this long (the rest waits).")
    ] = None,
) -> None:
    """Deliver what is due in the outbox: email, SMS, WeCom, DingTalk (files when unset).

    Transient failures are retried later with backoff, permanent ones are marked dead;
    see `taskflow outbox`. `taskflow serve` runs this every minute.
    """
    from notifications.dispatch import error_lines, summary_line, troubled
    from taskflow.domain.messages import CHANNELS

    for name in channel or []:
        if name not in CHANNELS:
            raise UserError.single(f"未知渠道 {name!r}（可用渠道："
                                   f"{', '.join(CHANNELS)}）", field="--channel")
    summary = run_dispatch(_parse_now(now), only=channel or None, max_seconds=max_seconds)
    style = "yellow" if troubled(summary) else "green"
    console.print(f"[{style}]{escape(summary_line(summary))}[/]", soft_wrap=True)
    for line in error_lines(summary, 20):
        console.print(f"  [yellow]{escape(line)}[/]", soft_wrap=True)
    if len(summary["errors"]) > 20:
        console.print(f"  …… 另有 {len(summary['errors']) - 20} 条（见 taskflow outbox）")


def outbox(
    ctx: typer.Context,
    status: Annotated[list[str] | None, typer.Option(
        "--status", help="Only rows in this status (pending, sending, sent, failed, dead, "
                         "ambiguous, skipped); repeatable. ambiguous also lists sent rows "
                         "flagged ambiguous.")] = None,
    channel: Annotated[str | None, typer.Option("--channel", help="Only this channel.")
                       ] = None,
    limit: Annotated[int, typer.Option(help="At most this many rows, newest first.")] = 50,
) -> None:
    """The outbox: messages by status; `taskflow outbox retry ID...` sends some again."""
    if ctx is not None and ctx.invoked_subcommand is not None:
        return
    from notifications.outbox import list_rows, status_counts

    for value in status or []:
        if value not in STATUSES:
            raise UserError.single(f"未知状态 {value!r}（可用状态："
                                   f"{', '.join(STATUSES)}）", field="--status")
    engine = open_engine()
    try:
        rows = list_rows(engine, statuses=status, channel=channel, limit=limit)
        counts = status_counts(engine)
    finally:
        engine.dispose()
    table = Table("编号", "状态", "渠道", "类型", "收件人", "尝试次数", "计划/发送时间", "错误",
                  title="发件箱：" + ("，".join(f"{OUTBOX_STATUS_LABELS[s]} {counts[s]}"
                                              for s in STATUSES if counts.get(s)) or "空"))
    for row in rows:
        flagged = row.ambiguous and row.status != "ambiguous"
        mark = label(OUTBOX_STATUS_LABELS, row.status) + ("（曾结果不明）" if flagged else "")
        kind = label(MESSAGE_KIND_LABELS, row.kind) + (f" {row.level}级" if row.level else "") \
            + ("（汇总）" if row.digest_on else "")
        when = _local(row.sent_at) if row.sent_at else _local(row.not_before)
        table.add_row(str(row.id), mark, row.channel, kind, escape(row.address),
                      str(row.attempts), when, escape((row.last_error or "")[:80]))
    console.print(table)


def outbox_retry(
    ids: Annotated[list[int], typer.Argument(help="Outbox row ids (see taskflow outbox).")],
    now: NowOpt = None,
) -> None:
    """Send failed, dead, ambiguous or skipped messages again (same Message-ID), now."""
    from notifications.outbox import Outbox
    from notifications.policy import Policy

    engine = open_engine()
    try:
        before = Outbox(engine, Policy()).retry(ids, _parse_now(now))
    finally:
        engine.dispose()
    missing = [str(i) for i, status in before.items() if status == "missing"]
    if missing:
        raise UserError.single(f"发件箱中没有编号为 {', '.join(missing)} 的消息", field="ID")
    for row_id, status in before.items():
        if status in ("failed", "dead", "ambiguous", "skipped"):
            console.print(f"#{row_id}：{OUTBOX_STATUS_LABELS[status]} → "
                          f"{OUTBOX_STATUS_LABELS['pending']}（下次发送时重发）")
        else:
            console.print(f"#{row_id}：{OUTBOX_STATUS_LABELS.get(status, status)}，未改动")


def notify_test(
    channel: Annotated[str, typer.Option(
        "--channel", help="email, sms, wecom, dingtalk, file or console.")],
    to: Annotated[str, typer.Option(
        "--to", help="Address: email address, mobile number, WeCom/DingTalk user id.")],
    name: Annotated[str | None, typer.Option("--name", help="The recipient's name.")] = None,
) -> None:
    """Send a test message through a channel as configured, end to end; say what happened."""
    import asyncio
    import secrets

    from notifications.channels import TEST_CHANNELS, build_channel
    from notifications.dispatch import Composer, mail_domain
    from notifications.message import TransportError
    from notifications.outbox import Row, Unit
    from notifications.policy import Policy
    from taskflow.settings import get_settings

    if channel not in TEST_CHANNELS:
        raise UserError.single(f"未知渠道 {channel!r}（可用渠道："
                               f"{', '.join(TEST_CHANNELS)}）", field="--channel")
    settings = get_settings()
    try:
        transport = build_channel(channel, settings)
    except TransportError as exc:
        raise UserError.single(f"{channel}：{exc}", field="--channel") from None
    code = secrets.token_hex(3).upper()
    now = datetime.now(UTC)
    outbox_channel = channel if channel not in ("file", "console") else "email"
    row = Row(id=0, key="test", message="test", plan_id=None, task_id=None, contact_id=None,
              kind="test",
              level=0, channel=outbox_channel, address=to, payload={
                  "recipient": name, "code": code}, digest_on=None, status="sending",
              attempts=1, message_id=None, not_before=now, created_at=now, ambiguous=False,
              give_up_at=None, lease_until=None)
    message_id = f"<taskflow.test.{secrets.token_hex(6)}@{mail_domain(settings.smtp_from)}>"
    composer = Composer.from_settings(settings, Policy.from_settings(settings))
    message = composer.compose(Unit(outbox_channel, [row], message_id),
                               transport.parts_for(outbox_channel))

    async def send():
        try:
            return await asyncio.wait_for(transport.send(message), transport.timeout)
        finally:
            await transport.aclose()

    try:
        receipt = asyncio.run(send())
    except TransportError as exc:
        kind = "发送失败（永久性，不会重试）" if exc.permanent else \
            "结果不明（会以同一 Message-ID 重发）" if exc.ambiguous else \
            "发送失败（临时性，消息发送时会重试）"
        raise UserError.single(f"{transport.describe()}：{kind}：{exc}",
                               field="--channel") from None
    except TimeoutError:
        raise UserError.single(f"{transport.describe()}：结果不明（会以同一 Message-ID 重发）："
                               f"{transport.timeout:.0f} 秒内没有应答，对方可能已收到",
                               field="--channel") from None
    console.print(f"已通过 {escape(transport.describe())} 向 {escape(to)} 发送测试消息 "
                  f"{code}：{escape(receipt.detail)}", soft_wrap=True)


# -- registration ---------------------------------------------------------------------------


def register(app: typer.Typer, wrap: Callable[[Callable], Callable] = lambda f: f) -> None:
    """Add dispatch, outbox (with retry) and notify test to a Typer app; ``wrap`` adds the
    app's error handling around each command."""
    app.command("dispatch")(wrap(dispatch))
    outbox_app = typer.Typer(invoke_without_command=True, no_args_is_help=False,
                             help="The outbox: messages by status; retry.")
    outbox_app.callback()(wrap(outbox))
    outbox_app.command("retry")(wrap(outbox_retry))
    app.add_typer(outbox_app, name="outbox")
    notify_app = typer.Typer(no_args_is_help=True, help="Notification channels: test.")
    notify_app.command("test")(wrap(notify_test))
    app.add_typer(notify_app, name="notify")
