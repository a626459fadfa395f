"""Fund rules without a database: amounts and the disbursement lag.

- Amounts as offices write them: ``parse_amount`` ('12.5万', '125,000元', '0.3亿' → yuan, to
  the cent), ``wan`` (yuan → 2490.96万元) and ``percent``.
- A line may have a deadline (``disburse_by``: "6月底前补助到位") and a schedule of planned
  cumulative shares (``checkpoints``, ``planned_share_on``). A line is behind
  (``disbursement_lag``) when a checkpoint has passed and the disbursed share falls short of
  it by more than the plan policy's ``behind_threshold`` (any shortfall at a 100%
  checkpoint: the money was due in full).
- ``lag_actions``: the reminder and escalation (kind ``fund_lag``) due for a lag with the
  plan's policy, as for an overdue task: the lag counts from the missed checkpoint,
  reminders every ``overdue_every`` (working) days, escalation steps after their ``after``
  days.

Plain values in, plain values out; the services over a session are taskflow.services.funds
(status, recording) and taskflow.services.fund_lags (the sweep's pass).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from taskflow.domain.reminders import Action, overdue_offsets
from taskflow.domain.workdays import Clock, Days
from taskflow.errors import UserError
from taskflow.plans.schema import PolicySpec

WAN = Decimal(10_000)
YI = Decimal(100_000_000)
CENT = Decimal("0.01")
KIND = "fund_lag"


# -- amounts ---------------------------------------------------------------------------------


def parse_amount(text: str | Decimal | int, *, field: str = "--amount") -> Decimal:
    """'12.5万' / '12.5万元' / '125000' / '125,000元' / '0.3亿' → Decimal yuan (2 places).

    Full-width digits are accepted; a bad value is a UserError naming ``field``.
    """
    if isinstance(text, Decimal | int) and not isinstance(text, bool):
        value = Decimal(text)
    else:
        raw = unicodedata.normalize("NFKC", str(text or "")).strip()
        cleaned = re.sub(r"(?<=\d)[,，](?=\d{3})", "", raw).replace(" ", "")
        m = re.fullmatch(r"([+-]?[0-9]+(?:\.[0-9]+)?)(万|亿)?(元)?", cleaned)
        if not m:
            raise UserError.single(f"「{text}」不是金额：请写 12.5万、12.5万元、125000 或 "
                                   "125000元", field=field)
        try:
            value = Decimal(m[1]) * {"万": WAN, "亿": YI, None: Decimal(1)}[m[2]]
        except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
            raise UserError.single(f"「{text}」不是金额", field=field) from None
    if value <= 0:
        raise UserError.single(f"金额必须大于 0（得到 {text}）", field=field)
    if value != value.quantize(CENT):
        raise UserError.single(f"「{text}」精确到分以下：金额最多到分（0.01 元）", field=field)
    return value.quantize(CENT)


def wan(amount: Decimal | None) -> str:
    """Money as offices write it: 2490.96万元, 697亿元, 0万元."""
    if amount is None:
        return "—"
    if abs(amount) >= YI:
        return f"{_plain(amount / YI)}亿元"
    return f"{_plain(amount / WAN)}万元"


def _plain(value: Decimal) -> str:
    text = format(value.quantize(Decimal("0.000001")).normalize(), "f")
    return text if text != "-0" else "0"


def percent(value: Decimal | None) -> str:
    return "—" if value is None else f"{value.quantize(Decimal('0.1'))}%"


# -- pure rules ------------------------------------------------------------------------------


def checkpoints(schedule: Sequence[dict[str, Any]] | None, disburse_by: date | None
                ) -> list[tuple[date, Decimal]]:
    """The line's (day, planned cumulative share %) points, the deadline as 100%."""
    points = [(date.fromisoformat(p["by"]), Decimal(str(p["share"]))) for p in schedule or ()]
    if disburse_by is not None:
        points.append((disburse_by, Decimal(100)))
    return sorted(points)


def planned_share_on(schedule: Sequence[dict[str, Any]] | None, disburse_by: date | None,
                     day: date) -> Decimal | None:
    """The share (%) of the line planned to be disbursed by the end of ``day``."""
    planned = None
    for by, share in checkpoints(schedule, disburse_by):
        if by <= day:
            planned = share if planned is None else max(planned, share)
    return planned


@dataclass(frozen=True)
class Lag:
    since: date  # the checkpoint that was missed (the lag counts from the day after)
    planned: Decimal  # its planned share, %
    actual: Decimal  # the disbursed share now, %
    final: bool  # the checkpoint wanted all of it (the deadline)


def disbursement_lag(*, amount: Decimal, disbursed: Decimal,
                     schedule: Sequence[dict[str, Any]] | None, disburse_by: date | None,
                     today: date, threshold: Decimal) -> Lag | None:
    """Is the line behind its schedule on ``today``? The earliest missed checkpoint, if so.

    A checkpoint on day D is met by the end of D, so the lag starts on D + 1. Disbursed
    amounts only grow, so a line behind checkpoint D now was behind it every day since.
    ``threshold`` (percentage points) is tolerated before a partial checkpoint, nothing
    before a 100% one.
    """
    if amount <= 0:
        return None
    actual = disbursed * 100 / amount
    for day, share in checkpoints(schedule, disburse_by):
        if day >= today:
            break
        tolerance = Decimal(0) if share >= 100 else threshold
        if share - actual > tolerance:
            return Lag(day, share, actual.quantize(CENT), share >= 100)
    return None


def lag_actions(lag: Lag, *, now: datetime, today: date, policy: PolicySpec, days: Days,
                clock: Clock, recipients: tuple[str, ...], known_on: date | None = None
                ) -> list[Action]:
    """The reminder and the escalation due for a lag at ``now`` (the latest slot of each).

    Reminders follow the task rules' overdue schedule (taskflow.domain.reminders
    .overdue_offsets: 1, 3, 5, 10 working days after the missed checkpoint, then weekly,
    ending after the top escalation step); escalation: the highest step of the policy's
    ladder whose ``after`` days have passed. Like the task rules, a sweep after downtime sends
    where the line stands, not every slot it missed, and chasing starts when taskflow learns
    of the line: with ``known_on`` (the day its plan was imported) later than the missed
    checkpoint, the days count from then.
    """
    actions: list[Action] = []
    behind = days.between(lag.since, today)
    origin = max(lag.since, known_on) if known_on is not None else lag.since
    current, _ = overdue_offsets(policy, days.between(origin, today))
    if current is not None:
        day = days.add(origin, current)
        if clock.at(day) <= now:
            actions.append(Action(KIND, f"{lag.since.isoformat()}:lag{current}", recipients,
                                  days=behind))
    reached = None
    for step in policy.escalation:
        day = days.add(origin, max(step.after, 1))
        if clock.at(day) > now:
            break
        reached = step
    if reached is not None:
        actions.append(Action(KIND, f"{lag.since.isoformat()}:esc{reached.level}",
                              tuple(reached.to), level=reached.level, days=behind,
                              consequence=reached.consequence))
    return actions
