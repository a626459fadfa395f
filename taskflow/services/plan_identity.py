"""Which existing plan an incoming plan is, and a title that tells it apart from the others.

A plan file or document taken in again updates the plan it already is, instead of making a
second one that members would see twice: the plan with the same code, else the plan with the
same title and issuer (for a plan without an issuer, as parsed documents are: the same title
and jurisdiction). A plan that is new but whose title another plan has ("扶贫专项实施方案",
common to many offices) gets a title of its own: the title with its jurisdiction
("扶贫专项实施方案（黎川县）"), else with its issuer ("（县林业局）"), else with its year,
else with its code. The same file always gets the same title, so taking it in again changes
nothing, and a file whose title was told apart still finds its plan.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlmodel import Session

from taskflow.errors import UserError
from taskflow.models import Plan, Unit
from taskflow.plans.expand import ResolvedPlan

_GOVERNMENT = "人民政府"


@dataclass(frozen=True)
class Match:
    """The existing plan an incoming plan updates, and why."""

    plan_id: int
    code: str
    title: str
    by: str  # "code" | "title": the same code, or the same title and issuer

    @property
    def reason(self) -> str:
        return "编号相同" if self.by == "code" else "标题和发文单位相同"


@dataclass(frozen=True)
class Identity:
    resolved: ResolvedPlan  # with the code of the plan it updates and its own title
    match: Match | None
    retitled_from: str | None  # the file's title, when another plan already has it


@dataclass(frozen=True)
class _Known:
    id: int
    code: str
    title: str
    issuer_id: int | None
    jurisdiction_id: int


def identify(session: Session, resolved: ResolvedPlan) -> Identity:
    """The plan ``resolved`` updates (or None) and the resolved plan to import: the existing
    plan's code, and a title no other plan has."""
    known = [_Known(*row) for row in session.execute(select(
        Plan.id, Plan.code, Plan.title, Plan.issuer_id, Plan.jurisdiction_id)).all()]
    wanted = [code for code in (resolved.issuer_code, resolved.jurisdiction_code) if code]
    unit_ids = dict(session.execute(select(Unit.code, Unit.id).where(
        Unit.code.in_(wanted))).all())
    names = dict(session.execute(select(Unit.code, Unit.name).where(
        Unit.code.in_(wanted))).all())
    for unit in resolved.new_units:
        names.setdefault(unit.spec.code, unit.spec.name)
    area = names.get(resolved.jurisdiction_code, "").removesuffix(_GOVERNMENT)
    titles = _titles(resolved, [area, names.get(resolved.issuer_code or "", "")])

    match = _by_code(known, resolved.code) or _by_title(
        known, resolved, titles, unit_ids.get(resolved.issuer_code or ""),
        unit_ids.get(resolved.jurisdiction_code))
    taken = {plan.title for plan in known if match is None or plan.id != match.plan_id}
    title = next((t for t in titles if t not in taken), titles[-1])
    changes = {}
    if match is not None and match.code != resolved.code:
        changes["code"] = match.code
    if title != resolved.title:
        changes["title"] = title
    return Identity(replace(resolved, **changes) if changes else resolved, match,
                    resolved.title if "title" in changes else None)


def _titles(resolved: ResolvedPlan, qualifiers: list[str]) -> list[str]:
    """The file's title, then the titles that tell it apart (by jurisdiction, by issuer, by
    year, by code), in the order they are tried."""
    title = resolved.title
    telling = [q for q in qualifiers if q and q not in title]
    out = [title, *(f"{title}（{q}）" for q in telling)]
    out.append(f"{title}（{telling[0]}，{resolved.year}年）" if telling
               else f"{title}（{resolved.year}年）")
    out.append(f"{title}（{resolved.code}）")
    return out


def _by_code(known: list[_Known], code: str) -> Match | None:
    for plan in known:
        if plan.code == code:
            return Match(plan.id, plan.code, plan.title, "code")
    return None


def _by_title(known: list[_Known], resolved: ResolvedPlan, titles: list[str],
              issuer_id: int | None, jurisdiction_id: int | None) -> Match | None:
    """The plan with this title (as given, or as told apart) and this issuer; a plan without
    an issuer matches one without an issuer in the same jurisdiction."""
    if resolved.issuer_code is not None and issuer_id is None:
        return None  # an issuer not in the directory yet: no plan can have it
    candidates = [plan for plan in known if plan.title in titles and (
        plan.issuer_id == issuer_id if issuer_id is not None else
        plan.issuer_id is None and plan.jurisdiction_id == jurisdiction_id)]
    # the title as given wins over a told-apart one
    exact = [plan for plan in candidates if plan.title == resolved.title]
    candidates = exact or candidates
    if not candidates:
        return None
    if len(candidates) > 1:
        codes = "、".join(sorted(plan.code for plan in candidates))
        raise UserError.single(
            f"方案「{resolved.title}」与已有的多个方案（{codes}）标题和发文单位相同，"
            "无法确定更新哪一个：请在方案文件中写明要更新的方案编号（code）")
    plan = candidates[0]
    return Match(plan.id, plan.code, plan.title, "title")
