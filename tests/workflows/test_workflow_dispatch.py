"""The dispatch flow through Prefect, and the scheduler's every-minute dispatch job."""

from __future__ import annotations

import threading
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import func, select
from sqlmodel import Session

from taskflow.errors import UserError
from taskflow.models import Notification
from workflows.scheduler import DISPATCH_JOB_ID, SweepScheduler, parse_schedule

SHANGHAI = ZoneInfo("Asia/Shanghai")
JUNE_5 = "2025-06-05T10:00+08:00"


def statuses(engine) -> dict[str, int]:
    """Statuses of the task messages (inspection notices wait for their notice day)."""
    with Session(engine) as session:
        return dict(session.execute(select(Notification.status, func.count())
                                    .where(Notification.task_id.is_not(None))
                                    .group_by(Notification.status)).all())


def test_dispatch_flow_delivers_the_outbox_to_files_by_default(prefect_api, app_db,
                                                               tmp_path):
    from workflows.direct import sweep_once
    from workflows.dispatch import dispatch_flow

    sweep_once(now=JUNE_5)
    summary = dispatch_flow(now=JUNE_5)
    assert summary["messages"]["sent"] > 0 and summary["errors"] == []
    assert set(statuses(app_db)) == {"sent"}
    messages = list((tmp_path / "data" / "messages").rglob("*.eml"))
    assert len(messages) == summary["sent_by_channel"]["email"]
    again = dispatch_flow(now=JUNE_5)
    assert again["messages"] == {}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_scheduler_dispatches_on_its_own_schedule(prefect_api, app_db):
    from workflows.direct import sweep_once

    sweep_once(now=JUNE_5)
    dispatched, errors = [], []
    done = threading.Event()

    def on_dispatch(summary):
        dispatched.append(summary)
        done.set()

    scheduler = SweepScheduler(tz=SHANGHAI, trigger=parse_schedule("1h", SHANGHAI),
                               on_summary=lambda s: None, on_error=errors.append,
                               run_at_start=False,
                               dispatch_trigger=IntervalTrigger(seconds=1, timezone=SHANGHAI),
                               on_dispatch=on_dispatch)
    scheduler.start()
    try:
        job = scheduler.scheduler.get_job(DISPATCH_JOB_ID)
        assert (job.coalesce, job.max_instances) == (True, 1)
        assert done.wait(40), errors
    finally:
        scheduler.shutdown(wait=True)
    assert errors == [] and dispatched[0]["messages"]["sent"] > 0
    assert set(statuses(app_db)) == {"sent"}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_an_idle_minute_runs_no_flow_and_prefect_failures_fall_back(app_db, monkeypatch):
    import httpx

    import workflows.dispatch
    from workflows.direct import sweep_once

    calls = []

    def prefect_down(**kwargs):
        calls.append(kwargs)
        raise httpx.ConnectError("All connection attempts failed")

    monkeypatch.setattr(workflows.dispatch, "dispatch_flow", prefect_down)
    errors = []
    scheduler = SweepScheduler(tz=SHANGHAI, trigger=parse_schedule("5m", SHANGHAI),
                               on_summary=lambda s: None, on_error=errors.append)
    assert scheduler.run_dispatch() is None and calls == []  # nothing due: no flow run
    sweep_once(now=JUNE_5)
    summary = scheduler.run_dispatch()
    assert calls and summary["messages"]["sent"] > 0
    assert errors and "通过 Prefect 执行消息发送失败" in errors[0]
    assert "改为不经 Prefect 直接执行" in errors[0]


def test_a_bad_dispatch_schedule_is_refused_before_anything_starts(app_db):
    from workflows.cli import serve

    with pytest.raises(UserError) as info:
        serve(dispatch_every="often")
    assert info.value.problems[0].field == "--dispatch-every"
