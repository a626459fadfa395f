"""The collective rule: a collective unit (各乡(镇)人民政府, 各项目村, 区级各部门) stands for
every unit of its ``member_kind`` under its parent, at any depth (villages sit under the
townships of the county that names 各项目村); the search below the parent stops at the first
unit of that kind on each branch.

One definition, used by everything that asks who acts for a task (recipients of reminders,
report links, web access, the API, the task services): a member of a collective named on a
task can open, acknowledge, report and submit it, and nobody else below can.

Pure: built from plain (id, parent, kind, member_kind) rows (taskflow.services.org loads
them).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

COLLECTIVE = "collective"


@dataclass(frozen=True)
class OrgUnit:
    id: int
    parent_id: int | None
    kind: str
    member_kind: str | None = None


class Org:
    """The unit tree, answering the collective rule both ways (memoized)."""

    def __init__(self, units: Iterable[OrgUnit]):
        self.units = {u.id: u for u in units}
        self.children: dict[int | None, list[int]] = {}
        for unit in self.units.values():
            self.children.setdefault(unit.parent_id, []).append(unit.id)
        self._members: dict[int, tuple[int, ...]] = {}
        self._collectives: dict[int, tuple[int, ...]] = {}

    def is_collective(self, unit_id: int) -> bool:
        unit = self.units.get(unit_id)
        return unit is not None and unit.kind == COLLECTIVE

    def members(self, unit_id: int) -> tuple[int, ...]:
        """The units a unit stands for: a collective's members (sorted); any other unit, itself."""
        found = self._members.get(unit_id)
        if found is not None:
            return found
        unit = self.units.get(unit_id)
        if unit is None or unit.kind != COLLECTIVE:
            found = (unit_id,)
        else:
            out, stack = [], list(self.children.get(unit.parent_id, []))
            while stack:
                current = self.units[stack.pop()]
                if current.kind == unit.member_kind:
                    out.append(current.id)
                elif current.kind != COLLECTIVE:
                    stack.extend(self.children.get(current.id, []))
            found = tuple(sorted(out))
        self._members[unit_id] = found
        return found

    def collectives_of(self, unit_id: int) -> tuple[int, ...]:
        """The collectives a unit is a member of (the inverse of ``members``)."""
        found = self._collectives.get(unit_id)
        if found is not None:
            return found
        unit = self.units.get(unit_id)
        out: list[int] = []
        if unit is not None and unit.kind != COLLECTIVE:
            ancestor, blocked = unit.parent_id, False
            while not blocked:
                for sibling in self.children.get(ancestor, []):
                    candidate = self.units[sibling]
                    if candidate.kind == COLLECTIVE and candidate.member_kind == unit.kind:
                        out.append(candidate.id)
                if ancestor is None:
                    break
                above = self.units.get(ancestor)
                # the search from a higher collective stops at a unit of this kind above us
                blocked = above is None or above.kind == unit.kind
                ancestor = above.parent_id if above is not None else None
        found = self._collectives[unit_id] = tuple(sorted(out))
        return found

    def acting(self, unit_ids: Iterable[int]) -> frozenset[int]:
        """Who acts for a task naming ``unit_ids``: those units and every member of a
        collective among them."""
        out: set[int] = set()
        for unit_id in unit_ids:
            out.add(unit_id)
            if self.is_collective(unit_id):
                out.update(self.members(unit_id))
        return frozenset(out)
