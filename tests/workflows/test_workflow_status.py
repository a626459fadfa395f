"""`taskflow status`: lag and outbox from the database, deployments and runs from Prefect."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from rich.console import Console

from workflows.status import collect, database_status, prefect_status, render

JUNE_5 = datetime.fromisoformat("2025-06-05T10:00+08:00")


def test_lag_is_how_late_the_oldest_due_action_is(app_db):
    from sqlalchemy import func, select

    from taskflow.models import Task
    from workflows.direct import sweep_once

    with app_db.connect() as conn:
        oldest = conn.scalar(select(func.min(Task.next_action_at)))
    before = database_status(app_db, JUNE_5)
    assert before["due_tasks"] > 0
    assert before["lag_seconds"] == pytest.approx((JUNE_5 - oldest.replace(
        tzinfo=oldest.tzinfo or JUNE_5.tzinfo)).total_seconds(), abs=1)
    assert before["outbox"]["due"] == 0 and before["outbox"]["lag_seconds"] == 0

    sweep_once(now=JUNE_5)
    after = database_status(app_db, JUNE_5 + timedelta(hours=1))
    assert after["due_tasks"] == 0 and after["lag_seconds"] == 0  # the sweep caught up
    outbox = after["outbox"]
    assert outbox["pending"] == outbox["due"] > 0  # nothing delivered yet
    assert outbox["lag_seconds"] == 3600  # written at 10:00, not sent by 11:00


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_status_without_prefect_shows_the_database_and_says_prefect_is_unreachable(
        app_db, db_url, tmp_path):
    from tests.workflows.helpers import cli_env, run_cli

    env = cli_env(TASKFLOW_DATA_DIR=str(tmp_path / "d"), TASKFLOW_DATABASE_URL=db_url)
    shown = run_cli("status", "--now", "2025-06-05T10:00", env=env)
    assert shown.returncode == 0, shown.stderr
    assert "Prefect 不可达：未设置 PREFECT_API_URL" in shown.stdout
    assert "到期未处理的任务动作" in shown.stdout and "滞后" in shown.stdout

    down = run_cli("status", "--json", env={**env, "PREFECT_API_URL":
                                             "http://127.0.0.1:9/api"})
    assert down.returncode == 0, down.stderr
    report = json.loads(down.stdout)
    assert report["prefect"]["reachable"] is False and report["prefect"]["error"]
    assert report["database"]["due_tasks"] > 0  # the real clock: all of 2025 is due

    bad = run_cli("status", "--now", "yesterday-ish", env=env)
    assert bad.returncode == 2 and "不是有效的 ISO 日期或时间" in bad.stderr


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # Prefect is the subject here
def test_status_lists_deployments_last_runs_and_failures(prefect_api, app_db):
    from prefect.client.orchestration import get_client
    from prefect.states import Completed, Failed, Running

    from workflows.deploy import deploy

    deploy("tf-status", sweep_cron="*/5 * * * *", partitions={"status-a": ["demo"]},
           dispatch_cron="* * * * *", dispatch_channels=["email"])
    with get_client(sync_client=True) as client:
        sweep = client.read_deployment_by_name("taskflow-sweep/sweep-status-a")
        ok = client.create_flow_run_from_deployment(sweep.id)
        client.set_flow_run_state(ok.id, Running(), force=True)
        client.set_flow_run_state(ok.id, Completed(), force=True)
        bad = client.create_flow_run_from_deployment(sweep.id)
        client.set_flow_run_state(bad.id, Running(), force=True)
        client.set_flow_run_state(bad.id, Failed(message="database is down"), force=True)

    report = prefect_status()
    assert report["reachable"]
    by_name = {d["name"]: d for d in report["deployments"]}
    assert {"taskflow-sweep/sweep-status-a", "taskflow-dispatch/dispatch-email"} <= set(by_name)
    item = by_name["taskflow-sweep/sweep-status-a"]
    assert item["pool"] == "tf-status" and item["schedule"] == "*/5 * * * *"
    assert item["last_run"]["state"] == "FAILED" and item["recent_failures"] == 1
    assert item["last_run"]["duration_seconds"] is not None
    assert by_name["taskflow-dispatch/dispatch-email"]["last_run"] is None
    assert [f["message"] for f in report["failures"]
            if f["deployment"] == "taskflow-sweep/sweep-status-a"] == ["database is down"]

    console = Console(record=True, width=200)
    render(collect(now=JUNE_5), console)
    text = console.export_text()
    assert "部署" in text and "taskflow-sweep/sweep-status-a" in text and "失败" in text
    assert "近期失败的运行" in text and "database is down" in text
    assert "尚未运行" in text  # the dispatch deployment has no run yet
