"""The dispatch as a Prefect flow: a thin wrapper around ``notifications.dispatch``.

Three coarse tasks, never one per message (a task run costs 10-80 ms; the dispatcher sends
thousands of messages a second):

    open-database  settings → engine (schema checked)
    load-calendar  working days, for the quiet-hours policy (SMS/IM wait for working days)
    run-dispatch   notifications.dispatch.dispatch(...) → a plain dict summary; retried on
                   database errors (safe: claims are leases, outcomes are fenced updates)

``taskflow serve`` runs it every minute when something is due; ``workflows.direct.
dispatch_once`` is the same work without Prefect (the scheduler's fallback when the Prefect
API itself fails).
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from sqlalchemy import Engine

from workflows.direct import load_work_calendar, open_engine, parse_now
from workflows.sweep import RETRY_DELAYS, _retryable

FLOW_NAME = "taskflow-dispatch"
MAX_LOGGED_ERRORS = 20


@task(name="open-database", cache_policy=NO_CACHE)
def open_database() -> Engine:
    return open_engine()


@task(name="load-calendar", cache_policy=NO_CACHE)
def load_calendar():
    return load_work_calendar()


@task(name="run-dispatch", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=RETRY_DELAYS,
      retry_condition_fn=_retryable)
def run_dispatch(engine: Engine, now: datetime, calendar,
                 max_seconds: float | None = None) -> dict[str, Any]:
    from notifications.dispatch import dispatch

    started = time.perf_counter()
    report = dispatch(engine, now=now, is_workday=calendar.is_workday,
                      max_seconds=max_seconds)
    summary = report.summary()
    summary["seconds"] = round(time.perf_counter() - started, 3)
    return summary


@flow(name=FLOW_NAME, description="Deliver due outbox rows by email, SMS, WeCom and DingTalk "
      "(notifications.dispatch).", persist_result=False)
def dispatch_flow(now: str | None = None, max_seconds: float | None = None) -> dict[str, Any]:
    """One dispatch pass. ``now``: ISO instant for simulation (default: the real clock)."""
    from notifications.dispatch import summary_line
    from taskflow.settings import get_settings

    logger = get_run_logger()
    moment = parse_now(now, get_settings().tz)
    engine = open_database()
    try:
        calendar = load_calendar()
        summary = run_dispatch(engine, moment, calendar, max_seconds)
    finally:
        engine.dispose()
    logger.info(summary_line(summary))
    for error in summary["errors"][:MAX_LOGGED_ERRORS]:
        logger.warning("outbox %s %s: %s", ",".join(str(i) for i in error["ids"]),
                       error["outcome"], error["error"])
    return summary
