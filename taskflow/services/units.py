"""Import the org chart (units and contacts) and build the unit directory from the database."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, select

from taskflow.errors import UserError
from taskflow.models import AuditEvent, Contact, Unit
from taskflow.plans.units import FlatUnit, UnitEntry, UnitIndex, check_units


@dataclass
class UnitsReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: int = 0
    contacts_added: int = 0
    contacts_changed: int = 0
    contacts_deactivated: int = 0

    @property
    def noop(self) -> bool:
        return not (self.added or self.changed or self.contacts_added or self.contacts_changed
                    or self.contacts_deactivated)


def unit_index(session: Session) -> UnitIndex:
    units = session.exec(select(Unit)).all()
    codes = {u.id: u.code for u in units}
    return UnitIndex(UnitEntry(u.code, u.name, u.kind, codes.get(u.parent_id), list(u.aliases),
                               u.member_kind) for u in units)


def import_units(session: Session, flat: list[FlatUnit], *, actor: str,
                 now: datetime) -> UnitsReport:
    """Upsert units by code and their contacts by (name, role); nothing else is touched.

    Contacts no longer listed for a unit are deactivated, not deleted: past messages name them.
    """
    existing_index = unit_index(session)
    problems = check_units(flat, existing_index)
    if problems:
        raise UserError(problems)
    report = UnitsReport()
    by_code = {u.code: u for u in session.exec(select(Unit)).all()}
    for item in flat:
        spec = item.spec
        values = {"name": spec.name, "kind": spec.kind.value, "aliases": list(spec.aliases),
                  "member_kind": spec.member_kind.value if spec.member_kind else None}
        unit = by_code.get(spec.code)
        if unit is None:
            unit = Unit(code=spec.code, created_at=now, updated_at=now, **values)
            session.add(unit)
            by_code[spec.code] = unit
            report.added.append(spec.code)
        else:
            before = {k: getattr(unit, k) for k in values}
            if before != values:
                for key, value in values.items():
                    setattr(unit, key, value)
                unit.updated_at = now
                report.changed.append(spec.code)
                session.add(AuditEvent(at=now, actor=actor, action="unit.update", entity="unit",
                                       entity_id=unit.id, before=before, after=values))
    session.flush()
    for item in flat:
        unit = by_code[item.spec.code]
        parent_id = by_code[item.parent].id if item.parent else None
        if unit.parent_id != parent_id:
            if item.spec.code not in report.added and item.spec.code not in report.changed:
                report.changed.append(item.spec.code)
            unit.parent_id = parent_id
        _sync_contacts(session, unit, item, report)
    report.unchanged = len(flat) - len(report.added) - len(report.changed)
    if not report.noop:
        session.add(AuditEvent(at=now, actor=actor, action="units.import", entity="unit",
                               after={"added": report.added, "changed": report.changed}))
    session.flush()
    return report


def _sync_contacts(session: Session, unit: Unit, item: FlatUnit, report: UnitsReport) -> None:
    current = {(c.name, c.role): c for c in
               session.exec(select(Contact).where(Contact.unit_id == unit.id)).all()}
    wanted = set()
    for spec in item.spec.contacts:
        key = (spec.name, spec.role.value)
        wanted.add(key)
        values = {"title": spec.title, "email": spec.email, "mobile": spec.mobile,
                  "wecom_id": spec.wecom_id, "dingtalk_id": spec.dingtalk_id,
                  "channels": list(spec.channels), "active": True}
        contact = current.get(key)
        if contact is None:
            session.add(Contact(unit_id=unit.id, name=spec.name, role=spec.role.value, **values))
            report.contacts_added += 1
        elif any(getattr(contact, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(contact, k, v)
            report.contacts_changed += 1
    for key, contact in current.items():
        if key not in wanted and contact.active:
            contact.active = False
            report.contacts_deactivated += 1
