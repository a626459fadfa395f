"""Who may see and do what: a signed-in user's roles turned into plan and unit scopes.

Roles (``Membership``):

- admin: everything, including users.
- coordinator: a plan (``plan_id``), or every plan an office issues or whose area it is
  (``unit_id``); sees those plans in full and acts on their tasks (assign, extend, accept,
  return, 督办).
- leader, inspector: read every plan issued in or for the area under ``unit_id`` (everything
  without a unit); act on nothing (inspectors record inspections).
- member: the tasks that name the unit (lead or responsible) and nothing else; acknowledges,
  reports and submits for that unit.

Anything outside a user's scope answers 404 (not 403: an ID's existence is not disclosed), and
the attempt is written as an AuditEvent ``access_denied``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, false, or_, select, true
from sqlmodel import Session

from taskflow.models import Membership, Plan, Task, TaskUnit, Unit, User, UserRole
from taskflow.services.org import load_org


@dataclass(frozen=True)
class Viewer:
    """A signed-in user's scopes, computed once per request."""

    user_id: int
    username: str
    display_name: str
    roles: frozenset[str]
    admin: bool = False
    # Plans seen in full (every task): None means every plan.
    plan_ids: frozenset[int] | None = frozenset()
    coordinated_plan_ids: frozenset[int] | None = frozenset()  # None: every plan
    unit_ids: frozenset[int] = frozenset()  # units the user is a member of
    # Collective units that stand for those units in a plan (各乡(镇)人民政府 for a township):
    # a task naming the collective is the township's task too.
    collective_ids: frozenset[int] = frozenset()
    unit_names: dict[int, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def actor(self) -> str:
        return f"web:{self.username}"

    @property
    def is_member_only(self) -> bool:
        return self.roles == {UserRole.member.value}

    def sees_plan(self, plan_id: int) -> bool:
        return self.plan_ids is None or plan_id in self.plan_ids

    def coordinates(self, plan_id: int) -> bool:
        return self.coordinated_plan_ids is None or plan_id in self.coordinated_plan_ids

    @property
    def coordinates_any(self) -> bool:
        return self.coordinated_plan_ids is None or bool(self.coordinated_plan_ids)

    def acts_for(self, unit_id: int) -> bool:
        return unit_id in self.unit_ids

    @property
    def task_unit_ids(self) -> list[int]:
        """The units whose naming on a task makes it visible to a member."""
        return sorted(self.unit_ids | self.collective_ids)

    def task_clause(self) -> ColumnElement[bool]:
        """SQL condition on ``Task`` for the tasks this user may see."""
        if self.plan_ids is None:
            return true()
        parts: list[ColumnElement[bool]] = []
        if self.plan_ids:
            parts.append(Task.plan_id.in_(sorted(self.plan_ids)))
        if self.unit_ids:
            parts.append(Task.id.in_(select(TaskUnit.task_id).where(
                TaskUnit.unit_id.in_(self.task_unit_ids))))
        return or_(*parts) if parts else false()

    def plan_clause(self) -> ColumnElement[bool]:
        """SQL condition on ``Plan`` for the plans listed to this user (a member sees the
        plans that have a task naming the unit, but only those tasks)."""
        if self.plan_ids is None:
            return true()
        parts: list[ColumnElement[bool]] = []
        if self.plan_ids:
            parts.append(Plan.id.in_(sorted(self.plan_ids)))
        if self.unit_ids:
            parts.append(Plan.id.in_(select(Task.plan_id).where(Task.id.in_(
                select(TaskUnit.task_id).where(TaskUnit.unit_id.in_(self.task_unit_ids))))))
        return or_(*parts) if parts else false()

    def sees_task(self, session: Session, task: Task) -> bool:
        if self.sees_plan(task.plan_id):
            return True
        if not self.unit_ids:
            return False
        return session.scalars(select(TaskUnit.id).where(
            TaskUnit.task_id == task.id,
            TaskUnit.unit_id.in_(self.task_unit_ids))).first() is not None

    def sees_unit(self, unit_id: int) -> bool:
        """A unit's page: its members, and users who see plans in full."""
        return self.plan_ids is None or unit_id in self.unit_ids or bool(self.plan_ids)


def _subtree(children: dict[int | None, list[int]], root: int) -> set[int]:
    seen, stack = set(), [root]
    while stack:
        unit_id = stack.pop()
        if unit_id in seen:
            continue
        seen.add(unit_id)
        stack.extend(children.get(unit_id, ()))
    return seen


def _plans_of_area(session: Session, units: Iterable[int]) -> set[int]:
    units = sorted(set(units))
    if not units:
        return set()
    return set(session.scalars(select(Plan.id).where(or_(
        Plan.issuer_id.in_(units), Plan.jurisdiction_id.in_(units)))))


def viewer_for(session: Session, user: User) -> Viewer:
    rows = list(session.scalars(select(Membership).where(Membership.user_id == user.id)))
    roles = frozenset(m.role for m in rows)
    admin = UserRole.admin.value in roles
    everything = admin or any(m.role in (UserRole.leader, UserRole.inspector)
                              and m.unit_id is None for m in rows)
    children: dict[int | None, list[int]] | None = None

    def area(unit_id: int) -> set[int]:
        nonlocal children
        if children is None:
            children = defaultdict(list)
            for uid, parent in session.execute(select(Unit.id, Unit.parent_id)):
                children[parent].append(uid)
        return _subtree(children, unit_id)

    coordinated: set[int] = set()
    read: set[int] = set()
    members: set[int] = set()
    for m in rows:
        if m.role == UserRole.coordinator:
            if m.plan_id is not None:
                coordinated.add(m.plan_id)
            if m.unit_id is not None:
                coordinated |= _plans_of_area(session, [m.unit_id])
        elif m.role in (UserRole.leader, UserRole.inspector) and m.unit_id is not None:
            read |= _plans_of_area(session, area(m.unit_id))
        elif m.role == UserRole.member and m.unit_id is not None:
            members.add(m.unit_id)
    names = dict(session.execute(select(Unit.id, Unit.name).where(
        Unit.id.in_(sorted(members)))).all()) if members else {}
    collectives = _collectives_of(session, members)
    return Viewer(
        user_id=user.id, username=user.username, display_name=user.display_name,
        roles=roles, admin=admin,
        plan_ids=None if everything else frozenset(coordinated | read),
        coordinated_plan_ids=None if admin else frozenset(coordinated),
        unit_ids=frozenset(members), collective_ids=frozenset(collectives),
        unit_names=names)


def _collectives_of(session: Session, units: set[int]) -> set[int]:
    """The collective units ``units`` are members of (taskflow.domain.collectives), whose
    tasks are theirs to do."""
    if not units:
        return set()
    org = load_org(session)
    return {c for unit_id in units for c in org.collectives_of(unit_id)}
