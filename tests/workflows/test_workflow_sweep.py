"""The sweep flow through Prefect (a real Prefect API from the test harness)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from taskflow.errors import UserError
from taskflow.models import Notification, Plan
from tests.workflows.helpers import outbox_count

pytestmark = pytest.mark.usefixtures("prefect_api")

# The plan's first sweep: its tasks start today ("1.m1", due 6 月 10 日, with its 交办; the
# five-day reminder was due before it started), those past their deadline are overdue.
JUNE_5 = "2025-06-05T10:00+08:00"


def test_sweep_flow_writes_outbox_rows_and_returns_a_plain_summary(app_db):
    from workflows.sweep import sweep_flow

    summary = sweep_flow(now=JUNE_5)

    assert summary["now"] == "2025-06-05T02:00:00+00:00"
    assert summary["plan_ids"] is None
    assert summary["tasks"] > 0 and summary["messages_total"] > 0
    assert summary["messages"]["assigned"] >= 1
    assert summary["escalations"] == {}  # learned of today: escalation starts tomorrow
    assert summary["errors"] == []
    next_day = sweep_flow(now="2025-06-06T10:00+08:00")
    assert set(next_day["escalations"]) == {1}
    rows = outbox_count(app_db)
    # one row per recipient and channel
    assert rows >= summary["messages_total"] + next_day["messages_total"]
    with Session(app_db) as session:
        kinds = set(session.scalars(select(Notification.kind)
                                    .where(Notification.task_id.is_not(None))))
    # (inspection notices are per round, not task)
    assert kinds == set(summary["messages"]) | set(next_day["messages"])


def test_sweeping_the_same_instant_again_writes_nothing_new(app_db):
    from workflows.sweep import sweep_flow

    sweep_flow(now=JUNE_5)
    rows = outbox_count(app_db)
    again = sweep_flow(now=JUNE_5)
    assert again["messages_total"] == 0 and outbox_count(app_db) == rows


def test_sweep_flow_limited_to_plan_codes(app_db):
    from workflows.sweep import sweep_flow

    with Session(app_db) as session:
        plan_id = session.scalar(select(Plan.id).where(Plan.code == "demo"))
    summary = sweep_flow(now=JUNE_5, plan_codes=["demo"])
    assert summary["plan_ids"] == [plan_id] and summary["messages_total"] > 0
    with pytest.raises(UserError, match="未知方案代码"):
        sweep_flow(now=JUNE_5, plan_codes=["no-such-plan"])


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_run_sweep_is_retried_after_a_database_error(app_db, monkeypatch):
    import workflows.sweep as module
    from taskflow.services import sweep as service

    real, calls = service.sweep, []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("SELECT ...", {}, Exception("server closed the connection"))
        return real(*args, **kwargs)

    monkeypatch.setattr(service, "sweep", flaky)
    monkeypatch.setattr(module, "run_sweep", module.run_sweep.with_options(
        retry_delay_seconds=0))
    summary = module.sweep_flow(now=JUNE_5)
    assert len(calls) == 2 and summary["messages_total"] > 0


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_bad_instant_or_an_unmigrated_database_is_a_user_error(app_db, tmp_path,
                                                                  monkeypatch):
    from taskflow.settings import get_settings
    from workflows.sweep import sweep_flow

    with pytest.raises(UserError, match="不是有效的 ISO 日期或时间"):
        sweep_flow(now="next tuesday")
    monkeypatch.setenv("TASKFLOW_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    get_settings.cache_clear()
    with pytest.raises(UserError, match="taskflow db upgrade"):
        sweep_flow(now=JUNE_5)




def test_the_daily_inspection_job_makes_the_years_rounds_once(app_db):
    """serve's daily job makes the year's missing inspection rounds (idempotently)."""
    from zoneinfo import ZoneInfo

    from sqlalchemy import func

    from taskflow.models import InspectionRound
    from workflows.direct import inspections_once
    from workflows.scheduler import INSPECTIONS_JOB_ID, SweepScheduler
    from workflows.scheduler_lock import NoLock

    assert inspections_once(now="2025-03-03T09:30:00+08:00") == 5
    with Session(app_db) as session:
        rounds = session.scalar(select(func.count()).select_from(InspectionRound))
    # the fixture plan's programme: a quarterly check (4 rounds) and one in September
    assert rounds == 5
    assert inspections_once(now="2025-03-03T10:30:00+08:00") == 0
    scheduler = SweepScheduler(tz=ZoneInfo("Asia/Shanghai"), trigger="interval",
                               on_summary=lambda s: None, on_error=print, lock=NoLock(),
                               run_at_start=False, plan_inspections=True).build()
    job = scheduler.get_job(INSPECTIONS_JOB_ID)
    assert job is not None and "hour='0'" in str(job.trigger)
