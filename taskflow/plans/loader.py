"""Read plan files and units files from disk into validated objects."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from pydantic import ValidationError

from taskflow.errors import UserError
from taskflow.plans.schema import PlanFile, TaskSpec
from taskflow.plans.units import UnitIndex, check_units, entries_from_flat, read_units_files
from taskflow.plans.yamlevents import no_cyclic_gc
from taskflow.plans.yamlio import Located, read_located, validate


def read_plan_file(path: Path, *, name: str | None = None) -> tuple[PlanFile, Located]:
    """A plan YAML file, validated, with its positions; ``name`` is how problems name it."""
    located = read_located(path, name)
    if isinstance(located.data, dict) and "units" in located.data and "tasks" not in \
            located.data and "code" not in located.data:
        raise UserError.single("这是单位名录文件，不是实施方案：单位名录请作为单位导入",
                               file=located.file)
    plan = _validate_plan(located)
    # the raw data has become the plan: keep only the positions
    return plan, replace(located, data=None)


def _validate_plan(located: Located) -> PlanFile:
    """The plan validated one top-level task at a time, each raw task giving way to its model
    as it goes: a large file's raw data and its models are never both held whole. A task
    that does not validate stays raw; the plan's validation then reports it, located."""
    data = located.data
    with no_cyclic_gc():
        if isinstance(data, dict) and isinstance(data.get("tasks"), list):
            tasks = data["tasks"]
            for index, raw in enumerate(tasks):
                try:
                    tasks[index] = TaskSpec.model_validate(raw)
                except ValidationError:
                    continue
        return validate(PlanFile, located)


def index_from_units_files(paths: list[Path]) -> UnitIndex:
    """A unit directory built from units files only (no database), for checking plans."""
    flat = read_units_files(paths)
    problems = check_units(flat)
    if problems:
        raise UserError(problems)
    return UnitIndex(entries_from_flat(flat))
