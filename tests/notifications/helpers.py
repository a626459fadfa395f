"""Outbox rows for the dispatcher tests, without the engine: plain inserts with payloads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select
from sqlmodel import Session

from taskflow.db import write_session
from taskflow.models import Contact, Notification, Unit

# A Thursday, 10:00 in Shanghai: a working day, outside quiet hours.
T0 = datetime(2025, 6, 5, 2, 0, tzinfo=UTC)

PAYLOAD = {
    "plan_code": "p5-ecommerce", "plan_title": "电子商务进农村综合示范县扶贫专项实施方案",
    "task_code": "3.2", "task_title": "建设县级电子商务公共服务中心和农村电商服务站点",
    "due_on": "2025-06-30", "days": 2, "level": 0, "consequence": None,
    "lead_units": ["县商务局"], "responsible_units": ["县扶贫开发局", "各乡(镇)人民政府"],
    "recipient": "示例·王局长",
}


def add_contact(engine, name: str = "示例·王局长", *, email: str | None = None,
                mobile: str | None = None) -> int:
    with write_session(engine) as session:
        unit = session.scalar(select(Unit).where(Unit.code == "test-unit"))
        if unit is None:
            unit = Unit(code="test-unit", name="县商务局", kind="department")
            session.add(unit)
            session.flush()
        contact = Contact(unit_id=unit.id, name=name, role="head", email=email,
                          mobile=mobile, channels=[])
        session.add(contact)
        session.flush()
        return contact.id


def add_rows(engine, n: int, *, channel: str = "email", kind: str = "due_soon",
             address: str = "user{i}@example.org", level: int = 0, digest: bool = False,
             contact_id: int | None = None, not_before: datetime = T0,
             created_at: datetime | None = None, key: str = "t{i}:{kind}:L{level}:c{c}",
             payload: dict[str, Any] | None = None, start: int = 0) -> list[int]:
    """``n`` pending rows; ``{i}`` in address/key is the row's number (from ``start``)."""
    rows = []
    for i in range(start, start + n):
        c = contact_id if contact_id is not None else f"x{i}"
        message = key.format(i=i, kind=kind, level=level, c=c)
        rows.append({
            "key": f"{message}:{channel}", "message": message,
            "contact_id": contact_id, "kind": kind, "level": level, "channel": channel,
            "address": address.format(i=i),
            "payload": {**PAYLOAD, **(payload or {}), "level": level,
                        "task_title": (payload or {}).get("task_title",
                                                          f"{PAYLOAD['task_title']}{i}")},
            "digest_on": _local_day(created_at or not_before) if digest else None,
            "status": "pending", "created_at": created_at or not_before,
            "not_before": not_before, "attempts": 0,
        })
    with write_session(engine) as session:
        connection = session.connection()
        ids = [connection.execute(insert(Notification.__table__).values(**row)
                                  .returning(Notification.__table__.c.id)).scalar_one()
               for row in rows]
    return ids


def _local_day(at: datetime):
    return at.astimezone(ZoneInfo("Asia/Shanghai")).date()


def rows(engine) -> list[Notification]:
    with Session(engine) as session:
        return list(session.scalars(select(Notification).order_by(Notification.id)))


def by_id(engine) -> dict[int, Notification]:
    return {row.id: row for row in rows(engine)}


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)
