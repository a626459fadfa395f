"""The embedded runner behind ``taskflow serve``: APScheduler triggers sweeps through Prefect.

Two jobs: the sweep (``--sweep-every``, every five minutes by default) and the dispatch of the
outbox (``--dispatch-every``, every minute; ``off`` for none). The dispatch job first counts
the due outbox rows (one indexed query) and runs the dispatch flow only when there are some,
so an idle minute costs no Prefect flow run; each pass stops taking new messages after
``DISPATCH_MAX_SECONDS`` so that the next one starts on time.

One scheduler process per database (DESIGN, Engine). The database is the source of truth and
the scheduler only a trigger, so the scheduler keeps nothing of its own: an in-memory job
store, an explicit timezone (settings.timezone, Asia/Shanghai by default), ``coalesce=True``,
``max_instances=1`` and a generous ``misfire_grace_time``. The first sweep runs at start (it
catches up after downtime), then on the schedule.

The lock (workflows/scheduler_lock.py) and Prefect in this process
(workflows/prefect_runtime.py) live beside this module.

Nothing here imports ``prefect`` at module level.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from taskflow.errors import UserError
from workflows.prefect_runtime import (
    PrefectRuntime,
    apply_prefect_environment,
    quiet_prefect_console,
)
from workflows.scheduler_lock import NoLock, SchedulerLock

log = logging.getLogger(__name__)

DEFAULT_SWEEP_EVERY = "*/5 * * * *"
DEFAULT_DISPATCH_EVERY = "* * * * *"  # the outbox is delivered every minute
SWEEP_JOB_ID = "taskflow-sweep"
DISPATCH_JOB_ID = "taskflow-dispatch"
INSPECTIONS_JOB_ID = "taskflow-inspections"
BULLETIN_JOB_ID = "taskflow-bulletin"
# settings.bulletin_every → when the bulletin job runs (local time): the week or month before
BULLETIN_CRON = {"weekly": {"day_of_week": "mon", "hour": 9, "minute": 0},
                 "monthly": {"day": 1, "hour": 9, "minute": 0}}
DISPATCH_MAX_SECONDS = 50  # a pass stops taking messages before the next one is due
MISFIRE_GRACE_SECONDS = 3600

Say = Callable[[str], None]
# What the console calls the jobs (_run_job's names) and serve's reasons to stop.
JOB_LABELS = {"sweep": "到期处理", "dispatch": "消息发送", "inspection planning": "检查安排",
              "bulletin": "通报"}
STOP_REASONS = {"requested": "收到停止请求", "lost the scheduler lock": "调度器锁已丢失"}


# -- schedule -----------------------------------------------------------------------------

_INTERVAL = re.compile(r"^\s*(\d+)\s*(s|sec|second|seconds|m|min|minute|minutes|"
                       r"h|hour|hours)\s*$", re.IGNORECASE)


def parse_schedule(expr: str, tz: ZoneInfo, *, field: str = "--sweep-every"):
    """A 5-field crontab ("*/5 * * * *") or an interval ("30s", "5m", "1h") → a trigger."""
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    match = _INTERVAL.match(expr)
    if match:
        amount, unit = int(match.group(1)), match.group(2)[0].lower()
        if amount <= 0:
            raise UserError.single(f"{expr!r} 无效：间隔必须大于 0", field=field)
        seconds = amount * {"s": 1, "m": 60, "h": 3600}[unit]
        return IntervalTrigger(seconds=seconds, timezone=tz)
    if len(expr.split()) != 5:
        raise UserError.single(f"{expr!r} 既不是 5 段式 crontab（如 \"*/5 * * * *\"），"
                               "也不是时间间隔（如 \"30s\"、\"5m\"、\"1h\"）", field=field)
    try:
        return CronTrigger.from_crontab(expr, timezone=tz)
    except ValueError as exc:
        raise UserError.single(f"{expr!r}：{exc}", field=field) from None


# -- the scheduler --------------------------------------------------------------------------


@dataclass
class SweepScheduler:
    """APScheduler around the sweep flow. ``on_summary``/``on_error`` report each run."""

    tz: ZoneInfo
    trigger: Any
    on_summary: Callable[[dict[str, Any]], None]
    on_error: Say
    lock: SchedulerLock = field(default_factory=NoLock)
    runtime: PrefectRuntime | None = None
    run_at_start: bool = True
    lost_lock: threading.Event = field(default_factory=threading.Event)
    scheduler: Any = None
    dispatch_trigger: Any = None  # None: no dispatch job
    on_dispatch: Callable[[dict[str, Any]], None] | None = None
    plan_inspections: bool = False  # a daily job making the year's inspection rounds
    bulletin_every: str = "off"  # "weekly" / "monthly": the bulletin job to leaders

    def build(self):
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.jobstores.memory import MemoryJobStore
        from apscheduler.schedulers.background import BackgroundScheduler

        scheduler = BackgroundScheduler(
            jobstores={"default": MemoryJobStore()},
            executors={"default": ThreadPoolExecutor(max_workers=2)},
            job_defaults={"coalesce": True, "max_instances": 1,
                          "misfire_grace_time": MISFIRE_GRACE_SECONDS},
            timezone=self.tz)
        extra = {"next_run_time": datetime.now(self.tz)} if self.run_at_start else {}
        scheduler.add_job(self.run_sweep, self.trigger, id=SWEEP_JOB_ID, name="taskflow sweep",
                          replace_existing=True, **extra)
        if self.dispatch_trigger is not None:
            scheduler.add_job(self.run_dispatch, self.dispatch_trigger, id=DISPATCH_JOB_ID,
                              name="taskflow dispatch", replace_existing=True)
        if self.plan_inspections:
            from apscheduler.triggers.cron import CronTrigger

            scheduler.add_job(self.run_inspections, CronTrigger(hour=0, minute=15,
                                                                timezone=self.tz),
                              id=INSPECTIONS_JOB_ID, name="taskflow inspection rounds",
                              replace_existing=True, **extra)
        if self.bulletin_every in BULLETIN_CRON:
            from apscheduler.triggers.cron import CronTrigger

            scheduler.add_job(self.run_bulletin, CronTrigger(
                timezone=self.tz, **BULLETIN_CRON[self.bulletin_every]),
                id=BULLETIN_JOB_ID, name="taskflow bulletin", replace_existing=True)
        self.scheduler = scheduler
        return scheduler

    def start(self) -> None:
        (self.scheduler or self.build()).start()

    def next_run_time(self) -> datetime | None:
        job = self.scheduler.get_job(SWEEP_JOB_ID) if self.scheduler else None
        return job.next_run_time if job else None

    def shutdown(self, wait: bool = True) -> None:
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=wait)

    def run_sweep(self) -> dict[str, Any] | None:
        """The job: one sweep through Prefect; without Prefect if Prefect itself fails."""
        from workflows.sweep import sweep_flow, sweep_once

        summary = self._run_job("sweep", sweep_flow, sweep_once)
        if summary is not None:
            self.on_summary(summary)
            if summary.get("messages_total"):
                self._dispatch_now()
        return summary

    def _dispatch_now(self) -> None:
        """What a sweep just wrote goes out now, not at the dispatch job's next minute (the
        first sweep of `serve` included: a newcomer sees messages at once)."""
        from apscheduler.jobstores.base import JobLookupError

        if self.scheduler is None or self.dispatch_trigger is None:
            return
        with contextlib.suppress(JobLookupError):  # stopping: the job is gone
            self.scheduler.modify_job(DISPATCH_JOB_ID, next_run_time=datetime.now(self.tz))

    def run_dispatch(self) -> dict[str, Any] | None:
        """The job: deliver the outbox through the dispatch flow, when anything is due.

        The check is one indexed count, so an idle minute costs no Prefect flow run; if
        Prefect itself fails, the dispatch runs without it (claims are leases and outcomes
        fenced updates, so a pass is safe next to any other)."""
        from workflows.direct import dispatch_due, dispatch_once

        def through_prefect() -> dict[str, Any]:
            from workflows.dispatch import dispatch_flow

            return dispatch_flow(max_seconds=DISPATCH_MAX_SECONDS)

        summary = self._run_job("dispatch", through_prefect,
                                lambda: dispatch_once(max_seconds=DISPATCH_MAX_SECONDS),
                                due=lambda: dispatch_due() > 0)
        if summary is not None and self.on_dispatch is not None:
            self.on_dispatch(summary)
        return summary

    def run_inspections(self) -> int | None:
        """The daily job: this year's missing inspection rounds and their notices."""
        from workflows.direct import inspections_once

        made = self._run_job("inspection planning", None, inspections_once)
        if made:
            log.info("%d new inspection round(s)", made)
        return made

    def run_bulletin(self) -> dict[str, Any] | None:
        """The weekly/monthly job: each plan's 通报 filed and queued to its leaders."""
        from workflows.bulletin import bulletin_flow, bulletin_once, summary_line

        summary = self._run_job("bulletin", lambda: bulletin_flow(every=self.bulletin_every),
                                lambda: bulletin_once(every=self.bulletin_every))
        if summary is not None:
            log.info(summary_line(summary))
        return summary

    def _run_job(self, name: str, through_prefect: Callable[[], Any] | None,
                 directly: Callable[[], Any], due: Callable[[], bool] = lambda: True) -> Any:
        """Run a job through Prefect, or directly when Prefect itself fails (or is not used:
        ``through_prefect`` None).

        The database is the source of truth and both jobs are idempotent, so falling back to a
        direct run is safe and better than skipping a beat. A job never raises into the
        scheduler: failures are reported through on_error and the next run tries again.
        """
        from sqlalchemy.exc import SQLAlchemyError

        if not self.lock.check():
            self.on_error("调度器锁已丢失，正在停止（可能有另一个调度器在运行）")
            self.lost_lock.set()
            return None
        label = JOB_LABELS.get(name, name)
        try:
            if not due():
                return None
            if through_prefect is None:
                return directly()
            if self.runtime is not None:
                self.runtime.ensure()
            return through_prefect()
        except UserError as exc:
            self.on_error(f"{label}被拒绝：{exc}")
        except SQLAlchemyError as exc:
            self.on_error(f"{label}失败（数据库）：{type(exc).__name__}: {exc}")
        except Exception as exc:
            if through_prefect is None:
                log.warning("%s failed", name, exc_info=True)
                self.on_error(f"{label}失败：{type(exc).__name__}: {exc}")
                return None
            log.warning("%s through Prefect failed", name, exc_info=True)
            self.on_error(f"通过 Prefect 执行{label}失败（{type(exc).__name__}: {exc}）；"
                          "改为不经 Prefect 直接执行")
            try:
                return directly()
            except Exception as again:
                self.on_error(f"{label}失败：{type(again).__name__}: {again}")
        return None


class _Signals:
    """SIGINT/SIGTERM → ``stop`` is set. While starting up a signal also aborts the start
    (KeyboardInterrupt, so the cleanup in ``finally`` runs); a second signal gets the default
    behaviour (Ctrl-C twice really stops)."""

    def __init__(self, stop: threading.Event):
        self.stop = stop
        self.reason: str | None = None
        self.starting = True
        self._previous: dict[int, Any] = {}

    def _handle(self, signum, _frame) -> None:
        self.reason = signal.Signals(signum).name
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        self.stop.set()
        if self.starting:
            raise KeyboardInterrupt

    def __enter__(self) -> _Signals:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, old in self._previous.items():
            signal.signal(signum, old)


@dataclass
class ServeResult:
    sweeps: int
    last_summary: dict[str, Any] | None
    stopped_by: str
    prefect_seconds: float | None


def _start_prefect(settings, web_port: int | None, say: Say, *, warm_up: bool
                   ) -> PrefectRuntime:
    applied = apply_prefect_environment(settings.data_dir)
    quiet_prefect_console()  # the first import of prefect in this process happens here
    runtime = PrefectRuntime(avoid_ports={web_port} if web_port else set())
    where = (f"内嵌 API，目录 {os.environ['PREFECT_HOME']}" if runtime.embedded
             else f"API {os.environ.get('PREFECT_API_URL')}")
    say(f"正在启动 Prefect（{where}）")
    log.debug("PREFECT_* set by serve: %s", applied)
    seconds = runtime.start(warm_up=warm_up)
    say(f"Prefect 已就绪，用时 {seconds:.1f} 秒（{runtime.api_url}）")
    return runtime


def run_serve(*, sweep_every: str = DEFAULT_SWEEP_EVERY, web_port: int | None = None,
              say: Say, on_summary: Callable[[dict[str, Any]], None], on_error: Say,
              stop: threading.Event | None = None,
              dispatch_every: str | None = DEFAULT_DISPATCH_EVERY,
              on_dispatch: Callable[[dict[str, Any]], None] | None = None,
              start_web: Callable[[], Any] | None = None) -> ServeResult:
    """Check, lock, start Prefect, run the scheduler until SIGINT/SIGTERM (or ``stop``).

    ``dispatch_every`` (None or "off": no dispatch job) delivers the outbox. ``start_web``
    starts the web app once the lock is held and returns something with ``stop()``."""
    from taskflow.settings import get_settings
    from workflows.direct import open_engine

    settings = get_settings()
    trigger = parse_schedule(sweep_every, settings.tz)
    dispatch_trigger = None if dispatch_every in (None, "off") else \
        parse_schedule(dispatch_every, settings.tz, field="--dispatch-every")
    open_engine(settings).dispose()  # a missing or old database is refused before anything
    lock = SchedulerLock.for_database(settings.database_url_resolved)
    stop = stop or threading.Event()
    count, last = 0, None

    def summary(result: dict[str, Any]) -> None:
        nonlocal count, last
        count, last = count + 1, result
        on_summary(result)

    runtime: PrefectRuntime | None = None
    scheduler: SweepScheduler | None = None
    web = None
    with _Signals(stop) as signals:
        lock.acquire()
        try:
            if start_web is not None:
                web = start_web()
            runtime = _start_prefect(settings, web_port, say, warm_up=True)
            scheduler = SweepScheduler(tz=settings.tz, trigger=trigger, on_summary=summary,
                                       on_error=on_error, lock=lock, runtime=runtime,
                                       dispatch_trigger=dispatch_trigger,
                                       on_dispatch=on_dispatch, plan_inspections=True,
                                       bulletin_every=settings.bulletin_every)
            scheduler.start()
            delivery = f"，消息发送 {dispatch_every!r}" if dispatch_trigger is not None else \
                "，不发送消息"
            say(f"调度器已启动：到期处理 {sweep_every!r}{delivery}（{settings.timezone}），"
                f"现在先处理一次；{lock.describe()}；按 Ctrl-C 或发送 SIGTERM 停止")
            signals.starting = False
            while not stop.wait(0.5):
                if scheduler.lost_lock.is_set():
                    signals.reason = "lost the scheduler lock"
                    break
            reason = STOP_REASONS.get(signals.reason or "requested", signals.reason)
            say(f"正在停止（{reason}）；等待正在进行的到期处理完成")
        except KeyboardInterrupt:
            say(f"启动过程中被中断（{signals.reason or 'SIGINT'}）")
        finally:
            if scheduler is not None:
                scheduler.shutdown(wait=True)
            if runtime is not None:
                runtime.stop()
            if web is not None:
                web.stop()
            lock.release()
    say("已停止")
    return ServeResult(sweeps=count, last_summary=last,
                       stopped_by=signals.reason or "requested",
                       prefect_seconds=runtime.started_seconds if runtime else None)


def run_once(*, now: str | None = None, web_port: int | None = None, say: Say,
             on_dispatch: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """One sweep through the flow (Prefect started for it), no scheduler, no lock: the sweep
    is safe next to a running scheduler. With ``on_dispatch``, one dispatch pass follows
    (through its flow) and its summary goes there."""
    from taskflow.instants import parse_now
    from taskflow.settings import get_settings
    from workflows.direct import open_engine

    settings = get_settings()
    parse_now(now, settings.tz)  # a bad --now is refused before Prefect starts
    open_engine(settings).dispose()
    runtime = _start_prefect(settings, web_port, say, warm_up=False)
    try:
        from workflows.sweep import sweep_flow

        summary = sweep_flow(now=now)
        if on_dispatch is not None:
            from workflows.dispatch import dispatch_flow

            on_dispatch(dispatch_flow(now=now))
        return summary
    finally:
        runtime.stop()
