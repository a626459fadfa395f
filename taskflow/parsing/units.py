"""Unit phrases: who leads, who is responsible, who cooperates.

Forms understood: "(牵头单位:X;责任单位:Y、Z)", "牵头单位:X" lines, "X牵头,Y配合",
"由X负责", "责任单位:… 完成时限:…" lines, and table cells. Lists split on 、,; and "和/及"
outside parentheses, so "各县(市、区、行委)政府" and "区级各部门(单位)" stay whole. People
(责任领导, 分管副市长, 局长) are never units: they are set aside and reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

ROLE_LABELS = {
    "lead": ("牵头单位", "牵头部门", "牵头"),
    "responsible": ("责任单位", "责任部门", "主责单位", "主责部门", "实施单位", "承办单位",
                    "落实单位", "具体负责", "负责单位"),
    "cooperating": ("配合单位", "配合部门", "协办单位", "参与单位", "协助单位", "协同单位",
                    "配合"),
    "person": ("责任领导", "分管领导", "牵头领导", "联系领导", "责任人", "负责人", "联系人",
               "包保领导", "督办领导"),
}
OTHER_LABELS = {
    "due": ("完成时限", "完成时间", "时间节点", "时限要求", "办结时限", "截止时间", "完成期限",
            "时限"),
    "schedule": ("进度安排", "进步安排", "时间安排", "进度要求", "工作进度", "实施步骤",
                 "时间进度", "推进步骤"),
    "text": ("主要任务", "工作任务", "任务内容", "工作内容", "主要内容", "具体措施",
             "工作措施", "工作开展情况", "具体任务", "重点任务", "主要措施"),
    "target": ("工作目标", "目标任务", "预期目标", "任务目标", "绩效目标", "目标要求"),
    "funds": ("资金来源", "资金安排", "资金筹措", "投资规模", "资金预算"),
}
_ALL = {label: kind for kind, labels in {**ROLE_LABELS, **OTHER_LABELS}.items()
        for label in labels}
# Longest label first, so that 牵头单位 wins over 牵头. Bare 牵头/配合 need the colon.
LABEL_RE = re.compile(
    r"(?P<label>" + "|".join(sorted(map(re.escape, _ALL), key=len, reverse=True)) +
    r")\s*[:：]\s*")

_PERSON_TITLE = re.compile(
    r"(同志|副?[省市州县区乡镇]长|副?书记|副?主任|副?局长|副?部长|副?厅长|副?主席|副?组长|"
    r"秘书长|副?处长|副?科长|副?所长|副?院长|副?行长|经理|总监|领导)$")
_UNIT_WORD = re.compile(
    r"(局|委|办|部|厅|院|所|站|中心|政府|办事处|公司|银行|分行|支行|协会|学会|联合会|工会|"
    r"团委|团[区县市省]委|科协|侨联|工商联|妇联|残联|红十字会|社|队|组|室|处|署|会|馆|校|"
    r"单位|部门|机构|企业|街道|乡|镇|村|社区|集团|合作社|小组|\))$")


@dataclass
class UnitRefs:
    lead: list[str] = field(default_factory=list)
    responsible: list[str] = field(default_factory=list)
    cooperating: list[str] = field(default_factory=list)
    persons: list[str] = field(default_factory=list)  # names set aside: not units
    # "…涉及相关市(州)人民政府,不再做分工,下同": units for the items that follow as well.
    carry: list[str] = field(default_factory=list)
    due: str | None = None  # "(X牵头,Y配合,9月30日前完成)": the deadline said with the units

    def __bool__(self) -> bool:
        return bool(self.lead or self.responsible or self.cooperating or self.persons)

    def merge(self, other: UnitRefs) -> None:
        for role in ("lead", "responsible", "cooperating", "persons"):
            mine = getattr(self, role)
            for name in getattr(other, role):
                if name not in mine:
                    mine.append(name)


def split_top(text: str, seps: str = "、,;，；") -> list[str]:
    """Split on separators outside parentheses and quotes."""
    out, depth, cur = [], 0, []
    for ch in text:
        if ch in "(（[【〔《“":
            depth += 1
        elif ch in ")）]】〕》”" and depth:
            depth -= 1
        if ch in seps and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return [p.strip() for p in out if p.strip()]


_AND = re.compile(r"(?<=[局委办部厅院会府处司行联])(?:和|及|与)(?=[区县市省各\u4e00-\u9fff])")


_AND_OTHERS = re.compile(r"(?<=[局委办部厅院会府处室站所队])等(?=(?:有关|相关|其他)(?:部门|单位))")


def split_units(text: str) -> list[str]:
    """"区委组织部、区委统战部" -> two names; collective names stay whole."""
    names: list[str] = []
    # "县医疗保障局等有关部门": the listed unit and the others meant.
    for part in split_top(_AND_OTHERS.sub("、", text)):
        for piece in _AND.split(part):
            name = piece.strip().strip("。.:：").strip()
            name = re.sub(r"^(?:等|由)", "", name)
            name = re.sub(r"(?:等(?:部门|单位)?|分别负责|负责|牵头|配合|参与|协助)$", "", name)
            if name and name not in names:
                names.append(name.strip())
    return [n for n in names if n]


def is_person(name: str) -> bool:
    return bool(_PERSON_TITLE.search(name.replace(" ", "")))


def looks_like_unit(name: str) -> bool:
    squeezed = name.replace(" ", "")
    return 2 <= len(squeezed) <= 40 and bool(_UNIT_WORD.search(squeezed)) and \
        not is_person(squeezed)


def _add(refs: UnitRefs, role: str, text: str) -> None:
    for name in split_units(text):
        if role == "person" or is_person(name):
            refs.persons.append(name)
        else:
            target = getattr(refs, role)
            if name not in target:
                target.append(name)


def labelled(text: str) -> tuple[UnitRefs, dict[str, str], str]:
    """Split "牵头单位:X;责任单位:Y 完成时限:Z" into unit refs, other labelled values and the
    text before the first label."""
    refs = UnitRefs()
    other: dict[str, str] = {}
    matches = list(LABEL_RE.finditer(text))
    if not matches:
        return refs, other, text
    before = text[:matches[0].start()]
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        value = text[m.end():end].strip().rstrip(";,；，").strip()
        kind = _ALL[m["label"]]
        if kind in ROLE_LABELS:
            value, _, more = value.partition("。")
            spoken = verbal(value) if kind != "person" else None
            if spoken is not None and (spoken.cooperating or (
                    spoken.lead and kind != "lead" and _LEAD_VERB.search(value))):
                # "责任单位:县扶贫开发办牵头,县教育和体育局…参加,各镇街落实"
                refs.merge(spoken)
            elif spoken is not None:
                # "责任单位:X、Y按职责分工负责": the label says the role.
                for name in spoken.lead + spoken.responsible:
                    if name not in getattr(refs, kind):
                        getattr(refs, kind).append(name)
            else:
                _add(refs, kind, value)
            if more:
                _remarks(refs, more)
        else:
            other[kind] = (other[kind] + ";" + value) if kind in other else value
    return refs, other, before


_LEAD_VERB = re.compile(r"^(?:由)?(?P<units>.+?)(?:牵头|负总责|总牵头)(?:负责)?$")
_COOP_VERB = re.compile(r"^(?P<units>.+?)(?:配合|协助|参与|参加|协同)$")
# Each by its own duties: all responsible, none leads.
_SHARED_VERB = re.compile(r"^(?P<units>.+?)(?:按职责分工负责|按职责分工落实|分别负责|按职责负责|"
                          r"共同负责)$")
_INVOLVED = re.compile(r"(?:涉及|均涉及|会同|并由)(?P<units>[^,;。]{2,40}?)(?:,|;|。|$)")


def _remarks(refs: UnitRefs, text: str) -> None:
    """The sentences after a bracket's units: "具体任务均涉及相关市(州)人民政府,不再做分工,
    下同。" — the units involved, and for the items below too when it says 下同."""
    names: list[str] = []
    for m in _INVOLVED.finditer(text):
        names.extend(n for n in split_units(m["units"]) if looks_like_unit(n))
    for name in names:
        if name not in refs.responsible:
            refs.responsible.append(name)
    if "下同" in text:
        refs.carry.extend(n for n in names if n not in refs.carry)
_RESP_VERB = re.compile(r"^(?:由)?(?P<units>.+?)(?:负责|具体负责|组织实施|实施|落实|承办|执行)$")


_DATE_PART = re.compile(r"^(?:完成时限[:：]?|时限[:：]?)?(?P<when>.+?)(?:前完成|完成|前)?$")


def _is_date(text: str) -> bool:
    from taskflow.parsing.dates import resolve  # dates imports numbers only: no cycle at load

    when = resolve(text.replace(" ", ""), 2000)
    return when is not None and when.kind in ("deadline", "period", "invalid")


def verbal(text: str) -> UnitRefs | None:
    """"X牵头,Y、Z配合" / "由X负责" — the whole text must be such a phrase, else None."""
    refs = UnitRefs()
    parts = split_top(text, ",;，；")
    if not parts:
        return None
    for part in parts:
        if _DATE_PART.match(part) and _is_date(_DATE_PART.match(part)["when"]):
            refs.due = part
            continue
        if (m := _LEAD_VERB.match(part)):
            _add(refs, "lead", m["units"])
        elif (m := _SHARED_VERB.match(part)):
            _add(refs, "responsible", m["units"])
        elif (m := _COOP_VERB.match(part)):
            _add(refs, "cooperating", m["units"])
        elif (m := _RESP_VERB.match(part)):
            _add(refs, "lead" if not refs.lead else "responsible", m["units"])
        else:
            return None
    names = refs.lead + refs.responsible + refs.cooperating
    if not names or not all(looks_like_unit(n) or len(n) <= 12 for n in names):
        return None
    return refs


def unit_phrase(text: str) -> UnitRefs | None:
    """A parenthetical or a short line that names units (labelled or verbal), else None."""
    refs, other, _ = labelled(text)
    if refs:
        return refs
    if other:
        return None
    return verbal(text.strip())


_CLOSE = {"(": ")", "（": "）", "〔": "〕", "【": "】", "[": "]"}
_UNITISH = re.compile(r"单位|部门|牵头|负责|配合|参加|参与|落实|协助|"
                      r"[局委办厅会府室组队站所联社司]")


def find_parenthetical(text: str) -> tuple[int, int, UnitRefs] | None:
    """The last "(…)" (or "〔…〕", "【…】") group of ``text`` that names units: (start, end,
    refs)."""
    stack: list[int] = []
    groups: list[tuple[int, int]] = []
    for i, ch in enumerate(text):
        if ch in _CLOSE:
            stack.append(i)
        elif stack and ch == _CLOSE[text[stack[-1]]]:
            start = stack.pop()
            if not stack:
                groups.append((start, i + 1))
    for start, end in reversed(groups):
        if not _UNITISH.search(text, start, end):
            continue  # "(以下简称自查组)", "(2010年6月23日至11月20日)": no unit in it
        refs = unit_phrase(text[start + 1:end - 1])
        if refs:
            return start, end, refs
    return None
