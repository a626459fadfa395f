"""Delivery policy as plain functions of plain values: quiet hours, channels by kind, backoff.

Nothing here reads the clock or the database: ``now`` and the facts come in as arguments.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from taskflow.domain.messages import CHANNELS

DIGEST = "digest"
DEFAULT_MORNING = time(8, 0)  # non-working days without quiet hours: release at this time


def parse_quiet_hours(value: str | None) -> tuple[time, time] | None:
    if not value:
        return None
    start, end = value.split("-")
    return (time(*(int(x) for x in start.split(":"))), time(*(int(x) for x in end.split(":"))))


@dataclass
class Policy:
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    quiet_hours: tuple[time, time] | None = (time(21, 0), time(8, 0))
    quiet_channels: frozenset[str] = frozenset({"sms", "wecom", "dingtalk"})
    urgent_level: int = 2
    is_workday: Callable[[date], bool] | None = None  # None: every day is a working day
    channels_by_kind: dict[str, list[str]] = field(default_factory=dict)
    retry_base: float = 60.0
    retry_max: float = 900.0
    give_up: timedelta = timedelta(hours=72)
    lease: timedelta = timedelta(minutes=5)
    random: Callable[[], float] = random.random

    @classmethod
    def from_settings(cls, settings, is_workday: Callable[[date], bool] | None = None
                      ) -> Policy:
        return cls(tz=settings.tz, quiet_hours=parse_quiet_hours(settings.notify_quiet_hours),
                   quiet_channels=frozenset(settings.notify_quiet_channels),
                   urgent_level=settings.notify_urgent_level, is_workday=is_workday,
                   channels_by_kind=dict(settings.notify_channels),
                   retry_base=settings.notify_retry_base_seconds,
                   retry_max=settings.notify_retry_max_seconds,
                   give_up=timedelta(hours=settings.notify_give_up_hours),
                   lease=timedelta(seconds=settings.notify_lease_seconds))

    # -- channels by kind -----------------------------------------------------------------

    def allowed(self, kind: str, digest: bool, channel: str) -> bool:
        """Does a message of this kind go out on this channel? (A digest row: as a digest.)"""
        listed = self.channels_by_kind.get(DIGEST if digest else kind)
        return listed is None or channel in listed

    def listed(self, kind: str, digest: bool) -> list[str]:
        return list(self.channels_by_kind.get(DIGEST if digest else kind) or CHANNELS)

    # -- quiet hours --------------------------------------------------------------------------

    def urgent(self, kind: str, level: int) -> bool:
        return kind == "escalation" and level >= self.urgent_level

    def hold_until(self, channel: str, kind: str, level: int, now: datetime) -> datetime | None:
        """None when the message may go at ``now``; else the first instant it may go.

        SMS and IM (``quiet_channels``) wait out the quiet hours, and, unless urgent, the
        non-working days; email always goes.
        """
        if channel not in self.quiet_channels:
            return None
        urgent = self.urgent(kind, level)
        at = now.astimezone(self.tz)
        for _ in range(370):  # a year of days off at most
            quiet_end = self._quiet_end(at)
            if quiet_end is not None:
                at = quiet_end
                continue
            if not urgent and self.is_workday is not None and not self.is_workday(at.date()):
                release = self.quiet_hours[1] if self.quiet_hours else DEFAULT_MORNING
                at = datetime.combine(at.date() + timedelta(days=1), release, self.tz)
                continue
            break
        moment = at.astimezone(UTC)
        return None if moment <= now else moment

    def _quiet_end(self, local: datetime) -> datetime | None:
        """The end of the quiet period ``local`` is in, or None when it is not in one."""
        if self.quiet_hours is None:
            return None
        start, end = self.quiet_hours
        clock = local.time().replace(tzinfo=None)
        if start <= end:
            if start <= clock < end:
                return datetime.combine(local.date(), end, self.tz)
            return None
        if clock >= start:
            return datetime.combine(local.date() + timedelta(days=1), end, self.tz)
        if clock < end:
            return datetime.combine(local.date(), end, self.tz)
        return None

    # -- retries --------------------------------------------------------------------------

    def backoff(self, attempts: int, retry_after: float | None = None) -> timedelta:
        """Exponential (base × 2^(n-1), capped) with equal jitter; at least ``retry_after``."""
        delay = min(self.retry_max, self.retry_base * 2 ** max(0, min(attempts - 1, 30)))
        delay = delay / 2 + self.random() * delay / 2
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.retry_max))
        return timedelta(seconds=delay)

    def local_day(self, now: datetime) -> date:
        return now.astimezone(self.tz).date()

    def next_workday(self, day: date) -> date:
        """The first working day after ``day`` (every day, without a calendar)."""
        day += timedelta(days=1)
        for _ in range(370):
            if self.is_workday is None or self.is_workday(day):
                return day
            day += timedelta(days=1)
        return day

    def same_time_on(self, at: datetime, day: date) -> datetime:
        """``at``'s local time of day on ``day``, as an aware UTC instant."""
        local = at.astimezone(self.tz)
        return datetime.combine(day, local.time().replace(tzinfo=None),
                                self.tz).astimezone(UTC)
