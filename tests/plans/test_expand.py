"""expand(): new values out, nothing given changed; its steps compose."""

from __future__ import annotations

import copy
from dataclasses import FrozenInstanceError, replace

import pytest

from taskflow.plans.expand import STEPS, ResolvedPlan, expand
from taskflow.plans.loader import index_from_units_files
from taskflow.plans.schema import PlanFile
from taskflow.plans.units import UnitIndex
from taskflow.plans.yamlio import load_located, validate
from tests.conftest import FIXTURES

OWN_UNIT = """units:
  - {code: t.new, name: 县新设办公室, kind: office, parent: t}
"""


def _plan(text: str):
    located = load_located(text, "plan.yaml")
    return validate(PlanFile, located), located


def _snapshot(index: UnitIndex) -> tuple:
    return (sorted(index.by_code), {k: list(v) for k, v in index.children.items()})


def test_expand_leaves_the_unit_directory_and_the_plan_as_they_were():
    org = index_from_units_files([FIXTURES / "org.yaml"])
    text = (FIXTURES / "plan.yaml").read_text(encoding="utf-8").replace(
        "tasks:\n", OWN_UNIT + "tasks:\n", 1).replace("lead: 县林业局", "lead: 县新设办公室")
    plan, located = _plan(text)
    units_before, plan_before = _snapshot(org), plan.model_dump()
    marks_before = copy.deepcopy(located.marks)

    resolved = expand(plan, located, org, year=2025)

    assert ("t.new", "lead") in {u for t in resolved.tasks for u in t.units}
    assert _snapshot(org) == units_before and "t.new" not in org
    assert plan.model_dump() == plan_before and located.marks == marks_before
    # The same directory serves the next plan unchanged: the first plan's unit is not there.
    with pytest.raises(Exception, match="未知单位 '县新设办公室'"):
        expand(*_plan((FIXTURES / "plan.yaml").read_text(encoding="utf-8").replace(
            "lead: 县林业局", "lead: 县新设办公室")), org, year=2025)


def test_resolved_values_are_frozen():
    org = index_from_units_files([FIXTURES / "org.yaml"])
    resolved = expand(*_plan((FIXTURES / "plan.yaml").read_text(encoding="utf-8")), org,
                      year=2025)
    with pytest.raises(FrozenInstanceError):
        resolved.tasks[0].title = "改"  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        resolved.code = "other"  # type: ignore[misc]


def test_a_further_step_sees_the_ordered_inherited_spanned_tree_and_composes():
    org = index_from_units_files([FIXTURES / "org.yaml"])
    plan, located = _plan((FIXTURES / "plan.yaml").read_text(encoding="utf-8"))
    seen: list[ResolvedPlan] = []

    def stamp(resolved: ResolvedPlan, units: UnitIndex) -> ResolvedPlan:
        seen.append(resolved)
        assert "t" in units  # the directory the plan was resolved against
        return replace(resolved, tasks=[replace(t, title=f"{t.title}（已核）")
                                        for t in resolved.tasks])

    plain = expand(plan, located, org, year=2025)
    stamped = expand(plan, located, org, year=2025, steps=(*STEPS, stamp))

    assert seen == [plain]  # the default steps' result is what a further step gets
    assert [t.title for t in stamped.tasks] == [f"{t.title}（已核）" for t in plain.tasks]
    by_code = {t.code: t for t in plain.tasks}
    assert [t.position for t in plain.tasks] == list(range(len(plain.tasks)))
    assert by_code["1.m1"].units == by_code["1"].units  # a step inherits its parent's units
    # "1" has no deadline of its own: it ends with its last milestone
    assert by_code["1"].due_on == by_code["1.m2"].due_on


def test_steps_alone_leave_their_input_as_it_was():
    org = index_from_units_files([FIXTURES / "org.yaml"])
    plan, located = _plan((FIXTURES / "plan.yaml").read_text(encoding="utf-8"))
    raw = expand(plan, located, org, year=2025, steps=())
    before = copy.deepcopy(raw)
    result = raw
    for step in STEPS:
        result = step(result, org)
    assert raw == before and result != raw
    assert next(t for t in raw.tasks if t.code == "1.m1").units == []
