"""The dispatch as a Prefect flow: a thin wrapper around ``notifications.dispatch``.

Three coarse tasks, never one per message (a task run costs 10-80 ms; the dispatcher sends
thousands of messages a second):

    open-database  settings → engine (schema checked)
    load-calendar  working days, for the quiet-hours policy (SMS/IM wait for working days)
    run-dispatch   notifications.dispatch.dispatch(...) → a plain dict summary; retried on
                   database errors (safe: claims are leases, outcomes are fenced updates)

``channels`` limits a run to some outbox channels (email, sms, wecom, dingtalk): ``taskflow
deploy`` registers one dispatch deployment per channel, so a slow SMS gateway never holds up
email. ``taskflow serve`` runs it every minute for all channels when something is due;
``workflows.direct.dispatch_once`` is the same work without Prefect (the scheduler's fallback
when the Prefect API itself fails).

Shared limits (several machines). Under a deployment (a worker runs the flow), the run takes
the Prefect global concurrency limits that ``taskflow deploy`` creates, so every worker
together stays inside what the providers allow:

- ``taskflow-smtp``, a concurrency limit counting SMTP connections: an email run holds as
  many slots as it opens connections (at most ``TASKFLOW_SMTP_CONCURRENCY``, fewer when the
  limit is smaller) for the run, under a lease that Prefect renews while the run lives and
  takes back ``SMTP_LEASE_SECONDS`` after a worker died holding it;
- ``taskflow-sms``, ``taskflow-wecom``, ``taskflow-dingtalk``, rate limits (slots that decay
  at the provider's rate): each message takes one slot before it is sent. Nothing is held
  across messages, so a killed worker holds nothing.

Run outside a deployment (``serve``, tests, a flow called by hand) the process's own spacing
(``Channel.rate``) applies and no Prefect limit is taken.
"""

from __future__ import annotations

import math
import time
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from sqlalchemy import Engine

from taskflow.calendar import configured_calendar
from taskflow.domain.messages import CHANNELS
from taskflow.errors import UserError
from taskflow.instants import parse_now
from workflows.direct import open_engine
from workflows.sweep import RETRY_DELAYS, _retryable

FLOW_NAME = "taskflow-dispatch"
MAX_LOGGED_ERRORS = 20
SMTP_LIMIT = "taskflow-smtp"
# Rate limits by outbox channel (one slot per message, slots decay at the provider's rate).
RATE_LIMITS = {"sms": "taskflow-sms", "wecom": "taskflow-wecom",
               "dingtalk": "taskflow-dingtalk"}
SMTP_LEASE_SECONDS = 60  # Prefect's minimum: a dead worker's SMTP slots return after this


def limit_sizes(settings) -> dict[str, tuple[int, float | None]]:
    """The global concurrency limits for these settings: name → (limit, slot decay per s)."""
    im_rate = settings.im_rate_per_minute / 60
    return {
        SMTP_LIMIT: (settings.smtp_concurrency, None),
        RATE_LIMITS["sms"]: (max(1, math.ceil(settings.sms_rate)), settings.sms_rate),
        RATE_LIMITS["wecom"]: (max(1, math.ceil(im_rate)), im_rate),
        RATE_LIMITS["dingtalk"]: (max(1, math.ceil(im_rate)), im_rate),
    }


def check_channels(channels: list[str] | None, *, field: str = "channels") -> list[str] | None:
    if channels is None:
        return None
    unknown = [c for c in channels if c not in CHANNELS]
    if unknown or not channels:
        given = f"未知渠道 {'、'.join(unknown)}" if unknown else "未给出渠道"
        raise UserError.single(f"{given}（可用渠道：{', '.join(CHANNELS)}）", field=field)
    return list(dict.fromkeys(channels))


class SharedRate:
    """A channel's send spacing: the process's own spacing, then one slot of a Prefect rate
    limit shared by every worker (``prefect.concurrency.asyncio.rate_limit``)."""

    def __init__(self, name: str, rate: float | None):
        from notifications.dispatch import RateLimiter

        self.name = name
        self.local = RateLimiter(rate) if rate else None
        self.taken = 0

    async def wait(self) -> None:
        from prefect.concurrency.asyncio import rate_limit

        if self.local is not None:
            await self.local.wait()
        await rate_limit(self.name, occupy=1, strict=True)
        self.taken += 1


def provider_rate(channel: str, settings) -> float | None:
    """Messages per second a configured provider allows (None: not rate limited, or not
    configured, so the channel writes files)."""
    if channel == "sms" and settings.sms_provider != "none":
        return settings.sms_rate
    if channel in ("wecom", "dingtalk") and settings.secret(f"{channel}_webhook_url"):
        return settings.im_rate_per_minute / 60
    return None


def under_deployment() -> bool:
    from prefect.runtime import deployment

    return deployment.id is not None


@task(name="open-database", cache_policy=NO_CACHE)
def open_database() -> Engine:
    return open_engine()


@task(name="load-calendar", cache_policy=NO_CACHE)
def load_calendar():
    return configured_calendar()


def _smtp_slots(wanted: int) -> int:
    """How many taskflow-smtp slots an email run takes: its connections, within the limit."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            limit = client.read_global_concurrency_limit_by_name(SMTP_LIMIT)
        except ObjectNotFound:
            raise UserError.single(f"缺少 Prefect 全局并发限制 {SMTP_LIMIT!r}："
                                   "请重新运行 `taskflow deploy`",
                                   field=SMTP_LIMIT) from None
    if limit.limit < 1:
        raise UserError.single(f"{SMTP_LIMIT} 的上限为 0：不允许任何 SMTP 连接",
                               field=SMTP_LIMIT)
    return max(1, min(wanted, limit.limit))


@task(name="run-dispatch", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=RETRY_DELAYS,
      retry_condition_fn=_retryable)
def run_dispatch(engine: Engine, now: datetime, calendar, max_seconds: float | None = None,
                 channels: list[str] | None = None, shared: bool = False) -> dict[str, Any]:
    from notifications.dispatch import dispatch
    from taskflow.settings import get_settings

    settings = get_settings()
    wanted = channels or list(CHANNELS)
    limiters: dict[str, SharedRate] = {}
    hold: AbstractContextManager = nullcontext()
    if shared:
        from prefect.concurrency.sync import concurrency

        for channel in wanted:
            rate = provider_rate(channel, settings)
            if rate is not None:
                limiters[channel] = SharedRate(RATE_LIMITS[channel], rate)
        if "email" in wanted and settings.smtp_host:
            slots = _smtp_slots(settings.smtp_concurrency)
            settings = settings.model_copy(update={"smtp_concurrency": slots})
            hold = concurrency(SMTP_LIMIT, occupy=slots, lease_duration=SMTP_LEASE_SECONDS,
                               strict=True)
    started = time.perf_counter()
    with hold:
        report = dispatch(engine, now=now, calendar=calendar,
                          max_seconds=max_seconds, settings=settings, only=channels,
                          limiters=limiters or None)
    summary = report.summary()
    summary["seconds"] = round(time.perf_counter() - started, 3)
    summary["channels"] = wanted
    if shared:
        summary["shared_limits"] = {limiter.name: limiter.taken
                                    for limiter in limiters.values()}
        if "email" in wanted and settings.smtp_host:
            summary["shared_limits"][SMTP_LIMIT] = settings.smtp_concurrency
    return summary


@flow(name=FLOW_NAME, description="Deliver due outbox rows by email, SMS, WeCom and DingTalk "
      "(notifications.dispatch).", persist_result=False)
def dispatch_flow(now: str | None = None, max_seconds: float | None = None,
                  channels: list[str] | None = None) -> dict[str, Any]:
    """One dispatch pass. ``now``: ISO instant for simulation (default: the real clock);
    ``channels``: only these outbox channels (default: all)."""
    from notifications.dispatch import summary_line
    from taskflow.settings import get_settings

    logger = get_run_logger()
    moment = parse_now(now, get_settings().tz)
    channels = check_channels(channels)
    engine = open_database()
    try:
        calendar = load_calendar()
        summary = run_dispatch(engine, moment, calendar, max_seconds, channels,
                               under_deployment())
    finally:
        engine.dispose()
    logger.info(summary_line(summary))
    if summary.get("shared_limits"):
        logger.info("shared limits: %s", ", ".join(
            f"{name} {n}" for name, n in summary["shared_limits"].items()))
    for error in summary["errors"][:MAX_LOGGED_ERRORS]:
        logger.warning("outbox %s %s: %s", ",".join(str(i) for i in error["ids"]),
                       error["outcome"], error["error"])
    return summary
