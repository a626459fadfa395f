"""Prefect deployments for several machines (``taskflow deploy``).

The setup (DESIGN, "Scale beyond one machine"): a Prefect server on PostgreSQL, a work pool of
type ``process``, workers (``prefect worker start --pool POOL``) on several machines where
taskflow is installed and ``TASKFLOW_DATABASE_URL`` points at the shared PostgreSQL database.

``deploy`` registers on the server at ``PREFECT_API_URL``:

- one **sweep** deployment per partition ("sweep" for all plans, or "sweep-<name>" per
  partition of plan codes, given by hand or made by region of the unit tree);
- one **dispatch** deployment per outbox channel ("dispatch-email", "dispatch-sms", ...), so
  a slow SMS gateway never holds up email;
- the **bulletin** deployment ("taskflow-bulletin/bulletin", ``workflows.bulletin``) when
  bulletins are on (``TASKFLOW_BULLETIN_EVERY`` weekly or monthly, or ``--bulletin``): Monday
  09:00 for the last week, or the 1st at 09:00 for the last month, as ``serve`` does;
- the Prefect **global concurrency limits** the dispatch flow takes under a deployment
  (``workflows.dispatch``): ``taskflow-smtp`` (SMTP connections of all workers together,
  ``TASKFLOW_SMTP_CONCURRENCY``), ``taskflow-sms`` (messages a second, ``TASKFLOW_SMS_RATE``),
  ``taskflow-wecom`` and ``taskflow-dingtalk`` (``TASKFLOW_IM_RATE_PER_MINUTE``), as rate
  limits with slot decay. Re-running deploy sets them to the current settings.

Every deployment:

- has the entrypoint ``workflows.<module>.<flow>`` as a *module path*: workers import the
  installed package, so no code storage (git, S3, image) is involved;
- a cron schedule in the configured timezone (Asia/Shanghai by default);
- a deployment concurrency limit of 1 with collision strategy CANCEL_NEW: a run still going
  when the next one is due makes the next one cancelled, not queued behind it (the following
  tick catches up; the flows work from database state);
- parameters: ``plan_codes`` for a sweep partition (codes, not ids, so the same command works
  on any database; the flow refuses unknown codes), ``channels`` for a dispatch.

Deployments of taskflow's flows tagged ``taskflow`` in the same work pool that the new set does
not name are deleted, so re-partitioning does not leave the old partitions running too (other
pools, e.g. another county's taskflow on the same Prefect server, are left alone). The work
pool is created (type process, Prefect's default job template) when missing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from taskflow.domain.messages import CHANNELS
from taskflow.errors import UserError

TAG = "taskflow"
DEPLOYMENT = "sweep"
DISPATCH = "dispatch"
BULLETIN = "bulletin"
BULLETIN_CRONS = {"weekly": "0 9 * * 1", "monthly": "0 9 1 * *"}  # as serve's bulletin job
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,40}$")
PARTITION_BY = ("plan", "region")
TERRITORIAL = {"province", "city", "county", "district", "township", "town", "village"}


@dataclass
class DeployedSweep:
    name: str
    full_name: str
    cron: str
    timezone: str
    plan_codes: list[str] | None
    id: str | None = None
    channels: list[str] | None = None  # dispatch deployments: their channel


@dataclass
class DeployedLimit:
    name: str
    limit: int
    slot_decay_per_second: float | None

    def describe(self) -> str:
        if self.slot_decay_per_second:
            return f"{self.name}：速率上限 {self.slot_decay_per_second:g}/秒" \
                   f"（突发 {self.limit}）"
        return f"{self.name}：并发上限 {self.limit}"


@dataclass
class DeployResult:
    pool: str
    pool_created: bool = False
    deployments: list[DeployedSweep] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    limits: list[DeployedLimit] = field(default_factory=list)


def parse_partitions(values: Sequence[str]) -> dict[str, list[str]]:
    """``NAME=CODE[,CODE...]`` options → {name: [codes]}."""
    partitions: dict[str, list[str]] = {}
    for value in values:
        name, sep, codes = value.partition("=")
        name = name.strip()
        if not sep:
            raise UserError.single(f"{value!r}：应为 NAME=PLAN[,PLAN...]",
                                   field="--partition")
        if name in partitions:
            raise UserError.single(f"分区 {name!r} 重复给出", field="--partition")
        partitions[name] = [c.strip() for c in codes.split(",") if c.strip()]
    return partitions


def parse_channels(value: str | None) -> list[str]:
    """``email,sms`` → ["email", "sms"]; None → all channels."""
    from workflows.dispatch import check_channels

    if value is None:
        return list(CHANNELS)
    return check_channels([c.strip() for c in value.split(",") if c.strip()],
                          field="--dispatch-channels")


def _partition_name(code: str, taken: set[str], fallback: str) -> str:
    name = re.sub(r"[^a-z0-9_-]+", "-", code.lower()).strip("-_")[:41]
    if not _NAME.match(name or "-"):
        name = fallback
    base, n = name, 2
    while name in taken:
        name = f"{base[:38]}-{n}"
        n += 1
    taken.add(name)
    return name


def region_partitions(engine) -> dict[str, list[str]]:
    """One partition per top-level region of the unit tree, holding the plans whose
    jurisdiction lies in it.

    The top-level regions are the territorial children (city, county, township, ...) of the
    root when the tree has one root, else the roots themselves. A plan whose jurisdiction is
    the single root (a province-wide plan) is in the root's own partition. Names come from
    the region's unit code ("p.c0" → "p-c0")."""
    from sqlalchemy import select

    from taskflow.db import read_session
    from taskflow.models import Plan, Unit

    with read_session(engine) as session:
        units = {row.id: row for row in session.execute(
            select(Unit.id, Unit.code, Unit.kind, Unit.parent_id)).all()}
        plans = session.execute(select(Plan.code, Plan.jurisdiction_id)
                                .order_by(Plan.code)).all()
    if not plans:
        raise UserError.single("数据库中没有方案，无从分区",
                               field="--partition-by")
    roots = [u for u in units.values() if u.parent_id is None]

    def region(unit_id: int) -> int:
        chain = [unit_id]
        while units[chain[-1]].parent_id is not None:
            chain.append(units[chain[-1]].parent_id)
        if len(roots) != 1 or len(chain) == 1:
            return chain[-1]  # several roots: each is a region; or the root itself
        top = chain[-2]  # the root's child on the way up
        return top if units[top].kind in TERRITORIAL else chain[-1]

    grouped: dict[int, list[str]] = {}
    for code, jurisdiction in plans:
        grouped.setdefault(region(jurisdiction), []).append(code)
    taken: set[str] = set()
    return {_partition_name(units[uid].code, taken, f"u{uid}"): codes
            for uid, codes in sorted(grouped.items(), key=lambda item: units[item[0]].code)}


def _check_partitions(partitions: Mapping[str, Sequence[str]]) -> None:
    seen: dict[str, str] = {}
    for name, codes in partitions.items():
        if not _NAME.match(name):
            raise UserError.single(f"分区名 {name!r} 无效：只能用小写字母、数字、"
                                   "'-' 和 '_'（最多 41 个字符）", field="--partition")
        if not codes:
            raise UserError.single(f"分区 {name!r} 未列出任何方案", field="--partition")
        for code in codes:
            if code in seen:
                raise UserError.single(f"方案 {code!r} 同时在分区 {seen[code]!r} 和 "
                                       f"{name!r} 中；一个方案只能属于一个分区",
                                       field="--partition")
            seen[code] = name


def _check_cron(cron: str, timezone: str, option: str = "--sweep-cron") -> None:
    from zoneinfo import ZoneInfo

    from workflows.scheduler import parse_schedule

    if len(cron.split()) != 5:
        raise UserError.single(f"{cron!r} 不是 5 段式 crontab（如 \"*/5 * * * *\"）",
                               field=option)
    parse_schedule(cron, ZoneInfo(timezone), field=option)


def _one_at_a_time():
    from prefect.client.schemas.objects import (
        ConcurrencyLimitConfig,
        ConcurrencyLimitStrategy,
    )

    return ConcurrencyLimitConfig(limit=1,
                                  collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW)


def build_deployments(pool: str, *, sweep_cron: str, timezone: str,
                      partitions: Mapping[str, Sequence[str]] | None = None,
                      dispatch_cron: str | None = None,
                      dispatch_channels: Sequence[str] = (),
                      bulletin: str = "off") -> list:
    """The RunnerDeployments ``deploy`` registers (nothing is sent to a server here).

    ``dispatch_cron`` None: no dispatch deployments; ``bulletin`` "weekly"/"monthly": the
    bulletin deployment too."""
    from prefect.deployments.runner import EntrypointType
    from prefect.schedules import Cron

    from workflows.dispatch import dispatch_flow
    from workflows.sweep import sweep_flow

    _check_cron(sweep_cron, timezone)
    if dispatch_cron is not None:
        _check_cron(dispatch_cron, timezone, "--dispatch-cron")
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
            concurrency_limit=_one_at_a_time(),
            parameters={} if codes is None else {"plan_codes": codes},
            work_pool_name=pool,
            entrypoint_type=EntrypointType.MODULE_PATH,
            tags=[TAG],
            description=f"taskflow sweep of {scope}",
        ))
    if dispatch_cron is not None:
        for channel in dispatch_channels:
            deployments.append(dispatch_flow.to_deployment(
                name=f"{DISPATCH}-{channel}",
                schedules=[Cron(dispatch_cron, timezone=timezone)],
                concurrency_limit=_one_at_a_time(),
                parameters={"channels": [channel]},
                work_pool_name=pool,
                entrypoint_type=EntrypointType.MODULE_PATH,
                tags=[TAG],
                description=f"taskflow dispatch of the {channel} outbox",
            ))
    if bulletin != "off":
        if bulletin not in BULLETIN_CRONS:
            raise UserError.single(f"{bulletin!r}：应为 off、weekly 或 monthly",
                                   field="--bulletin")
        from workflows.bulletin import bulletin_flow

        deployments.append(bulletin_flow.to_deployment(
            name=BULLETIN,
            schedules=[Cron(BULLETIN_CRONS[bulletin], timezone=timezone)],
            concurrency_limit=_one_at_a_time(),
            parameters={"every": bulletin},
            work_pool_name=pool,
            entrypoint_type=EntrypointType.MODULE_PATH,
            tags=[TAG],
            description=f"taskflow {bulletin} bulletin (通报) of every plan",
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
        raise UserError.single(f"工作池 {pool!r} 的类型是 {existing.type!r}；taskflow "
                               "只部署到 process 类型的工作池", field="--pool")
    return False


def ensure_limits(client, settings) -> list[DeployedLimit]:
    """Create or update the global concurrency limits the dispatch flow takes."""
    from workflows.dispatch import limit_sizes

    done = []
    for name, (limit, decay) in limit_sizes(settings).items():
        client.upsert_global_concurrency_limit_by_name(name, limit,
                                                       slot_decay_per_second=decay)
        done.append(DeployedLimit(name, limit, decay))
    return done


def deploy(pool: str = "taskflow", *, sweep_cron: str = "*/5 * * * *",
           partitions: Mapping[str, Sequence[str]] | None = None,
           timezone: str | None = None, dispatch_cron: str | None = None,
           dispatch_channels: Sequence[str] | None = None,
           partition_by: str = "plan", bulletin: str | None = None) -> DeployResult:
    """Register the deployments and limits on the Prefect server at PREFECT_API_URL.

    ``partition_by="region"`` computes the partitions from the database (one per top-level
    region); ``dispatch_cron`` None registers no dispatch deployment; ``bulletin`` None
    follows TASKFLOW_BULLETIN_EVERY."""
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
    from workflows.dispatch import FLOW_NAME as DISPATCH_FLOW
    from workflows.sweep import FLOW_NAME

    if not PREFECT_API_URL.value():
        raise UserError.single("请将 PREFECT_API_URL 设为 Prefect 服务器地址"
                               "（如 http://prefect.example:4200/api）", field="PREFECT_API_URL")
    if not pool or not pool.strip():
        raise UserError.single("须给出工作池名称", field="--pool")
    if partition_by not in PARTITION_BY:
        raise UserError.single(f"{partition_by!r}：应为 {'、'.join(PARTITION_BY)} 之一",
                               field="--partition-by")
    settings = get_settings()
    timezone = timezone or settings.timezone
    if partition_by == "region":
        if partitions:
            raise UserError.single("--partition-by region 会自动生成分区，不要同时给出 "
                                   "--partition", field="--partition")
        from workflows.direct import open_engine

        engine = open_engine(settings)
        try:
            partitions = region_partitions(engine)
        finally:
            engine.dispose()
    channels = list(CHANNELS if dispatch_channels is None else dispatch_channels)
    deployments = build_deployments(pool, sweep_cron=sweep_cron, timezone=timezone,
                                    partitions=partitions, dispatch_cron=dispatch_cron,
                                    dispatch_channels=channels,
                                    bulletin=bulletin or settings.bulletin_every)
    result = DeployResult(pool=pool)
    flows = [FLOW_NAME, DISPATCH_FLOW, "taskflow-bulletin"]
    try:
        with get_client(sync_client=True) as client:
            error = client.api_healthcheck()
            if error is not None:
                raise UserError.single(f"无法连接 Prefect API（{PREFECT_API_URL.value()}）："
                                       f"{error}", field="PREFECT_API_URL")
            result.pool_created = _ensure_pool(client, pool)
            if dispatch_cron is not None:
                result.limits = ensure_limits(client, settings)
            for deployment in deployments:
                deployment_id = deployment.apply(work_pool_name=pool)
                params = deployment.parameters
                cron = (sweep_cron if deployment.flow_name == FLOW_NAME else dispatch_cron
                        if deployment.flow_name == DISPATCH_FLOW
                        else deployment.schedules[0].schedule.cron)
                result.deployments.append(DeployedSweep(
                    name=deployment.name, full_name=f"{deployment.flow_name}/{deployment.name}",
                    cron=cron, timezone=timezone, plan_codes=params.get("plan_codes"),
                    id=str(deployment_id), channels=params.get("channels")))
            keep = {(d.flow_name, d.name) for d in deployments}
            flow_names = {f.id: f.name for f in client.read_flows(
                flow_filter=FlowFilter(name=FlowFilterName(any_=flows)))}
            for stale in client.read_deployments(
                    flow_filter=FlowFilter(name=FlowFilterName(any_=flows)),
                    deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=[TAG]))):
                flow_name = flow_names.get(stale.flow_id, "?")
                if stale.work_pool_name == pool and (flow_name, stale.name) not in keep:
                    client.delete_deployment(stale.id)
                    result.removed.append(f"{flow_name}/{stale.name}")
    except httpx.HTTPError as exc:
        raise UserError.single(f"Prefect API（{PREFECT_API_URL.value()}）出错：{exc}",
                               field="PREFECT_API_URL") from None
    return result
