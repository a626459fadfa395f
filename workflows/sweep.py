"""The sweep as a Prefect flow: a thin wrapper around ``taskflow.services.sweep.sweep``.

Three coarse tasks, never one per reminder (a task run costs 10-80 ms, the sweep's work is
set-based code in the core):

    open-database  settings → engine (schema checked), plan codes → ids
    load-calendar  working days: chinese-calendar + <data_dir>/holidays
    run-sweep      services.sweep.sweep(...) → a plain dict summary; retried twice on
                   database errors (the sweep is idempotent: compare-and-set + outbox keys)

The flow returns the summary (``workflows.direct.summarize``) and logs one line of it with the
run logger. The same work without Prefect is ``workflows.direct.sweep_once`` (the scheduler
falls back to it when the Prefect API itself fails: the database is the source of truth,
Prefect adds observability and retries).
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from taskflow.calendar import configured_calendar
from taskflow.instants import parse_now
from workflows.direct import (
    batch_option,
    open_engine,
    resolve_plans,
    summarize,
    summary_line,
    sweep_once,
)

__all__ = ["FLOW_NAME", "summary_line", "sweep_flow", "sweep_once", "warmup_flow"]

FLOW_NAME = "taskflow-sweep"
RETRY_DELAYS = [2, 10]  # seconds before the first and the second retry of run-sweep
MAX_LOGGED_ERRORS = 20


# -- Prefect ------------------------------------------------------------------------------


def _retryable(_task, _task_run, state) -> bool:
    """Retry what a retry can fix (a dropped connection, a locked database), not bad input."""
    try:
        state.result()
    except (OperationalError, DBAPIError):
        return True
    except Exception:
        return False
    return False


@task(name="open-database", cache_policy=NO_CACHE)
def open_database(plan_ids: list[int] | None,
                  plan_codes: list[str] | None) -> tuple[Engine, list[int] | None]:
    engine = open_engine()
    try:
        return engine, resolve_plans(engine, plan_ids, plan_codes)
    except BaseException:
        engine.dispose()
        raise


@task(name="load-calendar", cache_policy=NO_CACHE)
def load_calendar():
    return configured_calendar()


@task(name="run-sweep", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=RETRY_DELAYS,
      retry_condition_fn=_retryable)
def run_sweep(engine: Engine, now: datetime, calendar, plan_ids: list[int] | None,
              batch_size: int | None = None) -> dict[str, Any]:
    from taskflow.services import sweep as service

    started = time.perf_counter()
    report = service.sweep(engine, now=now, calendar=calendar, plan_ids=plan_ids,
                           **batch_option(batch_size))
    return summarize(report, now=now, plan_ids=plan_ids, seconds=time.perf_counter() - started)


@flow(name=FLOW_NAME, description="Find tasks whose next action is due; write state changes "
      "and outbox rows (taskflow.services.sweep).", persist_result=False)
def sweep_flow(now: str | None = None, plan_ids: list[int] | None = None,
               plan_codes: list[str] | None = None,
               batch_size: int | None = None) -> dict[str, Any]:
    """One sweep. ``now``: ISO instant for simulation (default: the real clock, UTC)."""
    from taskflow.settings import get_settings

    logger = get_run_logger()
    moment = parse_now(now, get_settings().tz)
    batch_option(batch_size)  # a bad batch size fails before the database is opened
    engine, ids = open_database(plan_ids, plan_codes)
    try:
        calendar = load_calendar()
        summary = run_sweep(engine, moment, calendar, ids, batch_size)
    finally:
        engine.dispose()
    logger.info(summary_line(summary))
    for error in summary["errors"][:MAX_LOGGED_ERRORS]:
        logger.warning("task %s (%s) pushed back: %s", error["task_code"], error["task_id"],
                       error["error"])
    if len(summary["errors"]) > MAX_LOGGED_ERRORS:
        logger.warning("... and %d more task error(s)",
                       len(summary["errors"]) - MAX_LOGGED_ERRORS)
    return summary


@flow(name="taskflow-warmup", persist_result=False)
def warmup_flow() -> str:
    """A no-op run: starts the Prefect API and its client paths before the first sweep."""
    return "ok"
