"""The weekly/monthly bulletin (通报) to leaders, as a Prefect flow (like workflows/sweep.py).

Coarse tasks, never one per message:

    open-database   settings → engine (schema checked), plans
    build-bulletins per plan: taskflow.services.bulletin.build_bulletin for the last whole
                    week or month, files written under <data dir>/bulletins/<plan>/
                    (html, xlsx, pdf as ``bulletin_formats`` says), outbox rows (kind
                    ``bulletin``) to the leaders (``bulletin_to``) keyed per plan, period and
                    recipient: a second run for the same period writes nothing.

The dispatcher delivers the rows like any other message (the email's body holds the figures,
the unit ranking and the overdue list; the full bulletin stays in the data directory).
``bulletin_once`` is the same work without Prefect (the scheduler's fallback, and tests).
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from taskflow.calendar import configured_calendar
from taskflow.instants import parse_now
from workflows.direct import open_engine

FLOW_NAME = "taskflow-bulletin"
KINDS = {"weekly": "week", "monthly": "month"}
log = logging.getLogger(__name__)


def bulletin_once(now: str | datetime | None = None, *, every: str | None = None,
                  period: str | None = None, plan_codes: list[str] | None = None,
                  settings=None) -> dict[str, Any]:
    """Build, file and queue the bulletin of each plan; a plain summary.

    ``period``: an explicit period (2025-06); else the last whole week or month before
    ``now`` by ``every`` ("weekly"/"monthly"; default: the bulletin_every setting, weekly
    when that is off).
    """
    from sqlmodel import select

    from taskflow.db import write_session
    from taskflow.errors import UserError
    from taskflow.models import Plan
    from taskflow.services.bulletin import build_bulletin, queue_bulletin
    from taskflow.services.bulletin_render import render
    from taskflow.services.periods import parse_period, previous_period
    from taskflow.settings import get_settings

    settings = settings or get_settings()
    moment = parse_now(now, settings.tz)
    cadence = every or (settings.bulletin_every if settings.bulletin_every != "off"
                        else "weekly")
    if cadence not in KINDS:
        raise UserError.single(f"{cadence!r}：应为 weekly（每周）或 monthly（每月）",
                               field="TASKFLOW_BULLETIN_EVERY")
    span = parse_period(period) if period else previous_period(
        moment.astimezone(settings.tz).date(), KINDS[cadence])
    calendar = configured_calendar(settings)
    engine = open_engine(settings)
    summary: dict[str, Any] = {"now": moment.isoformat(), "period": span.code, "plans": []}
    try:
        with write_session(engine) as session:
            codes = plan_codes or list(session.exec(select(Plan.code).order_by(Plan.code)))
            for code in codes:
                bulletin = build_bulletin(session, plan=code, period=span, now=moment,
                                          calendar=calendar)
                folder = settings.bulletins_dir / code
                files: list[str] = []
                for fmt in settings.bulletin_formats:
                    target = folder / f"{span.code}.{fmt}"
                    try:
                        files.append(str(render(bulletin, target, fmt=fmt,
                                                font=settings.pdf_font)))
                    except UserError as exc:  # no CJK font for the PDF: the rest still go
                        log.warning("bulletin %s %s: %s", code, fmt, exc)
                queued = queue_bulletin(session, bulletin=bulletin, now=moment,
                                        to=settings.bulletin_to, link=settings.base_url)
                summary["plans"].append({
                    "plan": code, "messages": queued.recipients,
                    "unreachable": queued.unreachable, "files": files,
                    "rate": None if bulletin.rate is None else str(bulletin.rate),
                    "overdue": bulletin.overdue_open})
    finally:
        engine.dispose()
    summary["messages"] = sum(p["messages"] for p in summary["plans"])
    return summary


def summary_line(summary: dict[str, Any]) -> str:
    unreachable = [p["plan"] for p in summary["plans"] if p["unreachable"]]
    text = (f"bulletin {summary['period']}: {len(summary['plans'])} plan(s), "
            f"{summary['messages']} new message(s)")
    if unreachable:
        text += f"; no leader with an address for {', '.join(unreachable)}"
    return text


@task(name="build-bulletins", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=10)
def build_bulletins(now: str | None, every: str | None, period: str | None,
                    plan_codes: list[str] | None) -> dict[str, Any]:
    return bulletin_once(now, every=every, period=period, plan_codes=plan_codes)


@flow(name=FLOW_NAME, description="The weekly/monthly 通报 of each plan: files under the data "
      "directory and outbox rows to the leaders (taskflow.services.bulletin).",
      persist_result=False)
def bulletin_flow(now: str | None = None, every: str | None = None, period: str | None = None,
                  plan_codes: list[str] | None = None) -> dict[str, Any]:
    logger = get_run_logger()
    summary = build_bulletins(now, every, period, plan_codes)
    logger.info(summary_line(summary))
    return summary


def bulletin_path(settings, plan_code: str, period_code: str, fmt: str = "html") -> Path:
    """Where the flow files a plan's bulletin (the web app may serve it from here)."""
    return settings.bulletins_dir / plan_code / f"{period_code}.{fmt}"
