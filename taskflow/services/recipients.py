"""Who a policy selector such as "lead.liaison" or "office.coordinator" means for a task.

The directory (units and their active contacts, as plain rows) is loaded once per sweep;
selectors are resolved in memory, and each distinct question is answered once per directory
(most tasks of a sweep share their units with many others). A unit without a contact in the
wanted role falls back to its head, then to any contact, so a task is never silently
unreachable because a liaison was not entered.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import Session

from taskflow.domain.collectives import Org, OrgUnit
from taskflow.models import Contact, Unit

FALLBACK_ROLES = ("liaison", "head")
# Roles that name particular people (a leader, the office's coordinator): nobody stands in.
PERSONAL_ROLES = frozenset({"leader_in_charge", "coordinator", "inspector"})
ADDRESS_FIELD = {"email": "email", "sms": "mobile", "wecom": "wecom_id",
                 "dingtalk": "dingtalk_id"}


@dataclass(frozen=True)
class Recipient:
    contact_id: int
    name: str
    unit_id: int
    channel: str
    address: str


class Directory:
    def __init__(self, units: Iterable[Unit], contacts: Iterable[Contact]):
        self.units = {u.id: u for u in units}
        self.org = Org(OrgUnit(u.id, u.parent_id, u.kind, u.member_kind)
                       for u in self.units.values())
        self.children = self.org.children
        self.contacts: dict[int, list[Contact]] = {}
        for contact in contacts:
            self.contacts.setdefault(contact.unit_id, []).append(contact)
        self._offices: dict[int, list[int]] = {}
        self._resolved: dict[tuple, tuple[Recipient, ...]] = {}
        self._names: dict[tuple[int, ...], tuple[str, ...]] = {}
        self._reachable: dict[tuple[int, str], tuple[Recipient, ...]] = {}

    @classmethod
    def load(cls, session: Session) -> Directory:
        """Plain immutable rows (not ORM objects), so the directory outlives the session."""
        unit, contact = Unit.__table__, Contact.__table__
        units = session.execute(select(unit)).all()
        contacts = session.execute(select(contact).where(contact.c.active)
                                   .order_by(contact.c.id)).all()
        return cls(units, contacts)

    def names(self, unit_ids: Iterable[int]) -> list[str]:
        """The units' names, in order."""
        key = tuple(unit_ids)
        found = self._names.get(key)
        if found is None:
            found = self._names[key] = tuple(self.units[u].name for u in key)
        return list(found)

    def members(self, unit_id: int) -> list[int]:
        """A collective ("各乡(镇)人民政府") stands for its members (the collective rule,
        taskflow.domain.collectives); any other unit for itself."""
        return list(self.org.members(unit_id))

    def offices(self, jurisdiction_id: int) -> list[int]:
        """The supervising offices (督查室, 攻坚办) directly under the plan's jurisdiction."""
        if jurisdiction_id not in self._offices:
            self._offices[jurisdiction_id] = [
                uid for uid in self.children.get(jurisdiction_id, [])
                if self.units[uid].kind == "office"]
        return self._offices[jurisdiction_id]

    def contacts_for(self, unit_ids: Iterable[int], role: str) -> list[Contact]:
        out: list[Contact] = []
        for unit_id in unit_ids:
            for member in self.members(unit_id):
                people = self.contacts.get(member, [])
                if role == "any":
                    out.extend(people)
                    continue
                chosen = [c for c in people if c.role == role]
                if not chosen and role not in PERSONAL_ROLES:
                    for fallback in FALLBACK_ROLES:
                        chosen = [c for c in people if c.role == fallback]
                        if chosen:
                            break
                    else:
                        chosen = people[:1]
                out.extend(chosen)
        return out

    def resolve(self, selectors: Iterable[str], *,
                units_by_role: Mapping[str, Sequence[int]],
                jurisdiction_id: int, issuer_id: int | None) -> tuple[Recipient, ...]:
        """Recipients on every channel they can be reached on, without duplicates."""
        selectors = tuple(selectors)
        key = (selectors, tuple(units_by_role.items()), jurisdiction_id, issuer_id)
        try:
            found = self._resolved.get(key)
        except TypeError:  # lists of unit ids (the sweep passes tuples)
            key = (selectors, tuple((role, tuple(ids)) for role, ids in units_by_role.items()),
                   jurisdiction_id, issuer_id)
            found = self._resolved.get(key)
        if found is None:
            found = self._resolved[key] = tuple(self._resolve(
                selectors, units_by_role, jurisdiction_id, issuer_id))
        return found

    def _resolve(self, selectors: tuple[str, ...], units_by_role: Mapping[str, Sequence[int]],
                 jurisdiction_id: int, issuer_id: int | None) -> list[Recipient]:
        seen: set[tuple[int, str]] = set()
        out: list[Recipient] = []
        for selector in selectors:
            scope, role = selector.split(".", 1)
            if scope in ("lead", "responsible", "cooperating"):
                unit_ids = units_by_role.get(scope, [])
            elif scope == "units":
                unit_ids = [u for ids in units_by_role.values() for u in ids]
            elif scope == "office":
                unit_ids = self.offices(jurisdiction_id)
            elif scope == "jurisdiction":
                unit_ids = [jurisdiction_id]
            elif scope == "issuer":
                unit_ids = [issuer_id] if issuer_id else []
            else:
                raise ValueError(f"unknown recipient scope {scope!r}")
            for unit_id in unit_ids:
                for recipient in self._reachable_in(unit_id, role):
                    key = (recipient.contact_id, recipient.channel)
                    if key in seen:
                        continue
                    seen.add(key)
                    out.append(recipient)
        return out

    def _reachable_in(self, unit_id: int, role: str) -> tuple[Recipient, ...]:
        """contacts_for([unit_id], role) on every channel they have an address for."""
        key = (unit_id, role)
        found = self._reachable.get(key)
        if found is None:
            found = self._reachable[key] = tuple(
                r for contact in self.contacts_for([unit_id], role)
                for r in recipients_of(contact))
        return found


def recipients_of(contact: Contact) -> list[Recipient]:
    """The contact on each channel it can be reached on."""
    return [Recipient(contact.id, contact.name, contact.unit_id, channel,
                      getattr(contact, ADDRESS_FIELD[channel]))
            for channel in channels_of(contact)]


def channels_of(contact: Contact) -> list[str]:
    """The contact's chosen channels that have an address; email, else SMS, by default."""
    chosen = contact.channels or (["email"] if contact.email else ["sms"])
    return [c for c in chosen if getattr(contact, ADDRESS_FIELD[c], None)]
