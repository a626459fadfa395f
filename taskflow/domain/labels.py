"""Every Chinese label people read, one table per vocabulary: pages, CLI output, exports,
message templates and the API's descriptions all take their words from here.

Keys are the vocabularies' string values (the StrEnum members of taskflow.domain.states and
taskflow.domain.messages compare and hash equal to them); tests check that every member has
its label.
"""

from __future__ import annotations

from typing import Any

STATE_LABELS = {"pending": "未开始", "active": "待签收", "acknowledged": "已签收",
                "in_progress": "办理中", "submitted": "待审核", "done": "已办结",
                "cancelled": "已撤销"}
ACTION_LABELS = {"activate": "启动", "acknowledge": "签收", "report": "报送进度",
                 "submit": "提交办结", "accept": "验收通过", "return": "退回", "extend": "延期",
                 "cancel": "撤销"}
# What a unit sees after its own action (the task page, the reminder-link page).
ACTION_DONE_LABELS = {"acknowledge": "已签收", "report": "进度已报送",
                      "submit": "已提交办结，等待审核"}
# The audit trail: engine and coordinator actions on a task, by AuditEvent.action.
AUDIT_LABELS = {f"task.{k}": v for k, v in ACTION_LABELS.items()} | {
    "task.assign": "调整承办单位", "task.supervise": "人工督办", "task.escalate": "升级督办",
    "task.activate": "启动", "access_denied": "越权访问被拒", "bulletin.send": "发送通报"}

LIGHT_LABELS = {"red": "红灯", "yellow": "黄灯", "green": "绿灯", "none": "无"}
LIGHT_SHORT_LABELS = {"red": "红", "yellow": "黄", "green": "绿", "none": "—"}

UNIT_ROLE_LABELS = {"lead": "牵头单位", "responsible": "责任单位", "cooperating": "配合单位"}
UNIT_ROLE_SHORT_LABELS = {"lead": "牵头", "responsible": "责任", "cooperating": "配合"}

MESSAGE_KIND_LABELS = {
    "assigned": "任务交办", "ack_chase": "催办签收", "due_soon": "到期提醒",
    "due_today": "今日到期", "overdue": "逾期提醒", "escalation": "督办", "digest": "每日汇总",
    "inspection_notice": "检查通知", "inspector_list": "检查任务", "bulletin": "通报",
    "fund_lag": "资金拨付滞后", "supervision": "督办通知", "weekly": "每周督办汇总",
    "test": "测试消息"}
# Shorter names for one-line summaries; "fund_escalation" is the sweep's count of fund
# reminders with an escalation level.
MESSAGE_KIND_SHORT_LABELS = {**MESSAGE_KIND_LABELS, "assigned": "交办", "ack_chase": "催签收",
                             "due_today": "当日到期", "fund_escalation": "资金督办"}
LEVEL_LABELS = {1: "一级", 2: "二级", 3: "三级", 4: "四级", 5: "五级"}

# The outbox as the operator reads it (taskflow outbox, dispatch summaries, taskflow status)
# and as a task's page shows a message's fate.
OUTBOX_STATUS_LABELS = {"pending": "待发", "sending": "发送中", "failed": "失败待重试",
                        "ambiguous": "结果不明", "dead": "放弃", "sent": "已发",
                        "skipped": "跳过", "withdrawn": "撤回"}
OUTBOX_STATUS_PAGE_LABELS = {"pending": "待发送", "sending": "发送中", "sent": "已发送",
                             "failed": "重试中", "dead": "发送失败", "ambiguous": "结果不明",
                             "skipped": "未发送（渠道不适用）",
                             "withdrawn": "已撤回（内容已不属实）"}
CHANNEL_LABELS = {"email": "邮件", "sms": "短信", "wecom": "企业微信", "dingtalk": "钉钉",
                  "file": "文件", "console": "控制台"}

FUND_SOURCE_LABELS = {"central": "中央", "provincial": "省级", "municipal": "市级",
                      "county": "县(区)级", "township": "乡镇", "government": "财政",
                      "social": "社会", "other": "其他"}
FUND_STATUS_LABELS = {"done": "已拨付完毕", "overdue": "逾期未拨付到位", "behind": "拨付滞后",
                      "ok": "正常", "untracked": "未设拨付期限"}
FUND_RULE_KIND_LABELS = {"min_share": "不低于", "max_share": "不高于", "min_amount": "不少于"}

ROUND_KIND_LABELS = {"inspection": "检查", "bulletin": "通报", "assessment": "考核"}
ROUND_STATE_LABELS = {"planned": "待检查", "held": "已检查"}
FINDING_RESULT_LABELS = {"pass": "合格", "fail": "不合格", "note": "记录"}
ASSESSMENT_PART_LABELS = {"on_time": "按时完成", "targets": "目标完成", "funds": "资金拨付",
                          "inspections": "检查发现"}

# What a plan import reports changed: a task's fields, the plan's own fields.
TASK_FIELD_LABELS = {
    "parent": "上级任务", "kind": "类型", "title": "名称", "text": "内容",
    "schedule_text": "进度安排", "start_on": "开始日期", "due_on": "完成期限",
    "target_value": "目标数量", "target_unit": "目标单位", "progress_plan": "进度计划",
    "recurrence": "周期", "acceptance": "验收标准", "units": "承办单位"}
PLAN_FIELD_LABELS = {
    "title": "标题", "year": "年度", "source_year": "原文年度", "timezone": "时区",
    "issuer_id": "发文单位", "jurisdiction_id": "辖区", "source": "来源", "summary": "概述",
    "policy": "提醒与督办规则", "assessment": "考核办法"}


def label(table: dict[Any, str], key: Any) -> str:
    """The label of ``key``, or the key itself for a value the table does not know (data
    written by a newer version, a user's own kind): shown as is rather than hidden."""
    if key is None:
        return ""
    return table.get(key, str(key))


_CN_DIGITS = "零一两三四五六七八九十"
_WEEKDAY_LABELS = {"MO": "周一", "TU": "周二", "WE": "周三", "TH": "周四", "FR": "周五",
                   "SA": "周六", "SU": "周日"}
# (FREQ, INTERVAL) read as one word, as offices write them.
_CYCLE_LABELS = {("YEARLY", 1): "每年", ("MONTHLY", 1): "每月", ("MONTHLY", 2): "每两个月",
                 ("MONTHLY", 3): "每季度", ("MONTHLY", 6): "每半年", ("MONTHLY", 12): "每年",
                 ("WEEKLY", 1): "每周", ("WEEKLY", 2): "每两周", ("DAILY", 1): "每天"}
_FREQ_UNITS = {"YEARLY": "年", "MONTHLY": "个月", "WEEKLY": "周", "DAILY": "天"}


def _cn_count(n: int) -> str:
    return _CN_DIGITS[n] if 2 <= n <= 10 else str(n)


def _month_day(day: str) -> str:
    return "月底" if day == "-1" else f"{day}日"


def recurrence_label(rule: str | None) -> str:
    """An RRULE as an office says it: FREQ=MONTHLY;INTERVAL=3 → 每季度, FREQ=MONTHLY;
    BYMONTHDAY=5 → 每月5日, FREQ=YEARLY;BYMONTH=3,6,9,12;BYMONTHDAY=-1 → 每年3、6、9、12月底.
    Text that is not an RRULE (a cycle written in Chinese) is returned as it is."""
    text = (rule or "").strip()
    body = text[6:] if text.upper().startswith("RRULE:") else text
    if not body.upper().startswith("FREQ="):
        return text
    parts = dict(p.split("=", 1) for p in body.upper().split(";") if "=" in p)
    freq = parts.get("FREQ", "")
    try:
        interval = int(parts.get("INTERVAL", "1"))
    except ValueError:
        return text
    if freq not in _FREQ_UNITS or interval < 1:
        return text
    cycle = _CYCLE_LABELS.get((freq, interval)) or f"每{_cn_count(interval)}{_FREQ_UNITS[freq]}"
    months = [m for m in parts.get("BYMONTH", "").split(",") if m]
    days = [d for d in parts.get("BYMONTHDAY", "").split(",") if d]
    weekdays = [_WEEKDAY_LABELS.get(d[-2:], d) for d in parts.get("BYDAY", "").split(",") if d]
    when = "、".join(months) + "月" if months else ""
    when = (when + "、".join(_month_day(d) for d in days)).replace("月月底", "月底")
    when += "、".join(w[1:] if freq == "WEEKLY" else w for w in weekdays)  # 每周五
    return cycle + when
