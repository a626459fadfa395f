"""The embedded scheduler: schedules, the one-scheduler-per-database lock, serve end to end."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from taskflow.errors import UserError
from tests.workflows.helpers import Lines, cli_env, outbox_count, run_cli, seed, start_cli
from workflows.prefect_runtime import prefect_environment
from workflows.scheduler import MISFIRE_GRACE_SECONDS, SWEEP_JOB_ID, SweepScheduler, parse_schedule
from workflows.scheduler_lock import FileLock, PostgresLock, SchedulerLock

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def last_year_db(engine, db_url, monkeypatch):
    """The test plan for last year: on the real clock (serve's clock) all of it is overdue."""
    from taskflow.settings import get_settings

    seed(engine, year=datetime.now(SHANGHAI).year - 1)
    monkeypatch.setenv("TASKFLOW_DATABASE_URL", db_url)
    get_settings.cache_clear()
    return engine


# -- schedules and the Prefect environment --------------------------------------------------


def test_crontab_schedules_run_in_the_configured_timezone():
    trigger = parse_schedule("*/5 * * * *", SHANGHAI)
    assert isinstance(trigger, CronTrigger) and trigger.timezone == SHANGHAI
    start = datetime(2025, 6, 5, 9, 1, tzinfo=SHANGHAI)
    assert trigger.get_next_fire_time(None, start) == datetime(2025, 6, 5, 9, 5,
                                                               tzinfo=SHANGHAI)


@pytest.mark.parametrize(("expr", "seconds"), [("30s", 30), ("5m", 300), ("1 h", 3600)])
def test_intervals_are_accepted_for_short_schedules(expr, seconds):
    trigger = parse_schedule(expr, SHANGHAI)
    assert isinstance(trigger, IntervalTrigger)
    assert trigger.interval.total_seconds() == seconds


@pytest.mark.parametrize("expr", ["every five minutes", "*/5 * * *", "61 * * * *", "0s"])
def test_a_bad_schedule_is_a_user_error(expr):
    with pytest.raises(UserError) as info:
        parse_schedule(expr, SHANGHAI)
    assert info.value.problems[0].field == "--sweep-every"


def test_serve_puts_prefect_home_and_its_database_under_the_data_directory(tmp_path):
    env = prefect_environment(tmp_path, environ={})
    assert env["PREFECT_HOME"] == str(tmp_path / "prefect")
    assert env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] == \
        f"sqlite+aiosqlite:///{tmp_path / 'prefect' / 'prefect.db'}"
    assert env["PREFECT_SERVER_EPHEMERAL_ENABLED"] == "true"


def test_explicit_prefect_variables_win(tmp_path):
    env = prefect_environment(tmp_path, environ={
        "PREFECT_API_URL": "http://prefect.example:4200/api",
        "PREFECT_API_DATABASE_CONNECTION_URL": "postgresql+asyncpg://p@db/prefect",
        "PREFECT_HOME": "/srv/prefect"})
    assert "PREFECT_HOME" not in env and "PREFECT_SERVER_EPHEMERAL_ENABLED" not in env
    assert "PREFECT_SERVER_DATABASE_CONNECTION_URL" not in env


# -- the lock ---------------------------------------------------------------------------------


def test_a_second_scheduler_lock_on_the_same_database_is_refused(engine, db_url):
    first = SchedulerLock.for_database(db_url)
    second = SchedulerLock.for_database(db_url)
    assert isinstance(first, PostgresLock if db_url.startswith("postgres") else FileLock)
    with first:
        assert first.check()
        with pytest.raises(UserError, match="已有另一个 taskflow 调度器在运行") as info:
            second.acquire()
        assert f"pid {os.getpid()}" in str(info.value)  # the holder is named
    with second:  # released: the next one gets it
        assert second.check()


def test_sqlite_lock_file_lives_next_to_the_database(tmp_path):
    lock = SchedulerLock.for_database(f"sqlite:///{tmp_path / 'x' / 'taskflow.db'}")
    assert lock.path == tmp_path / "x" / "taskflow.db.scheduler.lock"


def test_serve_refuses_to_start_a_second_scheduler(app_db, db_url):
    from workflows.cli import serve

    with SchedulerLock.for_database(db_url), \
            pytest.raises(UserError, match="已有另一个 taskflow 调度器在运行"):
        serve(sweep_every="5m")


def test_serve_refuses_bad_options_before_starting_anything(app_db):
    from workflows.cli import serve

    with pytest.raises(UserError, match="--once"):
        serve(now="2025-06-05")
    with pytest.raises(UserError):
        serve(sweep_every="often")


# -- the scheduler running sweeps through Prefect -------------------------------------------


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_scheduler_fires_sweeps_through_prefect_in_its_thread(prefect_api, last_year_db):
    summaries, errors = [], []
    done = threading.Event()

    def on_summary(summary):
        summaries.append(summary)
        if len(summaries) >= 2:
            done.set()

    scheduler = SweepScheduler(tz=SHANGHAI,
                               trigger=IntervalTrigger(seconds=1, timezone=SHANGHAI),
                               on_summary=on_summary, on_error=errors.append)
    scheduler.start()
    try:
        job = scheduler.scheduler.get_job(SWEEP_JOB_ID)
        assert (job.coalesce, job.max_instances, job.misfire_grace_time) == \
            (True, 1, MISFIRE_GRACE_SECONDS)
        assert scheduler.scheduler.timezone == SHANGHAI
        assert done.wait(40), errors
    finally:
        scheduler.shutdown(wait=True)
    assert errors == []
    assert summaries[0]["messages_total"] > 0  # the first sweep runs at start
    assert summaries[1]["messages_total"] == 0  # and the next one finds nothing new
    assert outbox_count(last_year_db) >= summaries[0]["messages_total"]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_serve_runs_scheduled_sweeps_refuses_a_second_serve_and_stops_on_sigterm(
        last_year_db, db_url, tmp_path):
    data_dir = tmp_path / "serve-data"
    env = cli_env(TASKFLOW_DATA_DIR=str(data_dir), TASKFLOW_DATABASE_URL=db_url)
    process = start_cli("serve", "--sweep-every", "2s", env=env)
    out, err = Lines(process.stdout), Lines(process.stderr)  # both drained: no full pipe
    try:
        out.wait_for("调度器已启动", timeout=90)
        first, second = out.wait_for("到期处理 20", count=2, timeout=30)
        assert "：到期任务 0 项" not in first and "消息 " in first and "条（" in first
        assert "：到期任务 0 项；无消息" in second  # everything due was handled by the first
        assert outbox_count(last_year_db) > 0

        other = run_cli("serve", env=env, timeout=60)
        assert other.returncode == 2
        assert "已有另一个 taskflow 调度器在运行" in other.stderr and \
            f"pid {process.pid}" in other.stderr

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, err.rest()
    finally:
        if process.poll() is None:  # a failed assertion: still stop it gracefully, so that
            process.terminate()  # it stops its Prefect API subprocess too
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        out.rest()
        err.rest()
        process.stdout.close()
        process.stderr.close()
    text = "\n".join(out.seen)
    assert "正在停止（SIGTERM）" in text and "已停止" in text
    assert (data_dir / "prefect" / "prefect.db").exists()  # Prefect's state is ours


def test_serve_once_runs_one_sweep_through_a_given_prefect_api(prefect_api, app_db, db_url,
                                                               tmp_path):
    env = cli_env(TASKFLOW_DATA_DIR=str(tmp_path / "once-data"), TASKFLOW_DATABASE_URL=db_url,
                  PREFECT_API_URL=prefect_api)
    started = time.monotonic()
    result = run_cli("serve", "--once", "--now", "2025-06-05T10:00", env=env)
    assert result.returncode == 0, result.stderr
    assert "Prefect 已就绪，用时" in result.stdout and prefect_api in result.stdout
    assert "到期处理 2025-06-05T02:00:00+00:00（全部方案）：到期任务" in result.stdout
    assert outbox_count(app_db) > 0
    assert time.monotonic() - started < 60


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_when_prefect_itself_fails_the_scheduler_sweeps_directly(app_db, monkeypatch):
    import httpx

    import workflows.sweep

    def prefect_down(**_kwargs):
        raise httpx.ConnectError("All connection attempts failed")

    monkeypatch.setattr(workflows.sweep, "sweep_flow", prefect_down)
    summaries, errors = [], []
    scheduler = SweepScheduler(tz=SHANGHAI, trigger=parse_schedule("5m", SHANGHAI),
                               on_summary=summaries.append, on_error=errors.append)
    summary = scheduler.run_sweep()
    assert summary is not None and summaries == [summary]
    assert summary["tasks"] > 0  # the real clock: everything of 2025 is due
    assert errors and "通过 Prefect 执行到期处理失败" in errors[0]
    assert "改为不经 Prefect 直接执行" in errors[0]
    assert outbox_count(app_db) > 0


def test_a_sweep_that_writes_messages_brings_the_dispatch_forward(app_db, monkeypatch):
    """What the sweep wrote goes out at once, not at the dispatch job's next tick."""
    from datetime import datetime, timedelta

    import workflows.sweep
    from workflows.scheduler import DISPATCH_JOB_ID

    monkeypatch.setattr(workflows.sweep, "sweep_flow",
                        lambda **kwargs: workflows.sweep.sweep_once(**kwargs))
    scheduler = SweepScheduler(tz=SHANGHAI, trigger=parse_schedule("1h", SHANGHAI),
                               on_summary=lambda summary: None, on_error=print,
                               run_at_start=False,
                               dispatch_trigger=parse_schedule("1h", SHANGHAI))
    scheduler.build().start(paused=True)  # nothing runs by itself in this test
    try:
        job = scheduler.scheduler.get_job(DISPATCH_JOB_ID)
        later = job.next_run_time
        assert later - datetime.now(SHANGHAI) > timedelta(minutes=50)
        summary = scheduler.run_sweep()
        assert summary["messages_total"] > 0
        soon = scheduler.scheduler.get_job(DISPATCH_JOB_ID).next_run_time
        assert soon - datetime.now(SHANGHAI) < timedelta(seconds=5)
        idle = scheduler.run_sweep()  # the same moment again: nothing new to send
        assert idle["messages_total"] == 0
    finally:
        scheduler.scheduler.shutdown(wait=False)
