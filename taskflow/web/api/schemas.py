"""What the JSON API sends and accepts (pydantic models, named like the full-stack FastAPI
template: ``XPublic`` going out, ``XCreate`` coming in, ``XsPublic`` for a page of them).

Field names are English; descriptions are Chinese because the OpenAPI page is read by the
people who integrate with a county's office. Instants are timezone-aware UTC (ISO 8601 with
``Z``), days are ISO dates in the plan's timezone, and decimals are JSON strings everywhere
(exact: a progress of 33.33 % or 1234.56 元 must not become a binary float).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
)

from taskflow.domain.states import TaskState
from taskflow.services.tasks import EXTEND_FIRST_DAY, EXTEND_LAST_DAY

MAX_ID = 2**31 - 1  # PostgreSQL integer: a larger ID cannot exist (and must not reach SQL)


def _plain_text(value: str | None) -> str | None:
    """Refuse what no database stores as text: NUL (PostgreSQL) and lone surrogates."""
    if value is None:
        return None
    if "\x00" in value:
        raise ValueError("不能包含 NUL 字符")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("不是有效的 UTF-8 文本") from None
    return value


# Decimals go out as strings (pydantic's default, made explicit so the schema says so).
DecimalStr = Annotated[Decimal, PlainSerializer(lambda d: str(d), return_type=str,
                                                when_used="json")]
Text = Annotated[str, AfterValidator(_plain_text)]


class Light(StrEnum):
    red = "red"
    yellow = "yellow"
    green = "green"
    none = "none"  # cancelled


class UnitRef(BaseModel):
    id: int
    code: str = Field(description="单位代码，如 t.lyj")
    name: str = Field(description="单位名称")


class UnitPublic(UnitRef):
    kind: str = Field(description="单位类型：county、department、township、village、collective 等")
    parent_id: int | None = Field(description="上级单位 ID")
    member_kind: str | None = Field(
        default=None, description="集合单位（如「各乡(镇)人民政府」）所指的成员类型")


class UnitsPublic(BaseModel):
    data: list[UnitPublic]
    count: int = Field(description="单位总数")


class TaskUnitPublic(UnitRef):
    role: str = Field(description="承办角色：lead 牵头单位、responsible 责任单位、"
                                  "cooperating 配合单位")


class LightCounts(BaseModel):
    red: int = Field(0, description="红灯（已逾期）任务数")
    yellow: int = Field(0, description="黄灯（临近期限或进度滞后）任务数")
    green: int = Field(0, description="绿灯（正常）任务数")
    none: int = Field(0, description="已撤销任务数")


class PlanPublic(BaseModel):
    id: int
    code: str = Field(description="方案代码")
    title: str = Field(description="方案标题")
    year: int = Field(description="实施年度")
    timezone: str = Field(description="方案时区（期限按此时区的日末计算）")
    issuer: UnitRef | None = Field(description="印发单位")
    jurisdiction: UnitRef = Field(description="实施地区")
    summary: str | None = Field(description="方案摘要")
    imported_at: datetime = Field(description="导入时间（UTC）")
    updated_at: datetime = Field(description="最近更新时间（UTC）")


class PlanDetailPublic(PlanPublic):
    task_count: int = Field(description="当前用户可见的任务数（不含已归档任务）")
    lights: LightCounts = Field(description="可见任务按红黄绿灯计数")
    states: dict[str, int] = Field(description="可见任务按状态计数")


class PlansPublic(BaseModel):
    data: list[PlanPublic]
    count: int = Field(description="可见方案总数")
    limit: int
    offset: int


class ReportPublic(BaseModel):
    id: int
    task_id: int
    unit: UnitRef | None = Field(description="报送单位（协调员代报时为空）")
    reported_at: datetime = Field(description="报送时间（UTC）")
    percent: DecimalStr | None = Field(description="累计完成比例（%）")
    quantity: DecimalStr | None = Field(description="累计完成数量（单位见任务的 target_unit）")
    amount: DecimalStr | None = Field(description="累计拨付资金（元）")
    note: str | None = Field(description="说明")
    reporter: str | None = Field(description="报送人")


class ReportsPublic(BaseModel):
    data: list[ReportPublic]
    count: int = Field(description="报送总数")
    limit: int
    offset: int


class TaskPublic(BaseModel):
    id: int
    plan_id: int
    plan_code: str = Field(description="所属方案代码")
    parent_id: int | None = Field(description="上级任务 ID")
    code: str = Field(description="任务编号，如 2.1")
    kind: str = Field(description="类型：task 任务、milestone 节点、duty 常态工作、"
                                  "occurrence 常态工作的一期、rectification 整改")
    title: str = Field(description="任务标题")
    state: TaskState = Field(description="状态")
    state_label: str = Field(description="状态（中文）")
    light: Light = Field(description="红黄绿灯")
    light_label: str = Field(description="灯（中文）")
    start_on: date | None = Field(description="开始日期")
    due_on: date | None = Field(description="期限（含延期），方案时区的日期")
    planned_due_on: date | None = Field(description="方案原定期限")
    due_at: datetime | None = Field(description="期限时刻：期限日在方案时区的日末（UTC）")
    target_value: DecimalStr | None = Field(description="目标数量")
    target_unit: str | None = Field(description="目标数量的计量单位，如 人次")
    percent: DecimalStr | None = Field(description="最近一次报送的完成比例（%）")
    acknowledged_at: datetime | None = Field(description="签收时间（UTC）")
    submitted_at: datetime | None = Field(description="提交办结时间（UTC）")
    completed_at: datetime | None = Field(description="验收办结时间（UTC）")
    escalation_level: int = Field(description="督办级别（0 为未督办）")
    units: list[TaskUnitPublic] = Field(description="承办单位")


class MilestonePublic(BaseModel):
    id: int
    code: str
    title: str = Field(description="节点名称")
    state: TaskState
    light: Light
    due_on: date | None = Field(description="节点期限")
    due_at: datetime | None = Field(description="节点期限时刻（UTC）")


class TaskDetailPublic(TaskPublic):
    text: str | None = Field(description="任务原文")
    schedule_text: str | None = Field(description="原文中的时间要求")
    acceptance: list[str] = Field(description="验收标准")
    milestones: list[MilestonePublic] = Field(description="时间节点")
    children: list[int] = Field(description="下级任务 ID（不含时间节点）")
    latest_report: ReportPublic | None = Field(description="最近一次进度报送")


class TasksPublic(BaseModel):
    data: list[TaskPublic]
    count: int = Field(description="符合条件的任务总数（分页前）")
    limit: int
    offset: int


ReportId = Annotated[int, Field(ge=1, le=MAX_ID)]


class ReportCreate(BaseModel):
    """进度报送：比例、数量、资金均为累计值；至少填写一项（或说明）。"""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"percent": "40", "quantity": "200", "note": "已完成摸底调查"}]})

    unit_id: ReportId | None = Field(
        default=None, description="报送单位 ID；当前用户只代表任务的一个承办单位时可省略")
    percent: Annotated[Decimal, Field(ge=0, le=100, max_digits=5, decimal_places=2)] | None = \
        Field(default=None, description="累计完成比例（%），0–100，最多两位小数")
    quantity: Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=4)] | None = Field(
        default=None, description="累计完成数量，不小于 0")
    amount: Annotated[Decimal, Field(ge=0, max_digits=16, decimal_places=2)] | None = Field(
        default=None, description="累计拨付资金（元），不小于 0，最多两位小数")
    note: Annotated[Text, Field(max_length=4000)] | None = Field(
        default=None, description="说明（进展、问题、佐证材料的位置）")


class AcknowledgeCreate(BaseModel):
    """签收。"""

    model_config = ConfigDict(extra="forbid")

    unit_id: ReportId | None = Field(default=None, description="签收单位 ID；可省略（同上）")


class SubmitCreate(BaseModel):
    """提交办结，等待协调员验收。"""

    model_config = ConfigDict(extra="forbid")

    unit_id: ReportId | None = Field(default=None, description="提交单位 ID；可省略（同上）")
    note: Annotated[Text, Field(max_length=4000)] | None = Field(
        default=None, description="办结说明（整改任务必填，或先报送带说明的进度）")


# -- coordinators' actions -----------------------------------------------------------------


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("不能为空或只有空白")
    return value


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date(value: object) -> object:
    """Only YYYY-MM-DD: pydantic's lax date would also take a Unix timestamp (1717171200) or
    a date-time at midnight, which a caller then reads as a different day than meant."""
    if isinstance(value, date) or (isinstance(value, str) and _ISO_DATE.fullmatch(value)):
        return value
    raise ValueError(f"应为 ISO 日期 YYYY-MM-DD（如 2025-06-30），不接受 {str(value)[:40]!r}")


# A date as the API takes it, in a query parameter or a body: ISO 8601's YYYY-MM-DD only.
IsoDate = Annotated[date, BeforeValidator(_iso_date)]
UnitId = Annotated[int, Field(ge=1, le=MAX_ID)]
Reason = Annotated[Text, Field(min_length=1, max_length=2000), AfterValidator(_not_blank)]
# A new deadline within the years the task service accepts (2000–2100).
FIRST_DAY, LAST_DAY = EXTEND_FIRST_DAY, EXTEND_LAST_DAY


class AcceptCreate(BaseModel):
    """验收通过：任务办结。"""

    model_config = ConfigDict(extra="forbid")

    note: Annotated[Text, Field(max_length=2000)] | None = Field(
        default=None, description="验收意见（可省略）")


class ReturnCreate(BaseModel):
    """退回：承办单位需继续办理。"""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"reason": "佐证材料不全，请补充花名册"}]})

    reason: Reason = Field(description="退回理由（必填）")


class ExtendCreate(BaseModel):
    """延期：新期限须晚于原期限；督办级别从新期限重新计算。"""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"due_on": "2025-09-30", "reason": "受汛期影响，经县政府同意延期"}]})

    due_on: Annotated[IsoDate, Field(ge=FIRST_DAY, le=LAST_DAY)] = Field(
        description="新期限（YYYY-MM-DD，方案时区），须晚于原期限，"
                    "在 2000-01-01 至 2100-12-31 之间")
    reason: Reason = Field(description="延期理由（必填）")


class CancelCreate(BaseModel):
    """撤销任务。"""

    model_config = ConfigDict(extra="forbid")

    reason: Reason = Field(description="撤销理由（必填）")


class AssignCreate(BaseModel):
    """调整承办单位：以列出的牵头单位和责任单位替换原有的（配合单位不变）。"""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"lead": [3], "responsible": [4, 5]}]})

    lead: Annotated[list[UnitId], Field(min_length=1, max_length=50)] = Field(
        description="牵头单位 ID（至少一个，按列出的顺序）")
    responsible: Annotated[list[UnitId], Field(max_length=50)] = Field(
        default_factory=list, description="责任单位 ID（可为空；与牵头单位重复的忽略）")


class SuperviseCreate(BaseModel):
    """督办：向牵头单位负责人和联络员发送督办通知（附报送链接）。"""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"note": "请于本周五前报送整改进展"}]})

    note: Annotated[Text, Field(max_length=500)] | None = Field(
        default=None, description="督办意见（可省略，最多 500 字）")


class AttachmentPublic(BaseModel):
    id: int
    task_id: int
    report_id: int | None = Field(description="所属进度报送的 ID（随办结提交的附件为空）")
    unit: UnitRef | None = Field(description="上传单位")
    filename: str = Field(description="文件名（上传时的名称）")
    content_type: str = Field(description="文件类型（MIME）")
    size: int = Field(description="大小（字节）")
    sha256: str = Field(description="内容的 SHA-256（十六进制）")
    uploaded_at: datetime = Field(description="上传时间（UTC）")


class AttachmentsPublic(BaseModel):
    data: list[AttachmentPublic]
    count: int = Field(description="附件总数")


class ErrorItem(BaseModel):
    loc: list[str | int] = Field(description="出错的位置，如 [\"body\", \"percent\"]")
    msg: str = Field(description="错误说明")
    type: str = Field(description="错误类型")


class ErrorPublic(BaseModel):
    """4xx 错误：detail 为一段说明（401、403、404）或错误列表（409、422）。"""

    detail: str | list[ErrorItem]
