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
    ({"sweep_cron": "every 5 minutes"}, "5-field crontab"),
    ({"sweep_cron": "*/5 * * * *", "partitions": {"east": []}}, "names no plan"),
    ({"sweep_cron": "*/5 * * * *", "partitions": {"a": ["x"], "b": ["x"]}}, "one partition"),
    ({"sweep_cron": "*/5 * * * *", "partitions": {"East Side": ["x"]}}, "partition name"),
])
def test_bad_deploy_options_are_user_errors(kwargs, message):
    with pytest.raises(UserError, match=message):
        build_deployments("p", timezone="Asia/Shanghai", **kwargs)


def test_partition_options_must_name_plans():
    with pytest.raises(UserError, match="NAME=PLAN"):
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
