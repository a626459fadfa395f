"""The unit tree for the collective rule (taskflow.domain.collectives), read in one query."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import Session

from taskflow.domain.collectives import Org, OrgUnit
from taskflow.models import TaskUnit, Unit

_U = Unit.__table__.c


def load_org(session: Session) -> Org:
    return Org(OrgUnit(*row) for row in session.execute(
        select(_U.id, _U.parent_id, _U.kind, _U.member_kind)).all())


def acting_units(session: Session, task_ids: list[int], org: Org | None = None
                 ) -> dict[int, frozenset[int]]:
    """For each task: the units that may act on it (those named and members of named
    collectives)."""
    named: dict[int, set[int]] = {}
    for task_id, unit_id in session.execute(select(TaskUnit.task_id, TaskUnit.unit_id).where(
            TaskUnit.task_id.in_(task_ids))).all():
        named.setdefault(task_id, set()).add(unit_id)
    if not named:
        return {}
    org = org or load_org(session)
    return {task_id: org.acting(ids) for task_id, ids in named.items()}
