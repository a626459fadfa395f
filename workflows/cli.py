"""Command functions for ``taskflow serve``, ``taskflow deploy`` and ``taskflow status``.

Plain functions with Typer-annotated parameters; taskflow/cli.py registers them, e.g.::

    from workflows import cli as workflow_cli
    app.command("serve")(workflow_cli.serve)
    app.command("deploy")(workflow_cli.deploy)

They raise ``taskflow.errors.UserError`` for a user's mistake (bad schedule, database not
migrated, another scheduler running, Prefect server unreachable); the caller turns it into
``error: ...`` and exit code 2. ``python -m taskflow serve|deploy`` runs them in a subprocess
(the same error handling), which the tests use.

Nothing here imports ``prefect`` at module level: serve must set PREFECT_HOME first.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from workflows.scheduler import DEFAULT_DISPATCH_EVERY, DEFAULT_SWEEP_EVERY

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def _stamp() -> str:
    return datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _say(message: str) -> None:
    console.print(f"[dim]{_stamp()}[/] {escape(message)}", soft_wrap=True)


def _print_summary(summary: dict[str, Any]) -> None:
    from workflows.direct import summary_line

    style = "yellow" if summary["errors"] else "green"
    console.print(f"[dim]{_stamp()}[/] [{style}]{escape(summary_line(summary))}[/]",
                  soft_wrap=True)
    for error in summary["errors"][:10]:
        console.print(f"    [yellow]任务 {escape(str(error['task_code']))}："
                      f"{escape(error['error'])}[/]", soft_wrap=True)


def _print_dispatch(summary: dict[str, Any]) -> None:
    from notifications.dispatch import error_lines, summary_line, troubled

    style = "yellow" if troubled(summary) else "green"
    console.print(f"[dim]{_stamp()}[/] [{style}]{escape(summary_line(summary))}[/]",
                  soft_wrap=True)
    for line in error_lines(summary, 10):
        console.print(f"    [yellow]发件箱 {escape(line)}[/]", soft_wrap=True)


def _print_error(message: str) -> None:
    err_console.print(f"[dim]{_stamp()}[/] [bold red]error:[/] {escape(message)}",
                      soft_wrap=True)


def serve(
    host: Annotated[str, typer.Option(
        help="Address the web app listens on (0.0.0.0 for every interface).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(
        help="Port of the web app (the embedded Prefect API avoids it).")
    ] = 8000,
    web: Annotated[bool, typer.Option(
        "--web/--no-web", help="Serve the web app next to the scheduler.")
    ] = True,
    sweep_every: Annotated[str, typer.Option(
        "--sweep-every",
        help="When to sweep: a 5-field crontab in the configured timezone "
             "(\"*/5 * * * *\") or an interval (\"30s\", \"5m\", \"1h\").")
    ] = DEFAULT_SWEEP_EVERY,
    dispatch_every: Annotated[str, typer.Option(
        "--dispatch-every",
        help="When to deliver the outbox (email, SMS, IM): a crontab or an interval, "
             "\"off\" for never (then run `taskflow dispatch` yourself).")
    ] = DEFAULT_DISPATCH_EVERY,
    once: Annotated[bool, typer.Option(
        "--once", help="Run one sweep and one dispatch through the Prefect flows, print "
                       "their summaries, exit.")
    ] = False,
    now: Annotated[str | None, typer.Option(
        "--now", help="With --once: pretend it is this instant (ISO date/datetime).")
    ] = None,
) -> None:
    """Run the web app and the scheduler (sweeps, outbox delivery through Prefect) until stopped.

    One scheduler per database: a second serve on the same database refuses to start.
    Prefect keeps its state in <data dir>/prefect (an embedded API unless PREFECT_API_URL
    is set). Stop with Ctrl-C or SIGTERM; a running sweep finishes first.
    """
    from taskflow.errors import UserError
    from workflows.scheduler import parse_schedule, run_once, run_serve

    if now is not None and not once:
        raise UserError.single("--now 须与 --once 同用（调度器按真实时钟运行）",
                               field="--now")
    links_follow(host, port, _say)
    if once:
        _print_summary(run_once(now=now, web_port=port, say=_say,
                                on_dispatch=_print_dispatch))
        return
    from taskflow.settings import get_settings

    tz = get_settings().tz
    parse_schedule(sweep_every, tz)  # a bad schedule fails before anything
    if dispatch_every != "off":
        parse_schedule(dispatch_every, tz, field="--dispatch-every")

    def start_web():
        from taskflow.web.server import WebServer

        server = WebServer(host=host, port=port).start()
        _say(f"网页端：{server.url}")
        return server

    result = run_serve(sweep_every=sweep_every, web_port=port, say=_say,
                       on_summary=_print_summary, on_error=_print_error,
                       dispatch_every=dispatch_every, on_dispatch=_print_dispatch,
                       start_web=start_web if web else None)
    _say(f"共执行到期处理 {result.sweeps} 次")


def links_follow(host: str, port: int, say) -> str:
    """Without TASKFLOW_BASE_URL, the links in messages point at where this process serves
    the web app (for this process and what it starts); a loopback address is only reachable
    from this machine, which is said. Returns the links' base URL."""
    from taskflow.settings import get_settings

    settings = get_settings()
    if "base_url" in settings.model_fields_set:
        return settings.base_url
    name = socket.getfqdn() if host in ("", "0.0.0.0", "::") else host
    shown = f"[{name}]" if ":" in name else name
    url = f"http://{shown}:{port}"
    os.environ["TASKFLOW_BASE_URL"] = url
    get_settings.cache_clear()
    if _loopback(name):
        say(f"注意：消息中的链接指向 {url}，只有本机能打开；请用 --host 0.0.0.0 或设置 "
            "TASKFLOW_BASE_URL 为各单位能访问的地址")
    else:
        say(f"消息中的链接：{url}（可用 TASKFLOW_BASE_URL 指定）")
    return url


def _loopback(name: str) -> bool:
    if name.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def web(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve only the web app (no scheduler): for web machines of a multi-machine setup."""
    import uvicorn

    from taskflow.web.app import create_app
    from taskflow.web.server import listen_failed

    app = create_app()  # a missing or old database is refused here, with exit code 2
    _say(f"网页端：http://{host}:{port}（不含调度器，到期处理在别处运行）")
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                           access_log=False, proxy_headers=True,
                                           server_header=False))
    try:
        server.run()
    except SystemExit:
        if server.started:
            raise
        # uvicorn logged the cause (usually the address in use) and exits 1: a user's
        # mistake is exit code 2 here.
        raise listen_failed(host, port) from None


def deploy(
    pool: Annotated[str, typer.Option(help="Prefect work pool (type process; created if "
                                           "missing).")] = "taskflow",
    sweep_cron: Annotated[str, typer.Option(
        "--sweep-cron", help="Cron schedule of each sweep deployment, in the configured "
                             "timezone.")] = DEFAULT_SWEEP_EVERY,
    partition: Annotated[list[str] | None, typer.Option(
        "--partition", help="NAME=PLAN[,PLAN...]: one sweep deployment per partition of plan "
                            "codes (repeat the option). Default: one deployment for all plans.")
    ] = None,
    partition_by: Annotated[str, typer.Option(
        "--partition-by", help="plan: as --partition says (default); region: one sweep "
                               "deployment per top-level region of the unit tree, from the "
                               "database's plans.")] = "plan",
    dispatch_cron: Annotated[str, typer.Option(
        "--dispatch-cron", help="Cron schedule of the dispatch deployments (one per channel), "
                                "or \"off\" for none.")] = DEFAULT_DISPATCH_EVERY,
    dispatch_channels: Annotated[str | None, typer.Option(
        "--dispatch-channels", help="Channels that get a dispatch deployment, comma-separated "
                                    "(default: email,sms,wecom,dingtalk).")] = None,
    bulletin: Annotated[str | None, typer.Option(
        "--bulletin", help="off, weekly or monthly: the bulletin (通报) deployment "
                           "(default: TASKFLOW_BULLETIN_EVERY).")] = None,
) -> None:
    """Register the sweep and dispatch deployments on the Prefect server at PREFECT_API_URL.

    For several machines: a Prefect server on PostgreSQL, `prefect worker start --pool POOL`
    on each machine with taskflow installed and TASKFLOW_DATABASE_URL pointing at the shared
    PostgreSQL database. Each deployment allows one run at a time (concurrency limit 1); the
    SMTP and SMS limits are Prefect global concurrency limits shared by every worker.
    """
    from workflows.deploy import deploy as register
    from workflows.deploy import parse_channels, parse_partitions

    off = dispatch_cron.strip().lower() == "off"
    results = register(pool, sweep_cron=sweep_cron,
                       partitions=parse_partitions(partition) if partition else None,
                       partition_by=partition_by, dispatch_cron=None if off else dispatch_cron,
                       dispatch_channels=parse_channels(dispatch_channels),
                       bulletin=bulletin)
    for item in results.deployments:
        if item.channels:
            scope = "渠道 " + "、".join(item.channels)
        elif item.full_name.startswith("taskflow-bulletin/"):
            scope = "全部方案的通报"
        else:
            scope = "全部方案" if not item.plan_codes else "方案 " + "、".join(item.plan_codes)
        _say(f"部署 {item.full_name}：{item.cron!r}（{item.timezone}），并发 1，"
             f"工作池 {results.pool}（{scope}）")
    for limit in results.limits:
        _say(f"全局并发限制 {limit.describe()}")
    for name in results.removed:
        _say(f"已删除过时的部署 {name}")
    if results.pool_created:
        _say(f"已创建工作池 {results.pool!r}（process）")
    _say(f"在各台机器上启动 worker：prefect worker start --pool {results.pool}")


def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (for scripts).")] = False,
    now: Annotated[str | None, typer.Option(
        "--now", help="Measure lag at this instant (ISO date/datetime; default: now).")
    ] = None,
    runs: Annotated[int, typer.Option("--runs", min=1, max=200,
                                      help="Recent flow runs to look at.")] = 50,
) -> None:
    """Deployments, their last runs and failures (Prefect API), lag and outbox (database)."""
    from workflows.status import collect, render

    report = collect(now=now, runs=runs)
    if as_json:
        import json

        typer.echo(json.dumps(report, ensure_ascii=False, indent=2))
        return
    render(report, console)
