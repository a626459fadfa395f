"""Day arithmetic under a plan's policy: working days (or calendar days) and the plan's clock.

Pure: the calendar and the policy come in as values; answers are memoized per instance, since a
sweep asks the same questions (two working days before 16 June...) for many tasks.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from taskflow.plans.schema import PolicySpec

MEMO_LIMIT = 100_000  # entries per Days/Clock memo before it starts over


class Days:
    """Day arithmetic under a policy: working days from a calendar, or calendar days.

    Working-day answers are memoized per instance (the calendar does not change under it):
    a sweep asks the same questions (two working days before 16 June...) for many tasks.
    """

    def __init__(self, calendar, *, calendar_days: bool):
        self.calendar = calendar
        self.calendar_days = calendar_days
        self._memo: dict[tuple, date | int] = {}

    def _remember(self, key: tuple, value):
        if len(self._memo) >= MEMO_LIMIT:
            self._memo.clear()
        self._memo[key] = value
        return value

    def add(self, day: date, n: int) -> date:
        if self.calendar_days:
            return day + timedelta(days=n)
        key = (day, n)
        found = self._memo.get(key)
        if found is None:
            found = self._remember(key, self.calendar.add_workdays(day, n))
        return found

    def on_or_after(self, day: date) -> date:
        if self.calendar_days:
            return day
        key = (day, "after")
        found = self._memo.get(key)
        if found is None:
            found = self._remember(key, self.calendar.on_or_after(day))
        return found

    def on_or_before(self, day: date) -> date:
        if self.calendar_days:
            return day
        key = (day, None)
        found = self._memo.get(key)
        if found is None:
            found = self._remember(key, self.calendar.on_or_before(day))
        return found

    def between(self, start: date, end: date) -> int:
        if self.calendar_days:
            return (end - start).days
        key = (start, end, None)
        found = self._memo.get(key)
        if found is None:
            found = self._remember(key, self.calendar.workdays_between(start, end))
        return found


class Clock:
    """Local days and send times of a plan (its timezone, the policy's send_at); memoized."""

    def __init__(self, tz: ZoneInfo, policy: PolicySpec):
        self.tz = tz
        hour, minute = (int(x) for x in policy.send_at.split(":"))
        self.send_at = time(hour, minute)
        self._days: dict[float, date] = {}
        self._sends: dict[date, datetime] = {}

    def today(self, now: datetime) -> date:
        key = now.timestamp()  # the instant itself (equal wall times can differ by fold)
        found = self._days.get(key)
        if found is None:
            if len(self._days) >= MEMO_LIMIT:
                self._days.clear()
            found = self._days[key] = now.astimezone(self.tz).date()
        return found

    def start_of(self, day: date) -> datetime:
        """Midnight at the start of a local day, in UTC."""
        return datetime.combine(day, time(0), self.tz).astimezone(UTC)

    def at(self, day: date) -> datetime:
        """The instant a day's messages go out, in UTC."""
        found = self._sends.get(day)
        if found is None:
            if len(self._sends) >= MEMO_LIMIT:
                self._sends.clear()
            found = self._sends[day] = datetime.combine(day, self.send_at,
                                                        self.tz).astimezone(UTC)
        return found
