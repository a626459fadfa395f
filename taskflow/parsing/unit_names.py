"""Unit names against the directory: resolved, the jurisdiction inferred, new ones proposed.

Names are kept as the text writes them. With a unit directory each is resolved in the plan's
jurisdiction; a name the directory does not hold is never dropped: it is proposed as a new unit
(its kind read from its ending, its parent the plan's jurisdiction) — written into the plan's
``units:`` when the jurisdiction is known, so that the plan imports — and listed in the review
for a person to confirm. Without a directory every name is listed as a proposal.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from taskflow.parsing.build import PLACEHOLDER_JURISDICTION, Context, PlanBuilder
from taskflow.plans.units import normalize

_GOVERNMENT_KINDS = ("province", "city", "county")
_COLLECTIVE = re.compile(r"^(?:各|有关|相关|[省市县区](?:直|级)(?:各|相关|有关)?)|各(?:部门|单位)|"
                         r"^(?:牵头|责任|配合|汇总)(?:责任)?单位$")
_KINDS = (
    (re.compile(r"(?:[省])(?:人民)?政府$"), "province"),
    (re.compile(r"(?:[市州])(?:人民)?政府$"), "city"),
    (re.compile(r"(?:[县区旗]|县上)(?:人民)?政府$|^县上$"), "county"),
    (re.compile(r"(?:[乡镇]|街道)(?:人民)?政府$|街道办事处$|(?:乡|镇|街道|镇街|乡镇)$"),
     "township"),
    (re.compile(r"(?:村|社区|村委会|居委会)$"), "village"),
    (re.compile(r"(?:督查室|办公室|领导小组|工作组|小组|专班|督查组|指挥部|室)$"), "office"),
    (re.compile(r"(?:工会|团委|团[区县市省]委|科协|侨联|工商联|妇联|残联|红十字会|协会|学会|联合会)$"),
     "organization"),
    (re.compile(r"(?:公司|银行|分行|支行|集团|合作社|企业|金融机构)$"), "company"),
)


@dataclass
class ProposedUnit:
    """A unit the text names that the directory does not hold: a new unit to confirm."""

    name: str
    kind: str
    code: str | None  # None while the jurisdiction is unknown
    parent: str | None  # the suggested parent (a unit code), None if unknown
    parent_name: str | None = None  # the suggested parent as the text or directory names it
    member_kind: str | None = None  # for collectives ("各乡镇": township)
    places: list[tuple[str, str]] = field(default_factory=list)  # (ref, task code)
    close: str | None = None  # names in the directory it may mean instead

    def spec(self) -> dict[str, Any]:
        """The plan file's ``units:`` entry (placed under the jurisdiction)."""
        out: dict[str, Any] = {"code": self.code, "name": self.name, "kind": self.kind}
        if self.member_kind:
            out["member_kind"] = self.member_kind
        return out


def unit_kind(name: str) -> tuple[str, str | None]:
    """(kind, member_kind) from how a name ends: "各乡镇" (collective of townships), "县农发委"
    (department), "区委区政府督查室" (office)."""
    flat = normalize(name)
    if _COLLECTIVE.search(flat):
        member = "township" if re.search(r"乡|镇|街道", flat) else \
            "village" if re.search(r"村|社区", flat) else "department"
        return "collective", member
    for pattern, kind in _KINDS:
        if pattern.search(flat):
            return kind, None
    return "department", None


def _code(jurisdiction: str, name: str) -> str:
    digest = hashlib.blake2s(f"{jurisdiction}/{normalize(name)}".encode(), digest_size=3)
    return f"{jurisdiction}.new-{digest.hexdigest()}"


def check_units(builder: PlanBuilder, ctx: Context, plan: dict[str, Any],
                parent_name: str | None) -> list[ProposedUnit]:
    """Resolve every unit name of the plan; propose the unknown ones as new units."""
    jurisdiction = plan["jurisdiction"]
    known = jurisdiction != PLACEHOLDER_JURISDICTION
    proposals: dict[str, ProposedUnit] = {}
    for name, ref, code in builder.names:
        if name in proposals:
            if (ref, code) not in proposals[name].places:
                proposals[name].places.append((ref, code))
            continue
        if ctx.units is not None:
            found, why = ctx.resolve(name, jurisdiction if known else None)
            if found is not None:
                continue
            if why and "歧义" in why:
                ctx.review.add("check", why, ref, code, name)
                continue
        else:
            why = None
        kind, member = unit_kind(name)
        close = why.split("是否应为 ", 1)[1].rstrip("？") if why and "是否应为" in why else None
        parent = jurisdiction if known and ctx.units is not None else None
        proposals[name] = ProposedUnit(
            name, kind, _code(jurisdiction, name) if parent else None, parent,
            parent_name or (jurisdiction if known else None), member, [(ref, code)], close)
    out = list(proposals.values())
    if out and ctx.units is not None and known:
        plan.setdefault("units", []).extend(p.spec() for p in out)
    if ctx.units is None and out:
        listed = "、".join(f"{u.name}（{_places(u)}）" for u in out[:40])
        more = f"等 {len(out)} 个" if len(out) > 40 else f"{len(out)} 个"
        under = f"，建议上级：{parent_name}" if parent_name else ""
        ctx.review.add("check", f"文中单位{more}未对照单位名录（用 --units 指定名录即可核对"
                       f"{under}）：" + listed, out[0].places[0][0], None)
        return out
    for unit in out:
        under = f"，建议上级：{unit.parent_name}" if unit.parent_name else ""
        if unit.code:
            message = (f"单位名录中没有“{unit.name}”：已作为新单位写入方案 units:（{unit.code}，"
                       f"类型 {unit.kind}{under}），请确认，或改为名录中的单位")
        else:
            message = (f"单位名录中没有“{unit.name}”：请确认后加入单位名录（{_places(unit)}"
                       f"{under}）")
        if unit.close:
            message += f"；是否应为 {unit.close}？"
        ctx.review.add("check", message, unit.places[0][0], unit.places[0][1], unit.name)
    return out


def _places(unit: ProposedUnit) -> str:
    return "任务 " + "、".join(dict.fromkeys(c for _, c in unit.places))


def _government_of(ctx: Context, code: str) -> str | None:
    index = ctx.units
    assert index is not None
    for ancestor in index.ancestors(code):
        if index.by_code[ancestor].kind in _GOVERNMENT_KINDS:
            return ancestor
    return None


def infer_jurisdiction(ctx: Context, names: list[str], issuer: str | None = None
                       ) -> tuple[str | None, str]:
    """The government unit the named units sit under (the deepest covering most), and why.

    A name may fit several units (省卫生计生委 in two provinces): each government above any of
    them gets the name's vote; a tie between governments is not guessed. When the names decide
    nothing, the issuer ("沙市镇人民政府" on the signature line) decides.
    """
    index = ctx.units
    if index is None:
        return None, "没有单位名录"
    by_label = ctx.cache.get("__labels__")
    if by_label is None:
        by_label = {}
        for entry in index.by_code.values():
            for label in entry.labels():
                by_label.setdefault(label, set()).add(entry.code)
        ctx.cache["__labels__"] = by_label
    votes: dict[str, int] = {}
    voters = 0
    for name in dict.fromkeys(names):
        candidates = by_label.get(normalize(name), set())
        if not candidates:
            code, _ = ctx.resolve(name, None)
            candidates = {code} if code else set()
        governments = {a for c in candidates for a in index.ancestors(c)
                       if index.by_code[a].kind in _GOVERNMENT_KINDS}
        if governments:
            voters += 1
        for g in governments:
            votes[g] = votes.get(g, 0) + 1
    by_issuer = None
    if issuer:
        code, _ = ctx.resolve(issuer, None)
        by_issuer = _government_of(ctx, code) if code else None
    if not votes:
        if by_issuer:
            return by_issuer, f"据发文单位“{issuer}”"
        return None, "文中单位名称均未能识别"
    top = max(votes.values())
    best = [g for g, n in votes.items() if n == top]
    deepest = max(len(index.ancestors(g)) for g in best)
    best = [g for g in best if len(index.ancestors(g)) == deepest]
    if len(best) > 1:
        if by_issuer in best:
            return by_issuer, f"据发文单位“{issuer}”"
        return None, "文中单位同样可归属 " + "、".join(sorted(best)) + "，无法区分"
    return best[0], f"文中已识别的 {voters} 个单位中有 {top} 个隶属于该辖区"
