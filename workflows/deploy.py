"""Prefect deployments for several machines (``taskflow deploy``).

The setup (DESIGN, "Scale beyond one machine"): a Prefect server on PostgreSQL, a work pool of
type ``process``, workers (``prefect worker start --pool POOL``) on several machines where
taskflow is installed and ``TASKFLOW_DATABASE_URL`` points at the shared PostgreSQL database.

``deploy`` registers one sweep deployment per partition ("sweep" for all plans, or
"sweep-<name>" per partition of plan codes) on the server at ``PREFECT_API_URL``:

- entrypoint ``workflows.sweep.sweep_flow`` as a *module path*: workers import the installed
  package, so no code storage (git, S3, image) is involved;
- a cron schedule in the configured timezone (Asia/Shanghai by default);
- a deployment concurrency limit of 1 with collision strategy CANCEL_NEW: a sweep still
  running when the next one is due makes the next one cancelled, not queued behind it
  (the following tick catches up; the sweep works from database state);
- parameters ``plan_codes`` for a partition (codes, not ids, so the same command works on any
  database; the flow resolves them and refuses unknown codes).

Deployments of the flow ``taskflow-sweep`` tagged ``taskflow`` in the same work pool that the
new set does not name are deleted, so re-partitioning does not leave the old partitions
running too (other pools, e.g. another county's taskflow on the same Prefect server, are left
alone). The work pool is created (type process, Prefect's default job template) when missing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from taskflow.errors import UserError

TAG = "taskflow"
DEPLOYMENT = "sweep"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,40}$")


@dataclass
class DeployedSweep:
    name: str
    full_name: str
    cron: str
    timezone: str
    plan_codes: list[str] | None
    id: str | None = None


@dataclass
class DeployResult:
    pool: str
    pool_created: bool = False
    deployments: list[DeployedSweep] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def parse_partitions(values: Sequence[str]) -> dict[str, list[str]]:
    """``NAME=CODE[,CODE...]`` options → {name: [codes]}."""
    partitions: dict[str, list[str]] = {}
    for value in values:
        name, sep, codes = value.partition("=")
        name = name.strip()
        if not sep:
            raise UserError.single(f"{value!r}: expected NAME=PLAN[,PLAN...]",
                                   field="--partition")
        if name in partitions:
            raise UserError.single(f"partition {name!r} given twice", field="--partition")
        partitions[name] = [c.strip() for c in codes.split(",") if c.strip()]
    return partitions


def _check_partitions(partitions: Mapping[str, Sequence[str]]) -> None:
    seen: dict[str, str] = {}
    for name, codes in partitions.items():
        if not _NAME.match(name):
            raise UserError.single(f"partition name {name!r}: use lowercase letters, digits, "
                                   "'-' and '_' (at most 41 characters)", field="--partition")
        if not codes:
            raise UserError.single(f"partition {name!r} names no plan", field="--partition")
        for code in codes:
            if code in seen:
                raise UserError.single(f"plan {code!r} is in partitions {seen[code]!r} and "
                                       f"{name!r}; a plan belongs to one partition",
                                       field="--partition")
            seen[code] = name


def _check_cron(cron: str, timezone: str) -> None:
    from zoneinfo import ZoneInfo

    from workflows.scheduler import parse_schedule

    if len(cron.split()) != 5:
        raise UserError.single(f"{cron!r} is not a 5-field crontab (\"*/5 * * * *\")",
                               field="--sweep-cron")
    parse_schedule(cron, ZoneInfo(timezone))


def build_deployments(pool: str, *, sweep_cron: str, timezone: str,
                      partitions: Mapping[str, Sequence[str]] | None = None) -> list:
    """The RunnerDeployments ``deploy`` registers (nothing is sent to a server here)."""
    from prefect.client.schemas.objects import (
        ConcurrencyLimitConfig,
        ConcurrencyLimitStrategy,
    )
    from prefect.deployments.runner import EntrypointType
    from prefect.schedules import Cron

    from workflows.sweep import sweep_flow

    _check_cron(sweep_cron, timezone)
    if partitions is not None:
        _check_partitions(partitions)
    targets: list[tuple[str, list[str] | None]] = (
        [(DEPLOYMENT, None)] if not partitions
        else [(f"{DEPLOYMENT}-{name}", list(codes)) for name, codes in partitions.items()])
    deployments = []
    for name, codes in targets:
        scope = "all plans" if codes is None else "plans " + ", ".join(codes)
        deployments.append(sweep_flow.to_deployment(
            name=name,
            schedules=[Cron(sweep_cron, timezone=timezone)],
            concurrency_limit=ConcurrencyLimitConfig(
                limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW),
            parameters={} if codes is None else {"plan_codes": codes},
            work_pool_name=pool,
            entrypoint_type=EntrypointType.MODULE_PATH,
            tags=[TAG],
            description=f"taskflow sweep of {scope}",
        ))
    return deployments


def _ensure_pool(client, pool: str) -> bool:
    """Create the process work pool if missing; True when created."""
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound
    from prefect.workers.process import ProcessWorker

    try:
        existing = client.read_work_pool(pool)
    except ObjectNotFound:
        client.create_work_pool(WorkPoolCreate(
            name=pool, type=ProcessWorker.type,
            base_job_template=ProcessWorker.get_default_base_job_template(),
            description="taskflow workers (process)"))
        return True
    if existing.type != ProcessWorker.type:
        raise UserError.single(f"work pool {pool!r} has type {existing.type!r}; taskflow "
                               "deploys to a process work pool", field="--pool")
    return False


def deploy(pool: str = "taskflow", *, sweep_cron: str = "*/5 * * * *",
           partitions: Mapping[str, Sequence[str]] | None = None,
           timezone: str | None = None) -> DeployResult:
    """Register the sweep deployment(s) on the Prefect server at PREFECT_API_URL."""
    import httpx
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterTags,
        FlowFilter,
        FlowFilterName,
    )
    from prefect.settings import PREFECT_API_URL

    from taskflow.settings import get_settings
    from workflows.sweep import FLOW_NAME

    if not PREFECT_API_URL.value():
        raise UserError.single("set PREFECT_API_URL to the Prefect server "
                               "(e.g. http://prefect.example:4200/api)", field="PREFECT_API_URL")
    if not pool or not pool.strip():
        raise UserError.single("a work pool name is required", field="--pool")
    timezone = timezone or get_settings().timezone
    deployments = build_deployments(pool, sweep_cron=sweep_cron, timezone=timezone,
                                    partitions=partitions)
    result = DeployResult(pool=pool)
    try:
        with get_client(sync_client=True) as client:
            error = client.api_healthcheck()
            if error is not None:
                raise UserError.single(f"the Prefect API at {PREFECT_API_URL.value()} is not "
                                       f"reachable: {error}", field="PREFECT_API_URL")
            result.pool_created = _ensure_pool(client, pool)
            for deployment, codes in zip(deployments, _codes(deployments), strict=True):
                deployment_id = deployment.apply(work_pool_name=pool)
                result.deployments.append(DeployedSweep(
                    name=deployment.name, full_name=f"{FLOW_NAME}/{deployment.name}",
                    cron=sweep_cron, timezone=timezone, plan_codes=codes,
                    id=str(deployment_id)))
            keep = {d.name for d in deployments}
            for stale in client.read_deployments(
                    flow_filter=FlowFilter(name=FlowFilterName(any_=[FLOW_NAME])),
                    deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=[TAG]))):
                if stale.work_pool_name == pool and stale.name not in keep:
                    client.delete_deployment(stale.id)
                    result.removed.append(f"{FLOW_NAME}/{stale.name}")
    except httpx.HTTPError as exc:
        raise UserError.single(f"the Prefect API at {PREFECT_API_URL.value()} failed: {exc}",
                               field="PREFECT_API_URL") from None
    return result


def _codes(deployments) -> list[list[str] | None]:
    return [d.parameters.get("plan_codes") for d in deployments]
