"""Duty statements into the task tree (see ``taskflow.parsing.actors``).

- An item that names no units in labels or brackets gets the actors of its sentences: "一、积极
  开展项目验收。…验收工作由乡镇(园区)负责组织实施…" → responsible 乡镇(园区).
- An item whose first sentence is itself a duty ("一、各牵头单位要按照…的要求,将…做好细化实施
  方案…") is titled by the action ("将…做好细化实施方案").
- An item that is not a short heading and holds several duties ("各级各部门要…;加强统筹,第一
  时间…;…") gets one child task per duty, each with its own units and dates.
- A notice without numbered items: each duty of its paragraphs is a task.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from taskflow.parsing.actors import Actor, Statement, actor_at, opens_with_actor, statements
from taskflow.parsing.structure import Node, Part
from taskflow.parsing.text import squeeze
from taskflow.parsing.units import UnitRefs

_RECURRING = re.compile(
    r"每(?:\d{1,2}|[一二两三四五六七八九十])?个?(?:半年|年度?|季度?|月|周|旬)|逐月")
_MODAL_AFTER = re.compile(r"^[^,。]{2,30}?(?:要|应当|应|须|务必|必须)")
HEADING_LIMIT = 20  # characters: "加强工作统筹,科学制订办理方案" is a heading, a sentence is not


def walk(nodes: list[Node]) -> Iterator[Node]:
    for node in nodes:
        yield node
        yield from walk(node.children)


def read_duties(part: Part) -> None:
    for node in list(walk(part.nodes)):
        _read_node(node)
    for node in walk(part.nodes):
        if node.extra.get("phase") and not node.units and node.children:
            # "(三)检查验收阶段(…)" whose numbered steps name the units: the phase's units.
            for child in walk(node.children):
                node.units.merge(UnitRefs(child.units.lead, child.units.responsible))
    if not part.nodes:
        found = statements(part.preamble)
        part.nodes = [_statement_node(line, st) for line, st in found]
        for node in part.nodes:
            node.extra["found_by"] = "duty"


def _refs(found: list[tuple[int, Statement]]) -> UnitRefs:
    refs = UnitRefs()
    for _, st in found:
        target = refs.lead if st.role == "lead" else refs.responsible
        for name in st.names:
            if name not in target:
                target.append(name)
        for other in st.others:
            for name in other.names:
                role = refs.lead if other.role == "lead" else refs.responsible
                if name not in role and name not in refs.lead:
                    role.append(name)
    refs.responsible = [n for n in refs.responsible if n not in refs.lead]
    return refs


def _statement_node(line: int, st: Statement) -> Node:
    refs = UnitRefs()
    (refs.lead if st.role == "lead" else refs.responsible).extend(st.names)
    for other in st.others:
        for name in other.names:
            if name not in refs.lead and name not in refs.responsible:
                refs.responsible.append(name)
    node = Node("duty", "", st.title, line, f"line {line}", body=[(line, st.text)], units=refs)
    node.extra["found_by"] = "duty"
    node.extra["carried"] = st.carried
    return node


def _read_node(node: Node) -> None:
    if node.units.lead or node.units.responsible or node.units.cooperating:
        return
    items: list[tuple[int, str]] = [] if node.long_title else [(node.line, node.title)]
    items += [(lab.line, lab.text) for lab in node.labels if lab.kind in ("text", "schedule")]
    items += node.body
    found = statements(items)
    if not found:
        return
    heading = len(squeeze(node.title)) <= HEADING_LIMIT and not node.long_title and \
        not opens_with_actor(node.title)
    node.units.merge(_refs(found))
    node.extra["found_by"] = "duty"
    if opens_with_actor(node.title) and found[0][0] == node.line and (
            len(squeeze(node.title)) > HEADING_LIMIT or _MODAL_AFTER.search(node.title)):
        # "各牵头单位要按照…的要求,将…做好细化实施方案": titled by the action. A short item
        # ("省、地、县分别拟定农业普查总体规划") keeps its words.
        node.title = found[0][1].title
        node.extra["retitled"] = True
        retitled = True
    else:
        retitled = False
    if len(found) >= 2 and not heading and not node.children:
        # The first duty is the item itself when it gave the item its title.
        node.children = [_statement_node(line, st) for line, st in found[retitled:]]
        node.extra["dates_from_children"] = True
    elif len(found) >= 2:
        # A heading item holding several duties: a recurring one is a task of its own
        # ("各牵头单位…每个季度第1个月的20日前将…报市人民政府督查室").
        recurring = [(line, st) for line, st in found if _RECURRING.search(squeeze(st.text))]
        for line, st in recurring:
            node.children.append(_statement_node(line, st))
        if recurring:
            node.extra["skip_duties"] = True


def step_actor(lead_in: str, title: str, sentence: str) -> Actor | None:
    """Who does a dated step: the units before its date ("省政府各牵头部门要于1月底前…"),
    at the start of its words ("10月底前县上完成验收"), else its sentence's actor."""
    for text in (lead_in, title):
        if text and (actor := actor_at(squeeze(text))) is not None:
            return actor
    found = statements([(0, sentence)]) if sentence else []
    if found:
        st = found[0][1]
        return Actor(st.names, st.role, 0)
    return None
