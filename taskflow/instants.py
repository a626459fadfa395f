"""``--now`` and friends: an instant a user typed, as an aware UTC datetime."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from taskflow.errors import UserError


def parse_now(value: str | datetime | None, tz: ZoneInfo, *, field: str = "--now"
              ) -> datetime:
    """An ISO date/datetime (without a zone: in ``tz``) → aware UTC; None → the real clock."""
    if value is None:
        return datetime.now(UTC)
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise UserError.single(f"{value!r} 不是有效的 ISO 日期或时间"
                                   "（如 2025-06-30 或 2025-06-30T09:00+08:00）",
                                   field=field) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.astimezone(UTC)
