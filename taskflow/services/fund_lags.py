"""The sweep's pass over fund lines behind their disbursement schedule (kind ``fund_lag``).

For a line behind (taskflow.domain.funds.disbursement_lag) the sweep writes reminders
and escalations with the plan's policy, as for an overdue task, to the funded task's units
(a line that funds no task: the office's coordinator and the issuer's head). Keys are unique
per line, checkpoint, slot, level, recipient and channel, so a second sweep writes nothing.
Nothing commits here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from taskflow.domain.funds import KIND, disbursement_lag, lag_actions, percent, wan
from taskflow.domain.labels import FUND_SOURCE_LABELS, label
from taskflow.domain.reminders import digest_day, goes_alone
from taskflow.domain.states import TaskState
from taskflow.domain.workdays import Clock, Days
from taskflow.models import Disbursement, FundLine, Plan, Task, TaskUnit
from taskflow.plans.schema import PolicySpec
from taskflow.services.funds import _money
from taskflow.services.outbox import insert_outbox, outbox_row

# Who hears of a lagging line that funds no task (no lead unit to remind).
NO_TASK_RECIPIENTS = ("office.coordinator", "issuer.head")


@dataclass
class LagReport:
    lines: int = 0  # lines with a deadline or schedule looked at
    behind: int = 0  # of them, behind at now
    messages: dict[str, int] = field(default_factory=dict)  # by kind
    unreachable: int = 0


def sweep_fund_lags(session: Session, *, now: datetime, calendar, directory,
                    plan_ids: Sequence[int] | None = None) -> LagReport:
    """Reminders and escalations for lines behind their disbursement schedule at ``now``.

    Set-based: one query for the tracked lines, one for their payments, one for the funded
    tasks' units; outbox rows go in with ON CONFLICT DO NOTHING on their keys.
    """
    report = LagReport()
    f = FundLine.__table__.c
    query = select(FundLine).where((f.disburse_by.is_not(None))
                                   | (f.disburse_schedule.is_not(None)))
    if plan_ids:
        query = query.where(f.plan_id.in_(list(plan_ids)))
    lines = list(session.exec(query).all())
    report.lines = len(lines)
    if not lines:
        return report
    d = Disbursement.__table__.c
    paid: dict[int, Decimal] = {}
    for line_id, amount in session.execute(select(d.fund_line_id, d.amount).where(
            d.fund_line_id.in_([ln.id for ln in lines]))).all():
        paid[line_id] = paid.get(line_id, Decimal(0)) + _money(amount)
    task_ids = [ln.task_id for ln in lines if ln.task_id]
    units: dict[int, dict[str, tuple[int, ...]]] = {}
    tasks: dict[int, Task] = {}
    if task_ids:
        tasks = {t.id: t for t in session.exec(select(Task).where(Task.id.in_(task_ids)))}
        for link in session.exec(select(TaskUnit).where(TaskUnit.task_id.in_(task_ids))
                                 .order_by(TaskUnit.position)).all():
            by_role = units.setdefault(link.task_id, {})
            by_role[link.role] = (*by_role.get(link.role, ()), link.unit_id)
    plans = {p.id: p for p in session.exec(select(Plan).where(
        Plan.id.in_({ln.plan_id for ln in lines}))).all()}
    contexts: dict[int, tuple[PolicySpec, ZoneInfo, Clock, Days]] = {}
    rows: list[dict[str, Any]] = []
    counted: dict[str, str] = {}  # message → the name it is counted under
    for line in lines:
        plan = plans[line.plan_id]
        task = tasks.get(line.task_id) if line.task_id else None
        if task is not None and (task.archived_at is not None or task.state == TaskState.cancelled):
            continue
        if plan.id not in contexts:
            policy = PolicySpec.model_validate(plan.policy or {})
            tz = ZoneInfo(plan.timezone)
            contexts[plan.id] = (policy, tz, Clock(tz, policy),
                                 Days(calendar, calendar_days=policy.calendar_days))
        policy, tz, clock, days = contexts[plan.id]
        today = clock.today(now)
        amount = _money(line.amount)
        disbursed = paid.get(line.id, Decimal(0))
        lag = disbursement_lag(amount=amount, disbursed=disbursed,
                               schedule=line.disburse_schedule, disburse_by=line.disburse_by,
                               today=today, threshold=policy.behind_threshold)
        if lag is None:
            continue
        report.behind += 1
        by_role = units.get(line.task_id, {}) if line.task_id else {}
        notify = tuple(policy.notify) if by_role else NO_TASK_RECIPIENTS
        payload = {
            "plan_code": plan.code, "plan_title": plan.title, "line_code": line.code,
            "line_source": label(FUND_SOURCE_LABELS, line.source),
            "line_note": line.note, "amount": wan(amount), "disbursed": wan(disbursed),
            "balance": wan(amount - disbursed), "share": percent(lag.actual),
            "planned_share": percent(lag.planned), "checkpoint": lag.since.isoformat(),
            "disburse_by": line.disburse_by.isoformat() if line.disburse_by else None,
            "task_code": task.code if task else None,
            "task_title": task.title if task else None,
            "lead_units": directory.names(by_role.get("lead", ())),
            "responsible_units": directory.names(by_role.get("responsible", ())),
        }
        digest_on, send_at = digest_day(now, days, clock)
        # chased from the day the plan was imported (a plan imported in December does not
        # put the year's lagging lines before the leader at once)
        known_on = clock.today(min(plan.imported_at, now))
        for action in lag_actions(lag, now=now, today=today, policy=policy, days=days,
                                  clock=clock, recipients=notify, known_on=known_on):
            recipients = directory.resolve(action.recipients, units_by_role=by_role,
                                           jurisdiction_id=plan.jurisdiction_id,
                                           issuer_id=plan.issuer_id)
            if not recipients:
                report.unreachable += 1
                continue
            message = f"f{line.id}:{action.occurrence}:{action.kind}:L{action.level}"
            said = {**payload, "days": action.days, "level": action.level,
                    "consequence": action.consequence}
            alone = goes_alone(policy, KIND, action.level)
            rows.extend(outbox_row(message=message, kind=KIND, recipient=r, payload=said,
                                   now=now, plan_id=plan.id,
                                   task_id=task.id if task else None, level=action.level,
                                   not_before=now if alone else send_at,
                                   digest_on=None if alone else digest_on)
                        for r in recipients)
            counted[message] = "fund_escalation" if action.level else KIND
    for message in {message for message, _ in insert_outbox(session.connection(), rows)}:
        name = counted[message]
        report.messages[name] = report.messages.get(name, 0) + 1
    return report
