"""``taskflow status``: what runs where, and how far behind it is.

Two sources, each optional to the other:

- the **Prefect API** at ``PREFECT_API_URL``: taskflow's deployments (tag ``taskflow``), each
  one's schedule and last run (state, start, duration), and the recent failed or crashed runs;
- the **database**: lag, i.e. how late the oldest due action is (the smallest
  ``next_action_at`` of open tasks that is not after now; 0 when nothing is due), and the
  outbox backlog (rows by status; the oldest row due for delivery).

Without ``PREFECT_API_URL`` (or with a server that does not answer) the database part is shown
with one line saying so; nothing here starts an embedded Prefect server. ``collect`` returns a
plain dict (what ``--json`` prints); ``render`` prints it as rich tables, in Chinese.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from notifications.outbox import DUE
from taskflow.domain.labels import OUTBOX_STATUS_LABELS
from taskflow.errors import UserError

PREFECT_TIMEOUT = 5.0  # seconds for the API health check and each read
FAILED = ("FAILED", "CRASHED")
STATE_LABELS = {
    "COMPLETED": "完成", "FAILED": "失败", "CRASHED": "崩溃", "RUNNING": "运行中",
    "PENDING": "等待", "SCHEDULED": "已排期", "CANCELLED": "已取消", "CANCELLING": "取消中",
    "PAUSED": "暂停",
}


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# -- the database ------------------------------------------------------------------------------


SET_ASIDE_SHOWN = 20  # the first ones say what went wrong; the sweep log has every one


def database_status(engine, now: datetime) -> dict[str, Any]:
    """Lag of the sweep (due tasks) and of the dispatch (due outbox rows), at ``now``."""
    from sqlalchemy import func, select

    from taskflow.db import read_session
    from taskflow.models import Notification, Plan, Task

    due = (Task.next_action_at <= now) & Task.archived_at.is_(None)
    with read_session(engine) as session:
        oldest, count = session.execute(
            select(func.min(Task.next_action_at), func.count()).where(due)).one()
        by_status = dict(session.execute(select(Notification.status, func.count())
                                         .group_by(Notification.status)).all())
        out_oldest, out_due = session.execute(
            select(func.min(Notification.not_before), func.count())
            .where(Notification.status.in_(DUE), Notification.not_before <= now)).one()
        # Tasks the sweep set aside (a rule failed, or the row could not be read): only
        # text and integer columns, so that a corrupted date cannot hide them here too.
        set_aside = session.execute(
            select(Task.id, Plan.code, Task.code, Task.sweep_error)
            .join(Plan, Plan.id == Task.plan_id)
            .where(Task.sweep_error.is_not(None), Task.archived_at.is_(None))
            .order_by(Task.id).limit(SET_ASIDE_SHOWN)).all()
    oldest, out_oldest = _aware(oldest), _aware(out_oldest)
    return {
        "set_aside": [{"id": tid, "plan": plan, "code": code, "error": error}
                      for tid, plan, code, error in set_aside],
        "due_tasks": count,
        "oldest_due_at": _iso(oldest),
        "lag_seconds": round((now - oldest).total_seconds(), 1) if oldest else 0.0,
        "outbox": {
            "by_status": dict(sorted(by_status.items())),
            "pending": by_status.get("pending", 0),
            "failed": by_status.get("failed", 0),
            "ambiguous": by_status.get("ambiguous", 0),
            "dead": by_status.get("dead", 0),
            "due": out_due,
            "oldest_due_at": _iso(out_oldest),
            "lag_seconds": round((now - out_oldest).total_seconds(), 1) if out_oldest else 0.0,
        },
    }


# -- Prefect -----------------------------------------------------------------------------------


def _run(run, deployment_names: dict) -> dict[str, Any]:
    state = run.state
    start, end = run.start_time, run.end_time
    duration = (end - start).total_seconds() if start and end else \
        run.total_run_time.total_seconds() if run.total_run_time else None
    return {
        "id": str(run.id), "name": run.name,
        "deployment": deployment_names.get(run.deployment_id),
        "state": state.type.value if state else None,
        "state_name": state.name if state else None,
        "message": (state.message or "")[:300] if state else "",
        "start": _iso(start), "end": _iso(end),
        "duration_seconds": round(duration, 3) if duration is not None else None,
        "run_count": run.run_count,
    }


def prefect_status(runs: int = 50) -> dict[str, Any]:
    """Deployments tagged taskflow and their recent runs; ``reachable`` False with the reason
    when there is no Prefect API to ask."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    out: dict[str, Any] = {"url": url, "reachable": False, "error": None, "deployments": [],
                           "failures": []}
    if not url:
        out["error"] = "未设置 PREFECT_API_URL"
        return out
    import httpx
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        DeploymentFilterTags,
        FlowRunFilter,
        FlowRunFilterStartTime,
    )
    from prefect.client.schemas.sorting import FlowRunSort
    from prefect.settings import PREFECT_API_REQUEST_TIMEOUT, temporary_settings

    from workflows.deploy import TAG

    try:
        with temporary_settings(updates={PREFECT_API_REQUEST_TIMEOUT: PREFECT_TIMEOUT}), \
                get_client(sync_client=True) as client:
            error = client.api_healthcheck()
            if error is not None:
                out["error"] = f"{type(error).__name__}: {error}"
                return out
            deployments = client.read_deployments(
                deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=[TAG])))
            flows = {d.flow_id for d in deployments}
            flow_names = {}
            for flow_id in flows:
                flow_names[flow_id] = client.read_flow(flow_id).name
            names = {d.id: f"{flow_names.get(d.flow_id, '?')}/{d.name}" for d in deployments}
            recent = client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=list(names))),
                flow_run_filter=FlowRunFilter(start_time=FlowRunFilterStartTime(is_null_=False)),
                sort=FlowRunSort.START_TIME_DESC, limit=runs) if names else []
    except httpx.HTTPError as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
        return out
    out["reachable"] = True
    last: dict = {}
    failures: dict = {}
    for run in recent:
        last.setdefault(run.deployment_id, run)
        if run.state and run.state.type.value in FAILED:
            failures[run.deployment_id] = failures.get(run.deployment_id, 0) + 1
            out["failures"].append(_run(run, names))
    for deployment in sorted(deployments, key=lambda d: names[d.id]):
        schedules = [s.schedule for s in deployment.schedules or []]
        crons = [getattr(s, "cron", None) or str(s) for s in schedules]
        limit = deployment.global_concurrency_limit
        out["deployments"].append({
            "name": names[deployment.id], "id": str(deployment.id),
            "pool": deployment.work_pool_name, "schedule": ", ".join(crons) or None,
            "paused": bool(deployment.paused),
            "concurrency_limit": limit.limit if limit else None,
            "parameters": deployment.parameters,
            "last_run": _run(last[deployment.id], names) if deployment.id in last else None,
            "recent_failures": failures.get(deployment.id, 0),
        })
    return out


def collect(*, now: str | datetime | None = None, runs: int = 50,
            prefect: bool = True) -> dict[str, Any]:
    """Everything ``taskflow status`` shows, as a plain dict."""
    from taskflow.instants import parse_now
    from taskflow.settings import get_settings
    from workflows.direct import open_engine

    settings = get_settings()
    moment = parse_now(now, settings.tz)
    report: dict[str, Any] = {"now": _iso(moment)}
    try:
        engine = open_engine(settings)
    except UserError as exc:
        report["database"] = {"error": str(exc)}
    else:
        try:
            report["database"] = database_status(engine, moment)
        finally:
            engine.dispose()
    report["prefect"] = prefect_status(runs) if prefect else {
        "url": None, "reachable": False, "error": "未查询", "deployments": [], "failures": []}
    return report


# -- rendering ---------------------------------------------------------------------------------


def _ago(seconds: float | None) -> str:
    if not seconds:
        return "无"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} 秒"
    if seconds < 3600:
        return f"{seconds // 60} 分 {seconds % 60} 秒"
    if seconds < 86400:
        return f"{seconds // 3600} 小时 {seconds % 3600 // 60} 分"
    return f"{seconds // 86400} 天 {seconds % 86400 // 3600} 小时"


def _local(value: str | None, tz) -> str:
    if not value:
        return "—"
    return datetime.fromisoformat(value).astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


def _state(run: dict | None) -> str:
    if not run:
        return "[dim]尚未运行[/]"
    label = STATE_LABELS.get(run["state"], run["state"] or "?")
    style = {"COMPLETED": "green", "FAILED": "red", "CRASHED": "red", "RUNNING": "cyan",
             "CANCELLED": "yellow"}.get(run["state"], "")
    return f"[{style}]{label}[/]" if style else label


def render(report: dict[str, Any], console: Console) -> None:
    from taskflow.settings import get_settings

    tz = get_settings().tz
    console.print(f"[bold]taskflow 运行状态[/]（{_local(report['now'], tz)}）")
    prefect = report["prefect"]
    if not prefect["reachable"]:
        where = f"（{escape(prefect['url'])}）" if prefect.get("url") else ""
        console.print(f"[yellow]Prefect 不可达{where}：{escape(prefect['error'] or '')}；"
                      "以下仅显示数据库部分。[/]", soft_wrap=True)
    elif not prefect["deployments"]:
        console.print(f"Prefect（{escape(prefect['url'])}）上没有 taskflow 部署；"
                      "用 `taskflow deploy` 注册。", soft_wrap=True)
    else:
        table = Table(title=f"部署（{escape(prefect['url'])}）", title_justify="left")
        for header in ("部署", "工作池", "计划", "最近运行", "开始时间", "耗时", "近期失败"):
            table.add_column(header, overflow="fold")
        for item in prefect["deployments"]:
            run = item["last_run"]
            duration = run["duration_seconds"] if run else None
            table.add_row(
                escape(item["name"]), escape(item["pool"] or "—"),
                escape(item["schedule"] or "—") + (" [yellow]（已暂停）[/]" if item["paused"]
                                                   else ""),
                _state(run), _local(run["start"] if run else None, tz),
                "—" if duration is None else f"{duration:.1f} 秒",
                f"[red]{item['recent_failures']}[/]" if item["recent_failures"] else "0")
        console.print(table)
        if prefect["failures"]:
            failed = Table(title="近期失败的运行", title_justify="left")
            for header in ("部署", "运行", "状态", "开始时间", "原因"):
                failed.add_column(header, overflow="fold")
            for run in prefect["failures"][:10]:
                failed.add_row(escape(run["deployment"] or "—"), escape(run["name"]),
                               _state(run), _local(run["start"], tz),
                               escape(run["message"] or "—"))
            console.print(failed)
    database = report["database"]
    if "error" in database:
        console.print(f"[red]数据库不可用：{escape(database['error'])}[/]", soft_wrap=True)
        return
    outbox = database["outbox"]
    table = Table(title="积压（数据库）", title_justify="left")
    for header in ("项目", "数量", "最早到期", "滞后"):
        table.add_column(header)
    table.add_row("到期未处理的任务动作", str(database["due_tasks"]),
                  _local(database["oldest_due_at"], tz), _ago(database["lag_seconds"]))
    table.add_row("待投递的消息（发件箱）", str(outbox["due"]),
                  _local(outbox["oldest_due_at"], tz), _ago(outbox["lag_seconds"]))
    console.print(table)
    counts = ", ".join(f"{OUTBOX_STATUS_LABELS.get(status, status)} {n}"
                       for status, n in outbox["by_status"].items()) or "空"
    console.print(f"发件箱：{counts}", soft_wrap=True)
    if database.get("set_aside"):
        aside = Table(title="清扫时被搁置的任务（每小时重试，直到修正）", title_justify="left")
        for header in ("方案", "任务", "原因"):
            aside.add_column(header, overflow="fold")
        for task in database["set_aside"]:
            aside.add_row(escape(task["plan"]), escape(task["code"]),
                          f"[red]{escape(task['error'])}[/]")
        console.print(aside)
