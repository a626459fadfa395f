"""Deployments for several machines, registered on a real Prefect API (the test harness)."""

from __future__ import annotations

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import ConcurrencyLimitStrategy

from taskflow.errors import UserError
from workflows.deploy import build_deployments, deploy, parse_partitions


def read(name: str):
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(f"taskflow-sweep/{name}")
        pool = client.read_work_pool(deployment.work_pool_name)
    return deployment, pool


def names_in(pool: str) -> set[str]:
    with get_client(sync_client=True) as client:
        return {d.name for d in client.read_deployments() if d.work_pool_name == pool}


def test_deploy_registers_a_cron_sweep_with_concurrency_limit_one(prefect_api):
    result = deploy("tf-one", sweep_cron="*/5 * * * *")

    assert result.pool_created and [d.full_name for d in result.deployments] == \
        ["taskflow-sweep/sweep"]
    deployment, pool = read("sweep")
    assert pool.type == "process" and pool.base_job_template  # Prefect's default template
    assert deployment.work_pool_name == "tf-one"
    assert deployment.entrypoint == "workflows.sweep.sweep_flow"  # the installed package
    [schedule] = deployment.schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone) == \
        ("*/5 * * * *", "Asia/Shanghai")
    assert deployment.global_concurrency_limit.limit == 1
    assert deployment.concurrency_options.collision_strategy == \
        ConcurrencyLimitStrategy.CANCEL_NEW
    assert deployment.parameters == {}

    again = deploy("tf-one", sweep_cron="0 * * * *")  # idempotent: updated, not duplicated
    assert not again.pool_created and names_in("tf-one") == {"sweep"}
    assert read("sweep")[0].schedules[0].schedule.cron == "0 * * * *"


def test_partitions_become_one_deployment_each_and_replace_the_old_set(prefect_api):
    deploy("tf-parts", sweep_cron="*/5 * * * *")
    result = deploy("tf-parts", sweep_cron="*/10 * * * *",
                    partitions=parse_partitions(["east=demo,p2", "west=p3"]))

    assert result.removed == ["taskflow-sweep/sweep"]
    assert names_in("tf-parts") == {"sweep-east", "sweep-west"}
    east, _ = read("sweep-east")
    assert east.parameters == {"plan_codes": ["demo", "p2"]}
    assert east.global_concurrency_limit.limit == 1
    assert east.schedules[0].schedule.cron == "*/10 * * * *"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"sweep_cron": "every 5 minutes"}, "不是 5 段式 crontab"),
    ({"sweep_cron": "*/5 * * * *", "partitions": {"east": []}}, "未列出任何方案"),
    ({"sweep_cron": "*/5 * * * *", "partitions": {"a": ["x"], "b": ["x"]}}, "只能属于一个分区"),
    ({"sweep_cron": "*/5 * * * *", "partitions": {"East Side": ["x"]}}, "分区名"),
])
def test_bad_deploy_options_are_user_errors(kwargs, message):
    with pytest.raises(UserError, match=message):
        build_deployments("p", timezone="Asia/Shanghai", **kwargs)


def test_partition_options_must_name_plans():
    with pytest.raises(UserError, match="应为 NAME=PLAN"):
        parse_partitions(["east"])


def test_deploy_without_a_prefect_server_is_a_user_error():
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: None}), \
            pytest.raises(UserError, match="PREFECT_API_URL"):
        deploy("p", sweep_cron="*/5 * * * *")


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_process_worker_runs_the_deployed_sweep(prefect_api, app_db, db_url, tmp_path):
    """The multi-machine path on one machine: deploy, then a worker (another process, as on
    another machine) picks the run up and sweeps the shared PostgreSQL database."""
    import subprocess
    import sys

    from tests.workflows.helpers import cli_env, outbox_count

    result = deploy("tf-worker", sweep_cron="0 0 1 1 *")
    with get_client(sync_client=True) as client:
        run = client.create_flow_run_from_deployment(
            result.deployments[0].id, parameters={"now": "2025-06-05T10:00+08:00"})
    env = cli_env(PREFECT_API_URL=prefect_api, PREFECT_HOME=str(tmp_path / "worker-prefect"),
                  TASKFLOW_DATA_DIR=str(tmp_path / "worker-data"), TASKFLOW_DATABASE_URL=db_url)
    worker = subprocess.run(
        [sys.executable, "-m", "prefect", "worker", "start", "--pool", "tf-worker",
         "--run-once", "--limit", "1"],
        env=env, capture_output=True, text=True, timeout=120)
    assert worker.returncode == 0, worker.stdout + worker.stderr
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(run.id).state
    assert state.is_completed(), (state, worker.stdout[-3000:], worker.stderr[-3000:])
    assert outbox_count(app_db) > 0


def read_limit(name: str):
    with get_client(sync_client=True) as client:
        return client.read_global_concurrency_limit_by_name(name)


def test_deploy_registers_a_dispatch_per_channel_and_the_shared_rate_limits(prefect_api,
                                                                            monkeypatch):
    from taskflow.settings import get_settings

    monkeypatch.setenv("TASKFLOW_SMTP_CONCURRENCY", "3")
    monkeypatch.setenv("TASKFLOW_SMS_RATE", "5")
    monkeypatch.setenv("TASKFLOW_IM_RATE_PER_MINUTE", "30")
    get_settings.cache_clear()
    result = deploy("tf-dispatch", sweep_cron="*/5 * * * *", dispatch_cron="* * * * *")

    assert names_in("tf-dispatch") == {"sweep", "dispatch-email", "dispatch-sms",
                                       "dispatch-wecom", "dispatch-dingtalk"}
    with get_client(sync_client=True) as client:
        email = client.read_deployment_by_name("taskflow-dispatch/dispatch-email")
    assert email.entrypoint == "workflows.dispatch.dispatch_flow"
    assert email.parameters == {"channels": ["email"]}
    assert email.schedules[0].schedule.cron == "* * * * *"
    assert email.global_concurrency_limit.limit == 1
    assert email.concurrency_options.collision_strategy == ConcurrencyLimitStrategy.CANCEL_NEW

    smtp, sms, wecom = (read_limit(n) for n in ("taskflow-smtp", "taskflow-sms",
                                                 "taskflow-wecom"))
    assert (smtp.limit, smtp.slot_decay_per_second) == (3, 0)  # connections, held per run
    assert (sms.limit, sms.slot_decay_per_second) == (5, 5)  # a rate: 5 a second
    assert (wecom.limit, wecom.slot_decay_per_second) == (1, 0.5)  # 30 a minute
    assert {limit.name for limit in result.limits} >= {"taskflow-smtp", "taskflow-sms"}

    monkeypatch.setenv("TASKFLOW_SMS_RATE", "2")
    get_settings.cache_clear()
    again = deploy("tf-dispatch", sweep_cron="*/5 * * * *", dispatch_cron="*/2 * * * *",
                   dispatch_channels=["email", "sms"])
    assert sorted(again.removed) == ["taskflow-dispatch/dispatch-dingtalk",
                                     "taskflow-dispatch/dispatch-wecom"]
    assert names_in("tf-dispatch") == {"sweep", "dispatch-email", "dispatch-sms"}
    assert read_limit("taskflow-sms").slot_decay_per_second == 2  # follows the settings


@pytest.mark.parametrize("value", ["fax", "", "email,pigeon"])
def test_unknown_dispatch_channels_are_user_errors(value):
    from workflows.deploy import parse_channels

    with pytest.raises(UserError, match=r"(未知渠道 \w+|未给出渠道)（可用渠道：email"):
        parse_channels(value)


def test_a_bad_dispatch_cron_is_a_user_error():
    with pytest.raises(UserError) as info:
        build_deployments("p", timezone="Asia/Shanghai", sweep_cron="*/5 * * * *",
                          dispatch_cron="every minute", dispatch_channels=["email"])
    assert info.value.problems[0].field == "--dispatch-cron"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_partition_by_region_makes_one_sweep_per_top_level_region(engine, db_url, tmp_path,
                                                                  monkeypatch, prefect_api):
    from taskflow.settings import get_settings
    from tests.e2e.province import build
    from workflows.deploy import region_partitions

    codes = build(engine, tmp_path / "province")
    assert region_partitions(engine) == {f"k{i}": [f"k{i}-demo"] for i in range(1, 5)}
    assert len(codes) == 4

    monkeypatch.setenv("TASKFLOW_DATABASE_URL", db_url)
    get_settings.cache_clear()
    result = deploy("tf-region", sweep_cron="*/5 * * * *", partition_by="region")
    assert {d.name: d.plan_codes for d in result.deployments} == {
        f"sweep-k{i}": [f"k{i}-demo"] for i in range(1, 5)}
    with pytest.raises(UserError, match="不要同时给出 --partition"):
        deploy("tf-region", partition_by="region", partitions={"a": ["k1-demo"]})
    with pytest.raises(UserError, match="应为 plan、region 之一"):
        deploy("tf-region", partition_by="county")


def test_cli_deploy_prints_the_deployments_and_limits(prefect_api, tmp_path):
    from tests.workflows.helpers import cli_env, run_cli

    env = cli_env(PREFECT_API_URL=prefect_api, TASKFLOW_DATA_DIR=str(tmp_path / "d"),
                  PREFECT_HOME=str(tmp_path / "ph"))
    result = run_cli("deploy", "--pool", "tf-cli", "--dispatch-channels", "email", env=env)
    assert result.returncode == 0, result.stderr
    assert "部署 taskflow-dispatch/dispatch-email：'* * * * *'" in result.stdout
    assert "全局并发限制 taskflow-smtp：并发上限 8" in result.stdout
    bad = run_cli("deploy", "--pool", "tf-cli", "--dispatch-channels", "fax", env=env)
    assert bad.returncode == 2 and "未知渠道 fax（可用渠道：" in bad.stderr


def test_bulletins_get_a_deployment_when_they_are_on(prefect_api, monkeypatch):
    from taskflow.settings import get_settings

    monkeypatch.setenv("TASKFLOW_BULLETIN_EVERY", "monthly")
    get_settings.cache_clear()
    deploy("tf-bulletin", sweep_cron="*/5 * * * *")
    with get_client(sync_client=True) as client:
        bulletin = client.read_deployment_by_name("taskflow-bulletin/bulletin")
    assert bulletin.entrypoint == "workflows.bulletin.bulletin_flow"
    assert bulletin.parameters == {"every": "monthly"}
    assert bulletin.schedules[0].schedule.cron == "0 9 1 * *"  # the month before, on the 1st

    off = deploy("tf-bulletin", sweep_cron="*/5 * * * *", bulletin="off")
    assert off.removed == ["taskflow-bulletin/bulletin"]
    with pytest.raises(UserError, match="应为 off、weekly 或 monthly"):
        deploy("tf-bulletin", sweep_cron="*/5 * * * *", bulletin="daily")
