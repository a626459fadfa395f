"""How sure the parser is of each task, and what it guessed to get there.

A task read from a numbered item with labelled units and a dated 进度安排 is as sure as the text
is; every step that reads meaning into layout or wording lowers the confidence and is named, so
that the review lists each guess with its line. The figure is a ranking aid for the person
checking the plan (look at the lowest first), not a probability.
"""

from __future__ import annotations

from typing import Any

from taskflow.parsing.structure import Node

# How a task was found: (how sure, what the review says).
_SOURCES = {
    "duty": (0.75, "从通知句读出的任务（“X要…”）"),
    "flattened table": (0.7, "从展平的表格读出（每格一行，按内容对齐各列）"),
    "flattened table (columns)": (0.7, "从展平的表格读出（各列整列书写，以“|”分隔）"),
    "flattened table (run on)": (0.6, "从连成一行的表格读出（按序号与单位名称切分）"),
    "narrative": (0.5, "从叙述中的计划读出（“计划…”“今年将…”）"),
}


def assess(node: Node, task: dict[str, Any]) -> tuple[float, list[str]]:
    """(confidence 0.1–1.0, the guesses made) for a task built from ``node``."""
    how = node.extra.get("found_by", "")
    sure, said = _SOURCES.get(how, (1.0, ""))
    guesses = [said] if said else []
    has_units = any(task.get(role) for role in ("lead", "responsible", "cooperating"))
    if how in ("duty", "narrative") and has_units:
        guesses.append("单位取自句子主语，非“牵头单位/责任单位”标注")
    if not has_units and not task.get("children"):
        sure -= 0.1
    if node.extra.get("carried_units"):
        sure -= 0.05
        guesses.append("“下同”沿用上文单位：" + "、".join(node.extra["carried_units"]))
    if node.extra.get("inferred_lead"):
        sure -= 0.15
        guesses.append(node.extra["inferred_lead"])
    if node.extra.get("first_is_lead"):
        guesses.append(f"按文件“列第一位的责任单位为牵头单位”，以 {task['lead'][0]} 为牵头单位")
    if node.extra.get("retitled"):
        sure -= 0.05
        guesses.append("标题取自句中的工作内容")
    if node.extra.get("heading_date"):
        guesses.append(f"期限取自标题括号“{node.extra['heading_date']}”")
    if node.extra.get("inferred_due"):
        sure -= 0.15
        guesses.append(node.extra["inferred_due"])
    return round(min(1.0, max(0.1, sure)), 2), guesses
