"""Helpers for the task, unit, link and attachment tests: find fixture rows, start tasks,
mint links, and count what a refused request must not have written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from sqlalchemy import func, select, update

from taskflow.db import read_session, write_session
from taskflow.models import Attachment, AuditEvent, Task, Unit

NOW = datetime(2025, 3, 1, tzinfo=UTC)


def task_id(engine, code: str) -> int:
    with read_session(engine) as session:
        return session.scalars(select(Task.id).where(Task.code == code)).one()


def unit_id(engine, code: str) -> int:
    with read_session(engine) as session:
        return session.scalars(select(Unit.id).where(Unit.code == code)).one()


def start(engine, code: str, state: str = "active") -> int:
    """Put a fixture task in ``state`` as the sweep would have (activated)."""
    with write_session(engine) as session:
        tid = session.scalars(select(Task.id).where(Task.code == code)).one()
        session.execute(update(Task).where(Task.id == tid).values(
            state=state, activated_at=NOW))
    return tid


def task_row(engine, tid: int) -> Task:
    with read_session(engine) as session:
        return session.get(Task, tid)


def denials(engine, entity: str | None = None) -> int:
    with read_session(engine) as session:
        query = select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "access_denied")
        if entity:
            query = query.where(AuditEvent.entity == entity)
        return session.scalar(query)


def attachments(engine) -> int:
    with read_session(engine) as session:
        return session.scalar(select(func.count()).select_from(Attachment))


def mint_report_link(engine, app, *, unit: str, task: int, ttl: timedelta | None =
                     timedelta(days=30), now: datetime | None = None) -> str:
    from taskflow.services import links

    secret = app.state.settings.resolved_secret_key()
    with write_session(engine) as session:
        uid = session.scalars(select(Unit.id).where(Unit.code == unit)).one()
        return links.mint(session, secret=secret, purpose=links.REPORT, unit_id=uid,
                          task_id=task, now=now or datetime.now(UTC), ttl=ttl)


def assert_download(response, *, content: bytes, content_type: str, filename: str) -> None:
    """A file served as a download: the bytes, the type assigned at upload, nosniff, and the
    name as RFC 5987 ``filename*``."""
    assert response.status_code == 200 and response.content == content
    assert response.headers["content-type"] == content_type
    assert response.headers["x-content-type-options"] == "nosniff"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert f"filename*=UTF-8''{quote(filename, safe='')}" in disposition
