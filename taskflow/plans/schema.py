"""The plan file and units file formats (YAML), validated by pydantic.

These models describe what a person writes. ``taskflow.plans.expand`` turns a validated plan
into concrete rows (dates resolved, templates instantiated, units looked up); the importer
writes those rows. See docs/plan-format.md for the format with an example.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
)

from taskflow.domain.names import clean_name

CODE_PATTERN = r"^[A-Za-z0-9\u4e00-\u9fff][A-Za-z0-9_.\-{}:\u4e00-\u9fff]*$"
UNIT_CODE_PATTERN = r"^[a-z0-9][a-z0-9_.\-]*$"


class UnitKind(StrEnum):
    province = "province"  # 省
    city = "city"  # 市 / 州
    county = "county"  # 县 / 区 / 县级市 (the government of a county-level area)
    department = "department"  # 局 / 委 / 办 / 部 of a government
    office = "office"  # 督查室, 领导小组办公室: supervising and coordinating offices
    organization = "organization"  # 工会, 团委, 科协, 侨联, 工商联: people's organisations
    township = "township"  # 乡 / 镇 / 街道
    village = "village"  # 村 / 社区
    company = "company"  # enterprises, banks, cooperatives
    collective = "collective"  # "各乡(镇)人民政府": every unit of one kind below a parent


class ContactRole(StrEnum):
    head = "head"  # 主要负责人
    deputy = "deputy"  # 分管负责人
    liaison = "liaison"  # 联络员
    leader_in_charge = "leader_in_charge"  # 分管领导 (escalation level 3)
    coordinator = "coordinator"  # 扶贫办 / 脱贫攻坚办 coordinator of plans
    inspector = "inspector"  # 督查、检查人员
    member = "member"


class TaskUnitRole(StrEnum):
    lead = "lead"  # 牵头单位
    responsible = "responsible"  # 责任单位
    cooperating = "cooperating"  # 配合单位


class TaskKind(StrEnum):
    task = "task"
    milestone = "milestone"  # a dated step of its parent ("6月10日前全部完成核定")
    project = "project"  # a construction project with a lifecycle
    duty = "duty"  # a recurring duty ("每季度至少研究一次"), occurrences made by the engine


class FundSource(StrEnum):
    central = "central"  # 中央
    provincial = "provincial"  # 省级
    municipal = "municipal"  # 市级
    county = "county"  # 县级 / 区级
    township = "township"  # 乡镇
    government = "government"  # public money the text does not split by level
    social = "social"  # 社会资金, donations, enterprises
    other = "other"


class InspectionKind(StrEnum):
    inspection = "inspection"  # 检查 / 验收检查 / 暗访抽查
    bulletin = "bulletin"  # 通报
    assessment = "assessment"  # 考核 / 考评


def known_timezone(value: str) -> str:
    """A validator body: the IANA zone exists (Asia/Shanghai)."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"未知时区 {value!r}，应如 Asia/Shanghai") from None
    return value


def _amount_yuan(value: Any) -> Any:
    """'230万元', '4.36亿元', '2260.96 万', 11 (yuan) -> Decimal yuan."""
    if isinstance(value, bool):
        raise ValueError("金额应为数字，可带“万”或“亿”及“元”")
    if isinstance(value, int | float | Decimal):
        return Decimal(str(value))
    if not isinstance(value, str):
        return value
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(万|亿)?\s*元?\s*", value)
    if not m:
        raise ValueError(f"{value!r} 不是有效金额，应写成如 230万元、4.36亿元 或 11000")
    try:
        number = Decimal(m[1])
    except InvalidOperation:  # pragma: no cover - the regex admits only decimals
        raise ValueError(f"{value!r} 不是有效金额") from None
    factor = {"万": Decimal(10_000), "亿": Decimal(100_000_000), None: Decimal(1)}[m[2]]
    return (number * factor).quantize(Decimal("0.01"))


Amount = Annotated[Decimal, BeforeValidator(_amount_yuan), Field(ge=0)]


def _as_list(value: Any) -> Any:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return value


UnitRefs = Annotated[list[str], BeforeValidator(_as_list)]
Phrase = str | date  # a date phrase; YAML turns unquoted ISO dates into dates


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# -- units file -------------------------------------------------------------------------------


class ContactSpec(Strict):
    name: str = Field(min_length=1)
    role: ContactRole = ContactRole.liaison
    title: str | None = None  # 职务, e.g. 局长, 副区长
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    mobile: str | None = Field(default=None, pattern=r"^\+?[0-9][0-9 \-]{5,19}$")
    wecom_id: str | None = None
    dingtalk_id: str | None = None
    channels: list[str] = Field(default_factory=list)

    @field_validator("channels")
    @classmethod
    def _known_channels(cls, value: list[str]) -> list[str]:
        known = {"email", "sms", "wecom", "dingtalk"}
        for channel in value:
            if channel not in known:
                raise ValueError(f"未知渠道 {channel!r}，应为 {sorted(known)} 之一")
        return value


# A unit's name and aliases are stored as clean_name gives them, so that names differing only
# by invisible characters or full-width forms are one name (an empty one is then refused).
def _unit_name(value: str) -> str:
    name = clean_name(value)
    if not name:
        raise ValueError("单位名称为空（只有空白或不可见字符）")
    return name


UnitName = Annotated[str, AfterValidator(_unit_name)]


class UnitSpec(Strict):
    code: str = Field(pattern=UNIT_CODE_PATTERN)
    name: UnitName
    kind: UnitKind
    parent: str | None = Field(default=None, pattern=UNIT_CODE_PATTERN)
    aliases: list[UnitName] = Field(default_factory=list)
    member_kind: UnitKind | None = None  # for collectives: which units below the parent
    contacts: list[ContactSpec] = Field(default_factory=list)
    children: list[UnitSpec] = Field(default_factory=list)


class UnitsFile(Strict):
    units: list[UnitSpec]


# -- plan file --------------------------------------------------------------------------------


class TargetSpec(Strict):
    value: Decimal
    unit: str = Field(min_length=1)  # the measure: 人次, 万亩, 个, 公里, %
    note: str | None = None


def _target(value: Any) -> Any:
    """'500 人次' / '204.41万亩' / '60%' -> {value, unit}."""
    if isinstance(value, str):
        m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(\S.*?)\s*", value)
        if not m:
            raise ValueError(f"{value!r} 不是有效目标，应写成数字加计量单位，如 500 人次")
        return {"value": m[1], "unit": m[2]}
    return value


class ProgressPoint(Strict):
    """Planned cumulative progress: by this date, this much of the target (a % or a quantity)."""

    by: Phrase
    cumulative: Decimal | str

    @field_validator("cumulative")
    @classmethod
    def _number_or_percent(cls, value: Decimal | str) -> Decimal | str:
        if isinstance(value, str) and not re.fullmatch(r"[0-9]+(?:\.[0-9]+)?%", value.strip()):
            raise ValueError(f"{value!r} 无效：应写数量（如 400）或占目标的比例（如 40%）")
        return value


class DisbursePoint(Strict):
    """Planned cumulative disbursement of a fund line: by this date, this share or amount."""

    by: Phrase
    cumulative: str | Decimal  # a share of the line ("50%") or an amount ("10万元", 100000)

    @field_validator("cumulative")
    @classmethod
    def _share_or_amount(cls, value: str | Decimal) -> str | Decimal:
        if isinstance(value, str) and not value.strip().endswith("%"):
            return _amount_yuan(value)
        if isinstance(value, str) and not re.fullmatch(r"[0-9]+(?:\.[0-9]+)?%", value.strip()):
            raise ValueError(f"{value!r} 无效：应写占该笔资金的比例（如 50%）或金额（如 10万元）")
        return value


class DisbursedSpec(Strict):
    """A disbursement the plan text reports as made (篇3: 至7月6日拨付项目资金1079.4813万元)."""

    paid_on: Phrase
    amount: Amount
    note: str | None = None


class FundSpec(Strict):
    code: str | None = Field(default=None, pattern=CODE_PATTERN)
    source: FundSource
    amount: Amount
    note: str | None = None
    task: str | None = None  # plan-level lines only: the code of the task funded
    disburse_by: Phrase | None = None  # "6月底前补助到位": all of it disbursed by this day
    schedule: list[DisbursePoint] = Field(default_factory=list)  # planned cumulative shares
    disbursed: list[DisbursedSpec] = Field(default_factory=list)  # as the text reports them


class MilestoneSpec(Strict):
    code: str | None = Field(default=None, pattern=CODE_PATTERN)
    title: str = Field(min_length=1)
    start: Phrase | None = None
    due: Phrase
    target: Annotated[TargetSpec | None, BeforeValidator(_target)] = None
    lead: UnitRefs = Field(default_factory=list)
    responsible: UnitRefs = Field(default_factory=list)
    each_responsible: bool = False  # 各自负责: see TaskSpec


class TaskSpec(Strict):
    code: str = Field(pattern=CODE_PATTERN)
    title: str = Field(min_length=1)
    kind: TaskKind = TaskKind.task
    parent: str | None = None  # for flat lists; nested children need not say it
    text: str | None = None  # 主要任务
    schedule: str | None = None  # 进度安排, as written
    lead: UnitRefs = Field(default_factory=list)
    responsible: UnitRefs = Field(default_factory=list)
    cooperating: UnitRefs = Field(default_factory=list)
    # 各自负责: each unit named answers for its own share and none leads. Without it (or a
    # plan-level ``lead``) a task that names units but no lead is refused: nobody would be
    # accountable for the whole.
    each_responsible: bool = False
    # Dates below resolve in this year: 2013, or "+1" for the year after the plan year.
    year: int | Annotated[str, Field(pattern=r"^\+[0-9]{1,2}$")] | None = None
    start: Phrase | None = None
    due: Phrase | None = None
    target: Annotated[TargetSpec | None, BeforeValidator(_target)] = None
    progress_plan: list[ProgressPoint] = Field(default_factory=list)
    recurrence: str | None = None  # 每季度 / 每月 / 每2月 / an RRULE
    acceptance: list[str] = Field(default_factory=list)  # 验收标准
    funds: list[FundSpec] = Field(default_factory=list)
    milestones: list[MilestoneSpec] = Field(default_factory=list)
    template: str | None = None  # children instantiated from the plan's templates
    repeat: int | None = Field(default=None, ge=1, le=10_000)  # {n} in code and title
    children: list[TaskSpec] = Field(default_factory=list)


class RuleSpec(Strict):
    code: str = Field(pattern=CODE_PATTERN)
    text: str
    kind: str = Field(pattern=r"^(min_share|max_share|min_amount)$")
    subject: str  # what is measured, e.g. 到户资金占到县资金比例
    threshold: Decimal | str
    # How taskflow measures it from recorded disbursements: those tagged ``tag`` (e.g. 到户)
    # against those tagged ``of`` (default: all of the plan's). Without a tag the rule is
    # listed but not measured.
    tag: str | None = Field(default=None, min_length=1, max_length=40)
    of: str | None = Field(default=None, min_length=1, max_length=40)


class SampleStratum(StrEnum):
    village = "village"  # villages (村), drawn per township
    township = "township"  # townships (乡镇), drawn per county
    project = "project"  # project tasks of the plan, drawn per lead unit


def _share_value(value: Any) -> Any:
    """'20%' / 0.2 / 20 -> a fraction in (0, 1]."""
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            return Decimal(value.strip()[:-1]) / 100
        except InvalidOperation:
            raise ValueError(f"{value!r} 不是有效比例，应写成 20% 或 0.2") from None
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool) and value > 1:
        return Decimal(str(value)) / 100
    return value


class SampleSpec(Strict):
    """抽查: a reproducible stratified random sample drawn for each round."""

    strata: SampleStratum = SampleStratum.village  # what is drawn (and by what it is grouped)
    share: Annotated[Decimal, BeforeValidator(_share_value), Field(gt=0, le=1)]  # per stratum
    seed: int | str = 0  # same seed, same population, same round: same sample
    min: int = Field(default=1, ge=0, le=1000)  # at least this many per stratum


class InspectionSpec(Strict):
    code: str = Field(pattern=CODE_PATTERN)
    title: str
    kind: InspectionKind = InspectionKind.inspection
    when: Phrase | None = None  # a single round: "9月", "2025-09-15", "年底"
    recurrence: str | None = None  # cycles: 每季度 / 每半年 / 每年
    units: UnitRefs = Field(default_factory=list)  # who is inspected
    inspectors: UnitRefs = Field(default_factory=list)  # who inspects
    note: str | None = None
    notice_days: int | None = Field(default=None, ge=0, le=60)  # notice, working days before
    sample: SampleSpec | None = None  # 抽查 of villages, townships or projects
    rectify_within: int | None = Field(default=None, ge=1, le=365)  # 整改 deadline, working days


ASSESSMENT_PARTS = ("on_time", "targets", "funds", "inspections")


class AssessmentSpec(Strict):
    """The year-end assessment (年底考核): weights of the parts of a unit's 百分制 score."""

    weights: dict[str, Annotated[Decimal, Field(ge=0, le=100)]] = Field(
        default_factory=lambda: {"on_time": Decimal(40), "targets": Decimal(30),
                                 "funds": Decimal(15), "inspections": Decimal(15)})

    @field_validator("weights")
    @classmethod
    def _known_parts(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        for name in value:
            if name not in ASSESSMENT_PARTS:
                raise ValueError(f"未知考核项 {name!r}，应为 "
                                 f"{list(ASSESSMENT_PARTS)} 中的若干项")
        if not value or sum(value.values()) <= 0:
            raise ValueError("至少要有一项权重大于 0")
        return value


RECIPIENT_SCOPES = ("lead", "responsible", "cooperating", "units", "office", "jurisdiction",
                    "issuer")
RECIPIENT_PATTERN = (r"^(lead|responsible|cooperating|units|office|jurisdiction|issuer)\."
                     r"(head|deputy|liaison|leader_in_charge|coordinator|inspector|member|any)$")


class EscalationStep(Strict):
    """One rung of the 督办 ladder: after N working days overdue, tell these roles."""

    level: int = Field(ge=1, le=9)
    after: int = Field(ge=0, le=365)  # working days overdue (calendar days if the policy says)
    to: list[Annotated[str, Field(pattern=RECIPIENT_PATTERN)]] = Field(min_length=1)
    consequence: str | None = None  # 督办 / 通报 / 约谈: used in the message


def _hhmm(value: Any) -> Any:
    if isinstance(value, int):  # YAML reads 09:00 as sexagesimal 540
        return f"{value // 60:02d}:{value % 60:02d}"
    return value


HHMM = Annotated[str, BeforeValidator(_hhmm), Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]


class QuietHours(Strict):
    start: HHMM = "21:00"
    end: HHMM = "08:00"


class PolicySpec(Strict):
    """When to remind, chase and escalate. Days are working days unless calendar_days."""

    calendar_days: bool = False
    acknowledge_within: int = Field(default=2, ge=0, le=60)  # 签收 due after activation
    chase_every: int = Field(default=1, ge=1, le=60)  # repeat the 签收 chase
    chase_limit: int = Field(default=3, ge=0, le=60)  # at most this many chases per task
    remind_before: list[Annotated[int, Field(ge=0, le=60)]] = Field(
        default_factory=lambda: [5, 2, 0])
    # Overdue reminders: these working days after the deadline (or after the day taskflow
    # learned of a task already overdue), then every overdue_every days; they stop after the
    # top escalation step unless repeat_after_top (the task then lives in the weekly
    # summaries and the bulletin).
    overdue_repeat: list[Annotated[int, Field(ge=1, le=365)]] = Field(
        default_factory=lambda: [1, 3, 5, 10], min_length=1)
    overdue_every: int = Field(default=5, ge=1, le=60)
    repeat_after_top: bool = False
    escalation: list[EscalationStep] = Field(default_factory=lambda: [
        EscalationStep(level=1, after=1, to=["lead.head"], consequence="督办"),
        EscalationStep(level=2, after=3, to=["office.coordinator"], consequence="通报"),
        EscalationStep(level=3, after=5, to=["jurisdiction.leader_in_charge"],
                       consequence="约谈"),
    ])
    notify: list[Annotated[str, Field(pattern=RECIPIENT_PATTERN)]] = Field(
        default_factory=lambda: ["lead.liaison", "responsible.liaison"])  # who gets reminders
    send_at: HHMM = "09:00"  # local time at which a day's reminders go out
    # Accepted for plan files written for earlier versions; quiet hours are the dispatcher's
    # (TASKFLOW_NOTIFY_QUIET_HOURS, per channel), not a plan's.
    quiet_hours: QuietHours | None = Field(default_factory=QuietHours)
    # One digest per contact, channel and working day at send_at for everything below
    # urgent_level; escalations at or above it go out at once, alone.
    digest: bool = True
    urgent_level: int = Field(default=2, ge=1, le=10)
    warning_window: int = Field(default=3, ge=0, le=60)  # yellow light before the deadline
    behind_threshold: Decimal = Field(default=Decimal(10), ge=0, le=100)  # % points behind plan
    occurrence_horizon: int = Field(default=31, ge=1, le=366)  # calendar days of duty occurrences

    @field_validator("escalation")
    @classmethod
    def _ladder(cls, steps: list[EscalationStep]) -> list[EscalationStep]:
        levels = [s.level for s in steps]
        if levels != sorted(set(levels)):
            raise ValueError("督办级别不能重复，且须逐级递增")
        afters = [s.after for s in steps]
        if afters != sorted(afters):
            raise ValueError("较高级别的督办不能早于较低级别")
        return steps

    @field_validator("remind_before")
    @classmethod
    def _distinct(cls, days: list[int]) -> list[int]:
        return sorted(set(days), reverse=True)

    @field_validator("overdue_repeat")
    @classmethod
    def _ascending(cls, days: list[int]) -> list[int]:
        return sorted(set(days))

    @property
    def top_level(self) -> int | None:
        """The highest escalation level of the ladder (None: no ladder)."""
        return self.escalation[-1].level if self.escalation else None


class SourceSpec(Strict):
    document: str | None = None
    part: str | None = None
    lines: str | None = None
    url: str | None = None


class PlanFile(Strict):
    code: str = Field(pattern=UNIT_CODE_PATTERN)
    title: str = Field(min_length=1)
    year: int | str  # an int, or "20xx" when the year comes from the import
    issuer: str | None = None
    jurisdiction: str = Field(pattern=UNIT_CODE_PATTERN)
    # Who leads for the whole plan: the lead of every task that names units but no lead.
    lead: UnitRefs = Field(default_factory=list)
    timezone: str = "Asia/Shanghai"
    source: SourceSpec | None = None
    summary: str | None = None
    units: list[UnitSpec] = Field(default_factory=list)
    templates: dict[str, list[TaskSpec]] = Field(default_factory=dict)
    tasks: list[TaskSpec] = Field(min_length=1)
    funds: list[FundSpec] = Field(default_factory=list)
    rules: list[RuleSpec] = Field(default_factory=list)
    inspections: list[InspectionSpec] = Field(default_factory=list)
    policy: PolicySpec = Field(default_factory=PolicySpec)
    assessment: AssessmentSpec | None = None  # 年底考核 weights (defaults if absent)

    @field_validator("year")
    @classmethod
    def _year(cls, value: int | str) -> int | str:
        if isinstance(value, int):
            if not 1990 <= value <= 2200:
                raise ValueError(f"年度 {value} 超出范围 1990-2200")
            return value
        if value.lower() in ("20xx", "20**"):
            return "20xx"
        raise ValueError(f"年度应为数字或 20xx，不能是 {value!r}")

    _timezone = field_validator("timezone")(classmethod(lambda cls, v: known_timezone(v)))
