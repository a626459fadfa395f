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

A second ``serve`` on the same database refuses to start (``SchedulerLock``):

- PostgreSQL: ``pg_try_advisory_lock`` held by a dedicated connection for the life of the
  process (advisory locks are per database, so other databases on the same server are not
  affected); the holder is named from ``pg_stat_activity.application_name``.
- SQLite: an exclusive ``flock`` on ``<database file>.scheduler.lock``, next to the database
  (so two data directories pointing at one file still conflict); the holder writes its pid,
  host and start time into the file. flock is not reliable on network file systems; neither
  is SQLite.

Prefect runs in the same process with its home under ``<data_dir>/prefect`` (profiles, and
its own SQLite API database ``prefect.db``), set before ``prefect`` is imported: Prefect reads
its settings at import. Without ``PREFECT_API_URL`` the Prefect client starts an ephemeral API
server (a uvicorn subprocess, ``PREFECT_SERVER_EPHEMERAL_ENABLED``); ``PrefectRuntime`` starts
it explicitly at start-up on a free port (not 8000-9000, where Prefect would pick one and the
web app listens) and runs a no-op flow, so the first sweep does not pay the cold start. With
``PREFECT_API_URL`` set, serve uses that server instead. Explicit ``PREFECT_*`` variables in
the environment always win over what serve would set.

Nothing here imports ``prefect`` at module level.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from taskflow.errors import UserError

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
PREFECT_STARTUP_TIMEOUT_SECONDS = 120
# pg_try_advisory_lock(int4, int4): ('task' as an int, 1 = the scheduler).
PG_LOCK_KEYS = (0x7461736B, 1)

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


# -- the one-scheduler-per-database lock ----------------------------------------------------


def _holder_info() -> dict[str, Any]:
    return {"pid": os.getpid(), "host": socket.gethostname(),
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": " ".join(os.path.basename(a) if i == 0 else a
                                for i, a in enumerate(sys.argv))[:200]}


def _taken(holder: str | None, **where) -> UserError:
    who = f"（持有者：{holder}）" if holder else ""
    return UserError.single(
        f"此数据库上已有另一个 taskflow 调度器在运行{who}；请先停止它（每个数据库只能运行"
        "一个调度器），或用 `taskflow serve --once` 只执行一次处理", **where)


class SchedulerLock:
    """Held for the life of a scheduler process; ``acquire`` raises UserError when taken."""

    @staticmethod
    def for_database(url: str) -> SchedulerLock:
        from sqlalchemy.engine import make_url

        from taskflow.db import normalize_url

        parsed = make_url(normalize_url(url))
        if parsed.get_backend_name() == "postgresql":
            return PostgresLock(normalize_url(url))
        if parsed.database and parsed.database != ":memory:":
            return FileLock(Path(parsed.database).with_name(
                Path(parsed.database).name + ".scheduler.lock"))
        return NoLock()  # an in-memory database belongs to one process anyway

    def acquire(self) -> None:
        raise NotImplementedError

    def check(self) -> bool:
        """Still held? (Re-acquires a PostgreSQL lock whose connection dropped.)"""
        return True

    def release(self) -> None:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def __enter__(self) -> SchedulerLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


class NoLock(SchedulerLock):
    def acquire(self) -> None:
        pass

    def release(self) -> None:
        pass

    def describe(self) -> str:
        return "无锁（内存数据库）"


class FileLock(SchedulerLock):
    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None

    def describe(self) -> str:
        return f"文件锁 {self.path}"

    def acquire(self) -> None:
        import fcntl

        if self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise _taken(self._read_holder(), file=str(self.path)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(_holder_info(), ensure_ascii=False) + "\n").encode(), 0)
        self._fd = fd

    def _read_holder(self) -> str | None:
        try:
            info = json.loads(self.path.read_text(encoding="utf-8") or "null")
        except (OSError, ValueError):
            return None
        if not isinstance(info, dict):
            return None
        return (f"pid {info.get('pid')}，主机 {info.get('host')}，"
                f"启动于 {info.get('started_at')}"
                + (f"：{info['command']}" if info.get("command") else ""))

    def release(self) -> None:
        import fcntl

        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None


class PostgresLock(SchedulerLock):
    def __init__(self, url: str):
        self.url = url
        self._engine = None
        self._conn = None

    def describe(self) -> str:
        return f"PostgreSQL 咨询锁 {PG_LOCK_KEYS}"

    def acquire(self) -> None:
        from sqlalchemy import create_engine, text
        from sqlalchemy.exc import DBAPIError
        from sqlalchemy.pool import NullPool

        if self._conn is not None:
            return
        info = _holder_info()
        name = f"taskflow serve pid {info['pid']} on {info['host']}"[:63]
        engine = create_engine(self.url, poolclass=NullPool, isolation_level="AUTOCOMMIT",
                               connect_args={"application_name": name})
        try:
            conn = engine.connect()
            got = conn.execute(text(
                f"SELECT pg_try_advisory_lock({PG_LOCK_KEYS[0]}, {PG_LOCK_KEYS[1]})")).scalar()
        except DBAPIError as exc:
            engine.dispose()
            raise UserError.single(f"无法打开数据库：{exc.orig}",
                                   field="TASKFLOW_DATABASE_URL") from None
        if not got:
            holder = self._holder(conn)
            conn.close()
            engine.dispose()
            raise _taken(holder)
        self._engine, self._conn = engine, conn

    @staticmethod
    def _holder(conn) -> str | None:
        from sqlalchemy import text

        row = conn.execute(text(f"""
            SELECT a.pid, a.application_name, host(a.client_addr), a.backend_start
            FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND l.granted
              AND l.classid = {PG_LOCK_KEYS[0]} AND l.objid = {PG_LOCK_KEYS[1]}
              AND l.objsubid = 2
              AND l.database = (SELECT oid FROM pg_database
                                WHERE datname = current_database())""")).first()
        if row is None:
            return None
        pid, app, addr, since = row
        where = f"，来自 {addr}" if addr else ""
        started = f"，启动于 {since.isoformat(timespec='seconds')}" if since else ""
        return f"{app or '某个会话'}（服务器 pid {pid}{where}{started}）"

    def check(self) -> bool:
        from sqlalchemy import text

        if self._conn is None:
            return False
        try:
            held = self._conn.execute(text(f"""
                SELECT count(*) FROM pg_locks
                WHERE pid = pg_backend_pid() AND locktype = 'advisory' AND granted
                  AND classid = {PG_LOCK_KEYS[0]} AND objid = {PG_LOCK_KEYS[1]}
                  AND objsubid = 2""")).scalar()
            if held:
                return True
        except Exception:  # the connection dropped: the server released the lock with it
            log.warning("the scheduler lock connection was lost; re-acquiring", exc_info=True)
        self.release()
        try:
            self.acquire()
        except UserError as exc:
            log.error("cannot re-acquire the scheduler lock: %s", exc)
            return False
        return True

    def release(self) -> None:
        from sqlalchemy import text

        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.execute(text(
                    f"SELECT pg_advisory_unlock({PG_LOCK_KEYS[0]}, {PG_LOCK_KEYS[1]})"))
            with contextlib.suppress(Exception):
                self._conn.close()
        if self._engine is not None:
            self._engine.dispose()
        self._engine = self._conn = None


# -- Prefect in this process ----------------------------------------------------------------


def prefect_environment(data_dir: Path, environ: Mapping[str, str] = os.environ
                        ) -> dict[str, str]:
    """The PREFECT_* variables serve sets; a variable already in ``environ`` is left alone."""
    home = Path(environ.get("PREFECT_HOME") or data_dir / "prefect")
    wanted = {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    if not environ.get("PREFECT_API_URL"):
        wanted["PREFECT_SERVER_EPHEMERAL_ENABLED"] = "true"
        wanted["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = \
            str(PREFECT_STARTUP_TIMEOUT_SECONDS)
    aliases = {
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": ("PREFECT_API_DATABASE_CONNECTION_URL",),
        "PREFECT_SERVER_EPHEMERAL_ENABLED": ("PREFECT_SERVER_ALLOW_EPHEMERAL_MODE",),
    }
    return {name: value for name, value in wanted.items()
            if name not in environ and not any(a in environ for a in aliases.get(name, ()))}


def apply_prefect_environment(data_dir: Path) -> dict[str, str]:
    """Set the variables before Prefect is imported (or refresh Prefect's settings if it was)."""
    values = prefect_environment(data_dir)
    os.environ.update(values)
    Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
    if "prefect" in sys.modules:  # settings are read at import; make Prefect read them again
        from prefect.context import refresh_global_settings_context

        refresh_global_settings_context()
    return values


def _free_port(avoid: set[int]) -> int:
    for _ in range(20):
        with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in avoid:
            return port
    raise RuntimeError("no free TCP port on 127.0.0.1")


def _spawn_without_sigint(server) -> None:
    """Start the API subprocess with SIGINT blocked (a blocked mask survives fork and exec).

    Ctrl-C in a terminal signals the whole process group: the API would die at once, and a
    sweep still running would spend minutes retrying to report its state. Blocked, Ctrl-C
    reaches only serve, which finishes the running sweep and then stops the API (SIGTERM).
    Wraps Prefect's spawning method; if a Prefect version renames it, nothing is wrapped and
    the API simply gets Ctrl-C too.
    """
    spawn = getattr(server, "_run_uvicorn_command", None)
    if spawn is None or not hasattr(signal, "pthread_sigmask"):
        return

    def spawn_blocked():
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            return spawn()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)

    server._run_uvicorn_command = spawn_blocked


def quiet_prefect_console(level: int = logging.WARNING) -> None:
    """Prefect's INFO lines go to its API (the run's logs), not to serve's console."""
    import prefect.main  # noqa: F401  (configures Prefect's logging, as `import prefect` does)
    from prefect.logging.handlers import PrefectConsoleHandler

    for handler in logging.getLogger().handlers:
        if isinstance(handler, PrefectConsoleHandler):
            handler.setLevel(level)


@dataclass
class PrefectRuntime:
    """The Prefect API this process talks to: the embedded (ephemeral) one, or PREFECT_API_URL."""

    avoid_ports: set[int] = field(default_factory=set)
    server: Any = None
    api_url: str | None = None
    started_seconds: float | None = None

    @property
    def embedded(self) -> bool:
        from prefect.settings import PREFECT_API_URL

        return not PREFECT_API_URL.value()

    def start(self, *, warm_up: bool = True) -> float:
        from prefect.settings import get_current_settings

        started = time.perf_counter()
        if self.embedded and not get_current_settings().server.ephemeral.enabled:
            raise UserError.single("没有可用的 Prefect API：请设置 PREFECT_API_URL，或不设置 "
                                   "PREFECT_SERVER_EPHEMERAL_ENABLED 以使用内置 API",
                                   field="PREFECT_API_URL")
        if self.embedded:
            self._start_server()
        else:
            self._check_remote()
        if warm_up:
            from workflows.sweep import warmup_flow

            warmup_flow()
        self.started_seconds = time.perf_counter() - started
        return self.started_seconds

    def _start_server(self) -> None:
        from prefect.server.api.server import SubprocessASGIServer

        server = SubprocessASGIServer()  # the instance Prefect's client uses without an API URL
        if not server.running:
            server.port = server.port or _free_port(self.avoid_ports)
            _spawn_without_sigint(server)
            try:
                server.start(timeout=PREFECT_STARTUP_TIMEOUT_SECONDS)
            except Exception as exc:
                raise UserError.single(f"内置 Prefect API 启动失败：{exc}") \
                    from None
        self.server, self.api_url = server, server.api_url

    def _check_remote(self) -> None:
        from prefect.client.orchestration import get_client
        from prefect.settings import PREFECT_API_URL

        self.api_url = PREFECT_API_URL.value()
        with get_client(sync_client=True) as client:
            error = client.api_healthcheck()
        if error is not None:
            raise UserError.single(f"无法连接 Prefect API（{self.api_url}）：{error}",
                                   field="PREFECT_API_URL")

    def ensure(self) -> None:
        """Restart the embedded API if its process died."""
        server = self.server
        if server is None or (server.server_process is not None
                              and server.server_process.poll() is None):
            return
        log.warning("the embedded Prefect API exited; restarting it")
        with contextlib.suppress(Exception):
            server.stop()
        self.server = None
        self._start_server()

    def stop(self) -> None:
        from prefect.events.worker import EventsWorker
        from prefect.logging.handlers import APILogWorker

        for worker in (APILogWorker, EventsWorker):  # flush run logs and events first
            with contextlib.suppress(Exception):
                worker.drain_all(timeout=5)
        if self.server is not None:
            self.server.stop()
            self.server = None


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
