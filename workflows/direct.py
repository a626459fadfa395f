"""The sweep's work as plain functions, without Prefect (nothing here imports ``prefect``).

``workflows.sweep`` wraps these in Prefect tasks; ``workflows.scheduler`` uses them before
Prefect is imported (checks at start-up) and as a fallback when the Prefect API itself fails.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from taskflow.calendar import configured_calendar
from taskflow.errors import UserError
from taskflow.instants import parse_now


def open_engine(settings=None) -> Engine:
    """The application database, refusing one that is not at the current schema."""
    from taskflow.migrate import open_current
    from taskflow.settings import get_settings

    return open_current((settings or get_settings()).database_url_resolved)


def resolve_plans(engine: Engine, plan_ids: Sequence[int] | None,
                  plan_codes: Sequence[str] | None) -> list[int] | None:
    """Plan ids to sweep: None means all plans. An empty selection is an error, not "all"."""
    from taskflow.db import read_session
    from taskflow.models import Plan

    if plan_ids is None and plan_codes is None:
        return None
    ids = list(plan_ids or [])
    if plan_codes:
        with read_session(engine) as session:
            found = dict(session.execute(
                select(Plan.code, Plan.id).where(Plan.code.in_(list(plan_codes)))).all())
        missing = [code for code in plan_codes if code not in found]
        if missing:
            raise UserError.single(f"未知方案代码：{', '.join(missing)}",
                                   field="plan_codes")
        ids.extend(found[code] for code in plan_codes)
    if not ids:
        raise UserError.single("方案选择为空，不会处理任何方案；如需处理全部方案，"
                               "请不要设置 plan_ids/plan_codes",
                               field="plan_ids")
    return sorted(set(ids))


def batch_option(batch_size: int | None) -> dict[str, int]:
    """Pass a batch size only when one is given: the service owns the default."""
    if batch_size is None:
        return {}
    if batch_size < 1:
        raise UserError.single("批量大小至少为 1", field="batch_size")
    return {"batch_size": batch_size}


def summarize(report, *, now: datetime, plan_ids: list[int] | None,
              seconds: float) -> dict[str, Any]:
    """A SweepReport as plain values (JSON-friendly apart from int escalation levels)."""
    return {
        "now": now.isoformat(),
        "plan_ids": plan_ids,
        "batches": report.batches,
        "tasks": report.tasks,
        "activated": report.activated,
        "occurrences": report.occurrences,
        "messages": dict(sorted(report.messages.items())),
        "messages_total": sum(report.messages.values()),
        "escalations": {int(level): n for level, n in sorted(report.escalations.items())},
        "lost_races": report.lost_races,
        "unreachable": report.unreachable,
        "errors": [{"task_id": task_id, "task_code": code, "error": error}
                   for task_id, code, error in report.errors],
        "seconds": round(seconds, 3),
        "stage_seconds": {stage: round(value, 3) for stage, value in
                          sorted(getattr(report, "seconds", {}).items())},
    }


def summary_line(summary: dict[str, Any]) -> str:
    """One line for a log or a console, in Chinese: what the sweep did."""
    from notifications.templates import kind_counts

    parts = [f"到期任务 {summary['tasks']} 项"]
    if summary["messages_total"]:
        kinds = kind_counts(summary["messages"])
        parts.append(f"消息 {summary['messages_total']} 条（{kinds}）")
    else:
        parts.append("无消息")
    if summary["escalations"]:
        parts.append("督办 " + "，".join(f"{level}级 {n}"
                                        for level, n in summary["escalations"].items()))
    for key, label in (("activated", "启动"), ("occurrences", "新生成周期任务"),
                       ("unreachable", "找不到联系人"), ("lost_races", "已被并发处理")):
        if summary[key]:
            parts.append(f"{label} {summary[key]}")
    parts.append(f"出错 {len(summary['errors'])}")
    scope = "全部方案" if summary["plan_ids"] is None else \
        "方案 " + ",".join(str(i) for i in summary["plan_ids"])
    return f"到期处理 {summary['now']}（{scope}）：" + "；".join(parts) + \
        f" [{summary['seconds']:.2f} 秒]"


def sweep_once(now: str | datetime | None = None, plan_ids: Sequence[int] | None = None,
               plan_codes: Sequence[str] | None = None, *,
               batch_size: int | None = None) -> dict[str, Any]:
    """The flow's work without Prefect: one sweep, its summary."""
    from taskflow.services.sweep import sweep
    from taskflow.settings import get_settings

    settings = get_settings()
    moment = parse_now(now, settings.tz)
    engine = open_engine(settings)
    try:
        ids = resolve_plans(engine, plan_ids, plan_codes)
        started = time.perf_counter()
        report = sweep(engine, now=moment, calendar=configured_calendar(settings),
                       plan_ids=ids, **batch_option(batch_size))
        return summarize(report, now=moment, plan_ids=ids,
                         seconds=time.perf_counter() - started)
    finally:
        engine.dispose()


def inspections_once(now: str | datetime | None = None) -> int:
    """Make this year's missing inspection rounds and their notices; how many were new.

    Idempotent (rounds are unique per plan, cycle and day; notices per key). It reads every
    plan's programme and live tasks, so serve runs it once a day, not with every sweep.
    """
    from taskflow.db import write_session
    from taskflow.services.inspection_rounds import generate_rounds
    from taskflow.settings import get_settings

    settings = get_settings()
    moment = parse_now(now, settings.tz)
    engine = open_engine(settings)
    try:
        with write_session(engine) as session:
            views = generate_rounds(session, year=moment.astimezone(settings.tz).year,
                                    calendar=configured_calendar(settings), now=moment)
    finally:
        engine.dispose()
    return sum(1 for view in views if view.created)




def dispatch_once(now: str | datetime | None = None, *, max_seconds: float | None = None
                  ) -> dict[str, Any]:
    """The dispatch flow's work without Prefect: one dispatch pass, its summary."""
    from notifications.dispatch import dispatch
    from taskflow.settings import get_settings

    settings = get_settings()
    moment = parse_now(now, settings.tz)
    engine = open_engine(settings)
    try:
        report = dispatch(engine, now=moment, settings=settings,
                          calendar=configured_calendar(settings),
                          max_seconds=max_seconds)
        return report.summary()
    finally:
        engine.dispose()


def dispatch_due(now: str | datetime | None = None) -> int:
    """Outbox rows due at ``now`` (the scheduler skips the dispatch flow when there are none)."""
    from notifications.outbox import due_count
    from taskflow.settings import get_settings

    settings = get_settings()
    engine = open_engine(settings)
    try:
        return due_count(engine, parse_now(now, settings.tz))
    finally:
        engine.dispose()
