"""Helpers of the JSON API tests: ids by code, the fixture plan, activating tasks, audit rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update

from taskflow.db import read_session, write_session
from taskflow.models import AuditEvent, Task

NOW = datetime(2025, 5, 6, 2, 0, tzinfo=UTC)


def ids(engine, model, *codes: str) -> list[int]:
    with read_session(engine) as session:
        rows = dict(session.execute(select(model.code, model.id)).all())
    return [rows[code] for code in codes]


def plan_id(engine) -> int:
    from taskflow.models import Plan

    return ids(engine, Plan, "demo")[0]


def activate(engine, *codes: str) -> None:
    """What the sweep does on the start day (the sweep itself is tested elsewhere)."""
    with write_session(engine) as session:
        session.execute(update(Task).where(Task.code.in_(codes))
                        .values(state="active", activated_at=NOW - timedelta(days=30)))


def denials(engine, entity: str, entity_id: int) -> list[AuditEvent]:
    with read_session(engine) as session:
        return list(session.scalars(select(AuditEvent).where(
            AuditEvent.action == "access_denied", AuditEvent.entity == entity,
            AuditEvent.entity_id == entity_id)))


def count(engine, model) -> int:
    with read_session(engine) as session:
        return session.scalar(select(func.count()).select_from(model))
